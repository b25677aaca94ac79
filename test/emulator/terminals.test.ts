/**
 * How runs end on the wire: delayed cancel (native.rs:457-529, sse.rs:382-432), the human-approval
 * wait (sse.rs:311-325), the raw `run.completed.usage` (sse.rs:90), and the 2 MiB body limit.
 */
import { describe, expect, it } from "vitest";
import { SseReader, api, blocking, emu, events, getRun, postRun, type Run } from "./helpers";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("delayed cancel: the stream learns of it through the ~500 ms durable poll", () => {
  it("deltas keep arriving after the cancel; run.cancelled (:0, no error) ends the stream; the record has no error and no answer", async () => {
    const res = await postRun({ query: emu({ text: Array.from({ length: 30 }, (_, i) => `d${i} `), delta_delay_ms: 40 }), response_mode: "streaming" });
    const reader = new SseReader(res);
    const started = await reader.nextEvent();
    const runId = started?.data.run_id as string;
    await reader.nextEvent();
    const cancel = await api(`/runs/${runId}/cancel`, { method: "POST" });
    const cancelled = ((await cancel.json()) as { data: Run }).data;
    // The cancel answer is the flow_run form: no required action, no aggregated usage (native.rs:525-528).
    expect(cancelled).toMatchObject({ status: "cancelled", error: null, answer: null, usage: null, required_action: null });
    const after: string[] = [];
    for (;;) {
      const event = await reader.nextEvent();
      if (!event) break;
      after.push(event.event);
      if (event.event === "run.cancelled") {
        expect(event.id).toBe(`${runId}:0`);
        expect(event.data).not.toHaveProperty("error");
      }
    }
    expect(after.at(-1)).toBe("run.cancelled");
    expect(after.filter((e) => e === "message.delta").length).toBeGreaterThanOrEqual(1);
    const record = ((await (await getRun(runId)).json()) as { data: Run }).data;
    expect(record).toMatchObject({ status: "cancelled", error: null, answer: null });
  });

  it("cancel_race: the cancel answers 200 with status running and the run still completes", async () => {
    const res = await postRun({ query: emu({ text: ["late"], wait_ms: 300, cancel_race: true }), response_mode: "streaming" });
    const reader = new SseReader(res);
    const runId = (await reader.nextEvent())?.data.run_id as string;
    const cancel = await api(`/runs/${runId}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as { data: Run }).data.status).toBe("running");
    const rest = events(await reader.rest());
    expect(rest.at(-1)?.event).toBe("run.completed");
    expect(((await (await getRun(runId)).json()) as { data: Run }).data.status).toBe("succeeded");
  });
});

describe("human-approval wait (sse.rs:311-325; waiting_nodes.rs:21-136)", () => {
  it("streaming: required_action carries the fallback {type, run_id}; the record is waiting with no required action", async () => {
    const evs = events(await (await postRun({ query: emu({ human_approval: true }, "approve?"), response_mode: "streaming" })).text());
    const runId = evs[0]?.data.run_id as string;
    expect(evs.map((e) => e.event)).toEqual(["run.started", "required_action"]);
    expect(evs[1]?.data.status).toBe("waiting");
    expect(evs[1]?.data.required_action).toEqual({ type: "waiting_human", run_id: runId });
    const record = ((await (await getRun(runId)).json()) as { data: Run }).data;
    expect(record).toMatchObject({ status: "waiting", required_action: null, tool_calls: null, answer: null, error: null });
  });

  it("blocking: 201 waiting; text streamed before the wait is the record's answer (the ready answer prefix)", async () => {
    const run = await blocking({ query: emu({ text: ["Checking with a human."], human_approval: true }) });
    expect(run).toMatchObject({ status: "waiting", required_action: null, tool_calls: null, answer: "Checking with a human." });
  });

  it("a streaming replay of a human wait finds no durable terminal: no events, only keepalives, until the client leaves", async () => {
    const body = { query: emu({ human_approval: true }), response_mode: "streaming", execution: { idempotency_key: crypto.randomUUID() } };
    await (await postRun(body)).text();
    const controller = new AbortController();
    const res = await api("/runs", { method: "POST", body: JSON.stringify(body), signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = new SseReader(res);
    const frames: Array<Awaited<ReturnType<SseReader["next"]>>> = [];
    const reading = (async () => {
      for (;;) {
        const frame = await reader.next().catch(() => null);
        if (frame === null) return;
        frames.push(frame);
      }
    })();
    await sleep(700);
    controller.abort();
    await reading;
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => f?.comment === true)).toBe(true);
  });
});

describe("run.completed.usage is the flow output's raw usage (sse.rs:90)", () => {
  it("absent by default", async () => {
    const evs = events(await (await postRun({ query: emu({ text: ["x"] }), response_mode: "streaming" })).text());
    expect(evs.at(-1)?.data).not.toHaveProperty("usage");
  });

  it("usage_raw goes out verbatim — unknown keys, strings, null; the record takes only u64 token fields", async () => {
    const raw = { input_tokens: "12", output_tokens: 3.5, weird: { nested: true } };
    const evs = events(await (await postRun({ query: emu({ text: ["x"], usage_raw: raw }), response_mode: "streaming" })).text());
    expect(evs.at(-1)?.data.usage).toEqual(raw);
    const runId = evs[0]?.data.run_id as string;
    const record = ((await (await getRun(runId)).json()) as { data: Run }).data;
    // No u64 token field in the output usage: the record falls back to the node usage (computed).
    expect(record.usage?.completion_tokens).toBe(1);

    const partial = await blocking({ query: emu({ text: ["x"], usage_raw: { input_tokens: 5, cache_creation_input_tokens: 2 } }) });
    // Output usage is not completed with a total (native_results.rs:183-186 uses no usage_with_total).
    expect(partial.usage).toEqual({ prompt_tokens: 5, completion_tokens: null, total_tokens: null, cache_write_tokens: 2 });

    const nullUsage = events(await (await postRun({ query: emu({ text: ["x"], usage_raw: null }), response_mode: "streaming" })).text());
    expect(nullUsage.at(-1)?.data).toHaveProperty("usage", null);
  });
});

describe("2 MiB body limit (axum 0.7 default; no DefaultBodyLimit in the fork)", () => {
  const LIMIT = 2 * 1024 * 1024;
  const bodyOfBytes = (bytes: number) => {
    const shell = JSON.stringify({ query: "" });
    return JSON.stringify({ query: "x".repeat(bytes - shell.length) });
  };

  it("exactly 2 MiB is accepted; one byte more is 413 text/plain 'Failed to buffer the request body: length limit exceeded'", async () => {
    const ok = await postRun(bodyOfBytes(LIMIT));
    expect(ok.status).toBe(201);
    await ok.text();
    const over = await postRun(bodyOfBytes(LIMIT + 1));
    expect(over.status).toBe(413);
    expect(over.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await over.text()).toBe("Failed to buffer the request body: length limit exceeded");
  });

  it("the limit applies before auth, and to resume's JSON body too", async () => {
    const unauthenticated = await api("/runs", { method: "POST", body: bodyOfBytes(LIMIT + 1), key: null });
    expect(unauthenticated.status).toBe(413);
    await unauthenticated.text();
    const run = await blocking({ query: emu({ tool_calls: [{ id: "a", name: "t" }] }) });
    const resume = await api(`/runs/${run.id}/resume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ callback_task_id: run.required_action?.payload.callback_task_id, response_payload: { tool_results: [{ tool_call_id: "a", content: "y".repeat(LIMIT) }] } }),
    });
    expect(resume.status).toBe(413);
    expect(await resume.text()).toBe("Failed to buffer the request body: length limit exceeded");
  });
});
