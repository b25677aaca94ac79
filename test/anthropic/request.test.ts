/**
 * Unit tests of the pure Anthropic request side: request → native mapping, the parameter policy
 * table, thinking and `output_config.effort` → reasoning (by the catalog), history tool ids, and the
 * count_tokens estimate.
 */
import { describe, expect, it } from "vitest";
import { thrownGatewayError } from "../support/errors";
import { GatewayError } from "../../src/http/errors";
import { encodeCallbackId } from "../../src/native/callback-ids";
import type { NativeModelList } from "../../src/native/schema";
import { countInputTokens, MEDIA_BLOCK_TOKENS, TOOLS_OVERHEAD_TOKENS } from "../../src/protocols/anthropic/count-tokens";
import { MESSAGES_POLICY } from "../../src/protocols/anthropic/policy";
import { CountTokensRequest, MessagesRequest, type ThinkingParam } from "../../src/protocols/anthropic/schema";
import { applyThinking, conversationUser, historyToolCallId, toNativePlan, type MessagesPlan } from "../../src/protocols/anthropic/to-native";

const RUN = "0197a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const TASK = "0197a3c4-7777-7abc-8def-0123456789ab";
const IMAGE = { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } };

function plan(body: Record<string, unknown>, mode: "lenient" | "strict" = "lenient"): MessagesPlan {
  const parsed = MessagesRequest.parse({ model: "m", max_tokens: 10, ...body });
  return toNativePlan(parsed, { requestId: "req_1", mode });
}

function runRequest(body: Record<string, unknown>) {
  const action = plan(body).action;
  if (action.kind !== "run") throw new Error("expected a run");
  return action.request;
}

const gatewayError = thrownGatewayError;

