/**
 * Codex CLI (0.169.0) request shapes, captured from a real `codex exec` against `npm run dev` and
 * replayed here through the worker: the first turn (store:false, developer messages, Codex's tool
 * list and extra fields), the tool output turn, and Codex's retry after a failed stream — it resends
 * the same input with the partial assistant message it received (`status: "incomplete"`) appended.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emu, EMULATOR_KEYS } from "../../emulator/script";
import { checkEventOrder, parseSse, type SseEvent } from "../responses/helpers";

type Item = Record<string, unknown>;

/** What Codex 0.169.0 sends besides `input` (trimmed: the real developer prompt is ~20 KB). */
function codexBody(input: Item[]): Record<string, unknown> {
  return {
    model: "1flowbase",
    input,
    tools: [
      {
        type: "function",
        name: "exec_command",
        description: "Runs a command in a PTY, returning output or a session ID for ongoing interaction.",
        strict: false,
        parameters: { type: "object", properties: { cmd: { type: "string" }, workdir: { type: "string" } }, required: ["cmd"], additionalProperties: false },
      },
      { type: "namespace", name: "multi_agent_v1", description: "Sub-agents", tools: [] },
      { type: "web_search", external_web_access: false },
    ],
    tool_choice: "auto",
    parallel_tool_calls: true,
    reasoning: { summary: "auto" },
    store: false,
    stream: true,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "01a1fed6-7c1e-7842-9336-4107b6cad29a",
    client_metadata: { session_id: "01a1fed6-7c1e-7842-9336-4107b6cad29a", turn_id: "01a1fed6-7cc7-7392-b96c-815e50fd1005" },
  };
}

function codexPrelude(prompt: string): Item[] {
  return [
    { type: "message", id: "msg_f87ec3a6-6936-5d72-bc85-47f192de96c7", role: "developer", content: [{ type: "input_text", text: "You are a coding agent running in the Codex CLI." }] },
    { type: "message", id: "msg_01a1fed6-7d0c-7ec1-a381-9f06b24b9aff", role: "user", content: [{ type: "input_text", text: "<environment_context>\n  <cwd>/tmp/w</cwd>\n</environment_context>" }] },
    { type: "message", id: "msg_01a1fed6-7d13-7d13-b592-fc0fcd701c9d", role: "user", content: [{ type: "input_text", text: prompt }] },
  ];
}

async function codexTurn(input: Item[], headers: Record<string, string> = {}, overrides: Item = {}): Promise<{ response: Response; events: SseEvent[]; text: string }> {
  const response = await SELF.fetch("http://gw/v1/responses", {
    method: "POST",
    headers: {
      authorization: `Bearer ${EMULATOR_KEYS.demo}`,
      "content-type": "application/json",
      accept: "text/event-stream",
      originator: "codex_exec",
      "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)",
      ...headers,
    },
    body: JSON.stringify({ ...codexBody(input), ...overrides }),
  });
  const text = await response.text();
  return { response, text, events: response.headers.get("content-type")?.startsWith("text/event-stream") ? parseSse(text) : [] };
}

/** The items Codex records: every `output_item.done`, as it would resend them. */
function doneItems(events: readonly SseEvent[]): Item[] {
  return events.filter((event) => event.data.type === "response.output_item.done").map((event) => event.data.item as Item);
}

const EXEC = { tool_calls: [{ name: "exec_command", arguments: { cmd: "echo hello-from-codex" } }] };

