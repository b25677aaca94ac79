/**
 * Chat Completions error paths, through the real `openai` SDK where a client would see them:
 * native HTTP errors before any byte was streamed (401/403/404/409/400/5xx, plain-text 5xx, network
 * failure, timeout) are plain HTTP errors in OpenAI's envelope; a run that fails, is cancelled, or a
 * native stream that breaks after the headers is an OpenAI error chunk, then `[DONE]`, then close —
 * never a successful completion (the fork's gap, native-api.md §4.1/§4.5).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { emu, EMULATOR_KEYS } from "../../emulator/script";
import { createApp } from "../../src/app";
import { GATEWAY, MODEL, dataFrames, openai, post, runIdOf } from "./helpers";

const ask = (content: string) => ({ model: MODEL, messages: [{ role: "user" as const, content }] });

async function caught(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

/** Streams a request and collects what the SDK yields until it throws. */
async function streamUntilError(content: string): Promise<{ text: string; error: InstanceType<typeof OpenAI.APIError> }> {
  const stream = await openai().chat.completions.create({ ...ask(content), stream: true });
  let text = "";
  const error = await caught(
    (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })(),
  );
  return { text, error };
}

describe("native errors before any byte was streamed → typed SDK errors (blocking and streaming alike)", () => {
  const cases: Array<[string, string, new (...args: never[]) => Error, number, string]> = [
    ["unknown key (native 401)", emu({}), OpenAI.AuthenticationError, 401, "not_authenticated"],
    ["native 400", emu({ http_error: { status: 400, code: "invalid_mapping", message: "application public API mapping is invalid" } }), OpenAI.BadRequestError, 400, "invalid_mapping"],
    ["native 403", emu({ http_error: { status: 403, code: "application_run_forbidden", message: "forbidden" } }), OpenAI.PermissionDeniedError, 403, "application_run_forbidden"],
    ["native 404", emu({ http_error: { status: 404, code: "not_found", message: "gone" } }), OpenAI.NotFoundError, 404, "not_found"],
    ["native 409", emu({ http_error: { status: 409, code: "idempotency_conflict", message: "conflict" } }), OpenAI.ConflictError, 409, "idempotency_conflict"],
    ["native 500 → 502", emu({ http_error: { status: 500, code: "internal_error", message: "db down" } }), OpenAI.InternalServerError, 502, "internal_error"],
    ["native plain-text 500 → 502", emu({ http_error: { status: 500, plain_text: "Internal Server Error" } }), OpenAI.InternalServerError, 502, "upstream_http_500"],
    ["native 503 keeps 503", emu({ http_error: { status: 503, code: "unavailable", message: "busy", retry_after: "7" } }), OpenAI.InternalServerError, 503, "unavailable"],
  ];

  for (const stream of [false, true]) {
    for (const [name, content, ErrorClass, status, code] of cases) {
      it(`${stream ? "streaming" : "blocking"}: ${name} → ${status} ${code}`, async () => {
        const apiKey = name.startsWith("unknown key") ? "sk-unknown0000-NotARealKeyNotARealKeyNotARealKey0000" : EMULATOR_KEYS.demo;
        const error = await caught(openai({ apiKey }).chat.completions.create({ ...ask(content), stream }));
        expect(error).toBeInstanceOf(ErrorClass);
        expect(error.status).toBe(status);
        expect(error.code).toBe(code);
        if (status === 503) expect(error.headers?.get("retry-after")).toBe("7");
        if (status === 502) expect(error.headers?.get("x-should-retry")).toBe("false");
      });
    }
  }

  it("an unpublished application → 409 application_not_published", async () => {
    const error = await caught(openai({ apiKey: EMULATOR_KEYS.unpublished }).chat.completions.create(ask("Hi")));
    expect(error).toBeInstanceOf(OpenAI.ConflictError);
    expect(error.code).toBe("application_not_published");
  });

  it("native unreachable → 502 upstream_unreachable; native too slow → 504 upstream_timeout", async () => {
    const app = createApp();
    const request = (content: string) =>
      new Request(`${GATEWAY}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}` },
        body: JSON.stringify(ask(content)),
      });

    const ctx = createExecutionContext();
    const unreachable = await app.fetch(request("Hi"), { ...env, NATIVE_API_BASE_URL: "http://127.0.0.1:9" }, ctx);
    expect(unreachable.status).toBe(502);
    expect(await unreachable.json()).toMatchObject({ error: { type: "server_error", code: "upstream_unreachable" } });

    const slow = await app.fetch(request(emu({ delay_ms: 2_000 })), { ...env, NATIVE_HEADERS_TIMEOUT_MS: "100" }, ctx);
    expect(slow.status).toBe(504);
    expect(await slow.json()).toMatchObject({ error: { type: "server_error", code: "upstream_timeout" } });
    await waitOnExecutionContext(ctx);
  });
});

