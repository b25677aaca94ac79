/**
 * Chat Completions request side, pure: schema errors (400 naming `param`), the declarative policy
 * table against the schema, and the mapping to one native run or a resume (native-api.md §4.1 with
 * the fork's gaps fixed: `developer` is system, not user).
 */
import { describe, expect, it } from "vitest";
import { thrownGatewayError } from "../support/errors";
import { GatewayError } from "../../src/http/errors";
import { enforcePolicy } from "../../src/http/policy";
import { encodeCallbackId } from "../../src/native/callback-ids";
import type { NativeModelList } from "../../src/native/schema";
import {
  CHAT_PARAMETER_POLICY,
  ChatCompletionRequest,
  isChatDefault,
  parseChatRequest,
} from "../../src/protocols/openai-chat/schema";
import { decideReasoning, withReasoning } from "../../src/native/catalog";
import { chatToNative, type ChatPlan } from "../../src/protocols/openai-chat/to-native";

const RUN = "0197a3c4-0000-7000-8000-000000000001";
const TASK = "0197a3c4-0000-7000-8000-0000000000aa";
const ours = (index: number) => encodeCallbackId("call", { runId: RUN, callbackTaskId: TASK, index });

function plan(body: Record<string, unknown>): ChatPlan {
  return chatToNative(parseChatRequest({ model: "1flowbase", ...body }), { traceId: "req-1" });
}

function runRequest(body: Record<string, unknown>) {
  const result = plan(body);
  if (result.kind !== "run") throw new Error("expected a run plan");
  return result.request;
}

const error = thrownGatewayError;

describe("parseChatRequest", () => {
  it.each([
    [{ messages: [{ role: "user", content: "x" }] }, "model", "invalid_request"],
    [{ model: "m" }, "messages", "invalid_request"],
    [{ model: "m", messages: [] }, "messages", "invalid_request"],
    [{ model: "m", messages: [{ role: "user", content: 5 }] }, "messages[0].content", "invalid_request"],
    [{ model: "m", messages: [{ role: "user", content: [{ type: "text" }] }] }, "messages[0].content[0].text", "invalid_request"],
    [{ model: "m", messages: [{ role: "wizard", content: "x" }] }, "messages[0].role", "invalid_request"],
    [{ model: "m", messages: [{ role: "tool", content: "x" }] }, "messages[0].tool_call_id", "invalid_request"],
    [{ model: "m", messages: [{ role: "user", content: "x" }], stream: "yes" }, "stream", "invalid_request"],
    [{ model: "m", messages: [{ role: "user", content: "x" }], reasoning_effort: "extreme" }, "reasoning_effort", "invalid_request"],
    [{ model: "m", messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: {} }] }, "tools[0].function.name", "invalid_request"],
  ])("%j → 400 param %s", (body, param, code) => {
    const failure = error(() => parseChatRequest(body));
    expect(failure).toMatchObject({ status: 400, param, code, type: "invalid_request_error" });
  });

  it.each([
    [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }, "messages[0].content[0]"],
    [{ type: "file", file: { file_id: "file-1" } }, "messages[0].content[0]"],
    [{ type: "hologram" }, "messages[0].content[0].type"],
  ])("user part %j → 400 unsupported_feature at %s", (part, param) => {
    const failure = error(() => parseChatRequest({ model: "m", messages: [{ role: "user", content: [{ type: "text", text: "hi" }, part].slice(1) }] }));
    expect(failure).toMatchObject({ status: 400, code: "unsupported_feature", param });
  });

  it("rejects custom tools, the deprecated function role and assistant audio as unsupported", () => {
    expect(error(() => parseChatRequest({ model: "m", messages: [{ role: "user", content: "x" }], tools: [{ type: "custom", custom: { name: "x" } }] }))).toMatchObject({
      code: "unsupported_feature",
      param: "tools[0]",
    });
    expect(error(() => parseChatRequest({ model: "m", messages: [{ role: "function", name: "f", content: "x" }] }))).toMatchObject({
      code: "unsupported_feature",
      param: "messages[0]",
    });
    expect(error(() => parseChatRequest({ model: "m", messages: [{ role: "assistant", content: null, audio: { id: "a" } }, { role: "user", content: "x" }] }))).toMatchObject({
      code: "unsupported_feature",
      param: "messages[0].audio",
    });
  });

  it("accepts the flat (Responses-style) function tool form and normalizes it", () => {
    const request = parseChatRequest({
      model: "m",
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", name: "flat", parameters: { type: "object" } }, { type: "function", function: { name: "nested", description: "d" } }],
    });
    expect(request.tools).toEqual([
      { name: "flat", description: null, parameters: { type: "object" } },
      { name: "nested", description: "d", parameters: null },
    ]);
  });
});