/** Codex's `apply_patch` as a freeform custom tool (its Lark grammar trimmed to the first rule). */
const APPLY_PATCH = {
  type: "custom",
  name: "apply_patch",
  description: "Use the `apply_patch` tool to edit files. This is a FREEFORM tool, so do not wrap the patch in JSON.",
  format: { type: "grammar", syntax: "lark", definition: 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF' },
};
const PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n";

describe("Codex custom tools (apply_patch)", () => {
  it("the call is a custom_tool_call with input-delta events; the custom_tool_call_output turn resumes the run", async () => {
    const prelude = codexPrelude(emu({ tool_calls: [{ name: "apply_patch", arguments: { input: PATCH } }] }, "Add hello.txt "));
    const withPatchTool = { tools: [...(codexBody([]).tools as Item[]), APPLY_PATCH] };
    const first = await codexTurn(prelude, {}, withPatchTool);
    expect(first.response.status).toBe(200);
    // The custom tool is mapped now, not reported as ignored.
    expect(first.response.headers.get("x-1flowbase-ignored-params")).toBe("include, prompt_cache_key, client_metadata, tools.namespace, tools.web_search");
    expect(checkEventOrder(first.events).status).toBe("completed");
    const types = first.events.map((event) => event.data.type);
    expect(types).toContain("response.custom_tool_call_input.delta");
    expect(types).toContain("response.custom_tool_call_input.done");
    expect(types).not.toContain("response.function_call_arguments.delta");
    const done = first.events.find((event) => event.data.type === "response.custom_tool_call_input.done");
    expect(done?.data).toMatchObject({ input: PATCH, output_index: 0 });
    const [call] = doneItems(first.events);
    expect(call).toMatchObject({ type: "custom_tool_call", status: "completed", name: "apply_patch", input: PATCH });
    expect(call?.id).toMatch(/^ctc_/);
    expect(call?.call_id).toMatch(/^call_[A-Za-z0-9_-]{44}$/);

    const second = await codexTurn([...prelude, call as Item, { type: "custom_tool_call_output", call_id: call?.call_id, output: "Success. Updated the following files:\nA hello.txt\n" }], {}, withPatchTool);
    expect(second.response.status).toBe(200);
    expect(checkEventOrder(second.events).status).toBe("completed");
    expect(doneItems(second.events)).toMatchObject([{ type: "message", content: [{ type: "output_text", text: "Tool results: call_1=Success. Updated the following files:\nA hello.txt\n" }] }]);
  });
});

describe("Codex CLI request shapes", () => {
  it("a turn that calls exec_command, then the function_call_output turn (stateless, store:false)", async () => {
    const prelude = codexPrelude(emu(EXEC, "Run echo please "));
    const first = await codexTurn(prelude);
    expect(first.response.status).toBe(200);
    expect(first.response.headers.get("x-1flowbase-ignored-params")).toBe("include, prompt_cache_key, client_metadata, tools.namespace, tools.web_search");
    const firstResponse = checkEventOrder(first.events);
    expect(firstResponse.status).toBe("completed");
    const [call] = doneItems(first.events);
    expect(call).toMatchObject({ type: "function_call", name: "exec_command", arguments: JSON.stringify({ cmd: "echo hello-from-codex" }) });

    const second = await codexTurn([...prelude, call as Item, { type: "function_call_output", call_id: call?.call_id, output: "hello-from-codex\n" }]);
    expect(second.response.status).toBe(200);
    const secondResponse = checkEventOrder(second.events);
    expect(secondResponse.status).toBe("completed");
    expect(doneItems(second.events)).toMatchObject([{ type: "message", content: [{ type: "output_text", text: "Tool results: call_1=hello-from-codex\n" }] }]);
  });

  it("Codex's retry after a failed stream (partial assistant message appended) reaches the flow again instead of a 400", async () => {
    const prelude = codexPrelude(emu({ text: ["Partial ", "answer"], fail: { code: "provider_error", message: "the flow failed" } }, "Fail please "));
    const first = await codexTurn(prelude);
    expect(checkEventOrder(first.events)).toMatchObject({ status: "failed", error: { code: "provider_error", message: "the flow failed" } });
    const partial = doneItems(first.events);
    expect(partial).toMatchObject([{ type: "message", role: "assistant", status: "incomplete" }]);

    // Codex classifies `provider_error` as retryable and resends input + what it received.
    const retry = await codexTurn([...prelude, ...partial]);
    expect(retry.response.status).toBe(200);
    expect(retry.response.headers.get("x-1flowbase-ignored-params")).toContain("input.incomplete_message");
    // A new run of the same request: this scripted flow fails again, with its own error, not a 400.
    expect(checkEventOrder(retry.events)).toMatchObject({ status: "failed", error: { message: "the flow failed" } });

    // The strict parameter policy names what it would drop (a plain body: Codex's extra fields
    // would be rejected first).
    const strict = await SELF.fetch("http://gw/v1/responses", {
      method: "POST",
      headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json", "x-1flowbase-parameter-policy": "strict" },
      body: JSON.stringify({ model: "1flowbase", input: [{ role: "user", content: "Hi" }, ...partial] }),
    });
    expect(strict.status).toBe(400);
    expect(await strict.json()).toMatchObject({ error: { code: "unsupported_parameter", param: "input[1]" } });
  });
});
