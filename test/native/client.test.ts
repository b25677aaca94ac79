/**
 * The native HTTP client (`src/native/client.ts`) against the embedded 1flowbase emulator: every
 * method (`streamRun`, `getRun`, `cancelRun`, `resumeRun`, `listModels`; native-api.md §1.1), every
 * error shape (§1.3: JSON `{code,message}` and axum plain text), transport failures and timeouts,
 * and the streaming faults of §2 (reset, idle, malformed, cut). The gateway always streams from
 * native, so a run is created with `streamRun` and read back with `getRun`. The emulator is just a
 * native server at `env.NATIVE_API_BASE_URL` (invariant 6).
 */
import { env } from "cloudflare:test";
import { core } from "zod";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEYS, emu } from "../../emulator/script";
import type { NativeTimeouts } from "../../src/config";
import { createNativeClient, fitsUtf8, nativeRunBody } from "../../src/native/client";
import type { NativeClient, NativeClientOptions } from "../../src/native/client";
import { NativeError, runFailureClass } from "../../src/native/errors";
import type { NativeStreamItem } from "../../src/native/events";
import { parseRequiredAction } from "../../src/native/schema";
import type { NativeRun } from "../../src/native/schema";

const TIMEOUTS: NativeTimeouts = { headersMs: 10_000, blockingMs: 15_000, idleMs: 10_000 };
const UNKNOWN_RUN = "0197a3c4-0000-7000-8000-0000000000ff";

function client(overrides: Partial<NativeClientOptions> = {}): NativeClient {
  return createNativeClient({ baseUrl: env.NATIVE_API_BASE_URL, apiKey: EMULATOR_KEYS.demo, timeouts: TIMEOUTS, ...overrides });
}

const scripted = (script: Parameters<typeof emu>[0], text = ""): { query: string } => ({ query: emu(script, text) });

/** Awaits a rejection and returns it as a NativeError (fails the test for anything else). */
async function nativeError(promise: Promise<unknown>): Promise<NativeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NativeError);
    return error as NativeError;
  }
  throw new Error("expected a NativeError, but the call succeeded");
}

function expectError(error: NativeError, kind: NativeError["kind"], status: number, code: string): void {
  expect({ kind: error.kind, status: error.status, code: error.code }).toEqual({ kind, status, code });
}

async function collect(stream: ReadableStream<NativeStreamItem>): Promise<NativeStreamItem[]> {
  const items: NativeStreamItem[] = [];
  const reader = stream.getReader();
  for (let result = await reader.read(); !result.done; result = await reader.read()) items.push(result.value);
  return items;
}

function lastFault(items: readonly NativeStreamItem[]): NativeError {
  const last = items.at(-1);
  expect(last?.event).toBe("fault");
  if (last?.event !== "fault") throw new Error("stream did not end with a fault");
  expect(items.filter((item) => item.event === "fault")).toHaveLength(1);
  return last.error;
}

const deltasOf = (items: readonly NativeStreamItem[], kind: "message.delta" | "reasoning.delta"): string =>
  items.map((item) => (item.event === kind ? item.data.delta : "")).join("");

/** The run id the stream's first event names. */
function runIdOf(items: readonly NativeStreamItem[]): string {
  const first = items[0];
  if (first === undefined || first.event === "fault") throw new Error("the stream named no run");
  return first.data.run_id;
}

/** Streams `request` to its end and returns the items and the run's record (`GET /runs/{id}`). */
async function runToEnd(native: NativeClient, request: { query: string } & Record<string, unknown>): Promise<{ items: NativeStreamItem[]; run: NativeRun }> {
  const items = await collect(await native.streamRun(request));
  return { items, run: await native.getRun(runIdOf(items)) };
}

/** A run waiting for `calls`: its id, its callback task id and the native call ids. */
async function waitingRun(native: NativeClient, calls: Array<{ id: string; name: string; arguments?: Record<string, unknown> }>, extra: Record<string, unknown> = {}) {
  const { items, run } = await runToEnd(native, scripted({ tool_calls: calls, ...extra }));
  expect(items.at(-1)?.event).toBe("required_action");
  expect(run.status).toBe("waiting");
  const action = parseRequiredAction(run.required_action);
  if (!action) throw new Error("the waiting run has no resumable required_action");
  return { run, taskId: action.payload.callback_task_id, action };
}

