/// <reference types="vite/client" />
/**
 * Upstream faults (issue 7), table-driven: every fault of the native API × the three protocols ×
 * blocking and streaming. Each answer is either the right HTTP error before any header (status, the
 * protocol's JSON envelope, `x-should-retry`, `retry-after` passed on) or, once a stream has started,
 * exactly one protocol terminal error event — Responses `error` + `response.failed`, Chat error chunk
 * + `[DONE]`, Anthropic `event: error` — after which the body ends. Never a hang: every body is read
 * under a time bound. The faults come from the emulator's script (`emulator/script.ts`) or from env
 * overrides (an unreachable native, small timeouts), so the gateway's configured knobs are what fires.
 *
 * Also here: NATIVE_BLOCKING_TIMEOUT_MS bounds every protocol's tool-result resume (native answers
 * resumes as one JSON document after the flow ran); the client going away aborts the native request
 * promptly (streaming and blocking); and a
 * property over mutated golden native SSE streams (cuts, duplicates, reorderings, junk lines, line-end
 * swaps, any chunking): every projector still emits well-formed frames and exactly one terminal event.
 * (Native's own response headers never reaching a client is checked route by route in isolation.test.ts.)
 */
import { SELF } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emu, type EmulatorScript } from "../../emulator/script";
import { projectToSse } from "../../src/http/sse";
import { readNativeStream, type NativeStreamItem } from "../../src/native/events";
import type { NativeRun } from "../../src/native/schema";
import { AnthropicStreamProjector } from "../../src/protocols/anthropic/stream";
import { ChatStreamProjector } from "../../src/protocols/openai-chat/stream";
import { ResponsesStreamProjector } from "../../src/protocols/openai-responses/stream";
import { echoFromRequest } from "../../src/protocols/openai-responses/to-native";
import { create, EMULATOR_KEYS, expectErrorResponse, expectStream, gateway, GATEWAY, nativeCreatesWith, nonce, sleep, within, type EnvOverrides } from "./helpers";
import { ANTHROPIC, CHAT, PROTOCOLS, RESPONSES, WireError, type ProtocolCase } from "./protocols";

type Script = Parameters<typeof emu>[0];

/** Anthropic's error type for a status (client-protocols.md §6.2; 503 travels as 529). */
function anthropicType(status: number): string {
  if (status === 400) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status === 504) return "timeout_error";
  if (status === 529) return "overloaded_error";
  return "api_error";
}

interface Expected {
  /** OpenAI status; Anthropic gets 529 for 503. */
  status: number;
  /** OpenAI error code (Anthropic carries only the type, derived from the status). */
  code: string;
  retry: "true" | "false";
  retryAfter?: string;
}

interface Fault {
  name: string;
  script: Script;
  overrides?: EnvOverrides;
  /**
   * What the client sees, whatever the protocol and mode: every protocol asks native to stream even
   * for a blocking client (its answer is folded over the native stream), so a stream fault is a
   * blocking client's HTTP error too.
   */
  expected: Expected;
}

