/**
 * The transport limits of issue 17 (items 2, 3, 7), at the level of `readNativeStream` and the native
 * client, with JS bodies and fetches whose behaviour a test controls exactly:
 * - a stream ends with a distinct `timeout` fault when native sends no first event
 *   (`upstream_first_event_timeout`), makes no progress (`upstream_progress_timeout`: keepalives,
 *   unknown events and trickled bytes do not count) or the request's deadline passes
 *   (`upstream_deadline_exceeded`), and never for a slow consumer;
 * - every native call sends `redirect: "manual"` and turns a 3xx into `upstream_redirect`;
 * - every body read is capped while reading (records: `maxRecordBytes` → `upstream_body_too_large`;
 *   error bodies: 64 KiB, status kept) and an error message never carries the body's own text;
 * - the deadline spans all calls of one client.
 * The same faults over real sockets, through all three protocols, are in
 * test/reliability/fault-matrix.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { NativeTimeouts } from "../../src/config";
import { createNativeClient, ERROR_BODY_LIMIT_BYTES, type NativeClientOptions } from "../../src/native/client";
import { NativeError } from "../../src/native/errors";
import { readNativeStream, type NativeStreamItem, type ReadNativeStreamOptions } from "../../src/native/events";

const encoder = new TextEncoder();
const RUN = "0197a3c4-0000-7000-8000-000000000001";
const TASK = "0197a3c4-0000-7000-8000-0000000000aa";
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const started = { run_id: RUN, status: "running", created_at: "2026-06-26T14:52:53.101Z", conversation: {}, metadata: {} };
const delta = (text: string) => ({ run_id: RUN, status: "running", created_at: "2026-06-26T14:52:53.200Z", delta: text });
const completed = { run_id: RUN, status: "succeeded", created_at: "2026-06-26T14:52:54.000Z", answer: "done" };
const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * A body that sends `prelude` at once, then `tick()` every `everyMs` forever (until cancelled);
 * `state` tells whether it was cancelled and how many ticks went out.
 */
function endless(prelude: string, everyMs: number, tick: (n: number) => string) {
  const state = { cancelled: false, ticks: 0 };
  let sentPrelude = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentPrelude) {
        sentPrelude = true;
        if (prelude) {
          controller.enqueue(encoder.encode(prelude));
          return;
        }
      }
      await sleep(everyMs);
      if (state.cancelled) return;
      controller.enqueue(encoder.encode(tick(state.ticks++)));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

async function collect(stream: ReadableStream<NativeStreamItem>): Promise<NativeStreamItem[]> {
  const items: NativeStreamItem[] = [];
  const reader = stream.getReader();
  for (let result = await reader.read(); !result.done; result = await reader.read()) items.push(result.value);
  return items;
}

function faultOf(items: readonly NativeStreamItem[]): NativeError {
  const last = items.at(-1);
  if (last?.event !== "fault") throw new Error(`expected a fault last, got ${JSON.stringify(items.map((item) => item.event))}`);
  expect(items.filter((item) => item.event === "fault")).toHaveLength(1);
  return last.error;
}

/** Decodes `stream` with `limits`; returns the items and how long it took. */
async function timed(stream: ReadableStream<Uint8Array>, limits: ReadNativeStreamOptions): Promise<{ items: NativeStreamItem[]; ms: number }> {
  const at = Date.now();
  const items = await collect(readNativeStream(stream, limits));
  return { items, ms: Date.now() - at };
}

const LIMITS: ReadNativeStreamOptions = { idleMs: 400, firstEventMs: 300, progressMs: 600 };