describe("CHAT_PARAMETER_POLICY", () => {
  it("has exactly one rule per field of the request schema", () => {
    expect(Object.keys(CHAT_PARAMETER_POLICY).sort()).toEqual(Object.keys(ChatCompletionRequest.shape).sort());
  });

  it("lenient: accepted fields are reported, defaults are not, unknown fields are reported", () => {
    const ignored = enforcePolicy(
      CHAT_PARAMETER_POLICY,
      { model: "m", messages: [], temperature: 0.2, logprobs: false, parallel_tool_calls: true, modalities: ["text"], n: 1, x_future: 1 },
      "lenient",
      isChatDefault,
    );
    expect(ignored).toEqual(["temperature", "x_future"]);
  });

  it("strict: an accepted field is a 400 naming it; rejected fields are a 400 in both modes", () => {
    expect(error(() => enforcePolicy(CHAT_PARAMETER_POLICY, { temperature: 1 }, "strict", isChatDefault))).toMatchObject({
      status: 400,
      param: "temperature",
      code: "unsupported_parameter",
    });
    for (const field of ["audio", "functions", "function_call"]) {
      expect(error(() => enforcePolicy(CHAT_PARAMETER_POLICY, { [field]: {} }, "lenient", isChatDefault))).toMatchObject({
        status: 400,
        param: field,
        code: "unsupported_feature",
      });
    }
  });
});

