/**
 * Unit tests of the pure Anthropic pieces: request → native mapping, the parameter policy table,
 * thinking → reasoning, tool ids, usage, the stream state machine's edge cases, ping keepalives in
 * the shared pipeline, and the count_tokens estimate.
 */
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/http/errors";
import { projectToSse } from "../../src/http/sse";
import { encodeCallbackId } from "../../src/native/callback-ids";
import type { NativeStreamItem } from "../../src/native/events";
import type { NativeModelList } from "../../src/native/schema";
import { countInputTokens, MEDIA_BLOCK_TOKENS, TOOLS_OVERHEAD_TOKENS } from "../../src/protocols/anthropic/count-tokens";
import { toAnthropicError } from "../../src/protocols/anthropic/errors";
import { messageFromRun } from "../../src/protocols/anthropic/from-native";
import { MESSAGES_POLICY } from "../../src/protocols/anthropic/policy";
import { CountTokensRequest, MessagesRequest } from "../../src/protocols/anthropic/schema";
import {
  AnthropicStreamProjector,
  AnthropicStreamState,
  anthropicUsage,
  messageIdFor,
  PING_FRAME,
  runIdOfMessage,
  toolInput,
} from "../../src/protocols/anthropic/stream";
import { applyThinking, conversationUser, historyToolCallId, reasoningFor, toNativePlan, type MessagesPlan } from "../../src/protocols/anthropic/to-native";
import { NativeError } from "../../src/native/errors";

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

function gatewayError(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error("expected a GatewayError");
}

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
    expect(result.ignored).toEqual(["max_tokens", "tools[1]"]);
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
    expect(foreign.action).toEqual({ kind: "resume", results: [{ ref: null, clientId: "toolu_01abc", content: "x" }] });
  });

  it("400s name the field at fault", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ messages: [{ role: "user", content: "q" }, { role: "assistant", content: "prefill" }] }, "messages[1]"],
      [{ messages: [{ role: "user", content: [{ type: "tool_use", id: "x", name: "y", input: {} }] }] }, "messages[0].content[0].type"],
      [{ messages: [{ role: "assistant", content: [{ type: "tool_use", id: "x", name: "y", input: [] }] }, { role: "user", content: "q" }] }, "messages[0].content[0].input"],
      [{ messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "" }] }] }, "messages[0].content[0].tool_use_id"],
      [{ messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "x" }, IMAGE] }] }, "messages[0].content[1].type"],
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

  it("lenient reports accepted and unknown fields; strict rejects them but never max_tokens", () => {
    const lenient = plan({ messages: [{ role: "user", content: "q" }], temperature: 0.5, top_k: 3, brand_new_field: true, stream: false });
    expect(lenient.ignored).toEqual(["max_tokens", "temperature", "top_k", "brand_new_field"]);
    expect(plan({ messages: [{ role: "user", content: "q" }] }, "strict").ignored).toEqual(["max_tokens"]);
    expect(gatewayError(() => plan({ messages: [{ role: "user", content: "q" }], top_p: 0.9 }, "strict"))).toMatchObject({ status: 400, param: "top_p" });
  });
});

describe("thinking → reasoning", () => {
  const catalog: NativeModelList = {
    object: "list",
    data: [
      { id: "r", max_output_tokens: 8000, capabilities: { reasoning: true }, reasoning: { default_effort: "high", supported_efforts: ["high"] } },
      { id: "r-no-default", capabilities: { reasoning: true } },
      { id: "plain", capabilities: { reasoning: false } },
    ],
  };
  it("maps by the catalog", () => {
    expect(reasoningFor({ type: "enabled", budget_tokens: 5000 }, "r", catalog)).toEqual({ budget_tokens: 5000 });
    expect(reasoningFor({ type: "enabled", budget_tokens: 9000 }, "r", catalog)).toEqual({ budget_tokens: 8000 });
    expect(reasoningFor({ type: "adaptive" }, "r", catalog)).toEqual({ effort: "high" });
    expect(reasoningFor({ type: "adaptive" }, "r-no-default", catalog)).toEqual({});
    expect(reasoningFor({ type: "enabled", budget_tokens: 10 }, "plain", catalog)).toBeNull();
    expect(reasoningFor({ type: "enabled", budget_tokens: 10 }, "unknown", catalog)).toBeNull();
    expect(reasoningFor({ type: "between_tools" }, "r", catalog)).toBeNull();
  });
  it("reports what it cannot apply", () => {
    const ignored: string[] = [];
    const request = applyThinking({ query: "q", model: "plain" }, { type: "enabled", budget_tokens: 10 }, catalog, "lenient", ignored);
    expect(request.execution).toBeUndefined();
    expect(ignored).toEqual(["thinking"]);
    expect(gatewayError(() => applyThinking({ query: "q", model: "plain" }, { type: "adaptive" }, catalog, "strict", [])).param).toBe("thinking");
  });
});