describe("readNativeStream: first-event, progress and deadline limits", () => {
  it("headers, then keepalives only: the first-event limit ends it (the idle clock never fires)", async () => {
    const { stream, state } = endless("", 50, () => ":\n\n");
    const { items, ms } = await timed(stream, LIMITS);
    expect(items).toHaveLength(1);
    expect(faultOf(items)).toMatchObject({ kind: "timeout", status: 504, code: "upstream_first_event_timeout" });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2_000);
    expect(state.cancelled).toBe(true);
  });

  it("headers, then silence: the first-event limit fires before the idle limit", async () => {
    const { stream } = endless("", 60_000, () => ":\n\n");
    const { items, ms } = await timed(stream, { idleMs: 5_000, firstEventMs: 200 });
    expect(faultOf(items).code).toBe("upstream_first_event_timeout");
    expect(ms).toBeLessThan(2_000);
  });

  it("after run.started, keepalives forever: the progress limit ends it", async () => {
    const { stream, state } = endless(frame("run.started", started) + frame("message.delta", delta("a")), 50, () => ":\n\n");
    const { items, ms } = await timed(stream, LIMITS);
    expect(items.map((item) => item.event)).toEqual(["run.started", "message.delta", "fault"]);
    expect(faultOf(items)).toMatchObject({ kind: "timeout", status: 504, code: "upstream_progress_timeout" });
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(3_000);
    expect(state.cancelled).toBe(true);
  });

  it("unknown events forever do not count as progress (nor as a first event)", async () => {
    const unknown = (n: number) => frame("run.progress", { run_id: RUN, status: "running", n });
    const afterStart = await timed(endless(frame("run.started", started), 50, unknown).stream, LIMITS);
    expect(faultOf(afterStart.items).code).toBe("upstream_progress_timeout");
    const fromTheStart = await timed(endless("", 50, unknown).stream, LIMITS);
    expect(faultOf(fromTheStart.items).code).toBe("upstream_first_event_timeout");
  });

  it("a valid frame trickled one byte at a time makes no progress until it is complete", async () => {
    const text = frame("message.delta", delta("slow"));
    const { stream } = endless(frame("run.started", started), 40, (n) => text[n % text.length] ?? "");
    const { items, ms } = await timed(stream, LIMITS);
    expect(items.map((item) => item.event)).toEqual(["run.started", "fault"]);
    expect(faultOf(items).code).toBe("upstream_progress_timeout");
    expect(ms).toBeLessThan(3_000);
  });

  it("events in time keep it going; only the deadline ends a stream that makes progress forever", async () => {
    const { stream, state } = endless(frame("run.started", started), 100, (n) => frame("message.delta", delta(`${n} `)));
    const { items, ms } = await timed(stream, { ...LIMITS, deadlineMs: 1_200 });
    const deltas = items.filter((item) => item.event === "message.delta");
    // Far more time than the progress limit passed; every event reset it.
    expect(deltas.length).toBeGreaterThanOrEqual(6);
    expect(faultOf(items)).toMatchObject({ kind: "timeout", status: 504, code: "upstream_deadline_exceeded" });
    expect(ms).toBeGreaterThanOrEqual(1_150);
    expect(ms).toBeLessThan(3_000);
    expect(state.cancelled).toBe(true);
  });

  it("a deadline already used up ends the stream at once", async () => {
    const { stream, state } = endless(frame("run.started", started), 10, () => ":\n\n");
    const { items } = await timed(stream, { idleMs: 5_000, deadlineMs: 0, deadlineTotalMs: 900 });
    expect(items).toHaveLength(1);
    expect(faultOf(items).message).toContain("900 ms");
    expect(state.cancelled).toBe(true);
  });

  it("a slow consumer is not a stuck upstream: the progress clock runs only while the consumer waits", async () => {
    const body = frame("run.started", started) + frame("message.delta", delta("a")) + frame("message.delta", delta("b"));
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) {
          controller.enqueue(encoder.encode(frame("run.completed", completed)));
          controller.close();
          return;
        }
        sent = true;
        controller.enqueue(encoder.encode(body));
      },
    });
    const reader = readNativeStream(stream, { idleMs: 100, firstEventMs: 100, progressMs: 100 }).getReader();
    const seen: string[] = [];
    for (let result = await reader.read(); !result.done; result = await reader.read()) {
      seen.push(result.value.event);
      await sleep(250); // longer than every limit, between reads
    }
    expect(seen).toEqual(["run.started", "message.delta", "message.delta", "run.completed"]);
  });

  it("the limits are off when not given (a keepalive-only stall within idleMs goes on)", async () => {
    let ticks = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await sleep(30);
        ticks++;
        controller.enqueue(encoder.encode(ticks < 15 ? ":\n\n" : frame("run.completed", completed)));
      },
    });
    const items = await collect(readNativeStream(stream, { idleMs: 200 }));
    expect(items.map((item) => item.event)).toEqual(["run.completed"]);
  });
});

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

const TIMEOUTS: NativeTimeouts = { headersMs: 5_000, blockingMs: 5_000, idleMs: 5_000 };
const BASE = "http://native.test";

