/**
 * Golden fixture projection for Chat Completions: native SSE bytes (test/fixtures/chat/*.native.sse)
 * through the same pipeline the route uses — `readNativeStream` → `ChatStreamProjector` →
 * `projectToSse` — to the exact Chat SSE bytes (`*.chat.sse`). Deterministic: ids and `created` come
 * from the fixture's run id and timestamps; the usage lookup (a terminal event without usage) answers
 * a fixed record. Runs under workerd (golden.test.ts) and Node (update-golden.ts).
 */
import { readNativeStream } from "../../src/native/events";
import { projectToSse } from "../../src/http/sse";
import { ChatStreamProjector, type ChatProjectionOptions } from "../../src/protocols/openai-chat/stream";

/** What `GET /runs/{id}` reports when a fixture's terminal event carries no usage. */
export const LOOKED_UP_USAGE = { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30, reasoning_tokens: 4, cache_read_tokens: 16 };

/** Per-fixture options; the default asks for usage (`stream_options.include_usage`). */
const OPTIONS: Record<string, Partial<ChatProjectionOptions>> = {
  "text-no-usage": { includeUsage: false },
};

export async function projectFixture(name: string, native: string): Promise<string> {
  const items = readNativeStream(new Blob([native]).stream(), { idleMs: 60_000 });
  const projector = new ChatStreamProjector({
    model: "1flowbase",
    includeUsage: true,
    lookupUsage: async () => LOOKED_UP_USAGE,
    ...OPTIONS[name],
  });
  return new Response(projectToSse(items, projector, { keepaliveMs: 60_000 })).text();
}
