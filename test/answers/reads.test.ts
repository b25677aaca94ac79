/// <reference types="vite/client" />
/**
 * The blocking folds over a real byte stream — `readNativeStream` (BYOB-less JS body, batched reads)
 * delivering the native fixture 7, 64 or 65,536 bytes per read — give exactly the golden blocking
 * answer of every protocol (test/fixtures/golden), whatever the chunking; the Responses fold names
 * its response id to the claim hook once.
 */
import { describe, expect, it } from "vitest";
import { toGatewayError } from "../../src/http/errors";
import { readNativeStream } from "../../src/native/events";
import type { NativeRun } from "../../src/native/schema";
import { messageFrom } from "../../src/protocols/anthropic/from-native";
import { chatCompletionFrom } from "../../src/protocols/openai-chat/from-native";
import { blockingResponse } from "../../src/protocols/openai-responses/from-native";
import { echoFromRequest } from "../../src/protocols/openai-responses/to-native";
import { decodeNative, FIXED_NOW, recordOf, type Blocking } from "./table";

const natives = import.meta.glob<string>("../fixtures/native/*.native.sse", { query: "?raw", import: "default", eager: true });
const overrides = import.meta.glob<string>("../fixtures/native/*.record.json", { query: "?raw", import: "default", eager: true });
const goldens = import.meta.glob<string>("../fixtures/golden/*.json", { query: "?raw", import: "default", eager: true });
const names = Object.keys(natives).map((path) => /([^/]+)\.native\.sse$/.exec(path)?.[1] ?? "").sort();

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

async function settle(fold: () => Promise<unknown>): Promise<Blocking> {
  try {
    return { body: await fold() };
  } catch (error) {
    const gateway = toGatewayError(error);
    return { error: { status: gateway.status, code: gateway.code, message: gateway.message, retry: gateway.headers["x-should-retry"], retryAfter: gateway.headers["retry-after"] } };
  }
}

describe("blocking folds over native bytes in any read size equal the goldens", () => {
  const cases = names.flatMap((name) => [7, 64, 65_536].map((size) => [name, size] as const));

  it.each(cases)("%s in %i-byte reads", async (name, size) => {
    const text = natives[`../fixtures/native/${name}.native.sse`] ?? "";
    const override = overrides[`../fixtures/native/${name}.record.json`];
    const record = recordOf(decodeNative(text), override ? (JSON.parse(override) as Record<string, unknown>) : {});
    const lookupRun = async (): Promise<NativeRun> => record;
    const golden = JSON.parse(goldens[`../fixtures/golden/${name}.json`] ?? "{}") as Record<string, { blocking: Blocking }>;
    const items = () => readNativeStream(body(new TextEncoder().encode(text), size), { idleMs: 60_000 });

    expect(await settle(() => chatCompletionFrom(items(), { model: "1flowbase", lookupRun, now: () => FIXED_NOW }))).toEqual(golden.chat?.blocking);

    const claims: string[] = [];
    const responses = await settle(async () => {
      const folded = await blockingResponse(items(), {
        echo: echoFromRequest({ model: "1flowbase", input: "hi", instructions: "Be brief.", metadata: { fixture: "yes" } }),
        now: () => FIXED_NOW,
        lookupRun,
        onStart: ({ responseId }) => claims.push(responseId),
      });
      expect(claims).toEqual([folded.responseId]);
      return folded.response;
    });
    expect(responses).toEqual(golden.responses?.blocking);

    expect(
      await settle(async () => {
        const outcome = await messageFrom(items(), { model: "1flowbase", lookupRun });
        if (!outcome.ok) throw outcome.error;
        return outcome.message;
      }),
    ).toEqual(golden.anthropic?.blocking);
  });
});
