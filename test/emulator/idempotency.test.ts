import { describe, expect, it } from "vitest";
import { KEYS, blocking, errorOf, events, postRun, recordedRequests } from "./helpers";

describe("execution.idempotency_key (native-api.md §1.4.2)", () => {
  it("same key + same body returns the existing run (no new run), fingerprint frozen in sys", async () => {
    const key = crypto.randomUUID();
    const first = await blocking({ query: "idem", execution: { idempotency_key: key }, title: "a" });
    expect(first.node_input_payload.sys.public_run_idempotency_fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Key order does not matter: the fingerprint is over canonical JSON.
    const again = await blocking({ title: "a", execution: { idempotency_key: key }, query: "idem" });
    expect(again.id).toBe(first.id);
    expect(await recordedRequests(`run_id=${first.id}`)).toHaveLength(2);
  });

  it("same key + different body → 409 idempotency_conflict", async () => {
    const key = crypto.randomUUID();
    await blocking({ query: "one", execution: { idempotency_key: key } });
    expect(await errorOf(await postRun({ query: "two", execution: { idempotency_key: key } }))).toEqual({
      status: 409,
      code: "idempotency_conflict",
      message: "idempotency key was already used with a different request",
    });
  });

  it("keys are scoped per API key", async () => {
    const key = crypto.randomUUID();
    const a = await blocking({ query: "x", execution: { idempotency_key: key } });
    const b = await blocking({ query: "x", execution: { idempotency_key: key } }, KEYS.demoSecond);
    expect(b.id).not.toBe(a.id);
  });

  it("a streaming replay rebuilds the stream from the durable run", async () => {
    const key = crypto.randomUUID();
    const body = { query: "stream idem", response_mode: "streaming", execution: { idempotency_key: key } };
    const first = events(await (await postRun(body)).text());
    const replay = events(await (await postRun(body)).text());
    const runId = first[0]?.data.run_id as string;
    expect(replay[0]?.data.run_id).toBe(runId);
    expect(replay[0]?.id).toBe(`${runId}:0`);
    expect(replay.at(-1)).toMatchObject({ event: "run.completed", id: `${runId}:0` });
    expect(replay.at(-1)?.data.answer).toBe(first.at(-1)?.data.answer);
  });
});