/** A fetch that records what the client sent, then forwards to the real one. */
function recordingFetch(): { fetch: typeof fetch; requests: Request[] } {
  const requests: Request[] = [];
  return {
    requests,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      requests.push(request.clone());
      return fetch(request);
    },
  };
}

/** A fetch that never answers but honours its abort signal, like a hung upstream. */
const hangingFetch: typeof fetch = (_input, init) =>
  new Promise<Response>((_resolve, reject) => {
    init?.signal?.addEventListener("abort", () => reject(new DOMException("The operation was aborted.", "AbortError")));
  });

/** A fetch answering every request with `response()`. */
const fixedFetch =
  (response: () => Response): typeof fetch =>
  async () =>
    response();

describe("native client: endpoints", () => {
  it("lists models (bare {object,data}, §3.5)", async () => {
    const models = await client().listModels();
    expect(models.data.map((model) => model.id)).toEqual(expect.arrayContaining(["1flowbase", "emu-plain"]));
    expect(models.data.find((model) => model.id === "1flowbase")?.capabilities?.reasoning).toBe(true);
  });

  it("streams a run and reads back its {data} record with the same key (§1.5, §1.6)", async () => {
    const native = client();
    const { items, run } = await runToEnd(native, { query: "hello", system: "be brief" });
    expect(run.id).toBe(runIdOf(items));
    expect(run.status).toBe("succeeded");
    expect(run.answer).toBe("You said: hello [system: be brief]");
    expect(deltasOf(items, "message.delta")).toBe(run.answer);
  });

  it("returns failed and incomplete runs as data, not errors", async () => {
    const native = client();
    const failed = await runToEnd(native, scripted({ text: ["partial"], fail: { code: "provider_upstream_error", message: "boom" } }));
    const live = failed.items.at(-1);
    expect(live?.event).toBe("run.failed");
    expect(failed.run.status).toBe("failed");
    // Errata 1: the live event and the record both say runtime_error; the class is the record's details.
    if (live?.event === "run.failed") expect(live.data.error?.code).toBe("runtime_error");
    expect(failed.run.error?.code).toBe("runtime_error");
    expect(runFailureClass(failed.run.error)).toBe("provider_upstream_error");
    const incomplete = await runToEnd(native, scripted({ text: ["cut short"], incomplete: true }));
    expect(incomplete.run.status).toBe("incomplete");
    expect(incomplete.run.answer).toBe("cut short");
  });

  it("drives a tool round trip: waiting + required_action, then resume (§1.6)", async () => {
    const native = client();
    const { run, taskId, action } = await waitingRun(native, [{ id: "call_w", name: "get_weather", arguments: { city: "Paris" } }]);
    expect(action.action_type).toBe("submit_tool_outputs");
    expect(action.payload.tool_calls?.[0]).toMatchObject({ id: "call_w", name: "get_weather", arguments: { city: "Paris" } });
    const resumed = await native.resumeRun(run.id, { callback_task_id: taskId, response_payload: { tool_results: [{ tool_call_id: "call_w", content: "sunny" }] } });
    expect(resumed.id).toBe(run.id);
    expect(resumed.status).toBe("succeeded");
    expect(resumed.answer).toContain("call_w=sunny");
    expect((await native.getRun(run.id)).status).toBe("succeeded");
  });

  it("a resume native rejects keeps native's status and code (409 once answered with other results)", async () => {
    const native = client();
    const { run, taskId } = await waitingRun(native, [{ id: "c1", name: "t" }]);
    const answer = (content: string) => native.resumeRun(run.id, { callback_task_id: taskId, response_payload: { tool_results: [{ tool_call_id: "c1", content }] } });
    expect((await answer("first")).status).toBe("succeeded");
    expectError(await nativeError(answer("second")), "http", 409, "callback_resume_payload_conflict");
    // An identical repeat is idempotent: the stored result, not an error.
    expect((await answer("first")).status).toBe("succeeded");
  });

  it("cancels a running run; the stream then ends with run.cancelled (§3.3)", async () => {
    const native = client();
    const stream = await native.streamRun(scripted({ wait_ms: 5_000, text: ["never"] }));
    const reader = stream.getReader();
    const first = await reader.read();
    expect(first.value?.event).toBe("run.started");
    const runId = first.value?.event === "run.started" ? first.value.data.run_id : "";
    const cancelled = await native.cancelRun(runId);
    expect(cancelled.id).toBe(runId);
    expect(cancelled.status).toBe("cancelled");
    const rest: NativeStreamItem[] = [];
    for (let result = await reader.read(); !result.done; result = await reader.read()) rest.push(result.value);
    expect(rest.at(-1)?.event).toBe("run.cancelled");
    // Cancelling a terminal run is 409 invalid_state.
    expectError(await nativeError(native.cancelRun(runId)), "http", 409, "invalid_state");
  });

  it("cancels a waiting run (a tool turn nobody will answer)", async () => {
    const native = client();
    const { run } = await waitingRun(native, [{ id: "c1", name: "t" }]);
    expect((await native.cancelRun(run.id)).status).toBe("cancelled");
    expect((await native.getRun(run.id)).status).toBe("cancelled");
  });

  it("streams a run: run.started, deltas, run.completed; deltas add up to the answer (§2)", async () => {
    const native = client();
    const items = await collect(await native.streamRun(scripted({ reasoning: ["Let me ", "think"], text: ["Hel", "lo ", "😀 世界"] })));
    expect(items[0]?.event).toBe("run.started");
    expect(items.at(-1)?.event).toBe("run.completed");
    expect(deltasOf(items, "reasoning.delta")).toBe("Let me think");
    expect(deltasOf(items, "message.delta")).toBe("Hello 😀 世界");
    expect(items.every((item) => item.event !== "fault")).toBe(true);
    expect((await native.getRun(runIdOf(items))).status).toBe("succeeded");
  });

  it("streams a tool call as a terminal required_action event", async () => {
    const items = await collect(await client().streamRun(scripted({ tool_calls: [{ name: "lookup", arguments: { q: "x" } }] })));
    const last = items.at(-1);
    expect(last?.event).toBe("required_action");
    const action = last?.event === "required_action" ? parseRequiredAction(last.data.required_action) : null;
    expect(action?.payload.tool_calls?.[0]).toMatchObject({ name: "lookup" });
  });

  it("streams 0.3's run.incomplete and a failed run's run.failed", async () => {
    const incomplete = await collect(await client().streamRun(scripted({ text: ["a"], incomplete: true })));
    expect(incomplete.at(-1)?.event).toBe("run.incomplete");
    const failed = await collect(await client().streamRun(scripted({ text: ["a", "b"], fail: { code: "runtime_error", message: "x", after_deltas: 1 } })));
    const last = failed.at(-1);
    expect(last?.event).toBe("run.failed");
    if (last?.event === "run.failed") expect(last.data.error?.code).toBe("runtime_error");
  });

  it("decodes a long stream of deltas intact", async () => {
    const items = await collect(await client().streamRun(scripted({ text: ["ab", "c😀"], repeat: 5_000 })));
    expect(items.at(-1)?.event).toBe("run.completed");
    expect(deltasOf(items, "message.delta")).toBe("abc😀".repeat(5_000));
  });
});

