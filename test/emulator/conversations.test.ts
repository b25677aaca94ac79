/**
 * Conversation memory as the fork keeps it (emulator/conversations.ts): each terminal run stores
 * only its own query and answer; rehydration happens only when `history` was sent empty.
 */
import { describe, expect, it } from "vitest";
import { api, base, blocking, emu, postRun, uniqueUser } from "./helpers";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function historyOf(run: Awaited<ReturnType<typeof blocking>>) {
  return run.node_input_payload["node-start"].history;
}

describe("conversation memory (application_run_log_methods.rs:611-658, conversation_history.rs)", () => {
  it("a run's explicit history is never stored: the next run sees only that run's own query and answer", async () => {
    const conversation = { user: uniqueUser("explicit-store"), id: "c" };
    const first = await blocking({ query: "mine", conversation, history: [{ role: "user", content: "client-kept turn" }, { role: "assistant", content: "client-kept answer" }] });
    const second = await blocking({ query: "next", conversation });
    expect(historyOf(second)).toEqual([
      { role: "user", content: "mine" },
      { role: "assistant", content: first.answer },
    ]);
  });

  it("a failed run is stored with its error text as the answer", async () => {
    const conversation = { user: uniqueUser("failed-store"), id: "c" };
    const failed = await blocking({ query: emu({ fail: { error_code: "rate_limited" } }, "q1"), conversation });
    const next = await blocking({ query: "q2", conversation });
    expect(historyOf(next)).toEqual([
      { role: "user", content: failed.node_input_payload["node-start"].query },
      { role: "assistant", content: "429 Too Many Requests: rate limit exceeded" },
    ]);
  });

  it("a cancelled run is stored as a user turn without an answer; a waiting run is not stored", async () => {
    const conversation = { user: uniqueUser("cancel-store"), id: "c" };
    await blocking({ query: emu({ tool_calls: [{ name: "t" }] }, "waits"), conversation });
    const pending = postRun({ query: emu({ wait_ms: 300 }, "cancelled one"), conversation, title: "cancel-store" });
    await sleep(80);
    const found = (await (await fetch(`${base()}/__emulator/requests?last=100&path=/api/agent/v1/runs`)).json()) as {
      requests: Array<{ run_id: string | null; body: { title?: string } | null }>;
    };
    const runId = found.requests.find((r) => r.body?.title === "cancel-store" && r.run_id)?.run_id;
    expect((await api(`/runs/${runId}/cancel`, { method: "POST" })).status).toBe(200);
    await (await pending).text();
    const next = await blocking({ query: "after", conversation });
    expect(historyOf(next)).toEqual([{ role: "user", content: emu({ wait_ms: 300 }, "cancelled one") }]);
  });

  it("a repeated user text replaces the earlier turn (consecutive turns only)", async () => {
    const conversation = { user: uniqueUser("dedupe"), id: "c" };
    await blocking({ query: "same", conversation });
    // The same text again: its echo answer differs (it saw the first turn), and its turn replaces the first.
    const second = await blocking({ query: "same", conversation });
    expect(second.answer).not.toBe("You said: same");
    const next = await blocking({ query: "other", conversation });
    expect(historyOf(next)).toEqual([
      { role: "user", content: "same" },
      { role: "assistant", content: second.answer },
    ]);
    // Not consecutive: both stay.
    const spaced = { user: uniqueUser("dedupe-spaced"), id: "c" };
    for (const query of ["a", "b", "a"]) await blocking({ query, conversation: spaced });
    const users = historyOf(await blocking({ query: "z", conversation: spaced })).filter((m) => m.role === "user");
    expect(users.map((m) => m.content)).toEqual(["a", "b", "a"]);
  });

  it("rehydration only when history was sent empty: a history of only system items hoists them and loads nothing", async () => {
    const conversation = { user: uniqueUser("system-only"), id: "c" };
    await blocking({ query: "one", conversation });
    const run = await blocking({ query: "two", conversation, history: [{ role: "system", content: "be terse" }] });
    expect(historyOf(run)).toEqual([]);
    expect(run.node_input_payload["node-start"].system).toBe("be terse");
  });

  it("user text loses only <system-reminder> blocks; assistant text loses <think>/<tool_call> and what precedes the beautified marker", async () => {
    const conversation = { user: uniqueUser("strip"), id: "c" };
    await blocking({ query: emu({ text: ["<tool_call>x</tool_call>draft 下面是美化后内容 — final"], reasoning: ["why"] }, "<system-reminder>r</system-reminder>keep <think>this</think>"), conversation });
    const history = historyOf(await blocking({ query: "next", conversation }));
    expect(history[0]?.content).toBe(`keep <think>this</think>${emu({ text: ["<tool_call>x</tool_call>draft 下面是美化后内容 — final"], reasoning: ["why"] })}`);
    expect(history[1]).toEqual({ role: "assistant", content: "final" });
  });

  it("an empty-string expand_id binds too (run_service.rs:498-504)", async () => {
    const conversation = { id: `empty-user-${crypto.randomUUID()}` };
    const first = await blocking({ query: "hello", expand_id: "", conversation });
    expect(first.metadata.external_user).toBe("");
    const second = await blocking({ query: "again", expand_id: "", conversation });
    expect(historyOf(second)).toHaveLength(2);
  });
});
