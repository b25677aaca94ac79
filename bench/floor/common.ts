/**
 * What the floor workers of bench/coldstart.ts share (issue 19's +5 ms first-request budget): the
 * least a chat gateway does besides routing and validating — the last message becomes a native run
 * request, and native's SSE goes back unchanged (no projection at all). Each floor worker adds one
 * piece of the pinned stack (Hono, zod/mini) on top, so the rows' deltas over the pass-through
 * worker say what that piece alone costs a fresh isolate's first request: a lower bound of the
 * gateway's, which uses both and validates far more.
 */
// A namespace import, as src/ imports zod (src/zod.ts): esbuild keeps only the members used, where
// `import { z }` (an object) would bundle every schema kind and locale zod has.
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

export interface FloorEnv {
  NATIVE_API_BASE_URL: string;
}

/** Forwards the chat request's last message to native as a streaming run; native's body as is. */
export async function forwardToNative(env: FloorEnv, authorization: string, query: string): Promise<Response> {
  const upstream = await fetch(new URL("/api/agent/v1/runs", env.NATIVE_API_BASE_URL), {
    method: "POST",
    headers: { authorization, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ query, response_mode: "streaming" }),
  });
  return new Response(upstream.body, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
}

/** A hand-written check of the same request, for the floor without zod. */
export function lastMessageByHand(body: unknown): string | null {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) return null;
  const content = (messages.at(-1) as { content?: unknown } | null)?.content;
  return typeof content === "string" ? content : null;
}

/**
 * A four-field chat request in zod/mini, with zod's English locale as src/zod.ts sets it. Built on
 * first use, as the gateway builds its schemas (src/lazy.ts), so the first request pays for it.
 */
let chatRequest: ReturnType<typeof buildChatRequest> | undefined;
function buildChatRequest() {
  z.config(en());
  return z.object({
    model: z.string(),
    stream: z.optional(z.boolean()),
    stream_options: z.optional(z.object({ include_usage: z.optional(z.boolean()) })),
    messages: z.array(z.object({ role: z.enum(["system", "developer", "user", "assistant", "tool"]), content: z.string() })).check(z.minLength(1)),
  });
}

/** The request's last message, or the zod error's message. */
export function lastMessageByZod(body: unknown): { query: string } | { error: string } {
  chatRequest ??= buildChatRequest();
  const parsed = chatRequest.safeParse(body);
  if (!parsed.success) return { error: z.prettifyError(parsed.error) };
  return { query: parsed.data.messages.at(-1)?.content ?? "" };
}