describe("native client: request headers", () => {
  it("sends bearer auth, accept, content-type on bodies and x-request-id on every call", async () => {
    const recorder = recordingFetch();
    const native = client({ fetch: recorder.fetch, requestId: "req_123" });
    const items = await collect(await native.streamRun({ query: "hi" }));
    const runId = runIdOf(items);
    await native.getRun(runId);
    await native.listModels();
    expectError(await nativeError(native.cancelRun(UNKNOWN_RUN)), "http", 404, "application_run_not_found");
    const [stream, get, models, cancel] = recorder.requests;
    expect(recorder.requests).toHaveLength(4);
    for (const request of recorder.requests) {
      expect(request.headers.get("authorization")).toBe(`Bearer ${EMULATOR_KEYS.demo}`);
      expect(request.headers.get("x-request-id")).toBe("req_123");
    }
    expect(stream?.method).toBe("POST");
    expect(stream?.url).toBe(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs`);
    expect(stream?.headers.get("accept")).toBe("text/event-stream");
    expect(stream?.headers.get("content-type")).toBe("application/json");
    expect(await stream?.json()).toEqual({ query: "hi", response_mode: "streaming" });
    expect(get?.method).toBe("GET");
    expect(get?.url).toBe(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs/${runId}`);
    expect(get?.headers.get("accept")).toBe("application/json");
    expect(get?.headers.get("content-type")).toBeNull();
    expect(models?.method).toBe("GET");
    expect(models?.url).toBe(`${env.NATIVE_API_BASE_URL}/api/agent/v1/models`);
    expect(models?.headers.get("content-type")).toBeNull();
    expect(cancel?.method).toBe("POST");
    expect(cancel?.url).toBe(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs/${UNKNOWN_RUN}/cancel`);
    expect(cancel?.headers.get("accept")).toBe("application/json");
  });

  it("forces response_mode streaming whatever the request says", async () => {
    const recorder = recordingFetch();
    const native = client({ fetch: recorder.fetch });
    await collect(await native.streamRun({ query: "hi", response_mode: "blocking" }));
    expect(await recorder.requests[0]?.json()).toEqual({ query: "hi", response_mode: "streaming" });
  });

  it("sends a run request byte for byte as nativeRunBody sized it, and the sized request can no longer change", async () => {
    const recorder = recordingFetch();
    const request = { query: "hi", history: [{ role: "user" as const, content: "earlier" }, { role: "assistant" as const, content: "answer" }] };
    const sized = nativeRunBody(request);
    await collect(await client({ fetch: recorder.fetch }).streamRun(request));
    expect(await recorder.requests[0]?.text()).toBe(sized.json);
    expect(sized.bytes).toBe(new TextEncoder().encode(sized.json).length);
    // The body is computed once per object (client.ts streamingRunBody): changing the object after
    // it was sized would send a stale body, so the assignment must fail loudly.
    expect(() => {
      (request as { query: string }).query = "changed";
    }).toThrow(TypeError);
  });

  it("sizes a body against native's limit in UTF-8 bytes, counting only when the quick bound cannot decide", () => {
    // "ü" is 2 bytes, "世" 3, "🙂" 4 (two UTF-16 units): 9 bytes in 4 units.
    const text = "ü世🙂";
    expect(new TextEncoder().encode(text).length).toBe(9);
    expect(fitsUtf8(text, 12)).toBe(true); // 4 units × 3 ≤ 12: no count needed
    expect(fitsUtf8(text, 9)).toBe(true); // counted: exactly at the limit
    expect(fitsUtf8(text, 8)).toBe(false);
    const body = nativeRunBody({ query: "ü".repeat(1000) });
    const exact = new TextEncoder().encode(body.json).length;
    expect(body.bytes).toBe(exact);
    expect(body.fits(exact)).toBe(true);
    expect(body.fits(exact - 1)).toBe(false);
    expect(body.fits(body.json.length * 3)).toBe(true);
  });

  it("sends resume with content-type application/json (axum Json extractor, §1.6)", async () => {
    const native = client();
    const { run, taskId } = await waitingRun(native, [{ id: "c1", name: "t" }]);
    const recorder = recordingFetch();
    const body = { callback_task_id: taskId, response_payload: { tool_results: [{ tool_call_id: "c1", content: { ok: true } }] } };
    await client({ fetch: recorder.fetch }).resumeRun(run.id, body);
    const resume = recorder.requests.at(-1);
    expect(resume?.method).toBe("POST");
    expect(resume?.url).toBe(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs/${run.id}/resume`);
    expect(resume?.headers.get("content-type")).toBe("application/json");
    expect(resume?.headers.get("accept")).toBe("application/json");
    expect(await resume?.json()).toEqual(body);
  });

  it("encodes the run id into the path", async () => {
    const recorder = recordingFetch();
    await client({ fetch: recorder.fetch }).getRun("a/b?c").catch(() => undefined);
    expect(recorder.requests[0]?.url).toBe(`${env.NATIVE_API_BASE_URL}/api/agent/v1/runs/a%2Fb%3Fc`);
  });

  it("tolerates a trailing slash on baseUrl", async () => {
    const models = await client({ baseUrl: `${env.NATIVE_API_BASE_URL}/` }).listModels();
    expect(models.data.length).toBeGreaterThan(0);
  });

  it("rejects an invalid request before sending anything (programming-error guard)", async () => {
    let calls = 0;
    const native = client({
      fetch: async () => {
        calls++;
        return new Response("{}");
      },
    });
    const bogus = { query: "x", user_id: "u" } as unknown as { query: string };
    await expect(native.streamRun(bogus)).rejects.toBeInstanceOf(core.$ZodError);
    await expect(native.resumeRun(UNKNOWN_RUN, { callback_task_id: 1 } as unknown as Parameters<NativeClient["resumeRun"]>[1])).rejects.toBeInstanceOf(core.$ZodError);
    expect(calls).toBe(0);
  });
});