describe("request → native run", () => {
  it("joins system blocks and hoists system-role messages", () => {
    const request = runRequest({
      system: [{ type: "text", text: "A" }, { type: "text", text: "  " }, { type: "text", text: "B", cache_control: { type: "ephemeral" } }],
      messages: [
        { role: "system", content: "C" },
        { role: "user", content: "q" },
      ],
    });
    expect(request.system).toBe("A\n\nB\n\nC");
    expect(request.query).toBe("q");
    expect(request.history).toBeUndefined();
    expect(request.metadata).toEqual({ trace_id: "req_1" });
  });

  it("carries media of the current turn as a history item before the query, without cache_control", () => {
    const request = runRequest({
      messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { ...IMAGE, cache_control: { type: "ephemeral" } }, { type: "text", text: "be brief" }] }],
    });
    expect(request.query).toBe("what is this?\nbe brief");
    expect(request.history).toEqual([{ role: "user", content: "", content_blocks: [IMAGE] }]);
  });

  it("maps earlier turns: text, media, tool calls and tool results (errors flagged), thinking dropped", () => {
    const ours = encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index: 1 });
    const request = runRequest({
      messages: [
        { role: "user", content: [{ type: "text", text: "look" }, { type: "document", source: { type: "text", media_type: "text/plain", data: "doc" } }] },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "secret", signature: "sig" },
            { type: "redacted_thinking", data: "xx" },
            { type: "text", text: "Calling." },
            { type: "tool_use", id: ours, name: "a", input: { x: 1 } },
            { type: "tool_use", id: "toolu_foreign01", name: "b", input: {} },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: ours, content: [{ type: "text", text: "r1" }, IMAGE] },
            { type: "tool_result", tool_use_id: "toolu_foreign01", content: "bad", is_error: true },
          ],
        },
        { role: "user", content: "next" },
      ],
    });
    const short = historyToolCallId(ours);
    expect(request.history).toEqual([
      { role: "user", content: "look", content_blocks: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "doc" } }] },
      {
        role: "assistant",
        content: "Calling.",
        tool_calls: [
          { id: short, name: "a", arguments: { x: 1 } },
          { id: "toolu_foreign01", name: "b", arguments: {} },
        ],
      },
      { role: "tool", tool_call_id: short, content: "r1", content_blocks: [IMAGE] },
      { role: "tool", tool_call_id: "toolu_foreign01", content: "bad", is_error: true },
    ]);
  });

  it("maps tools, tool_choice and metadata.user_id; drops Anthropic-defined tools (reported)", () => {
    const result = plan({
      messages: [{ role: "user", content: "q" }],
      tools: [
        { name: "t", description: "d", input_schema: { type: "object" }, cache_control: { type: "ephemeral" } },
        { type: "web_search_20250305", name: "web_search", max_uses: 3 },
      ],
      tool_choice: { type: "tool", name: "t", disable_parallel_tool_use: true },
      metadata: { user_id: "user-7" },
    });
    if (result.action.kind !== "run") throw new Error("expected a run");
    expect(result.action.request.inputs).toEqual({
      tools: [{ name: "t", source: "anthropic_compatible", description: "d", input_schema: { type: "object" } }],
      tool_choice: { type: "tool", name: "t", disable_parallel_tool_use: true },
    });
    expect(result.action.request.conversation).toEqual({ user: "user-7" });
    expect(result.ignored).toEqual(["tools[1]"]);
    const strict = gatewayError(() => plan({ messages: [{ role: "user", content: "q" }], tools: [{ type: "bash_20250124", name: "bash" }] }, "strict"));
    expect(strict.param).toBe("tools[0]");
  });

  it("conversation user from Claude Code's JSON user_id, else the raw string", () => {
    expect(conversationUser(JSON.stringify({ device_id: "d", account_uuid: "a", session_id: "s" }))).toBe("a");
    expect(conversationUser(JSON.stringify({ device_id: "d", account_uuid: "" }))).toBe("d");
    expect(conversationUser("user_abc_account__session_123")).toBe("user_abc_account__session_123");
    expect(conversationUser("{not json")).toBe("{not json");
    expect(conversationUser("  ")).toBeUndefined();
    expect(conversationUser(null)).toBeUndefined();
  });

  it("a trailing tool_result turn is a resume; text rides on the last result; media stays blocks", () => {
    const a = encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index: 0 });
    const b = encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index: 1 });
    const result = plan({
      messages: [
        { role: "user", content: "q" },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: a, content: [{ type: "text", text: "see" }, IMAGE] },
            { type: "tool_result", tool_use_id: b },
            { type: "text", text: "note" },
          ],
        },
      ],
    });
    expect(result.action).toEqual({
      kind: "resume",
      results: [
        { ref: { runId: RUN, callbackTaskId: TASK, index: 0 }, clientId: a, content: [{ type: "text", text: "see" }, IMAGE] },
        { ref: { runId: RUN, callbackTaskId: TASK, index: 1 }, clientId: b, content: "note" },
      ],
    });
    const foreign = plan({ messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01abc", content: "x" }] }] });
    // Ids we never issued: a stateless transcript, not a resume (resume.ts `answersForeignToolCalls`).
    expect(foreign.action).toMatchObject({ kind: "run", request: { query: "", history: [{ role: "tool", tool_call_id: "toolu_01abc", content: "x" }] } });
  });

  it("400s name the field at fault", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ messages: [{ role: "user", content: "q" }, { role: "assistant", content: "prefill" }] }, "messages[1]"],
      [{ messages: [{ role: "user", content: [{ type: "tool_use", id: "x", name: "y", input: {} }] }] }, "messages[0].content[0].type"],
      [{ messages: [{ role: "assistant", content: [{ type: "tool_use", id: "x", name: "y", input: [] }] }, { role: "user", content: "q" }] }, "messages[0].content[0].input"],
      [{ messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "" }] }] }, "messages[0].content[0].tool_use_id"],
      // A resume (our id) carries results only; a foreign transcript would take the image as the query's.
      [{ messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index: 0 }) }, IMAGE] }] }, "messages[0].content[1].type"],
      [{ messages: [{ role: "system", content: [IMAGE] }, { role: "user", content: "q" }] }, "messages[0].content[0].type"],
      [{ messages: [{ role: "user", content: [{ type: "image", source: "url" }] }] }, "messages[0].content[0].source"],
    ];
    for (const [body, param] of cases) expect(gatewayError(() => plan(body)).param, JSON.stringify(body)).toBe(param);
  });
});

