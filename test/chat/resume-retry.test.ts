import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { MODEL, post } from "./helpers";

interface ToolCall {
  id: string;
  function: { name: string; arguments: string };
}

describe("retrying tool results after the resumed run failed", () => {
  it("answers with the run's own error, not 'already answered'", async () => {
    const user = { role: "user", content: emu({ tool_calls: [{ name: "lookup", arguments: { q: 1 } }], after_tools: { fail: { code: "rate_limited", message: "provider rate limited" } } }, "go") };
    const first = (await (await post("/v1/chat/completions", { model: MODEL, messages: [user] })).json()) as {
      choices: Array<{ message: { role: string; content: string | null; tool_calls: ToolCall[] } }>;
    };
    const assistant = first.choices[0]?.message;
    const call = assistant?.tool_calls[0];
    expect(call?.id).toMatch(/^call_/);
    const followUp = { model: MODEL, messages: [user, assistant, { role: "tool", tool_call_id: call?.id, content: "42" }] };

    const failed = await post("/v1/chat/completions", followUp);
    expect(failed.status).toBe(429);
    const retried = await post("/v1/chat/completions", followUp);
    expect(retried.status).toBe(429);
    expect(await retried.json()).toMatchObject({ error: { code: "rate_limit_exceeded", message: "provider rate limited" } });
  });
});