describe("native client: native errors (§1.3)", () => {
  it("401 for an unknown key, on every endpoint, without leaking the key", async () => {
    const badKey = "sk-000000000000-ThisKeyDoesNotExistAnywhere000000000000000";
    const native = client({ apiKey: badKey });
    const errors = [
      await nativeError(native.streamRun({ query: "x" })),
      await nativeError(native.getRun(UNKNOWN_RUN)),
      await nativeError(native.cancelRun(UNKNOWN_RUN)),
      await nativeError(native.resumeRun(UNKNOWN_RUN, { callback_task_id: UNKNOWN_RUN, response_payload: { tool_results: [] } })),
      await nativeError(native.listModels()),
    ];
    for (const error of errors) {
      expectError(error, "http", 401, "not_authenticated");
      expect(`${error.message} ${error.stack ?? ""}`).not.toContain(badKey);
    }
  });

  it("403 for another key's run, 404 for an unknown run (§1.6 ownership)", async () => {
    const { run, taskId } = await waitingRun(client(), [{ id: "c1", name: "t" }]);
    expectError(await nativeError(client({ apiKey: EMULATOR_KEYS.demoSecond }).getRun(run.id)), "http", 403, "application_run_forbidden");
    expectError(await nativeError(client({ apiKey: EMULATOR_KEYS.other }).cancelRun(run.id)), "http", 403, "application_run_forbidden");
    const foreignResume = client({ apiKey: EMULATOR_KEYS.other }).resumeRun(run.id, {
      callback_task_id: taskId,
      response_payload: { tool_results: [{ tool_call_id: "c1", content: "x" }] },
    });
    expectError(await nativeError(foreignResume), "http", 403, "application_run_forbidden");
    expectError(await nativeError(client().getRun(UNKNOWN_RUN)), "http", 404, "application_run_not_found");
    expectError(await nativeError(client().cancelRun(UNKNOWN_RUN)), "http", 404, "application_run_not_found");
    // The foreign calls changed nothing: the owner's run still waits.
    expect((await client().getRun(run.id)).status).toBe("waiting");
  });

  it("409 application_not_published for a key without publication", async () => {
    const native = client({ apiKey: EMULATOR_KEYS.unpublished });
    const error = await nativeError(native.streamRun({ query: "x" }));
    expectError(error, "http", 409, "application_not_published");
    expect(error.message).toBe("application has no active published public API version");
    expectError(await nativeError(native.listModels()), "http", 409, "application_not_published");
  });

  it("400 from native's strict body checks that the request schema lets through", async () => {
    // 0.3: a `tool` history item needs tool_call_id (§7); reasoning needs a reasoning model (§1.4.1).
    const history = await nativeError(client().streamRun({ query: "x", history: [{ role: "tool", content: "r" }] }));
    expectError(history, "http", 400, "history");
    const reasoning = await nativeError(
      client().streamRun({ query: "x", model: "emu-plain", execution: { model_parameters: { reasoning: { effort: "high" } } } }),
    );
    expectError(reasoning, "http", 400, "invalid_model_parameters");
    const mapping = await nativeError(client().streamRun({ query: "x", inputs: { query: "collides" } }));
    expectError(mapping, "http", 400, "invalid_mapping");
  });

  it("plain-text (axum) and HTML errors keep the status; the message names status and media type, never the body's text", async () => {
    const e400 = await nativeError(client().streamRun(scripted({ http_error: { status: 400, plain_text: "  Failed to parse the request body as JSON  \n" } })));
    expectError(e400, "http", 400, "upstream_http_400");
    expect(e400.message).toBe("1flowbase answered HTTP 400 (text/plain)");
    const e502 = await nativeError(client().streamRun(scripted({ http_error: { status: 502, plain_text: `<html>${"x".repeat(2_000)}</html>` } })));
    expectError(e502, "http", 502, "upstream_http_502");
    expect(e502.message).toBe("1flowbase answered HTTP 502 (text/plain)");
    const html = client({ fetch: fixedFetch(() => new Response("<html><body><h1>502 Bad Gateway</h1></body></html>", { status: 502, headers: { "content-type": "text/html; charset=utf-8" } })) });
    const page = await nativeError(html.getRun(UNKNOWN_RUN));
    expectError(page, "http", 502, "upstream_http_502");
    expect(page.message).toBe("1flowbase answered HTTP 502 (text/html)");
    // A hostile content-type is not echoed either.
    const odd = client({ fetch: fixedFetch(() => new Response("x", { status: 500, headers: { "content-type": `text/<script>${"a".repeat(300)}` } })) });
    expect((await nativeError(odd.listModels())).message).toBe("1flowbase answered HTTP 500 (unrecognised content-type)");
    // A non-UUID run id is rejected by axum's Path<Uuid> extractor in plain text (§1.3).
    expectError(await nativeError(client().getRun("not-a-uuid")), "http", 400, "upstream_http_400");
    // Resume's Json extractor rejects a task id that is not a UUID in plain text too (§1.6).
    const resume = await nativeError(client().resumeRun(UNKNOWN_RUN, { callback_task_id: "not-a-uuid", response_payload: { tool_results: [] } }));
    expectError(resume, "http", 422, "upstream_http_422");
    expect(resume.message).toBe("1flowbase answered HTTP 422 (text/plain)");
  });

  it("an empty error body still says what happened", async () => {
    const native = client({ fetch: fixedFetch(() => new Response(null, { status: 503 })) });
    const error = await nativeError(native.getRun(UNKNOWN_RUN));
    expectError(error, "http", 503, "upstream_http_503");
    expect(error.message).toBe("1flowbase answered HTTP 503 (no content-type)");
  });

  it("JSON error bodies keep native's code and message, and retry-after is passed on", async () => {
    const limited = await nativeError(client().streamRun(scripted({ http_error: { status: 429, code: "rate_limited", message: "slow down", retry_after: "7" } })));
    expectError(limited, "http", 429, "rate_limited");
    expect(limited.message).toBe("slow down");
    expect(limited.retryAfter).toBe("7");
    const streamed = await nativeError(client().streamRun(scripted({ http_error: { status: 503, code: "provider_transport_unavailable", retry_after: "30" } })));
    expectError(streamed, "http", 503, "provider_transport_unavailable");
    expect(streamed.retryAfter).toBe("30");
    const internal = await nativeError(client().streamRun(scripted({ http_error: { status: 500, code: "internal_error", message: "db down" } })));
    expectError(internal, "http", 500, "internal_error");
    expect(internal.message).toBe("db down");
    expect(internal.retryAfter).toBeUndefined();
    // The JSON calls read errors the same way.
    const json = client({ fetch: fixedFetch(() => Response.json({ code: "rate_limited", message: "" }, { status: 429, headers: { "retry-after": "3" } })) });
    for (const call of [json.getRun(UNKNOWN_RUN), json.cancelRun(UNKNOWN_RUN), json.listModels()]) {
      const error = await nativeError(call);
      expectError(error, "http", 429, "rate_limited");
      expect(error.message).toBe("1flowbase answered HTTP 429 (rate_limited)");
      expect(error.retryAfter).toBe("3");
    }
  });
});

