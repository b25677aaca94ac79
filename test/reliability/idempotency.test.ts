/**
 * `Idempotency-Key` on Chat Completions and Anthropic Messages (src/http/idempotency.ts): retries of a
 * create — by hand or by the SDKs' own retry loop — answer the first attempt's native run and never
 * start a second one; a reused key with another body is a 409. Responses: idempotency-responses.test.ts.
 *
 * Also the native client's handling of native-api.md open question §8.2 (what a replayed key on a
 * *streaming* create returns): the emulator replays the stream from the durable run (covered above,
 * end to end); a native that answers the run record as JSON instead is projected from the record, and
 * a record that has not settled is a retryable 409.
 */
import Anthropic from "@anthropic-ai/sdk";
import { env } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import type { NativeTimeouts } from "../../src/config";
import { fromNativeError } from "../../src/http/errors";
import { applyIdempotency, readIdempotency } from "../../src/http/idempotency";
import { createNativeClient } from "../../src/native/client";
import { NativeError } from "../../src/native/errors";
import type { NativeStreamItem } from "../../src/native/events";
import { EMULATOR_KEYS, gateway, GATEWAY, nonce } from "./helpers";
import { expectOneRun, idempotencyCases } from "./idempotency-cases";
import { ANTHROPIC, CHAT, MODEL } from "./protocols";

describe("Chat Completions", () => idempotencyCases(CHAT));
describe("Anthropic Messages", () => idempotencyCases(ANTHROPIC));

describe("the SDKs' retry loops reuse the key, so a retried create is the same run", () => {
  /**
   * A fetch for the SDKs: the first attempt runs with a 100 ms native headers budget (so it fails
   * with a retryable 504 while native keeps the run), every later attempt with the defaults.
   */
  function flakyFirstAttempt(): typeof fetch {
    let attempts = 0;
    return async (input, init) => {
      attempts++;
      const request = new Request(input as RequestInfo, init as RequestInit);
      const path = new URL(request.url).pathname;
      return gateway(path, { method: request.method, headers: request.headers, body: await request.text() }, attempts === 1 ? { NATIVE_HEADERS_TIMEOUT_MS: "100" } : {});
    };
  }

  it("openai: chat.completions.create with an Idempotency-Key survives a first-attempt timeout", async () => {
    const marker = nonce();
    const client = new OpenAI({ apiKey: EMULATOR_KEYS.demo, baseURL: `${GATEWAY}/v1`, maxRetries: 2, fetch: flakyFirstAttempt() });
    const completion = await client.chat.completions.create(
      { model: MODEL, messages: [{ role: "user", content: emu({ text: ["sdk ", marker], delay_ms: 300 }, `sdk ${marker}`) }] },
      { headers: { "Idempotency-Key": `sdk-${marker}` } },
    );
    expect(completion.choices[0]?.message.content).toBe(`sdk ${marker}`);
    await expectOneRun(marker);
  });

  it("anthropic: messages.create with an Idempotency-Key survives a first-attempt timeout", async () => {
    const marker = nonce();
    const client = new Anthropic({ apiKey: EMULATOR_KEYS.demo, baseURL: GATEWAY, maxRetries: 2, fetch: flakyFirstAttempt() });
    const message = await client.messages.create(
      { model: MODEL, max_tokens: 64, messages: [{ role: "user", content: emu({ text: ["sdk ", marker], delay_ms: 300 }, `sdk ${marker}`) }] },
      { headers: { "Idempotency-Key": `sdk-${marker}` } },
    );
    expect(message.content).toEqual([{ type: "text", text: `sdk ${marker}` }]);
    await expectOneRun(marker);
  });
});