describe("output_config.effort → reasoning effort (Claude Code)", () => {
  const catalog: NativeModelList = {
    object: "list",
    data: [
      { id: "r", capabilities: { reasoning: true }, reasoning: { default_effort: "medium", supported_efforts: ["low", "medium", "high"] } },
      { id: "plain", capabilities: { reasoning: false } },
    ],
  };
  const adaptive = { type: "adaptive" } as const;
  const messages = [{ role: "user", content: "q" }];

  it("applies a listed effort with adaptive thinking, and falls back to the model's default otherwise", () => {
    expect(reasoningFor(adaptive, "r", catalog, "high")).toEqual({ effort: "high" });
    expect(reasoningFor(adaptive, "r", catalog, "max")).toEqual({ effort: "medium" });
    const ignored: string[] = [];
    expect(applyThinking({ query: "q", model: "r" }, adaptive, catalog, "lenient", ignored, "low").execution).toEqual({ model_parameters: { reasoning: { effort: "low" } } });
    expect(ignored).toEqual([]);
    const unlisted: string[] = [];
    expect(applyThinking({ query: "q", model: "r" }, adaptive, catalog, "lenient", unlisted, "max").execution).toEqual({ model_parameters: { reasoning: { effort: "medium" } } });
    expect(unlisted).toEqual(["output_config"]);
    expect(gatewayError(() => applyThinking({ query: "q", model: "r" }, adaptive, catalog, "strict", [], "max")).param).toBe("output_config");
    const plain: string[] = [];
    applyThinking({ query: "q", model: "plain" }, adaptive, catalog, "lenient", plain, "low");
    expect(plain).toEqual(["thinking", "output_config"]);
  });

  it("plans the effort only with adaptive thinking; anything else in output_config is reported", () => {
    const mapped = plan({ messages, thinking: adaptive, output_config: { effort: "high" } });
    expect(mapped.action).toMatchObject({ kind: "run", effort: "high" });
    expect(mapped.ignored).not.toContain("output_config");
    const withoutThinking = plan({ messages, output_config: { effort: "high" } });
    expect(withoutThinking.action).toMatchObject({ kind: "run", effort: undefined });
    expect(withoutThinking.ignored).toContain("output_config");
    const withFormat = plan({ messages, thinking: adaptive, output_config: { effort: "low", format: { type: "json_schema", schema: {} } } });
    expect(withFormat.action).toMatchObject({ effort: "low" });
    expect(withFormat.ignored).toContain("output_config");
    expect(gatewayError(() => plan({ messages, output_config: { effort: "high" } }, "strict"))).toMatchObject({ status: 400, param: "output_config" });
    expect(plan({ messages, thinking: adaptive, output_config: { effort: "high" } }, "strict").ignored).toEqual(["max_tokens"]);
  });
});

describe("ids, inputs, usage, errors", () => {
  it("message ids round-trip to the run id; resumed ones differ", () => {
    expect(messageIdFor(RUN)).toBe("msg_0197a3c45e6f7a8b9c0d1e2f3a4b5c6d");
    expect(runIdOfMessage(messageIdFor(RUN))).toBe(RUN);
    expect(runIdOfMessage(messageIdFor(RUN, TASK))).toBe(RUN);
    expect(messageIdFor(RUN, TASK)).not.toBe(messageIdFor(RUN));
    expect(runIdOfMessage("msg_xyz")).toBeUndefined();
  });

  it("history tool ids are short, stable and distinct per call", () => {
    const ids = [0, 1, 255].map((index) => historyToolCallId(encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index })));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(40);
    expect(ids[0]).toBe(historyToolCallId(encodeCallbackId("toolu", { runId: RUN, callbackTaskId: TASK, index: 0 })));
  });

  it("tool inputs are always objects", () => {
    expect(toolInput({ a: 1 })).toEqual({ a: 1 });
    expect(toolInput('{"a":1}')).toEqual({ a: 1 });
    expect(toolInput("")).toEqual({});
    expect(toolInput(null)).toEqual({});
    expect(toolInput("ls -la")).toEqual({ input: "ls -la" });
    expect(toolInput([1, 2])).toEqual({ input: [1, 2] });
  });

  it("usage: prompt → input, completion → output, cache counts only when reported", () => {
    expect(anthropicUsage(null)).toEqual({ input_tokens: 0, output_tokens: 0 });
    expect(anthropicUsage({ prompt_tokens: 10, completion_tokens: 2 })).toEqual({ input_tokens: 10, output_tokens: 2 });
    expect(anthropicUsage({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 5, cache_creation_input_tokens: 6 })).toEqual({
      input_tokens: 3,
      output_tokens: 4,
      cache_read_input_tokens: 5,
      cache_creation_input_tokens: 6,
    });
    expect(anthropicUsage({ prompt_tokens: 9, input_cache_hit_tokens: 7 })).toEqual({ input_tokens: 9, output_tokens: 0, cache_read_input_tokens: 7 });
  });

  it("503 becomes 529 overloaded_error; other statuses keep their Anthropic type", () => {
    const overloaded = toAnthropicError(new NativeError({ kind: "http", status: 503, code: "x", message: "busy" }));
    expect([overloaded.status, overloaded.anthropicType]).toEqual([529, "overloaded_error"]);
    const timeout = toAnthropicError(new NativeError({ kind: "timeout", status: 504, code: "upstream_timeout", message: "slow" }));
    expect([timeout.status, timeout.anthropicType]).toEqual([504, "timeout_error"]);
    expect(toAnthropicError(new Error("bug")).anthropicType).toBe("api_error");
  });
});

