/**
 * Golden fixtures: native SSE bytes in (`test/fixtures/anthropic/<name>.native.sse`), the exact
 * Anthropic SSE bytes out (`<name>.anthropic.sse`). Ids are derived from the native run and callback
 * task ids in the fixture, so the output is byte-for-byte deterministic and needs no normalizing.
 *
 * Shared by the test (golden.test.ts, in workerd) and the updater (`npx tsx test/anthropic/update-golden.ts`,
 * in Node), which rewrites the expected files — review the diff before committing it.
 */
import type { NativeStreamItem } from "../../src/native/events";
import { NativeSseParser } from "../../src/native/events";
import { AnthropicStreamProjector } from "../../src/protocols/anthropic/stream";

/** The usage `GET /runs/{id}` reports in these fixtures when the terminal event carries none. */
export const LOOKUP_USAGE = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

/** Decodes native SSE text the way the native client does, fed in small uneven chunks. */
export function decodeNative(text: string): NativeStreamItem[] {
  const items: NativeStreamItem[] = [];
  const parser = new NativeSseParser((item) => items.push(item));
  const bytes = new TextEncoder().encode(text);
  for (let offset = 0, size = 1; offset < bytes.length; offset += size, size = (size % 13) + 1) {
    parser.push(bytes.subarray(offset, offset + size));
  }
  parser.end();
  return items;
}

/** Projects native SSE text to the Anthropic SSE text the gateway sends. */
export async function projectFixture(nativeText: string): Promise<string> {
  const projector = new AnthropicStreamProjector({ model: "1flowbase", lookupUsage: async () => LOOKUP_USAGE });
  let out = "";
  for (const item of decodeNative(nativeText)) {
    for (const frame of await projector.push(item)) out += frame;
    if (projector.done) break;
  }
  return out;
}
