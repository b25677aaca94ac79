/** Floor (bench/floor/common.ts): no router, zod/mini validates the chat request. */
import { forwardToNative, lastMessageByZod, type FloorEnv } from "./common";

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const checked = lastMessageByZod(await request.json());
    if ("error" in checked) return Response.json({ error: { message: checked.error, type: "invalid_request_error" } }, { status: 400 });
    return forwardToNative(env, request.headers.get("authorization") ?? "", checked.query);
  },
};
