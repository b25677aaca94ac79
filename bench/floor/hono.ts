/** Floor (bench/floor/common.ts): Hono routes the chat request, a hand-written check validates it. */
import { Hono } from "hono";
import { forwardToNative, lastMessageByHand, type FloorEnv } from "./common";

const app = new Hono<{ Bindings: FloorEnv }>();
app.post("/v1/chat/completions", async (c) => {
  const query = lastMessageByHand(await c.req.json());
  if (query === null) return c.json({ error: { message: "messages: expected a non-empty array ending in a text message", type: "invalid_request_error" } }, 400);
  return forwardToNative(c.env, c.req.header("authorization") ?? "", query);
});

export default app;