const FAULTS: Fault[] = [
  {
    name: "native unreachable (DNS failure)",
    script: {},
    overrides: { NATIVE_API_BASE_URL: "http://native-host.invalid" },
    expected: { status: 502, code: "upstream_unreachable", retry: "true" },
  },
  {
    name: "connection refused",
    script: {},
    overrides: { NATIVE_API_BASE_URL: "http://127.0.0.1:1" },
    expected: { status: 502, code: "upstream_unreachable", retry: "true" },
  },
  {
    name: "connection reset mid-stream",
    script: { text: ["a", "b", "c"], drop_after: 2 },
    expected: { status: 502, code: "upstream_connection_reset", retry: "true" },
  },
  {
    name: "slow first byte (NATIVE_HEADERS_TIMEOUT_MS)",
    script: { delay_ms: 3_000 },
    overrides: { NATIVE_HEADERS_TIMEOUT_MS: "150" },
    expected: { status: 504, code: "upstream_timeout", retry: "true" },
  },
  {
    name: "idle mid-stream (NATIVE_IDLE_TIMEOUT_MS)",
    // The test emulator sends keepalive comments every 200 ms; an idle budget of 100 ms fires first.
    script: { text: ["a", "b"], stall_ms: 3_000 },
    overrides: { NATIVE_IDLE_TIMEOUT_MS: "100" },
    expected: { status: 504, code: "upstream_idle_timeout", retry: "true" },
  },
  {
    name: "native 500 (JSON)",
    script: { http_error: { status: 500, code: "internal_error", message: "database is down" } },
    expected: { status: 502, code: "internal_error", retry: "false" },
  },
  {
    name: "native 503 with retry-after",
    script: { http_error: { status: 503, code: "provider_transport_unavailable", message: "busy", retry_after: "3" } },
    expected: { status: 503, code: "provider_transport_unavailable", retry: "true", retryAfter: "3" },
  },
  {
    name: "native 429 with retry-after",
    script: { http_error: { status: 429, code: "rate_limited", message: "slow down", retry_after: "7" } },
    expected: { status: 429, code: "rate_limit_exceeded", retry: "true", retryAfter: "7" },
  },
  {
    name: "plain-text 502 from a proxy",
    script: { http_error: { status: 502, plain_text: "<html><body>502 Bad Gateway</body></html>" } },
    expected: { status: 502, code: "upstream_http_502", retry: "false" },
  },
  {
    name: "plain-text 400 (axum extractor)",
    script: { http_error: { status: 400, plain_text: "Failed to deserialize the JSON body" } },
    expected: { status: 400, code: "upstream_http_400", retry: "false" },
  },
  {
    name: "error body that is truncated JSON",
    script: { http_error: { status: 500, plain_text: '{"code":"internal_error","mess' } },
    expected: { status: 502, code: "upstream_http_500", retry: "false" },
  },
  {
    name: "malformed SSE (an event whose data is not JSON)",
    script: { text: ["a", "b"], malformed: "json" },
    expected: { status: 502, code: "upstream_invalid_sse", retry: "false" },
  },
  {
    name: "stream ends without a terminal event",
    script: { text: ["a", "b"], end_without_terminal: true },
    expected: { status: 502, code: "upstream_stream_cut", retry: "true" },
  },
];

/** What a stream's terminal error carries: the OpenAI code, or the Anthropic type. */
function streamError(protocol: ProtocolCase, expected: Expected): string {
  return protocol.family === "anthropic" ? anthropicType(expected.status === 503 ? 529 : expected.status) : expected.code;
}

describe("upstream faults → HTTP error before headers, or one terminal error event after", () => {
  for (const fault of FAULTS) {
    describe(fault.name, () => {
      for (const protocol of PROTOCOLS) {
        for (const stream of [false, true]) {
          const { expected } = fault;
          it(`${protocol.name} ${stream ? "streaming" : "blocking"}`, async () => {
            const response = await within(8_000, "the answer's headers", create(protocol, emu(fault.script as EmulatorScript, `fault ${nonce()}`), stream, { overrides: fault.overrides }));
            if (response.status === 200) {
              // Headers were sent: the failure must be the protocol's one terminal error event.
              expect(stream, "a blocking request answered 200 to a fault").toBe(true);
              const outcome = await expectStream(protocol, response);
              expect(outcome.kind).toBe("error");
              expect(outcome.error).toBe(streamError(protocol, expected));
              return;
            }
            const status = protocol.family === "anthropic" && expected.status === 503 ? 529 : expected.status;
            const envelope = await expectErrorResponse(response, protocol.family, status);
            if (protocol.family === "anthropic") expect(envelope.type).toBe(anthropicType(status));
            else expect(envelope.code).toBe(expected.code);
            expect(response.headers.get("x-should-retry")).toBe(expected.retry);
            expect(response.headers.get("retry-after")).toBe(expected.retryAfter ?? null);
          });
        }
      }
    });
  }

  it("a fault before native's first event still answers a streaming Responses request with an HTTP error", async () => {
    // Responses reads native's first item before answering (to claim the id); Chat and Anthropic start
    // their stream at once. Either way the client learns about the failure in its own protocol.
    const responses = PROTOCOLS[0] as ProtocolCase;
    const response = await create(responses, emu({ text: ["a"], drop_after: 0 }, "q"), true);
    const envelope = await expectErrorResponse(response, "openai", 502);
    expect(envelope.code).toBe("upstream_connection_reset");
    for (const protocol of PROTOCOLS.slice(1)) {
      const outcome = await expectStream(protocol, await create(protocol, emu({ text: ["a"], drop_after: 0 }, "q"), true));
      expect(outcome).toMatchObject({ kind: "error", text: "" });
    }
  });
});

