import { describe, expect, it } from "vitest";
import { KEYS, SseReader, api, emu, events, getRun, parseSse, postRun, type Run } from "./helpers";

const RFC3339 = /"created_at":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"/g;

describe("native SSE (native-api.md §2)", () => {
  it("frames are byte-exact: id/event/data with one space, one-line JSON, blank line", async () => {
    const res = await postRun({ query: emu({ reasoning: ["Let me think"], text: ["Hel", "lo"] }, "hi"), title: "t", response_mode: "streaming" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const raw = await res.text();
    const runId = /^id: ([0-9a-f-]{36}):1\n/.exec(raw)?.[1];
    expect(runId).toBeDefined();
    const normalized = raw.replaceAll(runId ?? "", "RUN").replace(RFC3339, '"created_at":"TS"');
    const metadata =
      '{"model":null,"execution":null,"metadata":null,"title":"t","expand_id":null,"compatibility_mode":"native-v1","idempotency_key":null,' +
      '"external_user":null,"external_conversation_id":null,"external_trace_id":null,"request":{"conversation":{},"response_mode":"streaming","stream_options":{}}}';
    expect(normalized).toBe(
      `id: RUN:1\nevent: run.started\ndata: {"run_id":"RUN","status":"running","created_at":"TS","conversation":{},"metadata":${metadata}}\n\n` +
        `id: RUN:3\nevent: reasoning.delta\ndata: {"run_id":"RUN","status":"running","created_at":"TS","delta":"Let me think"}\n\n` +
        `id: RUN:5\nevent: message.delta\ndata: {"run_id":"RUN","status":"running","created_at":"TS","delta":"Hel"}\n\n` +
        `id: RUN:7\nevent: message.delta\ndata: {"run_id":"RUN","status":"running","created_at":"TS","delta":"lo"}\n\n` +
        `id: RUN:9\nevent: run.completed\ndata: {"run_id":"RUN","status":"succeeded","created_at":"TS","answer":"<think>Let me think</think>Hello","conversation":{},"metadata":${metadata}}\n\n`,
    );
  });

  it("default answer streams as message.delta pieces of at most 8 characters", async () => {
    const res = await postRun({ query: "hello there world", system: "be brief", response_mode: "streaming" });
    const evs = events(await res.text());
    const deltas = evs.filter((e) => e.event === "message.delta").map((e) => e.data.delta as string);
    expect(deltas.every((d) => Array.from(d).length <= 8)).toBe(true);
    expect(deltas.join("")).toBe("You said: hello there world [system: be brief]");
    expect(evs.at(-1)?.event).toBe("run.completed");
  });

  it("synthesized_deltas: no live deltas; deltas :1,:2 synthesized from the live terminal, which keeps its own id (sse.rs:396-412)", async () => {
    const res = await postRun({ query: emu({ reasoning: ["think"], text: ["answer"], synthesized_deltas: true }), response_mode: "streaming" });
    const evs = events(await res.text());
    const run = evs[0]?.data.run_id as string;
    expect(evs.map((e) => [e.event, e.id])).toEqual([
      ["run.started", `${run}:1`],
      ["reasoning.delta", `${run}:1`],
      ["message.delta", `${run}:2`],
      ["run.completed", `${run}:3`],
    ]);
  });

  it("usage_on_terminal puts usage on run.completed; run record always has usage", async () => {
    const res = await postRun({ query: emu({ text: ["x"], usage: { prompt_tokens: 7, completion_tokens: 3 }, usage_on_terminal: true }), response_mode: "streaming" });
    const evs = events(await res.text());
    expect(evs.at(-1)?.data.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    const plain = events(await (await postRun({ query: emu({ text: ["x"] }), response_mode: "streaming" })).text());
    expect(plain.at(-1)?.data).not.toHaveProperty("usage");
  });

  it("sends `:` keepalive comments while stalled", async () => {
    const res = await postRun({ query: emu({ text: ["a", "b"], stall_ms: 700 }), response_mode: "streaming" });
    const raw = await res.text();
    const frames = parseSse(raw);
    const firstDelta = frames.findIndex((f) => f.event === "message.delta");
    const keepalives = frames.filter((f) => f.comment);
    expect(keepalives.length).toBeGreaterThanOrEqual(2);
    expect(raw).toContain("\n\n:\n\n");
    expect(frames.findIndex((f) => f.comment)).toBeGreaterThan(firstDelta);
    expect(frames.at(-1)?.event).toBe("run.completed");
  });

  it("drop_after: the body read errors or ends without a terminal event", async () => {
    const res = await postRun({ query: emu({ text: ["a", "b", "c", "d"], delta_delay_ms: 20, drop_after: 2 }), response_mode: "streaming" });
    expect(res.status).toBe(200);
    let raw = "";
    let failed = false;
    try {
      raw = await res.text();
    } catch {
      failed = true;
    }
    if (!failed) {
      const names = events(raw).map((e) => e.event);
      expect(names).not.toContain("run.completed");
      expect(names.length).toBeLessThanOrEqual(2);
    }
  });

  it("end_without_terminal ends the stream cleanly without a terminal event; the run still completes", async () => {
    const res = await postRun({ query: emu({ text: ["a"], end_without_terminal: true }), response_mode: "streaming" });
    const evs = events(await res.text());
    expect(evs.map((e) => e.event)).toEqual(["run.started", "message.delta"]);
    const run = (await (await getRun(evs[0]?.data.run_id as string)).json()) as { data: Run };
    expect(run.data.status).toBe("succeeded");
  });

  it("malformed: json → a frame whose data is not JSON; sse → a junk line", async () => {
    const json = await (await postRun({ query: emu({ text: ["a"], malformed: "json" }), response_mode: "streaming" })).text();
    expect(json).toContain("\ndata: not-json\n\n");
    const sse = await (await postRun({ query: emu({ text: ["a"], malformed: "sse" }), response_mode: "streaming" })).text();
    expect(sse).toContain("\n\ngarbage-line-without-field-name\n\n");
    expect(sse).toContain("event: run.completed");
  });

  it("fail after_deltas → run.failed always says runtime_error, with the provider message and no details (sse.rs:239-267)", async () => {
    const res = await postRun({ query: emu({ text: ["a", "b", "c"], fail: { code: "rate_limited", message: "slow down", after_deltas: 1 } }), response_mode: "streaming" });
    const evs = events(await res.text());
    expect(evs.map((e) => e.event)).toEqual(["run.started", "message.delta", "run.failed"]);
    expect(evs[2]?.data.status).toBe("failed");
    expect(evs[2]?.data.error).toEqual({ code: "runtime_error", message: "slow down" });
  });

  it("incomplete → run.incomplete with status incomplete (0.3, §7)", async () => {
    const evs = events(await (await postRun({ query: emu({ text: ["partial"], incomplete: true }), response_mode: "streaming" })).text());
    expect(evs.at(-1)?.event).toBe("run.incomplete");
    expect(evs.at(-1)?.data).toMatchObject({ status: "incomplete", answer: "partial" });
  });

  it("tool_calls → required_action terminal event with status waiting", async () => {
    const evs = events(
      await (await postRun({ query: emu({ text: ["Looking"], tool_calls: [{ id: "c1", name: "lookup", arguments: { q: "x" } }] }), response_mode: "streaming" })).text(),
    );
    const last = evs.at(-1);
    expect(last?.event).toBe("required_action");
    expect(last?.data.status).toBe("waiting");
    expect(last?.data.required_action).toMatchObject({
      action_type: "submit_tool_outputs",
      payload: { callback_kind: "llm_tool_calls", flow_run_id: last?.data.run_id, tool_calls: [{ id: "c1", name: "lookup", arguments: { q: "x" } }] },
    });
  });

  it("cancel during wait_ms → run.cancelled (:0, no error) arrives with the durable poll", async () => {
    const res = await postRun({ query: emu({ wait_ms: 5000 }), response_mode: "streaming" });
    const reader = new SseReader(res);
    const started = await reader.nextEvent();
    expect(started?.event).toBe("run.started");
    const runId = started?.data.run_id as string;
    const during = (await (await getRun(runId)).json()) as { data: Run };
    expect(during.data.status).toBe("running");
    const cancel = await api(`/runs/${runId}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as { data: Run }).data.status).toBe("cancelled");
    const t0 = Date.now();
    const terminal = await reader.nextEvent();
    expect(Date.now() - t0).toBeLessThan(900);
    expect(terminal?.event).toBe("run.cancelled");
    expect(terminal?.id).toBe(`${runId}:0`);
    expect(terminal?.data).toMatchObject({ status: "cancelled" });
    expect(terminal?.data).not.toHaveProperty("error");
    expect(await reader.next()).toBeNull();
  });

  it("workflow events only with stream_options.include_workflow_events=public", async () => {
    const evs = events(await (await postRun({ query: "x", response_mode: "streaming", stream_options: { include_workflow_events: "public" } })).text());
    expect(evs.filter((e) => e.event === "workflow.event").map((e) => (e.data.workflow as { type: string }).type)).toEqual(["node_started", "node_finished"]);
    const plain = events(await (await postRun({ query: "x", response_mode: "streaming" })).text());
    expect(plain.some((e) => e.event === "workflow.event")).toBe(false);
  });

  it("long answers stream lazily (repeat)", async () => {
    const res = await postRun({ query: emu({ text: ["ab"], repeat: 20_000 }), response_mode: "streaming" });
    const evs = events(await res.text());
    expect(evs.filter((e) => e.event === "message.delta")).toHaveLength(20_000);
    expect((evs.at(-1)?.data.answer as string).length).toBe(40_000);
  });

  it("errors before the stream opens are JSON (§2.1)", async () => {
    const res = await postRun({ query: "x", response_mode: "streaming" }, KEYS.unpublished);
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("application/json");
  });
});