describe("parameter policy", () => {
  it("has exactly one row per field of the request schema", () => {
    expect(Object.keys(MESSAGES_POLICY).sort()).toEqual(Object.keys(MessagesRequest.shape).sort());
  });

  it("lenient reports accepted and unknown fields; strict rejects them; max_tokens and stop_sequences are applied, never reported", () => {
    const lenient = plan({ messages: [{ role: "user", content: "q" }], temperature: 0.5, top_k: 3, brand_new_field: true, stream: false });
    expect(lenient.ignored).toEqual(["temperature", "top_k", "brand_new_field"]);
    expect(plan({ messages: [{ role: "user", content: "q" }], stop_sequences: ["END"] }, "strict").ignored).toEqual([]);
    expect(gatewayError(() => plan({ messages: [{ role: "user", content: "q" }], top_p: 0.9 }, "strict"))).toMatchObject({ status: 400, param: "top_p" });
  });
});

describe("thinking and output_config.effort → reasoning (the one catalog rule, src/native/catalog.ts)", () => {
  const catalog: NativeModelList = {
    object: "list",
    data: [
      { id: "r", max_output_tokens: 8000, capabilities: { reasoning: true }, reasoning: { default_effort: "high", supported_efforts: ["high"] } },
      { id: "r-no-default", capabilities: { reasoning: true } },
      { id: "listed", capabilities: { reasoning: true }, reasoning: { default_effort: "medium", supported_efforts: ["low", "medium", "high"] } },
      { id: "effort-only", reasoning: { supported_efforts: ["low"] } },
      { id: "plain", capabilities: { reasoning: false } },
    ],
  };
  const reasoning = (model: string, thinking: ThinkingParam | null, effort?: string, ignored: string[] = []) =>
    applyThinking({ query: "q", model }, thinking, catalog, "lenient", ignored, effort).execution?.model_parameters?.reasoning ?? null;
  const adaptive = { type: "adaptive" } as const;
  const messages = [{ role: "user", content: "q" }];

  it("maps a budget (capped at the model's output limit), adaptive thinking (the default effort), unknown types not at all", () => {
    expect(reasoning("r", { type: "enabled", budget_tokens: 5000 })).toEqual({ budget_tokens: 5000 });
    expect(reasoning("r", { type: "enabled", budget_tokens: 9000 })).toEqual({ budget_tokens: 8000 });
    expect(reasoning("r", adaptive)).toEqual({ effort: "high" });
    // Reasoning switched on with the model's own defaults (native's `enabled` defaults to true).
    expect(reasoning("r-no-default", adaptive)).toEqual({});
    expect(reasoning("plain", { type: "enabled", budget_tokens: 10 })).toBeNull();
    expect(reasoning("unknown", { type: "enabled", budget_tokens: 10 })).toBeNull();
    const ignored: string[] = [];
    expect(reasoning("r", { type: "between_tools" }, undefined, ignored)).toBeNull();
    expect(ignored).toEqual(["thinking"]);
  });

  it("reports what it cannot apply", () => {
    const ignored: string[] = [];
    const request = applyThinking({ query: "q", model: "plain" }, { type: "enabled", budget_tokens: 10 }, catalog, "lenient", ignored);
    expect(request.execution).toBeUndefined();
    expect(ignored).toEqual(["thinking"]);
    expect(gatewayError(() => applyThinking({ query: "q", model: "plain" }, adaptive, catalog, "strict", [])).param).toBe("thinking");
  });

  it("an effort reaches native when the model lists it; Claude's max is native's xhigh; adaptive falls back to the default", () => {
    const ignored: string[] = [];
    expect(reasoning("listed", adaptive, "low", ignored)).toEqual({ effort: "low" });
    expect(ignored).toEqual([]);
    const unlisted: string[] = [];
    expect(reasoning("listed", adaptive, "max", unlisted)).toEqual({ effort: "medium" });
    expect(unlisted).toEqual(["output_config"]);
    expect(gatewayError(() => applyThinking({ query: "q", model: "listed" }, adaptive, catalog, "strict", [], "max")).param).toBe("output_config");
    const plain: string[] = [];
    expect(reasoning("plain", adaptive, "low", plain)).toBeNull();
    expect(plain).toEqual(["thinking", "output_config"]);
    // Without thinking, the effort alone decides (native supports reasoning by its efforts list).
    expect(reasoning("effort-only", null, "low")).toEqual({ effort: "low" });
  });

  it("plans the effort unless thinking is disabled; anything else in output_config is reported", () => {
    const mapped = plan({ messages, thinking: adaptive, output_config: { effort: "high" } });
    expect(mapped.action).toMatchObject({ kind: "run", effort: "high" });
    expect(mapped.ignored).not.toContain("output_config");
    expect(plan({ messages, output_config: { effort: "high" } }).action).toMatchObject({ kind: "run", effort: "high" });
    const disabled = plan({ messages, thinking: { type: "disabled" }, output_config: { effort: "high" } });
    expect(disabled.action).toMatchObject({ kind: "run", effort: undefined });
    expect(disabled.ignored).toContain("output_config");
    const withFormat = plan({ messages, thinking: adaptive, output_config: { effort: "low", format: { type: "json_schema", schema: {} } } });
    expect(withFormat.action).toMatchObject({ effort: "low" });
    expect(withFormat.ignored).toContain("output_config");
    expect(gatewayError(() => plan({ messages, thinking: { type: "disabled" }, output_config: { effort: "high" } }, "strict"))).toMatchObject({ status: 400, param: "output_config" });
    expect(plan({ messages, thinking: adaptive, output_config: { effort: "high" } }, "strict").ignored).toEqual([]);
  });
});

