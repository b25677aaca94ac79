/**
 * The real 1flowbase server's unkind behaviours (issue 13), through the real SDKs where a client sees
 * them, against the emulator that reproduces them (emulator/README.md names the Rust source of each):
 *
 * 1. failure classes live only in the run record — a provider 429 is an `openai` `RateLimitError` and
 *    an Anthropic `rate_limit_error`, streamed and blocking; provider 5xx are retryable 502s; the
 *    provider's own 401 is the application's credentials (502, not the caller's 401); an unknown
 *    provider model is a 404; `details.status_code` is honoured;
 * 5. a human-approval wait (the `{type, run_id}` fallback) is a clear 4xx in every protocol;
 * 6. `run.completed.usage` is the flow's raw output: junk in it never fails a finished answer;
 * 7. native's closed reasoning-effort set: Claude's `max` goes as `xhigh`, OpenAI's `none` is
 *    reported as ignored — never a native 400.
 * (2 idempotent retries: idempotency*.test.ts; 3 the 2 MiB limit: native-limit.test.ts; 4 history:
 * responses/chain.test.ts; 8 cancel: responses/lifecycle.test.ts and the answer reader's tests.)
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { create, EMULATOR_KEYS, expectErrorResponse, GATEWAY, gateway, nativeCreatesWith, nonce, readBody } from "./helpers";
import { PROTOCOLS } from "./protocols";

const sdkFetch: typeof fetch = async (input, init) => {
  const request = new Request(input as RequestInfo, init as RequestInit);
  return gateway(new URL(request.url).pathname, { method: request.method, headers: request.headers, body: await request.text() });
};
const openai = () => new OpenAI({ apiKey: EMULATOR_KEYS.demo, baseURL: `${GATEWAY}/v1`, maxRetries: 0, fetch: sdkFetch });
const anthropic = () => new Anthropic({ apiKey: EMULATOR_KEYS.demo, baseURL: GATEWAY, maxRetries: 0, fetch: sdkFetch });
const caught = <T>(promise: Promise<T>): Promise<unknown> => promise.then(() => new Error("no error"), (error: unknown) => error);

const RATE_LIMITED = { fail: { error_code: "rate_limited" as const, message: "429 Too Many Requests: slow down" } };

describe("1. the failure class comes from the run record (the live event says runtime_error)", () => {
  it("openai: a provider 429 is a RateLimitError — Chat and Responses, blocking", async () => {
    const chat = await caught(openai().chat.completions.create({ model: "1flowbase", messages: [{ role: "user", content: emu(RATE_LIMITED, "q") }] }));
    expect(chat).toBeInstanceOf(OpenAI.RateLimitError);
    expect(chat).toMatchObject({ status: 429, code: "rate_limit_exceeded" });
    expect((chat as InstanceType<typeof OpenAI.APIError>).headers?.get("x-should-retry")).toBe("true");
    const responses = await caught(openai().responses.create({ model: "1flowbase", input: emu(RATE_LIMITED, "q") }));
    expect(responses).toBeInstanceOf(OpenAI.RateLimitError);
  });

  it("openai: streamed, the same class reaches the SDK's stream as an APIError with the rate-limit code", async () => {
    const stream = await openai().chat.completions.create({ model: "1flowbase", stream: true, messages: [{ role: "user", content: emu(RATE_LIMITED, "q") }] });
    const error = await caught((async () => {
      for await (const _chunk of stream) void _chunk;
    })());
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ code: "rate_limit_exceeded" });
    const responses = openai().responses.stream({ model: "1flowbase", input: emu(RATE_LIMITED, "q") });
    const failed = await caught(responses.finalResponse());
    expect(failed).toBeInstanceOf(OpenAI.APIError);
    expect(JSON.stringify(failed)).toContain("rate_limit_exceeded");
  });

  it("anthropic: a provider 429 is rate_limit_error, blocking (RateLimitError) and streaming (the error event)", async () => {
    const blocking = await caught(anthropic().messages.create({ model: "1flowbase", max_tokens: 64, messages: [{ role: "user", content: emu(RATE_LIMITED, "q") }] }));
    expect(blocking).toBeInstanceOf(Anthropic.RateLimitError);
    const stream = anthropic().messages.stream({ model: "1flowbase", max_tokens: 64, messages: [{ role: "user", content: emu(RATE_LIMITED, "q") }] });
    const streamed = await caught(stream.finalMessage());
    expect(streamed).toBeInstanceOf(Anthropic.APIError);
    expect(JSON.stringify(streamed)).toContain("rate_limit_error");
  });

  it.each([
    ["a provider 5xx (provider_upstream_error)", { error_code: "provider_upstream_error" }, 502, "true"],
    ["an unreachable provider", { error_code: "endpoint_unreachable" }, 502, "true"],
    ["the provider refusing the application's credentials", { error_code: "auth_failed" }, 502, "false"],
    ["a model the provider does not know", { error_code: "model_not_found" }, 404, "false"],
    ["a provider status on the error (details.status_code 503)", { status_code: 503, details_status_code: true }, 503, "true"],
  ] as const)("%s → %i, x-should-retry %s, in every protocol", async (_what, fail, status, retry) => {
    for (const protocol of PROTOCOLS) {
      const response = await create(protocol, emu({ fail: { ...fail, message: "provider said no" } }, "q"), false);
      const expected = protocol.family === "anthropic" && status === 503 ? 529 : status;
      await expectErrorResponse(response, protocol.family, expected);
      expect(response.headers.get("x-should-retry"), protocol.name).toBe(retry);
    }
  });
});

describe("5. a human-approval wait is a clear 4xx the protocol can carry", () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name}: blocking 409 required_action_not_supported; streaming ends with the protocol's error`, async () => {
      const text = emu({ text: ["Checking with a human."], human_approval: true }, "approve?");
      const blocking = await create(protocol, text, false);
      const envelope = await expectErrorResponse(blocking, protocol.family, 409);
      if (protocol.family === "openai") expect(envelope.code).toBe("required_action_not_supported");
      expect(envelope.message).toContain("human approval");
      const streamed = protocol.readStream(await readBody(await create(protocol, text, true)));
      expect(streamed.kind).toBe("error");
      expect(streamed.error).toBe(protocol.family === "anthropic" ? "invalid_request_error" : "required_action_not_supported");
    });
  }
});

describe("6. raw usage on run.completed never fails a finished answer", () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name}: strings, nulls, unknown keys and nested junk in usage → the answer, numbers read leniently`, async () => {
      const text = emu({ text: ["fine"], usage_raw: { prompt_tokens: "9", completion_tokens: 4.7, total_tokens: null, cost: "0.01", nested: { a: [1] }, reasoning_tokens: -2 } }, "q");
      const blocking = await create(protocol, text, false);
      const body = JSON.parse(await readBody(blocking)) as Record<string, unknown>;
      expect(blocking.status, JSON.stringify(body)).toBe(200);
      expect(protocol.blockingText(body)).toBe("fine");
      const usage = JSON.stringify(body["usage"]);
      expect(usage).toMatch(/"(prompt_tokens|input_tokens)":9/);
      expect(protocol.readStream(await readBody(await create(protocol, text, true)))).toMatchObject({ kind: "success", text: "fine" });
    });
  }
});

describe("7. only native's five reasoning efforts ever reach native", () => {
  it("anthropic: Claude's max is native's xhigh (the model lists it)", async () => {
    const marker = nonce();
    const request = await gateway("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": EMULATOR_KEYS.demo },
      body: JSON.stringify({ model: "1flowbase", max_tokens: 64, thinking: { type: "adaptive" }, output_config: { effort: "max" }, messages: [{ role: "user", content: `max ${marker}` }] }),
    });
    expect(request.status, await request.clone().text()).toBe(200);
    const sent = (await nativeCreatesWith(`max ${marker}`))[0]?.body as { execution?: { model_parameters?: { reasoning?: { effort?: string } } } };
    expect(sent.execution?.model_parameters?.reasoning?.effort).toBe("xhigh");
  });

  it("openai: effort none on Chat and Responses is reported as ignored, the run goes ahead without it", async () => {
    const marker = nonce();
    const chat = await gateway("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}` },
      body: JSON.stringify({ model: "1flowbase", reasoning_effort: "none", messages: [{ role: "user", content: `none chat ${marker}` }] }),
    });
    expect(chat.status, await chat.clone().text()).toBe(200);
    expect(chat.headers.get("x-1flowbase-ignored-params")).toContain("reasoning_effort");
    const responses = await gateway("/v1/responses", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}` },
      body: JSON.stringify({ model: "1flowbase", reasoning: { effort: "none" }, input: `none responses ${marker}` }),
    });
    expect(responses.status, await responses.clone().text()).toBe(200);
    expect(responses.headers.get("x-1flowbase-ignored-params")).toContain("reasoning.effort");
    for (const create of await nativeCreatesWith(marker)) {
      expect((create.body as { execution?: unknown }).execution).toBeUndefined();
    }
  });
});
