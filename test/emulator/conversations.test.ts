import { describe, expect, it } from "vitest";
import { KEYS, blocking, emu, events, postRun, uniqueUser } from "./helpers";

describe("conversations and history rehydration (native-api.md §3.4)", () => {
  it("generates conv_<32hex> when an external user is given without an id", async () => {
    const run = await blocking({ query: "x", conversation: { user: uniqueUser("gen") } });
    expect(run.metadata.external_conversation_id).toMatch(/^conv_[0-9a-f]{32}$/);
    expect(run.metadata.request.conversation.id).toBe(run.metadata.external_conversation_id);
    const unbound = await blocking({ query: "x", conversation: { id: "c-only" } });
    expect(unbound.metadata.external_conversation_id).toBeNull();
    expect(unbound.metadata.external_user).toBeNull();
  });

  it("rehydrates previous turns into node-start.history when history is empty (think blocks stripped)", async () => {
    const user = uniqueUser("rehydrate");
    const first = await blocking({ query: emu({ reasoning: ["secret thoughts"], text: ["Paris."] }, "capital of France?"), conversation: { user, id: "c1" } });
    expect(first.answer).toBe("<think>secret thoughts</think>Paris.");
    const second = await blocking({ query: "and Spain?", conversation: { user, id: "c1" } });
    const history = second.node_input_payload["node-start"].history;
    expect(history).toEqual([
      { role: "user", content: first.node_input_payload["node-start"].query },
      { role: "assistant", content: "Paris." },
    ]);
    expect(second.answer).toBe(`You said: and Spain? [history: user: ${history[0]?.content as string} | assistant: Paris.]`);

    // Streaming runs store turns too; the third run sees both earlier turns.
    const streamed = events(await (await postRun({ query: "third", conversation: { user, id: "c1" }, response_mode: "streaming" })).text());
    expect(streamed.at(-1)?.data.answer).toContain("assistant: You said: and Spain?");
    expect(streamed[0]?.data.conversation).toEqual({ user, id: "c1" });
  });

  it("expand_id takes precedence over conversation.user", async () => {
    const user = uniqueUser("expand");
    await blocking({ query: "one", expand_id: user, conversation: { user: "ignored", id: "c" } });
    const second = await blocking({ query: "two", expand_id: user, conversation: { id: "c" } });
    expect(second.metadata.external_user).toBe(user);
    expect(second.metadata.expand_id).toBe(user);
    expect(second.node_input_payload["node-start"].history).toHaveLength(2);
  });

  it("explicit history disables rehydration", async () => {
    const user = uniqueUser("explicit");
    await blocking({ query: "one", conversation: { user, id: "c" } });
    const run = await blocking({ query: "two", conversation: { user, id: "c" }, history: [{ role: "user", content: "mine" }] });
    expect(run.node_input_payload["node-start"].history).toEqual([{ role: "user", content: "mine" }]);
  });

  it("conversations are scoped per API key", async () => {
    const user = uniqueUser("scoped");
    await blocking({ query: "one", conversation: { user, id: "c" } });
    const sameApp = await blocking({ query: "two", conversation: { user, id: "c" } }, KEYS.demoSecond);
    expect(sameApp.node_input_payload["node-start"].history).toEqual([]);
    const sameKey = await blocking({ query: "three", conversation: { user, id: "c" } });
    expect(sameKey.node_input_payload["node-start"].history).toHaveLength(2);
  });
});