describe("chatToNative: new runs", () => {
  it("last user message → query; earlier turns → history; system and developer → system; user → conversation.user", () => {
    const request = runRequest({
      user: "customer-7",
      stream: true,
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi", name: "ann" },
        { role: "assistant", content: [{ type: "text", text: "Hello" }] },
        { role: "developer", content: [{ type: "text", text: "Answer in French." }] },
        { role: "user", content: [{ type: "text", text: "How" }, { type: "text", text: "are you?" }] },
      ],
    });
    expect(request).toEqual({
      query: "How\nare you?",
      model: "1flowbase",
      metadata: { trace_id: "req-1" },
      system: "Be brief.\n\nAnswer in French.",
      history: [
        { role: "user", content: "Hi", name: "ann" },
        { role: "assistant", content: "Hello" },
      ],
      conversation: { user: "customer-7" },
    });
  });

  it("images become content blocks: earlier turns on their history item, the current turn on a final empty-text user item", () => {
    const request = runRequest({
      messages: [
        { role: "user", content: [{ type: "text", text: "old" }, { type: "image_url", image_url: { url: "https://x/a.png", detail: "low" } }] },
        { role: "assistant", content: "ok" },
        { role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
      ],
    });
    expect(request.query).toBe("what is this?");
    expect(request.history).toEqual([
      { role: "user", content: "old", content_blocks: [{ type: "image_url", image_url: { url: "https://x/a.png", detail: "low" } }] },
      { role: "assistant", content: "ok" },
      { role: "user", content: "", content_blocks: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
    ]);
  });

  it("tools and tool_choice → inputs; assistant tool calls and earlier tool results stay in history with parsed arguments", () => {
    const request = runRequest({
      tools: [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      messages: [
        { role: "user", content: "Weather?" },
        { role: "assistant", content: null, tool_calls: [{ id: ours(0), type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
        { role: "tool", tool_call_id: ours(0), content: "sunny" },
        { role: "assistant", content: "It is sunny." },
        { role: "user", content: "Thanks" },
      ],
    });
    expect(request.inputs).toEqual({
      tools: [{ name: "get_weather", source: "openai_compatible", description: "Weather", input_schema: { type: "object" } }],
      tool_choice: { type: "function", function: { name: "get_weather" } },
    });
    expect(request.history).toEqual([
      { role: "user", content: "Weather?" },
      { role: "assistant", content: "", tool_calls: [{ id: ours(0), name: "get_weather", arguments: { city: "Paris" } }] },
      { role: "tool", content: "sunny", tool_call_id: ours(0) },
      { role: "assistant", content: "It is sunny." },
    ]);
  });

  it("needs a user message; an assistant prefill after it is a 400", () => {
    expect(error(() => plan({ messages: [{ role: "system", content: "x" }] }))).toMatchObject({ status: 400, param: "messages" });
    expect(error(() => plan({ messages: [{ role: "user", content: "x" }, { role: "assistant", content: "y" }] }))).toMatchObject({
      status: 400,
      param: "messages[1]",
    });
  });

  it("n > 1 and audio output are unsupported; n: 1 and ['text'] are fine", () => {
    expect(error(() => plan({ n: 2, messages: [{ role: "user", content: "x" }] }))).toMatchObject({ code: "unsupported_feature", param: "n" });
    expect(error(() => plan({ modalities: ["text", "audio"], messages: [{ role: "user", content: "x" }] }))).toMatchObject({
      code: "unsupported_feature",
      param: "modalities",
    });
    expect(plan({ n: 1, modalities: ["text"], messages: [{ role: "user", content: "x" }] }).kind).toBe("run");
  });

  it("images are only accepted from users", () => {
    expect(
      error(() => plan({ messages: [{ role: "system", content: [{ type: "image_url", image_url: { url: "https://x" } }] }, { role: "user", content: "x" }] })),
    ).toMatchObject({ code: "unsupported_feature", param: "messages[0].content[0]" });
  });
});

describe("chatToNative: tool results resume", () => {
  it("a trailing run of tool messages is a resume, with decoded refs (foreign ids decode to null)", () => {
    const result = plan({
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: null, tool_calls: [{ id: ours(0), type: "function", function: { name: "a", arguments: "{}" } }] },
        { role: "tool", tool_call_id: ours(0), content: "one" },
        { role: "tool", tool_call_id: "call_foreign", content: [{ type: "text", text: "two" }] },
      ],
    });
    expect(result).toEqual({
      kind: "resume",
      results: [
        { ref: { runId: RUN, callbackTaskId: TASK, index: 0 }, clientId: ours(0), content: "one" },
        { ref: null, clientId: "call_foreign", content: "two" },
      ],
    });
  });
});

describe("chatToNative: tool results carry text only", () => {
  it("an image in a tool result is a 400 unsupported_feature", () => {
    expect(
      error(() =>
        plan({
          messages: [
            { role: "user", content: "x" },
            { role: "tool", tool_call_id: ours(0), content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] },
          ],
        }),
      ),
    ).toMatchObject({ status: 400, code: "unsupported_feature", param: "messages[1].content[0]" });
  });
});

describe("reasoning_effort (decided by the one catalog rule, src/native/catalog.ts)", () => {
  const catalog: NativeModelList = {
    object: "list",
    data: [
      { id: "thinker", capabilities: { reasoning: true }, reasoning: { supported_efforts: ["low", "high"] } },
      { id: "any-effort", capabilities: { reasoning: true } },
      { id: "plain", capabilities: { reasoning: false } },
    ],
  };

  it.each([
    ["high", "thinker", true],
    ["medium", "thinker", false],
    ["medium", "any-effort", true],
    ["low", "plain", false],
    ["low", "missing", false],
    ["none", "thinker", false],
  ])("%s on %s → applied %s", (effort, model, applied) => {
    expect(decideReasoning(catalog, model, { effort }).applied).toBe(applied);
  });

  it("sets execution.model_parameters.reasoning.effort and keeps the rest", () => {
    expect(withReasoning({ query: "q", execution: { idempotency_key: "k" } }, { effort: "high" })).toEqual({
      query: "q",
      execution: { idempotency_key: "k", model_parameters: { reasoning: { effort: "high" } } },
    });
  });
});
