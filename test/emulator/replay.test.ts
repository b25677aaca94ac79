/**
 * Idempotent replays (same `execution.idempotency_key`, same body): the route starts the returned
 * run again (native.rs:548-571 → orchestration_runtime.rs:597-626), so a replay of a *running* run
 * is a second concurrent execution; a finished run is replayed from the record.
 */
import { describe, expect, it } from "vitest";
import { KEYS, SseReader, base, blocking, emu, events, postRun, type Run } from "./helpers";

interface EmulatorRunView {
  data: Run;
  executions: number;
}

async function emulatorRun(id: string): Promise<EmulatorRunView> {
  const res = await fetch(`${base()}/__emulator/runs/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as EmulatorRunView;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("replay of a running run re-executes it (orchestration_runtime.rs:597-617)", () => {
  it("streaming: the replay restarts from sequence :1, sees a second run.started, both executions' deltas interleave on both streams", async () => {
    const body = {
      query: emu({ text: ["a", "b", "c", "d"], delta_delay_ms: 120 }, "replayed"),
      response_mode: "streaming",
      execution: { idempotency_key: crypto.randomUUID() },
    };
    const original = new SseReader(await postRun(body));
    const started = await original.nextEvent();
    const runId = started?.data.run_id as string;
    await sleep(300);
    const replayRaw = await (await postRun(body)).text();
    const originalRaw = await original.rest();
    const replay = events(replayRaw);
    const first = events(originalRaw);

    expect(replay[0]).toMatchObject({ event: "run.started", id: `${runId}:1` });
    for (const stream of [first, replay]) {
      expect(stream.filter((e) => e.event === "run.started")).toHaveLength(2);
      expect(stream.filter((e) => e.event === "run.completed")).toHaveLength(1);
      expect(stream.at(-1)?.event).toBe("run.completed");
      // More message text than one execution produced: the second execution's deltas are in it.
      const text = stream.filter((e) => e.event === "message.delta").map((e) => e.data.delta as string).join("");
      expect(text.length).toBeGreaterThan(4);
    }
    // The first execution to finish wins the record; the answer is one execution's.
    expect(replay.at(-1)?.data.answer).toBe("abcd");
    // Sequence ids are shared by both executions: strictly increasing within a stream.
    const seqs = replay.map((e) => Number(e.id.split(":")[1]));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect((await emulatorRun(runId)).executions).toBe(2);
  });

  it("blocking: the replay holds until its own execution ends; both executions' node usage is aggregated", async () => {
    const script = { text: ["abcdefgh"], wait_ms: 500 };
    const control = await blocking({ query: emu(script, "control") }, KEYS.demoSecond);
    const body = { query: emu(script, "control"), execution: { idempotency_key: crypto.randomUUID() } };
    const firstPending = postRun(body);
    await sleep(150);
    const t0 = Date.now();
    const replayRes = await postRun(body);
    const elapsed = Date.now() - t0;
    const first = ((await (await firstPending).json()) as { data: Run }).data;
    const replay = ((await replayRes.json()) as { data: Run }).data;
    expect(replay.id).toBe(first.id);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(replay.status).toBe("succeeded");
    const view = await emulatorRun(first.id);
    expect(view.executions).toBe(2);
    expect(view.data.usage?.total_tokens).toBe(2 * (control.usage?.total_tokens ?? 0));
  });

  it("a tool-call run replayed while running: the second execution's callback task becomes the record's required action", async () => {
    const body = { query: emu({ tool_calls: [{ id: "c1", name: "lookup" }], wait_ms: 300 }), execution: { idempotency_key: crypto.randomUUID() } };
    const firstPending = postRun(body);
    await sleep(100);
    const replay = ((await (await postRun(body)).json()) as { data: Run }).data;
    const first = ((await (await firstPending).json()) as { data: Run }).data;
    expect(first.status).toBe("waiting");
    expect(replay.status).toBe("waiting");
    // The discarded execution still created its task before its status update failed (engine.rs:417-448).
    expect(replay.required_action?.payload.callback_task_id).not.toBe(first.required_action?.payload.callback_task_id);
  });
});

describe("replay of a finished run does not execute (orchestration_runtime.rs:620-626)", () => {
  it("blocking: the durable run, one execution", async () => {
    const body = { query: emu({ text: ["done"] }), execution: { idempotency_key: crypto.randomUUID() } };
    const first = await blocking(body);
    const again = await blocking(body);
    expect(again).toMatchObject({ id: first.id, status: "succeeded", answer: "done", usage: first.usage });
    expect((await emulatorRun(first.id)).executions).toBe(1);
  });

  it("streaming: the durable fallback — run.started :0, synthesized deltas :1…, run.completed :0 carrying the record's usage", async () => {
    const body = { query: emu({ reasoning: ["r"], text: ["m"] }), response_mode: "streaming", execution: { idempotency_key: crypto.randomUUID() } };
    const first = events(await (await postRun(body)).text());
    const runId = first[0]?.data.run_id as string;
    const replay = events(await (await postRun(body)).text());
    expect(replay.map((e) => [e.event, e.id, e.data.delta ?? null])).toEqual([
      ["run.started", `${runId}:0`, null],
      ["reasoning.delta", `${runId}:1`, "r"],
      ["message.delta", `${runId}:2`, "m"],
      ["run.completed", `${runId}:0`, null],
    ]);
    // The live terminal had no usage (the flow output has none); the fallback's comes from the record.
    expect(first.at(-1)?.data).not.toHaveProperty("usage");
    expect(replay.at(-1)?.data.usage).toEqual({ prompt_tokens: expect.any(Number), completion_tokens: 1, total_tokens: expect.any(Number), reasoning_tokens: 1 });
    expect((await emulatorRun(runId)).executions).toBe(1);
  });

  it("streaming: a waiting (tool-call) run replays its required_action; the replay carries the replay request's own binding", async () => {
    const body = {
      query: emu({ tool_calls: [{ id: "c1", name: "t" }] }),
      response_mode: "streaming",
      conversation: { user: `replay-${crypto.randomUUID()}` },
      execution: { idempotency_key: crypto.randomUUID() },
    };
    const first = events(await (await postRun(body)).text());
    const replay = events(await (await postRun(body)).text());
    expect(replay.map((e) => e.event)).toEqual(["run.started", "required_action"]);
    expect(replay[1]?.data.required_action).toEqual(first.at(-1)?.data.required_action);
    // Binding runs before the idempotency lookup (run_service.rs:106-108): a request without a
    // conversation id gets a fresh `conv_…` on the replay too, and the replay's events report it.
    const conversationOf = (e: (typeof first)[number] | undefined) => (e?.data.conversation as { id: string } | undefined)?.id;
    expect(conversationOf(replay[0])).toMatch(/^conv_[0-9a-f]{32}$/);
    expect(conversationOf(replay[0])).not.toBe(conversationOf(first[0]));
  });
});
