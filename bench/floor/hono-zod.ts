/** Floor (bench/floor/common.ts): Hono routes the chat request, zod/mini validates it. */
import { Hono } from "hono";
import { forwardToNative, lastMessageByZod, type FloorEnv } from "./common";

const app = new Hono<{ Bindings: FloorEnv }>();
app.post("/v1/chat/completions", async (c) => {
  const checked = lastMessageByZod(await c.req.json());
  if ("error" in checked) return c.json({ error: { message: checked.error, type: "invalid_request_error" } }, 400);
  return forwardToNative(c.env, c.req.header("authorization") ?? "", checked.query);
});

export default app;
