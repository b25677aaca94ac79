/**
 * Every Anthropic error path (client-protocols.md §6.2): before headers as a JSON envelope with the
 * Anthropic status and type (blocking and streaming requests alike), after headers as one
 * `event: error` frame followed by the end of the stream. Driven through the real SDK where it has
 * a say (error classes, `APIError.type`), and raw where the bytes matter.
 */
import {
  APIError,
  BadRequestError,
  ConflictError,
  ContentTooLargeError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  PermissionDeniedError,
  RateLimitError,
} from "@anthropic-ai/sdk";
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emu, type EmulatorScript } from "../../emulator/script";
import { createApp } from "../../src/app";
import { anthropic, EMULATOR_KEYS, GATEWAY, parseSse, post, typedEvents } from "./helpers";

const MODEL = "1flowbase";
type Script = Parameters<typeof emu>[0];

const request = (script: Script, stream = false) => ({
  model: MODEL,
  max_tokens: 64,
  stream,
  messages: [{ role: "user" as const, content: emu(script, "hello") }],
});

async function errorBody(response: Response): Promise<{ type: string; error: { type: string; message: string }; request_id: string | null }> {
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return (await response.json()) as { type: string; error: { type: string; message: string }; request_id: string | null };
}

/** Runs the SDK call and returns the thrown APIError. */
async function sdkError(call: Promise<unknown>): Promise<APIError> {
  const error = await call.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(APIError);
  return error as APIError;
}