function client(fetchImpl: typeof fetch, overrides: Partial<NativeClientOptions> = {}) {
  return createNativeClient({ baseUrl: BASE, apiKey: "sk-test", timeouts: TIMEOUTS, fetch: fetchImpl, ...overrides });
}

async function nativeError(promise: Promise<unknown>): Promise<NativeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NativeError);
    return error as NativeError;
  }
  throw new Error("expected a NativeError, but the call succeeded");
}

/** Every call of the client, each as a thunk (resume with a well-formed body). */
function everyCall(native: ReturnType<typeof client>): Array<[string, () => Promise<unknown>]> {
  return [
    ["streamRun", () => native.streamRun({ query: "secret prompt" })],
    ["getRun", () => native.getRun(RUN)],
    ["cancelRun", () => native.cancelRun(RUN)],
    ["resumeRun", () => native.resumeRun(RUN, { callback_task_id: TASK, response_payload: { tool_results: [{ tool_call_id: "c", content: "x" }] } })],
    ["listModels", () => native.listModels()],
  ];
}

/** A body of `total` bytes of `fill`, produced on demand; records how much was pulled and whether it was cancelled. */
function bigBody(total: number, fill = "x") {
  const state = { pulled: 0, cancelled: false };
  const chunk = encoder.encode(fill.repeat(16 * 1024));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= total) {
        controller.close();
        return;
      }
      state.pulled += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

describe("native client: redirects are never followed (issue 17 item 2)", () => {
  it("sends redirect: manual on every call and answers a 3xx with upstream_redirect", async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const seen: RequestInit[] = [];
      const native = client(async (_input, init) => {
        seen.push(init ?? {});
        return new Response(null, { status, headers: { location: "https://elsewhere.example/steal" } });
      });
      for (const [name, call] of everyCall(native)) {
        const error = await nativeError(call());
        expect({ name, status, kind: error.kind, code: error.code, http: error.status }).toEqual({ name, status, kind: "protocol", code: "upstream_redirect", http: 502 });
        expect(error.message).toContain(`HTTP ${status}`);
        expect(error.message).not.toContain("elsewhere");
      }
      expect(seen).toHaveLength(5);
      for (const init of seen) expect(init.redirect).toBe("manual");
    }
  });
});

describe("native client: capped body reads (issue 17 item 7)", () => {
  it("a run record over maxRecordBytes → 502 upstream_body_too_large, reading stops at the cap", async () => {
    const limit = 256 * 1024;
    const body = bigBody(200 * 1024 * 1024);
    const native = client(async () => new Response(body.stream, { status: 200, headers: { "content-type": "application/json" } }), { maxRecordBytes: limit });
    const error = await nativeError(native.getRun(RUN));
    expect({ kind: error.kind, status: error.status, code: error.code }).toEqual({ kind: "protocol", status: 502, code: "upstream_body_too_large" });
    expect(body.state.pulled).toBeLessThanOrEqual(limit + 64 * 1024);
    expect(body.state.cancelled).toBe(true);
  });

  it("a declared content-length over the cap is refused without reading", async () => {
    const body = bigBody(10 * 1024 * 1024);
    const native = client(async () => new Response(body.stream, { status: 200, headers: { "content-type": "application/json", "content-length": String(10 * 1024 * 1024) } }), {
      maxRecordBytes: 64 * 1024,
    });
    expect((await nativeError(native.listModels())).code).toBe("upstream_body_too_large");
    expect(body.state.pulled).toBeLessThanOrEqual(16 * 1024);
  });

  it("a record within the cap is read whole, multi-byte characters across chunks intact", async () => {
    const record = JSON.stringify({ data: { id: RUN, status: "succeeded", answer: "héllo 🌍 ".repeat(20_000) }, meta: null });
    const bytes = encoder.encode(record);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + 1_001));
        offset += 1_001;
      },
    });
    const run = await client(async () => new Response(stream, { status: 200 }), { maxRecordBytes: bytes.length }).getRun(RUN);
    expect(run.answer).toBe("héllo 🌍 ".repeat(20_000));
  });

  it("a huge error body: at most 64 KiB is read, native's status is kept, the message says only what arrived", async () => {
    for (const [name, call] of everyCall(client(async () => new Response(bigBody(200 * 1024 * 1024, "<p>").stream, { status: 500, headers: { "content-type": "text/html" } })))) {
      const error = await nativeError(call());
      expect({ name, kind: error.kind, status: error.status, code: error.code }).toEqual({ name, kind: "http", status: 500, code: "upstream_http_500" });
      expect(error.message).toBe(`1flowbase answered HTTP 500 (text/html, body over ${ERROR_BODY_LIMIT_BYTES} bytes, not read)`);
    }
    const body = bigBody(200 * 1024 * 1024);
    await nativeError(client(async () => new Response(body.stream, { status: 503 })).streamRun({ query: "q" }));
    expect(body.state.pulled).toBeLessThanOrEqual(ERROR_BODY_LIMIT_BYTES + 16 * 1024);
    expect(body.state.cancelled).toBe(true);
  });

  it("JSON {code,message} errors keep native's words; a code that is no identifier is not native's", async () => {
    const json = (body: unknown, status = 409) => client(async () => Response.json(body, { status }));
    const conflict = await nativeError(json({ code: "invalid_state", message: "run is finished" }).cancelRun(RUN));
    expect({ code: conflict.code, message: conflict.message, status: conflict.status }).toEqual({ code: "invalid_state", message: "run is finished", status: 409 });
    const odd = await nativeError(json({ code: "<b>x</b> y", message: "<html>" }).getRun(RUN));
    expect({ code: odd.code, message: odd.message }).toEqual({ code: "upstream_http_409", message: "1flowbase answered HTTP 409 (application/json)" });
    const long = await nativeError(json({ code: "internal_error", message: "m".repeat(50_000) }, 500).getRun(RUN));
    expect(long.message).toHaveLength(2_000);
  });

  it("retry-after is passed on only when it is delta-seconds or an HTTP-date", async () => {
    const withRetry = (value: string) => client(async () => Response.json({ code: "rate_limited", message: "slow" }, { status: 429, headers: { "retry-after": value } }));
    expect((await nativeError(withRetry("7").getRun(RUN))).retryAfter).toBe("7");
    expect((await nativeError(withRetry("Wed, 21 Oct 2026 07:28:00 GMT").getRun(RUN))).retryAfter).toBe("Wed, 21 Oct 2026 07:28:00 GMT");
    expect((await nativeError(withRetry("soon, x-evil: 1").getRun(RUN))).retryAfter).toBeUndefined();
    expect((await nativeError(withRetry("9".repeat(40)).getRun(RUN))).retryAfter).toBeUndefined();
  });
});