describe("history tool ids", () => {
  it("are short, stable and distinct per call", () => {
    const ids = [0, 1, 255].map((index) => historyToolCallId(encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index })));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(40);
    expect(ids[0]).toBe(historyToolCallId(encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index: 0 })));
  });
});

describe("count_tokens estimate", () => {
  const count = (body: Record<string, unknown>) => countInputTokens(CountTokensRequest.parse({ model: "m", ...body })).input_tokens;
  it("Σ ceil(chars/4), media as fixed blocks, tools with overhead, at least 1", () => {
    expect(count({ messages: [{ role: "user", content: "" }] })).toBe(1);
    expect(count({ messages: [{ role: "user", content: "abcde" }] })).toBe(2);
    expect(count({ system: [{ type: "text", text: "abcd" }], messages: [{ role: "user", content: [{ type: "text", text: "abcd" }, IMAGE] }] })).toBe(2 + MEDIA_BLOCK_TOKENS);
    expect(
      count({
        messages: [
          { role: "assistant", content: [{ type: "tool_use", id: "x", name: "ab", input: { a: 1 } }] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "x", content: [{ type: "text", text: "abcdefgh" }] }] },
        ],
      }),
    ).toBe(Math.ceil('ab{"a":1}'.length / 4) + 2);
    const tool = { name: "t", input_schema: { type: "object" } };
    expect(count({ messages: [{ role: "user", content: "" }], tools: [tool] })).toBe(TOOLS_OVERHEAD_TOKENS + Math.ceil(JSON.stringify(tool).length / 4));
  });
});