describe("errors before headers (JSON envelope, blocking and streaming requests)", () => {
  const cases: Array<{ name: string; script: Script; status: number; type: string; sdkClass?: abstract new (...args: never[]) => unknown }> = [
    { name: "native 403", script: { http_error: { status: 403, code: "application_run_forbidden", message: "nope" } }, status: 403, type: "permission_error", sdkClass: PermissionDeniedError },
    { name: "native 404", script: { http_error: { status: 404, code: "not_found", message: "gone" } }, status: 404, type: "not_found_error", sdkClass: NotFoundError },
    { name: "native 413", script: { http_error: { status: 413, plain_text: "length limit exceeded" } }, status: 413, type: "request_too_large", sdkClass: ContentTooLargeError },
    { name: "native 429", script: { http_error: { status: 429, code: "rate_limited", message: "slow down", retry_after: "7" } }, status: 429, type: "rate_limit_error", sdkClass: RateLimitError },
    { name: "native 503 → 529", script: { http_error: { status: 503, code: "provider_transport_unavailable", message: "busy" } }, status: 529, type: "overloaded_error", sdkClass: OverloadedError },
    { name: "native 500 (plain text) → 502", script: { http_error: { status: 500, plain_text: "boom" } }, status: 502, type: "api_error", sdkClass: InternalServerError },
  ];

  for (const { name, script, status, type, sdkClass } of cases) {
    it(`${name} → ${status} ${type}`, async () => {
      for (const stream of [false, true]) {
        const response = await post("/v1/messages", request(script, stream));
        expect(response.status, `stream=${stream}`).toBe(status);
        const body = await errorBody(response);
        expect(body).toMatchObject({ type: "error", error: { type }, request_id: expect.stringMatching(/^req_/) });
        expect(response.headers.get("request-id")).toBe(body.request_id);
      }
      const error = await sdkError(anthropic().messages.create(request(script)));
      expect(error.status).toBe(status);
      expect(error.type).toBe(type);
      if (sdkClass) expect(error).toBeInstanceOf(sdkClass);
    });
  }

  it("a native retry-after reaches the client, and x-should-retry steers SDK retries", async () => {
    const limited = await post("/v1/messages", request({ http_error: { status: 429, code: "rate_limited", retry_after: "7" } }));
    expect(limited.headers.get("retry-after")).toBe("7");
    expect(limited.headers.get("x-should-retry")).toBe("true");
    const failed = await post("/v1/messages", request({ fail: { code: "runtime_error", message: "flow broke" } }));
    expect(failed.headers.get("x-should-retry")).toBe("false");
  });

  it("an unpublished application is a 409 (native application_not_published)", async () => {
    const error = await sdkError(anthropic({ apiKey: EMULATOR_KEYS.unpublished }).messages.create(request({ text: ["x"] })));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.type).toBe("invalid_request_error");
    expect(error.apiMessage).toMatch(/published/);
  });

  it("unknown /v1/messages paths are 404 not_found_error in the Anthropic envelope", async () => {
    const response = await post("/v1/messages/batches", {});
    expect(response.status).toBe(404);
    expect(await errorBody(response)).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  });

  it("a body over the limit is 413 request_too_large", async () => {
    const app = createApp();
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request(`${GATEWAY}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": EMULATOR_KEYS.demo },
        body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "x".repeat(4096) }] }),
      }),
      { ...env, MAX_BODY_BYTES: "2048" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(413);
    expect(await errorBody(response)).toMatchObject({ type: "error", error: { type: "request_too_large" } });
  });
});

describe("invalid requests → 400 invalid_request_error naming the field", () => {
  const base = { model: MODEL, max_tokens: 16, messages: [{ role: "user", content: "hi" }] };
  const cases: Array<[string, unknown, RegExp]> = [
    ["missing max_tokens", { model: MODEL, messages: base.messages }, /max_tokens/],
    ["max_tokens 0", { ...base, max_tokens: 0 }, /max_tokens/],
    ["missing model", { max_tokens: 16, messages: base.messages }, /model/],
    ["empty messages", { ...base, messages: [] }, /messages/],
    ["bad role", { ...base, messages: [{ role: "tool", content: "x" }] }, /messages\[0\]\.role/],
    ["unknown block", { ...base, messages: [{ role: "user", content: [{ type: "server_tool_use", id: "x" }] }] }, /messages\[0\]\.content\[0\]/],
    ["text block without text", { ...base, messages: [{ role: "user", content: [{ type: "text" }] }] }, /messages\[0\]\.content\[0\]\.text/],
    ["image without source", { ...base, messages: [{ role: "user", content: [{ type: "image" }] }] }, /source/],
    ["tool_choice tool without name", { ...base, tool_choice: { type: "tool" } }, /tool_choice\.name/],
    ["thinking enabled without budget", { ...base, thinking: { type: "enabled" } }, /budget_tokens/],
    ["only system messages", { ...base, messages: [{ role: "system", content: "rules" }] }, /user message/],
  ];
  for (const [name, body, pattern] of cases) {
    it(name, async () => {
      const response = await post("/v1/messages", body);
      expect(response.status).toBe(400);
      const json = await errorBody(response);
      expect(json.error.type).toBe("invalid_request_error");
      expect(json.error.message).toMatch(pattern);
    });
  }

  it("malformed JSON", async () => {
    const response = await post("/v1/messages", "{not json");
    expect(response.status).toBe(400);
    expect((await errorBody(response)).error.type).toBe("invalid_request_error");
  });

  it("the SDK surfaces them as BadRequestError", async () => {
    const error = await sdkError(anthropic().messages.create({ model: MODEL, max_tokens: -1, messages: [{ role: "user", content: "x" }] }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.type).toBe("invalid_request_error");
  });
});

describe("failed runs", () => {
  const cases: Array<{ code: string; status: number; type: string }> = [
    { code: "runtime_error", status: 500, type: "api_error" },
    { code: "rate_limited", status: 429, type: "rate_limit_error" },
    { code: "provider_transport_unavailable", status: 529, type: "overloaded_error" },
    { code: "provider_upstream_error", status: 502, type: "api_error" },
    { code: "context_length_exceeded", status: 400, type: "invalid_request_error" },
  ];

  for (const { code, status, type } of cases) {
    it(`${code}: blocking → HTTP ${status} ${type}; streaming → event: error ${type} after the deltas`, async () => {
      const script: Script = { text: ["par", "tial"], fail: { code, message: `failed: ${code}`, after_deltas: 1 } };
      const blocking = await post("/v1/messages", request(script));
      expect(blocking.status).toBe(status);
      expect(await errorBody(blocking)).toMatchObject({ type: "error", error: { type, message: `failed: ${code}` } });

      const streamed = await post("/v1/messages", request(script, true));
      expect(streamed.status).toBe(200);
      const events = typedEvents(parseSse(await streamed.text()));
      expect(events.map((event) => event.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "error"]);
      expect(events.at(-1)).toEqual({ type: "error", error: { type, message: `failed: ${code}` } });

      const error = await sdkError(anthropic().messages.stream(request(script)).finalMessage());
      expect(error.type).toBe(type);
      expect(error.apiMessage).toBe(`failed: ${code}`);
    });
  }
});

describe("transport failures after headers → event: error, then close", () => {
  const cases: Array<[string, Partial<EmulatorScript>]> = [
    ["connection reset mid-stream", { text: ["a", "b", "c"], drop_after: 2 }],
    ["stream ends without a terminal event", { text: ["a"], end_without_terminal: true }],
    ["malformed native frame", { text: ["a", "b"], malformed: "json" }],
  ];
  for (const [name, script] of cases) {
    it(name, async () => {
      const response = await post("/v1/messages", request(script as Script, true));
      expect(response.status).toBe(200);
      const events = typedEvents(parseSse(await response.text()));
      const last = events.at(-1) as { type: string; error: { type: string; message: string } };
      expect(last.type).toBe("error");
      expect(last.error.type).toBe("api_error");
      expect(last.error.message.length).toBeGreaterThan(0);
      expect(events.filter((event) => event.type === "error")).toHaveLength(1);
      expect(events.some((event) => event.type === "message_stop")).toBe(false);
    });
  }

  it("the same failure on a blocking request is a 502 api_error", async () => {
    const response = await post("/v1/messages", request({ text: ["a", "b", "c"], drop_after: 2 }));
    expect(response.status).toBe(502);
    expect((await errorBody(response)).error.type).toBe("api_error");
  });

  it("a cancelled run ends with an error event, not a normal end", async () => {
    const response = await post("/v1/messages", request({ text: ["a"], wait_ms: 5_000 }, true));
    const reader = response.body?.getReader();
    if (!reader) throw new Error("no body");
    const decoder = new TextDecoder();
    const first = decoder.decode((await reader.read()).value);
    const start = typedEvents(parseSse(first))[0] as unknown as { type: string; message: { id: string } };
    expect(start.type).toBe("message_start");
    const hex = start.message.id.slice(4);
    const runId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const cancelled = await fetch(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs/${runId}/cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}` },
    });
    expect(cancelled.status).toBe(200);
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
    const events = typedEvents(parseSse(rest)).filter((event) => event.type !== "ping");
    expect(events.at(-1)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(events.some((event) => event.type === "message_stop")).toBe(false);
  });
});