/**
 * Native resume (tool results) answers JSON only, after the rest of the flow ran (native-api.md §1.6):
 * NATIVE_BLOCKING_TIMEOUT_MS is the knob that bounds it, on every protocol's tool round trip.
 */
describe("NATIVE_BLOCKING_TIMEOUT_MS bounds a tool-result resume on every route", () => {
  const script = { tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }], resume_delay_ms: 3_000 };
  const auth = (protocol: ProtocolCase) => ({ "content-type": "application/json", ...protocol.auth(EMULATOR_KEYS.demo) });

  /** Starts a run that waits for a tool result; returns the request body that answers it. */
  async function toolTurn(protocol: ProtocolCase, stream: boolean): Promise<Record<string, unknown>> {
    const question = emu(script, `tools ${nonce()}`);
    if (protocol.name === "chat") {
      const body = { model: "1flowbase", messages: [{ role: "user", content: question }], tools: [{ type: "function", function: { name: "get_weather" } }] };
      const answer = (await (await gateway(protocol.path, { method: "POST", headers: auth(protocol), body: JSON.stringify(body) })).json()) as {
        choices: Array<{ message: { tool_calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> } }>;
      };
      const calls = answer.choices[0]?.message.tool_calls ?? [];
      return { ...body, stream, messages: [...body.messages, { role: "assistant", content: null, tool_calls: calls }, { role: "tool", tool_call_id: calls[0]?.id, content: "sunny" }] };
    }
    if (protocol.name === "anthropic") {
      const body = { model: "1flowbase", max_tokens: 64, messages: [{ role: "user", content: question }], tools: [{ name: "get_weather", input_schema: { type: "object" } }] };
      const answer = (await (await gateway(protocol.path, { method: "POST", headers: auth(protocol), body: JSON.stringify(body) })).json()) as { content: Array<{ type: string; id?: string }> };
      const use = answer.content.find((block) => block.type === "tool_use");
      return {
        ...body,
        stream,
        messages: [...body.messages, { role: "assistant", content: answer.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use?.id, content: "sunny" }] }],
      };
    }
    const tools = [{ type: "function", name: "get_weather", parameters: { type: "object" } }];
    const answer = (await (await gateway(protocol.path, { method: "POST", headers: auth(protocol), body: JSON.stringify({ model: "1flowbase", input: question, tools }) })).json()) as {
      id: string;
      output: Array<{ call_id: string }>;
    };
    return { model: "1flowbase", tools, stream, previous_response_id: answer.id, input: [{ type: "function_call_output", call_id: answer.output[0]?.call_id, output: "sunny" }] };
  }

  for (const protocol of PROTOCOLS) {
    for (const stream of [false, true]) {
      it(`${protocol.name} ${stream ? "streaming" : "blocking"}`, async () => {
        const body = await toolTurn(protocol, stream);
        const started = Date.now();
        const response = await within(5_000, "the resume", gateway(protocol.path, { method: "POST", headers: auth(protocol), body: JSON.stringify(body) }, { NATIVE_BLOCKING_TIMEOUT_MS: "150" }));
        if (response.status === 200) {
          // Anthropic starts its stream at once (ping keepalives while the resume runs).
          const outcome = await expectStream(protocol, response);
          expect(outcome).toMatchObject({ kind: "error", error: protocol.family === "anthropic" ? "timeout_error" : "upstream_timeout" });
        } else {
          const envelope = await expectErrorResponse(response, protocol.family, 504);
          expect(protocol.family === "anthropic" ? envelope.type : envelope.code).toBe(protocol.family === "anthropic" ? "timeout_error" : "upstream_timeout");
          expect(response.headers.get("x-should-retry")).toBe("true");
        }
        expect(Date.now() - started).toBeLessThan(2_000);
      });
    }
  }
});