describe("readIdempotency / applyIdempotency", () => {
  const headers = (key: string | null) => new Headers(key === null ? {} : { "idempotency-key": key });

  it("derives one trace id per (protocol, key, body) — stable across retries and key orders, different otherwise", async () => {
    const a = await readIdempotency(headers("k1"), "chat", { model: "m", messages: [{ role: "user", content: "x" }] });
    const reordered = await readIdempotency(headers("k1"), "chat", { messages: [{ content: "x", role: "user" }], model: "m" });
    expect(a?.traceId).toMatch(/^idem-[0-9a-f]{32}$/);
    expect(reordered).toEqual(a);
    const others = [
      await readIdempotency(headers("k2"), "chat", { model: "m", messages: [{ role: "user", content: "x" }] }),
      await readIdempotency(headers("k1"), "messages", { model: "m", messages: [{ role: "user", content: "x" }] }),
      await readIdempotency(headers("k1"), "chat", { model: "m", messages: [{ role: "user", content: "x" }], temperature: 0.5 }),
      await readIdempotency(headers("k1"), "chat", JSON.parse('{"model":"m","messages":[],"__proto__":{"x":1}}') as unknown),
      await readIdempotency(headers("k1"), "chat", JSON.parse('{"model":"m","messages":[],"__proto__":{"x":2}}') as unknown),
    ];
    expect(new Set([a?.traceId, ...others.map((other) => other?.traceId)]).size).toBe(6);
    expect(await readIdempotency(headers(null), "chat", {})).toBeNull();
  });

  it("sets execution.idempotency_key and metadata.trace_id, keeping every other field", () => {
    const request = { query: "q", metadata: { trace_id: "req_1" }, execution: { model_parameters: { reasoning: { effort: "low" } } } };
    expect(applyIdempotency(request, { key: "k", traceId: "idem-1", scope: "chat" })).toEqual({
      query: "q",
      metadata: { trace_id: "idem-1" },
      execution: { idempotency_key: "k", model_parameters: { reasoning: { effort: "low" } } },
    });
    expect(applyIdempotency(request, null)).toBe(request);
  });
});

describe("a native that answers a replayed streaming create with the run record (JSON), §8.2", () => {
  const TIMEOUTS: NativeTimeouts = { headersMs: 5_000, blockingMs: 5_000, idleMs: 5_000 };
  const RUN = "0197a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
  const record = (status: string, extra: Record<string, unknown> = {}) =>
    Response.json({ data: { id: RUN, status, created_at: "2026-06-26T14:52:53.101Z", answer: status === "succeeded" ? "Hello" : null, ...extra }, meta: null }, { status: 201 });
  const client = (response: () => Response) =>
    createNativeClient({ baseUrl: env.NATIVE_API_BASE_URL, apiKey: EMULATOR_KEYS.demo, timeouts: TIMEOUTS, fetch: async () => response() });
  const replayed = { query: "q", execution: { idempotency_key: "k" } };

  async function collect(stream: ReadableStream<NativeStreamItem>): Promise<NativeStreamItem[]> {
    const items: NativeStreamItem[] = [];
    for (const reader = stream.getReader(); ; ) {
      const { value, done } = await reader.read();
      if (done) return items;
      items.push(value);
    }
  }

  it("a settled run is projected from its record: the same events a stream of it carries", async () => {
    const items = await collect(await client(() => record("succeeded")).streamRun(replayed));
    expect(items.map((item) => item.event)).toEqual(["run.started", "message.delta", "run.completed"]);
  });

  it("a run still in progress → 409 idempotent_request_in_progress that SDKs retry", async () => {
    const error = await client(() => record("running"))
      .streamRun(replayed)
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(NativeError);
    const answered = fromNativeError(error as NativeError);
    expect(answered).toMatchObject({ status: 409, code: "idempotent_request_in_progress" });
    expect(answered.headers).toMatchObject({ "x-should-retry": "true", "retry-after": "1" });
  });

  it("without an idempotency key, JSON on a streaming create is still a protocol error (502)", async () => {
    const error = await client(() => record("succeeded"))
      .streamRun({ query: "q" })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: "protocol", code: "upstream_invalid_response" });
  });

  it("JSON that is not a run record is a protocol error (502)", async () => {
    const error = await client(() => Response.json({ unexpected: true }, { status: 201 }))
      .streamRun(replayed)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: "protocol", code: "upstream_invalid_response" });
  });
});
