/**
 * Real answers validate against the documented schemas: blocking JSON, every SSE event of each
 * protocol, and the error envelopes — driven through the worker against the native emulator. Each
 * value is checked twice: against the zod documentation schema and against the JSON Schema the
 * published document carries for that operation (so the document cannot drift from the worker).
 *
 * The last tests check coverage the other way round: every documented JSON answer and every
 * documented stream event type was actually produced by some request here.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { emu } from "../../emulator/script";
import { PING_FRAME } from "../../src/protocols/anthropic/stream";
import { openApiDocument, operations } from "../../src/docs/openapi";
import { documentedSchemas } from "../../src/docs/schemas";
import { errorEnvelopeSchemas } from "../../src/http/errors";
import { EMULATOR_KEYS, expectDocumented, GATEWAY, MODEL, operation, parseSse, refName, request, type SseFrame } from "./helpers";

type Json = Record<string, unknown>;

interface DocumentedOperation {
  responses: Record<string, { content?: Record<string, { schema?: unknown; "x-sse-events"?: Record<string, unknown> }> }>;
}

function documented(operationId: string): DocumentedOperation {
  for (const item of Object.values(openApiDocument().paths as Record<string, Record<string, DocumentedOperation & { operationId: string }>>)) {
    for (const candidate of Object.values(item)) if (candidate.operationId === operationId) return candidate;
  }
  throw new Error(`${operationId} is not in the document`);
}

const exercisedJson = new Set<string>();
const seenEvents = new Map<string, Set<string>>();
const seenErrors = new Set<string>();

/** A blocking 200: JSON, valid for the operation's documented `application/json` schema. */
async function expectJson(operationId: string, response: Response): Promise<Json> {
  const text = await response.text();
  expect(response.status, `${operationId}: ${text}`).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const body = JSON.parse(text) as Json;
  const spec = operation(operationId);
  if (!spec.json) throw new Error(`${operationId} documents no JSON answer`);
  const component = refName(documented(operationId).responses["200"]?.content?.["application/json"]?.schema);
  expectDocumented(spec.json, component, body, `${operationId} 200`);
  exercisedJson.add(operationId);
  return body;
}

/** A streamed 200: every frame is one documented event of the operation (named or data-only framing). */
async function expectStream(operationId: string, response: Response): Promise<Array<{ event: string; data: unknown }>> {
  const text = await response.text();
  expect(response.status, `${operationId}: ${text}`).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const spec = operation(operationId);
  const stream = spec.stream;
  if (!stream) throw new Error(`${operationId} documents no stream`);
  const events = documented(operationId).responses["200"]?.content?.["text/event-stream"]?.["x-sse-events"] ?? {};
  const seen = seenEvents.get(stream.prefix) ?? new Set<string>();
  seenEvents.set(stream.prefix, seen);
  const out: Array<{ event: string; data: unknown }> = [];
  for (const frame of parseSse(text)) out.push(checkFrame(operationId, stream.framing, stream.events, events, frame, seen));
  expect(out.length).toBeGreaterThan(0);
  return out;
}

function checkFrame(
  operationId: string,
  framing: "data" | "named",
  schemas: Readonly<Record<string, import("zod").core.$ZodType>>,
  documentedEvents: Record<string, unknown>,
  frame: SseFrame,
  seen: Set<string>,
): { event: string; data: unknown } {
  let event: string;
  let data: unknown;
  if (framing === "data") {
    expect(frame.event, "Chat frames carry no event: line").toBeNull();
    data = frame.data === "[DONE]" ? "[DONE]" : (JSON.parse(frame.data) as unknown);
    event = data === "[DONE]" ? "done" : typeof data === "object" && data !== null && "error" in data ? "error" : "chunk";
  } else if (frame.event === null && frame.data === "[DONE]") {
    data = "[DONE]";
    event = "done";
  } else {
    data = JSON.parse(frame.data) as unknown;
    event = frame.event ?? "";
    expect((data as { type?: unknown }).type, "event: equals the JSON type").toBe(event);
  }
  const schema = schemas[event];
  expect(schema, `${operationId}: undocumented stream event '${event}'`).toBeDefined();
  expect(documentedEvents[event], `${operationId}: '${event}' missing from x-sse-events`).toBeDefined();
  if (schema) expectDocumented(schema, refName(documentedEvents[event]), data, `${operationId} event ${event}`);
  seen.add(event);
  return { event, data };
}