describe("native client: transport failures", () => {
  it("unreachable native → network 502 upstream_unreachable", async () => {
    const native = client({ baseUrl: "http://127.0.0.1:1" });
    expectError(await nativeError(native.streamRun({ query: "x" })), "network", 502, "upstream_unreachable");
    expectError(await nativeError(native.getRun(UNKNOWN_RUN)), "network", 502, "upstream_unreachable");
    expectError(await nativeError(native.cancelRun(UNKNOWN_RUN)), "network", 502, "upstream_unreachable");
    expectError(await nativeError(native.resumeRun(UNKNOWN_RUN, { callback_task_id: UNKNOWN_RUN, response_payload: { tool_results: [] } })), "network", 502, "upstream_unreachable");
    expectError(await nativeError(native.listModels()), "network", 502, "upstream_unreachable");
  });

  it("slow headers → timeout 504 upstream_timeout on a stream", async () => {
    const fast = { headersMs: 300, blockingMs: 300, idleMs: 10_000 };
    const started = Date.now();
    expectError(await nativeError(client({ timeouts: fast }).streamRun(scripted({ delay_ms: 5_000 }))), "timeout", 504, "upstream_timeout");
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it("resume uses the blocking budget, not the headers budget (it runs the rest of the flow, §1.6)", async () => {
    const native = client();
    const slow = await waitingRun(native, [{ id: "c1", name: "t" }], { resume_delay_ms: 400 });
    const result = { callback_task_id: slow.taskId, response_payload: { tool_results: [{ tool_call_id: "c1", content: "ok" }] } };
    const patient = client({ timeouts: { headersMs: 100, blockingMs: 5_000, idleMs: 10_000 } });
    expect((await patient.resumeRun(slow.run.id, result)).status).toBe("succeeded");
    const stuck = await waitingRun(native, [{ id: "c1", name: "t" }], { resume_delay_ms: 5_000 });
    const impatient = client({ timeouts: { headersMs: 5_000, blockingMs: 300, idleMs: 10_000 } });
    const started = Date.now();
    const error = await nativeError(impatient.resumeRun(stuck.run.id, { ...result, callback_task_id: stuck.taskId }));
    expectError(error, "timeout", 504, "upstream_timeout");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("get/cancel/models use the headers timeout", async () => {
    const native = client({ fetch: hangingFetch, timeouts: { headersMs: 100, blockingMs: 60_000, idleMs: 60_000 } });
    for (const call of [native.getRun(UNKNOWN_RUN), native.cancelRun(UNKNOWN_RUN), native.listModels()]) {
      expectError(await nativeError(call), "timeout", 504, "upstream_timeout");
    }
  });

  it("the caller's signal aborts an in-flight call (client disconnect)", async () => {
    expect(typeof AbortSignal.any).toBe("function"); // workerd has it; the client does not need it
    const abort = new AbortController();
    const native = client({ signal: abort.signal });
    const pending = nativeError(native.streamRun(scripted({ delay_ms: 5_000 })));
    setTimeout(() => abort.abort(), 100);
    const started = Date.now();
    expectError(await pending, "network", 499, "client_disconnected");
    expect(Date.now() - started).toBeLessThan(3_000);
    expectError(await nativeError(native.listModels()), "network", 499, "client_disconnected");
  });

  it("the caller's signal aborts a JSON call waiting for its answer", async () => {
    const abort = new AbortController();
    const native = client({ fetch: hangingFetch, signal: abort.signal, timeouts: { headersMs: 60_000, blockingMs: 60_000, idleMs: 60_000 } });
    const pending = Promise.all([nativeError(native.getRun(UNKNOWN_RUN)), nativeError(native.resumeRun(UNKNOWN_RUN, { callback_task_id: UNKNOWN_RUN, response_payload: { tool_results: [] } }))]);
    setTimeout(() => abort.abort(), 50);
    for (const error of await pending) expectError(error, "network", 499, "client_disconnected");
  });

  it("the caller's signal cancels an open stream", async () => {
    const abort = new AbortController();
    const stream = await client({ signal: abort.signal }).streamRun(scripted({ text: ["a", "b"], stall_ms: 5_000 }));
    const reader = stream.getReader();
    expect((await reader.read()).value?.event).toBe("run.started");
    setTimeout(() => abort.abort(), 100);
    const rest: NativeStreamItem[] = [];
    for (let result = await reader.read(); !result.done; result = await reader.read()) rest.push(result.value);
    expectError(lastFault(rest), "network", 499, "client_disconnected");
  });

  it("a 2xx body that is not JSON → protocol 502 upstream_invalid_response", async () => {
    const text = fixedFetch(() => new Response('{"data": {"id": "not json after all', { status: 200, headers: { "content-type": "application/json" } }));
    const native = client({ fetch: text });
    for (const call of [native.getRun(UNKNOWN_RUN), native.cancelRun(UNKNOWN_RUN), native.listModels()]) {
      expectError(await nativeError(call), "protocol", 502, "upstream_invalid_response");
    }
    expectError(
      await nativeError(native.resumeRun(UNKNOWN_RUN, { callback_task_id: UNKNOWN_RUN, response_payload: { tool_results: [] } })),
      "protocol",
      502,
      "upstream_invalid_response",
    );
    // A replayed idempotency key answered with a JSON record that does not parse (client.ts replayRecord).
    const replay = await nativeError(native.streamRun({ query: "x", execution: { idempotency_key: "k" } }));
    expectError(replay, "protocol", 502, "upstream_invalid_response");
  });

  it("a 2xx body that breaks the schema → protocol 502 upstream_invalid_response", async () => {
    const native = client({ fetch: fixedFetch(() => Response.json({ data: { status: "succeeded" }, meta: null }, { status: 200 })) });
    expectError(await nativeError(native.getRun(UNKNOWN_RUN)), "protocol", 502, "upstream_invalid_response");
    expectError(await nativeError(native.cancelRun(UNKNOWN_RUN)), "protocol", 502, "upstream_invalid_response");
    expectError(
      await nativeError(native.resumeRun(UNKNOWN_RUN, { callback_task_id: UNKNOWN_RUN, response_payload: { tool_results: [] } })),
      "protocol",
      502,
      "upstream_invalid_response",
    );
    expectError(await nativeError(native.streamRun({ query: "x", execution: { idempotency_key: "k" } })), "protocol", 502, "upstream_invalid_response");
    const models = client({ fetch: fixedFetch(() => Response.json({ object: "list", data: [{ name: "no id" }] })) });
    expectError(await nativeError(models.listModels()), "protocol", 502, "upstream_invalid_response");
  });

  it("a streaming 200 that is not text/event-stream → protocol 502 upstream_invalid_response", async () => {
    const native = client({ fetch: fixedFetch(() => Response.json({ data: { id: "r", status: "queued" } }, { status: 201 })) });
    expectError(await nativeError(native.streamRun({ query: "x" })), "protocol", 502, "upstream_invalid_response");
    const html = client({ fetch: fixedFetch(() => new Response("<html></html>", { headers: { "content-type": "text/html" } })) });
    expectError(await nativeError(html.streamRun({ query: "x" })), "protocol", 502, "upstream_invalid_response");
  });
});

describe("native client: streaming faults (§2)", () => {
  // test/global-setup.ts runs the emulator with a 200 ms keepalive (native: 15 s, §2.1).
  it("idle upstream (stall, keepalives slower than idleMs) → timeout fault 504 upstream_idle_timeout", async () => {
    const stream = await client({ timeouts: { ...TIMEOUTS, idleMs: 100 } }).streamRun(scripted({ text: ["a", "b"], stall_ms: 5_000 }));
    const started = Date.now();
    const items = await collect(stream);
    expect(items[0]?.event).toBe("run.started");
    expectError(lastFault(items), "timeout", 504, "upstream_idle_timeout");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("keepalive comments during a stall keep the stream alive", async () => {
    const stream = await client({ timeouts: { ...TIMEOUTS, idleMs: 600 } }).streamRun(scripted({ text: ["a", "b"], stall_ms: 1_500 }));
    const items = await collect(stream);
    expect(items.at(-1)?.event).toBe("run.completed");
    expect(deltasOf(items, "message.delta")).toBe("ab");
  });

  it("socket reset mid-stream (drop_after) → network fault upstream_connection_reset", async () => {
    const items = await collect(await client().streamRun(scripted({ text: ["a", "b", "c"], drop_after: 2 })));
    expectError(lastFault(items), "network", 502, "upstream_connection_reset");
  });

  it("non-JSON data → protocol fault upstream_invalid_sse", async () => {
    const items = await collect(await client().streamRun(scripted({ text: ["a"], malformed: "json" })));
    expectError(lastFault(items), "protocol", 502, "upstream_invalid_sse");
  });

  it("a line without a field name is an unknown SSE field and is ignored (WHATWG)", async () => {
    const items = await collect(await client().streamRun(scripted({ text: ["a", "b"], malformed: "sse" })));
    expect(items.at(-1)?.event).toBe("run.completed");
    expect(deltasOf(items, "message.delta")).toBe("ab");
  });

  it("clean end without a terminal event → cut fault", async () => {
    const items = await collect(await client().streamRun(scripted({ text: ["a", "b"], end_without_terminal: true })));
    expect(deltasOf(items, "message.delta")).toBe("ab");
    expectError(lastFault(items), "cut", 502, "upstream_stream_cut");
  });
});
