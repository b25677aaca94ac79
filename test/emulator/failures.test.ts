/**
 * Failed runs as the fork shows them (emulator/failures.ts): the live `run.failed` always says
 * `runtime_error`; the record keeps the provider class in `error.details`; the answer is the error
 * text, which also streams as `message.delta` when no message text went out before the failure.
 */
import { describe, expect, it } from "vitest";
import { blocking, emu, events, getRun, postRun, type Run } from "./helpers";

const ROUTE = { provider_instance_id: "0197a000-0000-7000-8000-0000000000e1", provider_code: "emulator_provider", protocol: "openai_compatible" };

async function streamed(script: Parameters<typeof emu>[0]) {
  const evs = events(await (await postRun({ query: emu(script, "q"), response_mode: "streaming" })).text());
  const runId = evs[0]?.data.run_id as string;
  const record = ((await (await getRun(runId)).json()) as { data: Run }).data;
  return { evs, record };
}

describe("failure class only in the record (native_results.rs:12-96, sse.rs:256-263)", () => {
  it("provider 429: runtime_error, details.error_code rate_limited, provider_summary kept (null), provider_details gone", async () => {
    const run = await blocking({ query: emu({ fail: { error_code: "rate_limited", retry_after: 7 } }) });
    const message = "429 Too Many Requests: rate limit exceeded";
    expect(run.error).toEqual({ code: "runtime_error", message, details: { ...ROUTE, error_code: "rate_limited", message, provider_summary: null } });
    // retry-after lives in provider_details.headers, which native never shows.
    expect(JSON.stringify(run)).not.toContain("retry-after");
    expect(run.answer).toBe(message);
  });

  it("status_code alone implies the class: 401 auth_failed, 404 model_not_found, 503 endpoint_unreachable, 500 provider_upstream_error", async () => {
    const cases: Array<[number, string, string]> = [
      [401, "auth_failed", "401 Unauthorized: Incorrect API key provided"],
      [404, "model_not_found", "404 Not Found: model not found"],
      [503, "endpoint_unreachable", "503 Service Unavailable: upstream unavailable"],
      [500, "provider_upstream_error", "500 Internal Server Error: upstream request failed"],
    ];
    for (const [status_code, errorCode, message] of cases) {
      const run = await blocking({ query: emu({ fail: { status_code } }) });
      expect(run.error?.code).toBe("runtime_error");
      expect(run.error?.message).toBe(message);
      const details = run.error?.details as Record<string, unknown>;
      expect(details.error_code).toBe(errorCode);
      expect(details).not.toHaveProperty("provider_details");
      expect(details).not.toHaveProperty("status_code");
      // provider_upstream_error loses provider_summary (native_results.rs:51-59); the others keep it.
      expect("provider_summary" in details).toBe(errorCode !== "provider_upstream_error");
    }
  });

  it("provider_upstream_error quoting its raw body: the record says 'provider upstream request failed', the answer and live event keep the raw text", async () => {
    const raw = '{"error":{"message":"missing instructions"}}';
    const message = `400 Bad Request: ${raw}`;
    const { evs, record } = await streamed({ fail: { error_code: "provider_upstream_error", status_code: 400, raw_body: raw, message } });
    expect(record.error).toEqual({
      code: "runtime_error",
      message: "provider upstream request failed",
      details: { ...ROUTE, error_code: "provider_upstream_error", message: "provider upstream request failed" },
    });
    expect(record.answer).toBe(message);
    expect(evs.at(-1)?.data.error).toEqual({ code: "runtime_error", message });
  });

  it("details_status_code: the payload's status_code shows in details (newer plugins/upstream)", async () => {
    const run = await blocking({ query: emu({ fail: { error_code: "rate_limited", status_code: 429, details_status_code: true } }) });
    expect(run.error?.details).toMatchObject({ error_code: "rate_limited", status_code: 429 });
    expect(run.error?.code).toBe("runtime_error");
  });

  it("a payload code (legacy fail.code that is no provider class) is the record's error.code; the live event still says runtime_error", async () => {
    const { evs, record } = await streamed({ fail: { code: "provider_error", message: "the flow failed" } });
    expect(record.error).toEqual({ code: "provider_error", message: "the flow failed", details: { message: "the flow failed", code: "provider_error" } });
    expect(evs.at(-1)?.data.error).toEqual({ code: "runtime_error", message: "the flow failed" });
  });

  it("a plain failure is {code: runtime_error, message, details: {message}}", async () => {
    const run = await blocking({ query: emu({ fail: {} }) });
    expect(run.error).toEqual({ code: "runtime_error", message: "published run failed", details: { message: "published run failed" } });
  });
});

describe("the answer of a failed run is its error text (native_results.rs:38, answer_presentation.rs:209-270)", () => {
  it("failing before any delta: the error text streams as message.delta, then run.failed", async () => {
    const { evs, record } = await streamed({ text: ["never"], fail: { error_code: "auth_failed", after_deltas: 0 } });
    const message = "401 Unauthorized: Incorrect API key provided";
    expect(evs.map((e) => [e.event, e.data.delta ?? null])).toEqual([
      ["run.started", null],
      ["message.delta", message],
      ["run.failed", null],
    ]);
    expect(record.answer).toBe(message);
    expect(record.answer_segments).toEqual([{ kind: "message", text: message }]);
  });

  it("failing after some message text: the partial text streamed, nothing more; the record's answer is the error text, not the partial", async () => {
    const { evs, record } = await streamed({ text: ["partial ", "more"], fail: { message: "boom", after_deltas: 1 } });
    expect(evs.map((e) => e.event)).toEqual(["run.started", "message.delta", "run.failed"]);
    expect(evs[1]?.data.delta).toBe("partial ");
    expect(record.status).toBe("failed");
    expect(record.answer).toBe("boom");
  });

  it("failing after reasoning only: reasoning.delta, then the error text as message.delta", async () => {
    const { evs } = await streamed({ reasoning: ["thinking"], text: ["x"], fail: { message: "boom", after_deltas: 1 } });
    expect(evs.map((e) => [e.event, e.data.delta ?? null])).toEqual([
      ["run.started", null],
      ["reasoning.delta", "thinking"],
      ["message.delta", "boom"],
      ["run.failed", null],
    ]);
  });

  it("the durable fallback of a failed run (streaming replay) synthesizes no deltas: run.started :0, run.failed :0 with the record's message", async () => {
    const key = crypto.randomUUID();
    const raw = "raw-body-text";
    const body = { query: emu({ fail: { error_code: "provider_upstream_error", raw_body: raw, message: `502 Bad Gateway: ${raw}` } }), response_mode: "streaming", execution: { idempotency_key: key } };
    const first = events(await (await postRun(body)).text());
    const runId = first[0]?.data.run_id as string;
    const replay = events(await (await postRun(body)).text());
    expect(replay.map((e) => [e.event, e.id])).toEqual([
      ["run.started", `${runId}:0`],
      ["run.failed", `${runId}:0`],
    ]);
    // The fallback builds its terminal from the record: the redacted message (stream_terminal_fallback.rs:198-203).
    expect(replay[1]?.data.error).toEqual({ code: "runtime_error", message: "provider upstream request failed" });
  });
});