describe("a run that fails is an error, never a successful completion", () => {
  it("blocking: failed run → 500 server_error with the run's code; rate limited → 429", async () => {
    const failed = await caught(openai().chat.completions.create(ask(emu({ text: ["partial"], fail: { code: "runtime_error", message: "the flow broke" } }))));
    expect(failed).toBeInstanceOf(OpenAI.InternalServerError);
    expect(failed).toMatchObject({ status: 500, code: "runtime_error", type: "server_error" });
    expect(failed.message).toContain("the flow broke");
    expect(failed.headers?.get("x-should-retry")).toBe("false");

    const limited = await caught(openai().chat.completions.create(ask(emu({ fail: { code: "rate_limited", message: "slow down", after_deltas: 0 } }))));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.code).toBe("rate_limit_exceeded");
  });

  it("streaming: deltas, then an OpenAI error chunk, then [DONE] (the SDK raises APIError)", async () => {
    const { text, error } = await streamUntilError(emu({ text: ["Hel", "lo"], fail: { code: "runtime_error", message: "the flow broke", after_deltas: 2 } }));
    expect(text).toBe("Hello");
    expect(error.message).toContain("the flow broke");

    const raw = await post("/v1/chat/completions", { ...ask(emu({ text: ["x"], fail: { code: "runtime_error", message: "boom" } })), stream: true });
    expect(raw.status).toBe(200);
    const frames = dataFrames(await raw.text());
    expect(frames.at(-1)).toBe("[DONE]");
    expect(JSON.parse(frames.at(-2) ?? "")).toEqual({ error: { message: "boom", type: "server_error", param: null, code: "runtime_error" } });
    expect(frames.slice(0, -2).some((frame) => (JSON.parse(frame) as { choices: Array<{ finish_reason: string | null }> }).choices[0]?.finish_reason)).toBe(false);
  });

  it.each([
    ["socket reset mid-stream", emu({ text: ["a", "b", "c"], drop_after: 2 }), "upstream_connection_reset"],
    ["stream ends without a terminal event", emu({ text: ["a"], end_without_terminal: true }), "upstream_stream_cut"],
    ["malformed native frame", emu({ text: ["a"], malformed: "json" }), "upstream_invalid_sse"],
  ])("streaming: %s → error chunk %s, [DONE], close", async (_name, content, code) => {
    const raw = await post("/v1/chat/completions", { ...ask(content), stream: true });
    expect(raw.status).toBe(200);
    const frames = dataFrames(await raw.text());
    expect(frames.at(-1)).toBe("[DONE]");
    expect(JSON.parse(frames.at(-2) ?? "")).toMatchObject({ error: { type: "server_error", code } });
  });

  it("blocking: the same transport faults are 502s", async () => {
    const error = await caught(openai().chat.completions.create(ask(emu({ text: ["a", "b"], drop_after: 1 }))));
    expect(error).toMatchObject({ status: 502, code: "upstream_connection_reset" });
  });

  it("streaming: a run cancelled on native mid-stream → error chunk run_cancelled", async () => {
    const response = await post("/v1/chat/completions", { ...ask(emu({ wait_ms: 5_000, text: ["never"] })), stream: true });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
    const first = JSON.parse(dataFrames(text)[0] ?? "") as { id: string };
    const cancel = await fetch(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs/${runIdOf(first.id)}/cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}` },
    });
    expect(cancel.status).toBe(200);
    for (let part = await reader.read(); !part.done; part = await reader.read()) text += part.value;
    const frames = dataFrames(text);
    expect(frames.at(-1)).toBe("[DONE]");
    expect(JSON.parse(frames.at(-2) ?? "")).toMatchObject({ error: { code: "run_cancelled", type: "invalid_request_error" } });
  });
});

describe("keepalive", () => {
  it("sends SSE comments while native is idle, then the answer", async () => {
    const app = createApp();
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request(`${GATEWAY}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}` },
        body: JSON.stringify({ ...ask(emu({ text: ["a", "b"], stall_ms: 400 })), stream: true }),
      }),
      { ...env, KEEPALIVE_INTERVAL_MS: "25" },
      ctx,
    );
    const text = await response.text();
    await waitOnExecutionContext(ctx);
    expect(text).toMatch(/^: keepalive\n\n/m);
    const frames = dataFrames(text);
    expect(frames.at(-1)).toBe("[DONE]");
    expect(frames.map((frame) => (frame === "[DONE]" ? "" : ((JSON.parse(frame) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? ""))).join("")).toBe("ab");
  });
});
