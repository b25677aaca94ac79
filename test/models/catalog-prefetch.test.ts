/**
 * A create starts the model check's catalog read as it begins, before its body has been read
 * (routes/run-steps.ts `prefetchCatalog`): an isolate without a catalog — a new isolate's first
 * request — reads it while the body arrives and is parsed, instead of one native round trip after.
 * Its own file: the catalog cache is per isolate, and this file's isolate has read no catalog yet.
 */
import { describe, expect, it } from "vitest";
import { EMULATOR_KEYS, gateway, nativeRequests, nonce, readBody, sleep } from "../reliability/helpers";

/** A request body delivered in two parts: the second only when `finish` is called. */
function heldBody(text: string): { stream: ReadableStream<Uint8Array>; finish: () => void } {
  const encoder = new TextEncoder();
  const half = Math.floor(text.length / 2);
  let finish = (): void => undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(text.slice(0, half)));
      finish = () => {
        controller.enqueue(encoder.encode(text.slice(half)));
        controller.close();
      };
    },
  });
  return { stream, finish: () => finish() };
}

interface CreateCase {
  name: string;
  path: string;
  body: (text: string) => unknown;
  auth: Record<string, string>;
}

const CREATES: CreateCase[] = [
  { name: "chat", path: "/v1/chat/completions", body: (text: string) => ({ model: "1flowbase", messages: [{ role: "user", content: text }] }), auth: { authorization: `Bearer ${EMULATOR_KEYS.demo}` } },
  { name: "anthropic", path: "/v1/messages", body: (text: string) => ({ model: "1flowbase", max_tokens: 256, messages: [{ role: "user", content: text }] }), auth: { "x-api-key": EMULATOR_KEYS.demoSecond, "anthropic-version": "2023-06-01" } },
  { name: "responses", path: "/v1/responses", body: (text: string) => ({ model: "1flowbase", input: text }), auth: { authorization: `Bearer ${EMULATOR_KEYS.other}` } },
];

describe("the model catalog is read while a create's body is still arriving", () => {
  // One key per protocol: each create is the first of its key in this isolate (the cache is per key).
  for (const create of CREATES) {
    it(`${create.name}: GET /models reaches native before the body has ended, and the create answers`, async () => {
      const requestId = `prefetch-${nonce()}`;
      const body = heldBody(JSON.stringify(create.body(`hello ${requestId}`)));
      const answered = gateway(create.path, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": requestId, ...create.auth },
        body: body.stream,
      });
      let read: unknown;
      for (let waited = 0; waited < 3_000 && !read; waited += 20) {
        read = (await nativeRequests({ path: "/api/agent/v1/models" })).find((request) => request.headers["x-request-id"] === requestId);
        if (!read) await sleep(20);
      }
      expect(read, "the catalog read started before the body ended").toBeDefined();
      body.finish();
      const response = await answered;
      expect(response.status, await readBody(response.clone())).toBe(200);
    });
  }
});