describe("stream state machine edge cases", () => {
  const started: NativeStreamItem = { event: "run.started", id: null, data: { run_id: RUN, status: "running" } };
  const waiting = (requiredAction: unknown): NativeStreamItem =>
    ({ event: "required_action", id: null, data: { run_id: RUN, status: "waiting", required_action: requiredAction } }) as NativeStreamItem;

  it("a waiting run without tool calls is a 409 error event; a non-UUID task a 502", () => {
    const human = new AnthropicStreamState({ model: "m" });
    human.step(started);
    expect(human.step(waiting({ action_type: "callback", payload: { callback_task_id: TASK, tool_calls: [] } }))).toEqual([
      { type: "error", error: { type: "invalid_request_error", message: expect.stringContaining("callback") } },
    ]);
    expect(human.failure?.status).toBe(409);
    expect(human.step(started)).toEqual([]);

    const bad = new AnthropicStreamState({ model: "m" });
    bad.step(started);
    bad.step(waiting({ action_type: "submit_tool_outputs", payload: { callback_task_id: "task-1", tool_calls: [{ id: "c", name: "n", arguments: {} }] } }));
    expect(bad.failure?.status).toBe(502);
  });

  it("a failing usage lookup still finishes the message (zero usage)", async () => {
    const state = new AnthropicStreamState({ model: "m", lookupUsage: () => Promise.reject(new Error("down")) });
    state.step(started);
    const events = await state.step({ event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded" } });
    expect(events.at(-2)).toMatchObject({ type: "message_delta", usage: { input_tokens: 0, output_tokens: 0 } });
    expect(state.done).toBe(true);
  });

  it("a run record that has not finished is a 502, not a hang", async () => {
    const outcome = await messageFromRun({ id: RUN, status: "running" }, { model: "m" });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect([outcome.error.status, outcome.error.anthropicType]).toEqual([502, "api_error"]);
  });

  it("pings while native is idle, through the shared SSE pipeline", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let sent = 0;
    const items = new ReadableStream<NativeStreamItem>({
      async pull(controller) {
        sent += 1;
        if (sent === 1) controller.enqueue(started);
        else if (sent === 2) {
          await gate; // native is silent until the test has seen a ping
          controller.enqueue({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", delta: "hi" } });
        } else controller.enqueue({ event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded", usage: { prompt_tokens: 1, completion_tokens: 1 } } });
      },
    });
    const body = projectToSse(items, new AnthropicStreamProjector({ model: "m" }), { keepaliveMs: 5 });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const frames: string[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // A chunk carries whole frames, one or several (sse.ts batches a burst into one write).
      const chunk = decoder.decode(value);
      expect(chunk.endsWith("\n\n")).toBe(true);
      const inChunk = chunk.split(/(?<=\n\n)/);
      frames.push(...inChunk);
      if (inChunk.includes(PING_FRAME)) release();
    }
    expect(frames[0]).toMatch(/^event: message_start\n/);
    expect(frames).toContain(PING_FRAME);
    expect(PING_FRAME).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    expect(frames.at(-1)).toBe('event: message_stop\ndata: {"type":"message_stop"}\n\n');
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