/** An error answer: documented status for the operation, and the family's envelope. */
async function expectError(operationId: string, response: Response, status: number): Promise<Json> {
  const text = await response.text();
  expect(response.status, `${operationId}: ${text}`).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const spec = operation(operationId);
  expect(spec.errors, `${operationId}: status ${status} is not documented`).toContain(status);
  const component = refName(documented(operationId).responses[String(status)]?.content?.["application/json"]?.schema);
  const body = JSON.parse(text) as Json;
  const { AnthropicError, OpenAiError } = errorEnvelopeSchemas();
  expectDocumented(spec.family === "anthropic" ? AnthropicError : OpenAiError, component, body, `${operationId} ${status}`);
  seenErrors.add(component);
  return body;
}

const chatBody = (content: string, extra: Json = {}) => ({ model: MODEL, messages: [{ role: "user", content }], ...extra });
const REASONING_AND_TEXT = emu({ reasoning: ["Let me ", "think"], text: ["Hello", " there"] });
const TOOL_CALL = emu({ reasoning: ["Checking"], tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] });
const FAILS_MIDWAY = emu({ text: ["partial", " answer"], fail: { code: "rate_limited", message: "slow down", after_deltas: 1 } });
const INCOMPLETE = emu({ text: ["cut"], incomplete: true });
const WEATHER_TOOL = { type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } };

describe("Chat Completions answers match the document", () => {
  it("blocking: plain, with reasoning, with tool calls", async () => {
    for (const path of ["/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"]) {
      await expectJson("createChatCompletion", await request("POST", path, chatBody("Hello")));
    }
    const reasoning = await expectJson("createChatCompletion", await request("POST", "/v1/chat/completions", chatBody(REASONING_AND_TEXT)));
    expect(JSON.stringify(reasoning)).toContain("reasoning_content");
    const tools = await expectJson(
      "createChatCompletion",
      await request("POST", "/v1/chat/completions", chatBody(TOOL_CALL, { tools: [{ type: "function", function: { name: "get_weather" } }] })),
    );
    expect(JSON.stringify(tools)).toContain("tool_calls");
  });

  it("streams: chunks with usage, tool-call fragments, an error chunk after the headers, [DONE]", async () => {
    const withUsage = await expectStream(
      "createChatCompletion",
      await request("POST", "/v1/chat/completions", chatBody(REASONING_AND_TEXT, { stream: true, stream_options: { include_usage: true } })),
    );
    expect(withUsage.at(-1)?.event).toBe("done");
    await expectStream("createChatCompletion", await request("POST", "/v1/chat/completions", chatBody(TOOL_CALL, { stream: true })));
    const failed = await expectStream("createChatCompletion", await request("POST", "/v1/chat/completions", chatBody(FAILS_MIDWAY, { stream: true })));
    expect(failed.map((frame) => frame.event)).toContain("error");
  });

  it("errors: no key (401), malformed body (400), rejected parameter (400) — OpenAI envelope", async () => {
    await expectError("createChatCompletion", await request("POST", "/v1/chat/completions", chatBody("hi"), { authorization: "" }), 401);
    await expectError("createChatCompletion", await request("POST", "/v1/chat/completions", { model: MODEL, messages: [] }), 400);
    await expectError("createChatCompletion", await request("POST", "/v1/chat/completions", chatBody("hi", { audio: { voice: "x" } })), 400);
  });
});

describe("model list answers match the document", () => {
  it("lists on every base; one model; an unknown model is a 404", async () => {
    let first: string | undefined;
    for (const path of ["/v1/models", "/models", "/openai/v1/models", "/v1/chat/completions/models"]) {
      const list = (await expectJson("listModels", await request("GET", path))) as { data: Array<{ id: string }> };
      first ??= list.data[0]?.id;
    }
    expect(first).toBeDefined();
    for (const base of ["/v1/models", "/models", "/openai/v1/models"]) {
      await expectJson("retrieveModel", await request("GET", `${base}/${encodeURIComponent(first ?? "")}`));
    }
    await expectError("retrieveModel", await request("GET", "/v1/models/no-such-model"), 404);
  });
});