describe("native client: one deadline for all calls of a request (issue 17 item 3)", () => {
  const hanging: typeof fetch = (_input, init) =>
    new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(new DOMException("The operation was aborted.", "AbortError")));
    });

  it("a call that outlives the deadline ends with upstream_deadline_exceeded; later calls fail at once, sending nothing", async () => {
    let sent = 0;
    const native = client(
      (input, init) => {
        sent++;
        return hanging(input, init);
      },
      { timeouts: { ...TIMEOUTS, headersMs: 10_000, blockingMs: 10_000, deadlineMs: 300 } },
    );
    const at = Date.now();
    const first = await nativeError(native.resumeRun(RUN, { callback_task_id: TASK, response_payload: { tool_results: [] } }));
    expect({ kind: first.kind, status: first.status, code: first.code }).toEqual({ kind: "timeout", status: 504, code: "upstream_deadline_exceeded" });
    expect(Date.now() - at).toBeLessThan(3_000);
    expect(sent).toBe(1);
    for (const [name, call] of everyCall(native)) expect([name, (await nativeError(call())).code]).toEqual([name, "upstream_deadline_exceeded"]);
    expect(sent).toBe(1);
  });

  it("the call's own timeout keeps its code when it is the shorter one", async () => {
    const native = client(hanging, { timeouts: { ...TIMEOUTS, headersMs: 100, deadlineMs: 60_000 } });
    expect((await nativeError(native.getRun(RUN))).code).toBe("upstream_timeout");
  });

  it("a stream gets what is left of the deadline", async () => {
    const body = endless(frame("run.started", started), 50, (n) => frame("message.delta", delta(String(n))));
    const native = client(async () => new Response(body.stream, { status: 200, headers: { "content-type": "text/event-stream" } }), {
      timeouts: { ...TIMEOUTS, progressMs: 5_000, deadlineMs: 500 },
    });
    const at = Date.now();
    const items = await collect(await native.streamRun({ query: "q" }));
    expect(faultOf(items).code).toBe("upstream_deadline_exceeded");
    expect(Date.now() - at).toBeLessThan(3_000);
    expect(body.state.cancelled).toBe(true);
  });
});