describe("client disconnect aborts the native request promptly", () => {
  /** Waits until the emulator saw the native create for `marker` close, and returns how it closed. */
  async function nativeClose(marker: string): Promise<{ completed: boolean | null; afterMs: number }> {
    const started = Date.now();
    for (;;) {
      const [create] = await nativeCreatesWith(marker);
      if (create?.closed_at) return { completed: create.completed, afterMs: Date.now() - started };
      if (Date.now() - started > 5_000) throw new Error(`the native request for ${marker} is still open 5 s after the client left`);
      await sleep(25);
    }
  }

  const via = {
    // Through the runtime: workerd tears the request down when its client goes away.
    runtime: (protocol: ProtocolCase, body: string, signal?: AbortSignal) =>
      SELF.fetch(`${GATEWAY}${protocol.path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...protocol.auth(EMULATOR_KEYS.demo) },
        body,
        signal,
      }),
  };

  for (const protocol of PROTOCOLS) {
    for (const how of ["runtime", "in-process"] as const) {
      it(`${protocol.name}, streaming, ${how}: cancelling the body closes the native stream`, async () => {
        const marker = nonce();
        // A 20 s stall after the first delta: only an abort can end the native request early.
        const text = emu({ text: ["first ", "never"], stall_ms: 20_000 }, `disconnect ${marker}`);
        // In-process there is no runtime to abort the request's signal: only the gateway's own cancel
        // path (the body's next write fails → native body cancelled) can close it. The body is the
        // runtime's byte stream (src/http/sse.ts), which reports a cancel at the next write, so the
        // keepalive cadence bounds how soon: shortened here to 100 ms.
        const response =
          how === "runtime"
            ? await via.runtime(protocol, JSON.stringify(protocol.body(text, true)))
            : await create(protocol, text, true, { overrides: { KEEPALIVE_INTERVAL_MS: "100" } });
        expect(response.status).toBe(200);
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        let seen = "";
        while (!seen.includes("first")) {
          const { value, done } = await within(5_000, "the first delta", reader.read());
          if (done) throw new Error("the stream ended before its first delta");
          seen += decoder.decode(value, { stream: true });
        }
        await reader.cancel();
        const closed = await nativeClose(marker);
        expect(closed.completed).toBe(false);
        expect(closed.afterMs).toBeLessThan(2_000);
      });
    }

    it(`${protocol.name}, blocking: a client that gives up aborts the native request`, async () => {
      const marker = nonce();
      const controller = new AbortController();
      const text = emu({ text: ["first ", "never"], stall_ms: 20_000 }, `disconnect ${marker}`);
      const pending = via.runtime(protocol, JSON.stringify(protocol.body(text, false)), controller.signal).catch((error: unknown) => error);
      // Wait until native has the request, then leave.
      const deadline = Date.now() + 5_000;
      while ((await nativeCreatesWith(marker)).length === 0) {
        if (Date.now() > deadline) throw new Error("native never saw the request");
        await sleep(25);
      }
      controller.abort();
      await pending;
      const closed = await nativeClose(marker);
      expect(closed.completed).toBe(false);
      expect(closed.afterMs).toBeLessThan(2_000);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Property: mutated golden native streams → well-formed frames and exactly one terminal event
// ---------------------------------------------------------------------------------------------

const goldens: Record<string, string> = {
  ...import.meta.glob<string>("../fixtures/native/*.native.sse", { query: "?raw", import: "default", eager: true }),
};

/** Lines a broken or future upstream may interleave: comments, unknown fields and events, bad data. */
const JUNK_LINES = [
  ":",
  ": keepalive",
  "garbage without a colon",
  "retry: 1000",
  "id: 42",
  "event: run.progress",
  "data: not json at all",
  'data: {"run_id": 7}',
  "event: message.delta",
  "data: {}",
  "\u0000",
  "event:",
  "data:",
];

type Mutation =
  | { kind: "cut"; at: number }
  | { kind: "duplicate"; frame: number }
  | { kind: "swap"; a: number; b: number }
  | { kind: "drop"; frame: number }
  | { kind: "junk"; frame: number; line: string; own: boolean }
  | { kind: "line-ends"; to: "\r\n" | "\r" | "\n" };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate" as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant("swap" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant("drop" as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant("junk" as const), frame: fc.nat(), line: fc.oneof(fc.constantFrom(...JUNK_LINES), fc.string({ maxLength: 40 })), own: fc.boolean() }),
  fc.record({ kind: fc.constant("line-ends" as const), to: fc.constantFrom("\r\n" as const, "\r" as const, "\n" as const) }),
);

/** Applies mutations to a native SSE text (frames are blank-line separated; any line ending). */
function mutateStream(text: string, mutations: readonly Mutation[]): string {
  let frames = text.split(/(?:\r\n|\r|\n){2}/).filter((frame) => frame !== "");
  let out: string | null = null;
  for (const m of mutations) {
    if (out !== null) break;
    const pick = (n: number) => (frames.length === 0 ? 0 : n % frames.length);
    switch (m.kind) {
      case "duplicate":
        if (frames.length > 0) frames.splice(pick(m.frame), 0, frames[pick(m.frame)] ?? "");
        break;
      case "swap": {
        const [a, b] = [pick(m.a), pick(m.b)];
        [frames[a], frames[b]] = [frames[b] ?? "", frames[a] ?? ""];
        break;
      }
      case "drop":
        frames.splice(pick(m.frame), 1);
        break;
      case "junk":
        // Either a frame of its own, or a line inside an existing frame.
        if (m.own || frames.length === 0) frames.splice(pick(m.frame), 0, m.line);
        else frames[pick(m.frame)] = `${m.line}\n${frames[pick(m.frame)] ?? ""}`;
        break;
      case "line-ends":
        frames = frames.map((frame) => frame.replace(/\r\n|\r|\n/g, m.to));
        break;
      case "cut": {
        const whole = frames.map((frame) => `${frame}\n\n`).join("");
        out = whole.slice(0, m.at % (whole.length + 1));
        break;
      }
    }
  }
  return out ?? frames.map((frame) => `${frame}\n\n`).join("");
}

/** Bytes in the chunk sizes given (cycled), so frames, lines and UTF-8 characters straddle reads. */
function chunked(text: string, sizes: readonly number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  let turn = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      const size = sizes.length === 0 ? bytes.length : Math.max(1, sizes[turn++ % sizes.length] ?? 1);
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

const USAGE = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
const lookupRun = async (runId: string): Promise<NativeRun> => ({ id: runId, status: "succeeded", usage: USAGE });
const PIPELINE = { keepaliveMs: 60_000 };

/** The SSE a route sends for these native bytes, or `null` when the route would answer an HTTP error. */
async function project(protocol: ProtocolCase, body: ReadableStream<Uint8Array>): Promise<string | null> {
  const items = readNativeStream(body, { idleMs: 60_000 });
  if (protocol === CHAT) {
    return new Response(projectToSse(items, new ChatStreamProjector({ model: "m", includeUsage: true, lookupRun }), PIPELINE)).text();
  }
  if (protocol === ANTHROPIC) {
    return new Response(projectToSse(items, new AnthropicStreamProjector({ model: "m", lookupRun }), PIPELINE)).text();
  }
  // Responses reads native's first item before answering (routes/responses.ts): no item, or a fault
  // first, is an HTTP error there, not a stream.
  const projector = new ResponsesStreamProjector({ echo: echoFromRequest({ model: "m", input: "hi" }), lookupRun });
  const reader = items.getReader();
  const first = await reader.read();
  reader.releaseLock();
  if (first.done || (first.value as NativeStreamItem).event === "fault") return null;
  await projector.push(first.value);
  return new Response(projectToSse(items, projector, PIPELINE)).text();
}

describe("property: mutated golden native streams still project to well-formed SSE with exactly one terminal event", () => {
  const names = Object.keys(goldens).sort();

  it("has the native fixtures of the cross-protocol table", () => {
    expect(names.length).toBeGreaterThanOrEqual(25);
  });

  for (const protocol of [RESPONSES, CHAT, ANTHROPIC]) {
    it(protocol.name, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...names),
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 }),
          async (name, mutations, sizes) => {
            const mutated = mutateStream(goldens[name] ?? "", mutations);
            const sse = await within(2_000, `projecting ${name}`, project(protocol, chunked(mutated, sizes)));
            if (sse === null) return;
            try {
              protocol.readStream(sse);
            } catch (error) {
              if (error instanceof WireError) throw new Error(`${error.message}\n--- native (${name}) ---\n${mutated}\n--- ${protocol.name} ---\n${sse}`);
              throw error;
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});