/** Reads an SSE body until `predicate` matches a frame; returns the reader to finish it later. */
async function readUntil(body: ReadableStream<Uint8Array>, predicate: (frame: SseFrame) => boolean) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before the awaited frame: ${text}`);
    text += decoder.decode(value, { stream: true });
    const complete = text.slice(0, text.lastIndexOf("\n\n") + 2);
    const match = complete ? parseSse(complete).find(predicate) : undefined;
    if (match) return { reader, text, match };
  }
}

async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>, text: string): Promise<string> {
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
  }
}

describe("Responses answers match the document", () => {
  it("blocking create, retrieve, replay, input items, delete", async () => {
    const created = await expectJson("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: REASONING_AND_TEXT, instructions: "Be brief" }));
    const id = created.id as string;
    await expectJson("getResponse", await request("GET", `/v1/responses/${id}`));
    await expectStream("getResponse", await request("GET", `/v1/responses/${id}?stream=true`));
    await expectJson("listInputItems", await request("GET", `/v1/responses/${id}/input_items?limit=5&order=asc`));
    await expectJson("deleteResponse", await request("DELETE", `/v1/responses/${id}`));
    await expectError("getResponse", await request("GET", `/v1/responses/${id}`), 404);
    await expectError("deleteResponse", await request("DELETE", `/v1/responses/${id}`), 404);
    await expectError("listInputItems", await request("GET", `/v1/responses/${id}/input_items`), 404);
  });

  it("streams: reasoning + text, tool calls then their outputs, a failure, an incomplete run", async () => {
    const events = await expectStream("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: REASONING_AND_TEXT, stream: true }));
    // Every Responses stream ends with the terminal event, then `data: [DONE]`.
    expect(events.slice(-2).map((event) => event.event)).toEqual(["response.completed", "done"]);

    const tools = await expectStream("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: TOOL_CALL, tools: [WEATHER_TOOL], stream: true }));
    expect(tools.at(-1)?.event).toBe("done");
    const done = tools.at(-2)?.data as { response: { id: string; output: Array<{ type: string; call_id?: string }> } };
    const call = done.response.output.find((item) => item.type === "function_call");
    expect(call?.call_id).toBeDefined();
    const resumed = await expectJson(
      "createResponse",
      await request("POST", "/v1/responses", {
        model: MODEL,
        previous_response_id: done.response.id,
        input: [{ type: "function_call_output", call_id: call?.call_id, output: '{"temperature":21}' }],
        tools: [WEATHER_TOOL],
      }),
    );
    // The resumed response's input items include the call and its output.
    await expectJson("listInputItems", await request("GET", `/v1/responses/${resumed.id as string}/input_items`));
    await expectJson("getResponse", await request("GET", `/v1/responses/${done.response.id}`));

    // A custom tool (Codex's apply_patch): custom_tool_call items and their input events.
    const custom = await expectStream(
      "createResponse",
      await request("POST", "/v1/responses", {
        model: MODEL,
        input: emu({ tool_calls: [{ name: "apply_patch", arguments: { input: "*** Begin Patch\n*** End Patch" } }] }, "patch"),
        tools: [{ type: "custom", name: "apply_patch", format: { type: "text" } }],
        stream: true,
      }),
    );
    expect(custom.map((event) => event.event)).toContain("response.custom_tool_call_input.done");

    const failed = await expectStream("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: FAILS_MIDWAY, stream: true }));
    expect(failed.slice(-3).map((event) => event.event)).toEqual(["error", "response.failed", "done"]);
    const incomplete = await expectStream("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: INCOMPLETE, stream: true }));
    expect(incomplete.slice(-2).map((event) => event.event)).toEqual(["response.incomplete", "done"]);
  });

  it("cancel: a running response answers the Response; a finished one is a 400", async () => {
    const response = await request("POST", "/v1/responses", { model: MODEL, input: emu({ text: ["never"], wait_ms: 10_000 }, "slow"), stream: true });
    expect(response.body).not.toBeNull();
    const { reader, text, match } = await readUntil(response.body as ReadableStream<Uint8Array>, (frame) => frame.event === "response.in_progress");
    const id = (JSON.parse(match.data) as { response: { id: string } }).response.id;
    const cancelled = await expectJson("cancelResponse", await request("POST", `/v1/responses/${id}/cancel`));
    expect(cancelled.status).toBe("cancelled");
    // The rest of the interrupted stream is documented too.
    const rest = await readRest(reader, text);
    await expectStream("createResponse", new Response(rest, { headers: { "content-type": "text/event-stream" } }));
    await expectError("cancelResponse", await request("POST", `/v1/responses/${id}/cancel`), 400);
  });

  it("compact: the compaction resource, and a create that continues from its item", async () => {
    const compacted = await expectJson("compactResponse", await request("POST", "/v1/responses/compact", { model: MODEL, input: [{ role: "user", content: "Hi." }, { role: "assistant", content: "Hello." }] }));
    const output = compacted.output as Json[];
    await expectJson("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: [...output, { role: "user", content: "Go on." }] }));
    const invalid = await expectError("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: [{ type: "compaction", encrypted_content: "x" }, { role: "user", content: "y" }] }), 400);
    expect(invalid).toMatchObject({ error: { code: "invalid_encrypted_content" } });
    await expectError("compactResponse", await request("POST", "/v1/responses/compact", { input: "no model" }), 400);
  });

  it("errors: unknown previous_response_id (400), no key (401)", async () => {
    const unknown = await expectError("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: "hi", previous_response_id: "resp_nope" }), 400);
    expect(unknown).toMatchObject({ error: { param: "previous_response_id" } });
    await expectError("createResponse", await request("POST", "/v1/responses", { model: MODEL, input: "hi" }, { authorization: "" }), 401);
    await expectError("cancelResponse", await request("POST", "/v1/responses/resp_nope/cancel"), 404);
  });
});

const anthropicHeaders = { authorization: "", "x-api-key": EMULATOR_KEYS.demo, "anthropic-version": "2023-06-01" };
const messagesBody = (content: string, extra: Json = {}) => ({ model: MODEL, max_tokens: 256, messages: [{ role: "user", content }], ...extra });

describe("Anthropic Messages answers match the document", () => {
  it("blocking: text with thinking, tool use; count_tokens", async () => {
    await expectJson("createMessage", await request("POST", "/v1/messages", messagesBody(REASONING_AND_TEXT), anthropicHeaders));
    const tools = await expectJson(
      "createMessage",
      await request("POST", "/v1/messages", messagesBody(TOOL_CALL, { tools: [{ name: "get_weather", input_schema: { type: "object" } }] }), anthropicHeaders),
    );
    expect(tools.stop_reason).toBe("tool_use");
    await expectJson("countMessageTokens", await request("POST", "/v1/messages/count_tokens", { model: MODEL, messages: [{ role: "user", content: "Count me" }] }, anthropicHeaders));
  });

  it("streams: thinking + text, tool use, an error event after the headers; the ping keepalive frame", async () => {
    const events = await expectStream("createMessage", await request("POST", "/v1/messages", messagesBody(REASONING_AND_TEXT, { stream: true }), anthropicHeaders));
    expect(events.at(-1)?.event).toBe("message_stop");
    await expectStream(
      "createMessage",
      await request("POST", "/v1/messages", messagesBody(TOOL_CALL, { stream: true, tools: [{ name: "get_weather", input_schema: { type: "object" } }] }), anthropicHeaders),
    );
    const failed = await expectStream("createMessage", await request("POST", "/v1/messages", messagesBody(FAILS_MIDWAY, { stream: true }), anthropicHeaders));
    expect(failed.at(-1)?.event).toBe("error");
    // Keepalives are sent only after KEEPALIVE_INTERVAL_MS of native silence (10 s here); the frame
    // the projector emits for them is checked directly.
    await expectStream("createMessage", new Response(PING_FRAME, { headers: { "content-type": "text/event-stream" } }));
  });

  it("errors: no key (401), malformed body (400) — Anthropic envelope with request_id", async () => {
    const missing = await expectError("createMessage", await request("POST", "/v1/messages", messagesBody("hi"), { authorization: "" }), 401);
    expect(missing.request_id).toBeTypeOf("string");
    await expectError("createMessage", await request("POST", "/v1/messages", { model: MODEL, messages: [] }, anthropicHeaders), 400);
    await expectError("countMessageTokens", await request("POST", "/v1/messages/count_tokens", { model: MODEL }, anthropicHeaders), 400);
  });
});

describe("operations answers match the document", () => {
  it("GET /healthz", async () => {
    await expectJson("health", await request("GET", "/healthz", undefined, { authorization: "" }));
  });

  it("GET /readyz: ready (200) and not ready (503, the documented Readiness body)", async () => {
    const ready = await expectJson("readiness", await request("GET", "/readyz", undefined, { authorization: "" }));
    expect(ready.status).toBe("ready");
    // Native unhealthy: a fresh configuration (its own readiness cache) whose `/health` is a 404.
    const down = await createApp().fetch(new Request(`${GATEWAY}/readyz`), { ...env, NATIVE_API_BASE_URL: `${env.NATIVE_API_BASE_URL}/not-1flowbase` });
    expect(down.status).toBe(503);
    const body = (await down.json()) as Json;
    const component = refName(documented("readiness").responses["503"]?.content?.["application/json"]?.schema);
    expectDocumented(documentedSchemas().Readiness, component, body, "readiness 503");
    expect(body).toMatchObject({ status: "not_ready", checks: { index: "ok", native: "unhealthy" } });
  });
});

describe("coverage: everything documented was produced", () => {
  it("every documented JSON answer was validated against a real one", () => {
    const documentedJson = operations().filter((spec) => spec.json).map((spec) => spec.operationId);
    expect(documentedJson.filter((id) => !exercisedJson.has(id))).toEqual([]);
  });

  it("every documented stream event type was produced by a real stream", () => {
    for (const spec of operations()) {
      if (!spec.stream) continue;
      const seen = seenEvents.get(spec.stream.prefix) ?? new Set<string>();
      expect(Object.keys(spec.stream.events).filter((event) => !seen.has(event)), `${spec.operationId} events never seen`).toEqual([]);
    }
  });

  it("both error envelopes were produced", () => {
    expect([...seenErrors].sort()).toEqual(["AnthropicError", "OpenAIError"]);
  });
});
