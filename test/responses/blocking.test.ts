/**
 * The blocking create's fold over the native stream (`blockingResponseFromStream`, batched reads) ==
 * the final Response of the golden stream for the same native bytes (invariant 4), whatever the
 * native chunking, with an async ownership claim and usage lookup like the route's.
 */
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/http/errors";
import { readNativeStream } from "../../src/native/events";
import { blockingResponseFromStream } from "../../src/protocols/openai-responses/from-native";
import { ResponsesStreamProjector } from "../../src/protocols/openai-responses/stream";
import { echoFromRequest } from "../../src/protocols/openai-responses/to-native";
import { FIXED_NOW, FIXTURES } from "../fixtures/responses/project";
import { parseSse } from "./helpers";

const files = import.meta.glob("../fixtures/responses/*.sse", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

function fixture(name: string): string {
  const text = files[`../fixtures/responses/${name}`];
  if (text === undefined) throw new Error(`missing fixture ${name}`);
  return text;
}

/** `bytes` as a body delivered `size` bytes per read. */
function body(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

/** The same context test/fixtures/responses/project.ts streams the goldens with. */
function projectorFor(claims: string[]): ResponsesStreamProjector {
  return new ResponsesStreamProjector({
    echo: echoFromRequest({ model: "1flowbase", input: "hi", instructions: "Be brief.", metadata: { fixture: "yes" } }),
    now: () => FIXED_NOW,
    onStart: async ({ responseId }) => {
      await Promise.resolve();
      claims.push(responseId);
    },
    lookupUsage: async () => ({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }),
  });
}

describe("blockingResponseFromStream", () => {
  const cases = FIXTURES.flatMap((name) => [7, 64, 65_536].map((size) => [name, size] as const));

  it.each(cases)("%s in %i-byte reads equals the stream's final Response", async (name, size) => {
    const events = parseSse(fixture(`${name}.responses.sse`));
    const last = events[events.length - 1]?.data as { type: string; response?: { id: string } };
    const claims: string[] = [];
    const items = readNativeStream(body(new TextEncoder().encode(fixture(`${name}.native.sse`)), size), { idleMs: 60_000 });
    const folding = blockingResponseFromStream(items, projectorFor(claims));
    if (last.type === "response.completed" || last.type === "response.incomplete") {
      const folded = await folding;
      expect(folded.response).toEqual(last.response);
      expect(claims).toEqual([folded.responseId]);
    } else {
      // Failed, cancelled, cut: the HTTP error blocking answers with instead of a Response.
      await expect(folding).rejects.toBeInstanceOf(GatewayError);
    }
  });
});
