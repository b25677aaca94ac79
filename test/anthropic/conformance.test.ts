/**
 * Anthropic Messages conformance: the real `@anthropic-ai/sdk` (1.12) against the worker, the worker
 * against the emulated native API. Covers `messages.create`, `messages.stream()` → `finalMessage()`,
 * thinking, the tool round trip (blocking and streaming), count_tokens, both auth headers and the
 * request-side error paths. Error mapping tables live in errors.test.ts.
 */
import Anthropic, { APIError, AuthenticationError, BadRequestError } from "@anthropic-ai/sdk";
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { THINKING_SIGNATURE } from "../../src/protocols/anthropic/stream";
import { oneRun } from "../support/deltas";
import {
  anthropic,
  comparable,
  EMULATOR_KEYS,
  nativeCreateBody,
  nativeRequests,
  parseSse,
  post,
  runIdOf,
  TOOL_ID,
  typedEvents,
} from "./helpers";

const MODEL = "1flowbase";
const WEATHER_TOOL = {
  name: "get_weather",
  description: "Current weather for a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};

describe("messages.create (blocking)", () => {
  it("answers a Message with text, stop_sequence null and full usage; maps system and history", async () => {
    const client = anthropic();
    const { data: message, response, request_id: requestId } = await client.messages
      .create({
        model: MODEL,
        max_tokens: 256,
        system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: [{ type: "text", text: "Hello!" }] },
          { role: "user", content: "How are you?" },
        ],
      })
      .withResponse();

    expect(message.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(message).toMatchObject({
      type: "message",
      role: "assistant",
      model: MODEL,
      stop_reason: "end_turn",
      stop_sequence: null,
      content: [{ type: "text", text: "You said: How are you? [system: Be brief.] [history: user: Hi | assistant: Hello!]" }],
    });
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    expect(message.usage.cache_read_input_tokens).toBe(0);
    expect(message.usage.cache_creation_input_tokens).toBe(0);
    expect(requestId).toMatch(/^req_/);
    // max_tokens is applied (native's limit, or the edge's): nothing is reported.
    expect(response.headers.get("x-1flowbase-ignored-params")).toBeNull();

    const native = await nativeCreateBody(message.id);
    expect(native).toMatchObject({
      query: "How are you?",
      model: MODEL,
      system: "Be brief.",
      history: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
      ],
      // Blocking answers are folded over the native stream (from-native.ts `messageFromStream`).
      response_mode: "streaming",
    });
    expect((native["metadata"] as { trace_id: string }).trace_id).toBe(requestId);
  });

  it("puts thinking blocks (from native reasoning) before text, with a signature", async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 1024,
      messages: [{ role: "user", content: emu({ reasoning: ["Let me ", "think"], text: ["Hello", " there"] }) }],
    });
    expect(message.content).toEqual([
      { type: "thinking", thinking: "Let me think", signature: THINKING_SIGNATURE },
      { type: "text", text: "Hello there" },
    ]);
  });

  it("ends a native `incomplete` run with stop_reason max_tokens", async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 16,
      messages: [{ role: "user", content: emu({ text: ["cut sh"], incomplete: true }) }],
    });
    expect(message.stop_reason).toBe("max_tokens");
    expect(message.content).toEqual([{ type: "text", text: "cut sh" }]);
  });

  it("reports native cache counts when native has them", async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 16,
      messages: [
        {
          role: "user",
          content: emu({ text: ["ok"], usage: { prompt_tokens: 120, completion_tokens: 7, cache_read_tokens: 100, cache_write_tokens: 20 } }),
        },
      ],
    });
    expect(message.usage).toEqual({ input_tokens: 120, output_tokens: 7, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 });
  });

  it("accepts everything Claude Code sends (beta headers, cache_control, thinking, tool_choice, metadata, stream)", async () => {
    const client = anthropic({ headers: { "anthropic-beta": "interleaved-thinking-2025-05-14,context-1m-2025-08-07" } });
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 32000,
      system: [
        { type: "text", text: "You are Claude Code.", cache_control: { type: "ephemeral" } },
        { type: "text", text: "Follow the rules.", cache_control: { type: "ephemeral" } },
      ],
      messages: [{ role: "user", content: [{ type: "text", text: "list files", cache_control: { type: "ephemeral" } }] }],
      tools: [{ ...WEATHER_TOOL, cache_control: { type: "ephemeral" } }],
      tool_choice: { type: "auto" },
      thinking: { type: "enabled", budget_tokens: 31999 },
      metadata: { user_id: JSON.stringify({ device_id: "dev-1", account_uuid: "acct-42", session_id: "sess-9" }) },
      temperature: 1,
    });
    const message = await stream.finalMessage();
    expect(message.content.at(-1)).toMatchObject({ type: "text" });
    const native = await nativeCreateBody(message.id);
    expect(native).toMatchObject({
      system: "You are Claude Code.\n\nFollow the rules.",
      query: "list files",
      inputs: {
        tools: [{ name: "get_weather", source: "anthropic_compatible", description: WEATHER_TOOL.description, input_schema: WEATHER_TOOL.input_schema }],
        tool_choice: { type: "auto" },
      },
      conversation: { user: "acct-42" },
      execution: { model_parameters: { reasoning: { budget_tokens: 31999 } } },
      response_mode: "streaming",
    });
    // No conversation id: native would rehydrate old turns into this stateless request (§3.4).
    expect((native["conversation"] as Record<string, unknown>)["id"]).toBeUndefined();
  });
});

describe("messages.stream()", () => {
  it("streams named events in protocol order and finalMessage() equals the blocking answer", async () => {
    const script = emu({ reasoning: ["Plan: ", "greet"], text: ["Hel", "lo ", "world"] });
    const request = { model: MODEL, max_tokens: 512, messages: [{ role: "user" as const, content: script }] };
    const client = anthropic();

    const texts: string[] = [];
    const thinking: string[] = [];
    const signatures: string[] = [];
    const stream = client.messages
      .stream(request)
      .on("text", (delta) => texts.push(delta))
      .on("thinking", (delta) => thinking.push(delta))
      .on("signature", (signature) => signatures.push(signature));
    const streamed = await stream.finalMessage();
    const blocking = await client.messages.create(request);

    expect(texts.join("")).toBe("Hello world");
    expect(thinking.join("")).toBe("Plan: greet");
    expect(signatures).toEqual([THINKING_SIGNATURE]);
    expect(await stream.finalText()).toBe("Hello world");
    expect(comparable(streamed)).toEqual(comparable(blocking));
  });

  it("puts an event: line on every frame, message_start first, message_stop last", async () => {
    const response = await post("/v1/messages", {
      model: MODEL,
      max_tokens: 64,
      stream: true,
      messages: [{ role: "user", content: emu({ reasoning: ["r"], text: ["a", "b"] }, "count my input") }],
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = typedEvents(parseSse(await response.text()));
    const named = events.map((event) => (event.type === "content_block_delta" ? `content_block_delta:${String((event["delta"] as { type?: unknown }).type)}` : event.type));
    expect(oneRun(named, "content_block_delta:text_delta")).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta:thinking_delta",
      "content_block_delta:signature_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta:text_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const text = events.filter((event) => named[events.indexOf(event)] === "content_block_delta:text_delta").map((event) => (event["delta"] as { text: string }).text);
    expect(text.join("")).toBe("ab");
    const start = events[0] as unknown as { message: { content: unknown[]; usage: Record<string, unknown>; stop_sequence: unknown } };
    expect(start.message.content).toEqual([]);
    expect(typeof start.message.usage["input_tokens"]).toBe("number");
    expect(start.message.stop_sequence).toBeNull();
    expect(events[3]).toEqual({ type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: THINKING_SIGNATURE } });
    const delta = events.at(-2) as unknown as { delta: Record<string, unknown>; usage: Record<string, number> };
    expect(delta.delta).toEqual({ stop_reason: "end_turn", stop_sequence: null, stop_details: null });
    expect(delta.usage["output_tokens"]).toBeGreaterThan(0);
    expect(delta.usage["input_tokens"]).toBeGreaterThan(0);
  });

  it("takes usage from the run record when the native terminal event has none (native-api.md §2.5)", async () => {
    const stream = anthropic().messages.stream({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: "user", content: emu({ text: ["x"], usage: { prompt_tokens: 11, completion_tokens: 3 } }) }],
    });
    const message = await stream.finalMessage();
    expect(message.usage).toMatchObject({ input_tokens: 11, output_tokens: 3 });
    const requests = await nativeRequests(runIdOf(message.id));
    expect(requests.some((request) => request.method === "GET")).toBe(true);
  });

  it("uses the terminal event's usage without a lookup when native sends it", async () => {
    const message = await anthropic()
      .messages.stream({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: "user", content: emu({ text: ["x"], usage: { prompt_tokens: 5, completion_tokens: 2 }, usage_on_terminal: true }) }],
      })
      .finalMessage();
    expect(message.usage).toMatchObject({ input_tokens: 5, output_tokens: 2 });
    const requests = await nativeRequests(runIdOf(message.id));
    expect(requests.some((request) => request.method === "GET")).toBe(false);
  });

  it("an answer-less run still ends with one (empty) text block", async () => {
    const message = await anthropic().messages.stream({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: emu({ text: [] }) }] }).finalMessage();
    expect(message.content).toEqual([{ type: "text", text: "" }]);
  });
});

describe("thinking → native reasoning parameters", () => {
  it("maps enabled budget_tokens (capped at the model's max output) and adaptive (default effort)", async () => {
    const client = anthropic();
    // (The SDK insists on streaming for a max_tokens this large.)
    const enabled = await client.messages
      .stream({ model: MODEL, max_tokens: 64000, thinking: { type: "enabled", budget_tokens: 50000 }, messages: [{ role: "user", content: "hi" }] })
      .finalMessage();
    expect(await nativeCreateBody(enabled.id)).toMatchObject({ execution: { model_parameters: { reasoning: { budget_tokens: 32000 } } } });

    const adaptive = await client.messages.create({ model: MODEL, max_tokens: 100, thinking: { type: "adaptive" }, messages: [{ role: "user", content: "hi" }] });
    expect(await nativeCreateBody(adaptive.id)).toMatchObject({ execution: { model_parameters: { reasoning: { effort: "medium" } } } });

    const disabled = await client.messages.create({ model: MODEL, max_tokens: 100, thinking: { type: "disabled" }, messages: [{ role: "user", content: "hi" }] });
    expect((await nativeCreateBody(disabled.id))["execution"]).toBeUndefined();
  });

  it("maps Claude Code's output_config.effort with adaptive thinking to the native reasoning effort", async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 100,
      thinking: { type: "adaptive" },
      output_config: { effort: "high" },
      messages: [{ role: "user", content: "hi" }],
    });
    expect(await nativeCreateBody(message.id)).toMatchObject({ execution: { model_parameters: { reasoning: { effort: "high" } } } });
  });

  it("reports thinking as ignored for a model without reasoning, and rejects it in strict mode", async () => {
    const request = { model: "emu-plain", max_tokens: 100, thinking: { type: "enabled" as const, budget_tokens: 2000 }, messages: [{ role: "user" as const, content: "hi" }] };
    const { data, response } = await anthropic().messages.create(request).withResponse();
    expect(response.headers.get("x-1flowbase-ignored-params")).toBe("thinking");
    expect((await nativeCreateBody(data.id))["execution"]).toBeUndefined();

    const strict = await anthropic({ headers: { "x-1flowbase-parameter-policy": "strict" } }).messages.create(request).catch((error: unknown) => error);
    expect(strict).toBeInstanceOf(BadRequestError);
    expect((strict as APIError).type).toBe("invalid_request_error");
    expect((strict as APIError).apiMessage).toMatch(/'thinking'/);
  });

  it("strict mode rejects accepted-but-ignored fields, never the applied max_tokens and stop_sequences", async () => {
    const strict = anthropic({ headers: { "x-1flowbase-parameter-policy": "strict" } });
    const ok = await strict.messages.create({ model: MODEL, max_tokens: 10, stop_sequences: ["END"], messages: [{ role: "user", content: "hi" }] });
    expect(ok.stop_reason).toBe("end_turn");
    // A sampling hint (not in this SDK version's types): accepted, not applied — so strict refuses it.
    const withSamplingHint = { model: MODEL, max_tokens: 10, temperature: 0.2, messages: [{ role: "user" as const, content: "hi" }] };
    const rejected = await strict.messages
      .create(withSamplingHint)
      .catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(BadRequestError);
    expect((rejected as APIError).apiMessage).toMatch(/'temperature'/);
  });
});

describe("tool round trip", () => {
  const toolScript = emu({
    text: ["Checking."],
    tool_calls: [
      { id: "call_a", name: "get_weather", arguments: { city: "Paris" } },
      { id: "call_b", name: "get_weather", arguments: { city: "Oslo" } },
    ],
    after_tools: { text: ["Paris is sunny, Oslo is cold."] },
  });

  it("blocking: tool_use blocks with stateless ids, then tool_result resumes the native task", async () => {
    const client = anthropic();
    const first = await client.messages.create({ model: MODEL, max_tokens: 256, tools: [WEATHER_TOOL], messages: [{ role: "user", content: toolScript }] });
    expect(first.stop_reason).toBe("tool_use");
    expect(first.content[0]).toEqual({ type: "text", text: "Checking." });
    const uses = first.content.filter((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
    expect(uses.map((use) => [use.name, use.input])).toEqual([
      ["get_weather", { city: "Paris" }],
      ["get_weather", { city: "Oslo" }],
    ]);
    for (const use of uses) expect(use.id).toMatch(TOOL_ID);

    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 256,
      tools: [WEATHER_TOOL],
      messages: [
        { role: "user", content: toolScript },
        { role: "assistant", content: first.content },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: uses[1]?.id ?? "", content: "cold" },
            { type: "tool_result", tool_use_id: uses[0]?.id ?? "", content: [{ type: "text", text: "sunny" }] },
          ],
        },
      ],
    });
    expect(second.content).toEqual([{ type: "text", text: "Paris is sunny, Oslo is cold." }]);
    expect(second.stop_reason).toBe("end_turn");
    // Same native run, a different message id.
    expect(runIdOf(second.id)).toBe(runIdOf(first.id));
    expect(second.id).not.toBe(first.id);

    const resume = (await nativeRequests(runIdOf(first.id))).find((request) => request.path.endsWith("/resume"));
    expect((resume?.body as { response_payload: unknown }).response_payload).toEqual({
      tool_results: [
        { tool_call_id: "call_b", content: "cold" },
        { tool_call_id: "call_a", content: "sunny" },
      ],
    });
  });

  it("streaming: input_json_delta carries the input; the resumed run streams too", async () => {
    const client = anthropic();
    const jsons: string[] = [];
    const first = await client.messages
      .stream({ model: MODEL, max_tokens: 256, tools: [WEATHER_TOOL], messages: [{ role: "user", content: toolScript }] })
      .on("inputJson", (partial) => jsons.push(partial))
      .finalMessage();
    expect(first.stop_reason).toBe("tool_use");
    expect(jsons).toEqual(['{"city":"Paris"}', '{"city":"Oslo"}']);
    const uses = first.content.filter((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
    expect(uses.map((use) => use.input)).toEqual([{ city: "Paris" }, { city: "Oslo" }]);

    const texts: string[] = [];
    const second = await client.messages
      .stream({
        model: MODEL,
        max_tokens: 256,
        tools: [WEATHER_TOOL],
        messages: [
          { role: "user", content: toolScript },
          { role: "assistant", content: first.content },
          {
            role: "user",
            content: uses.map((use) => ({ type: "tool_result" as const, tool_use_id: use.id, content: `${String((use.input as { city: string }).city)} ok` })),
          },
        ],
      })
      .on("text", (delta) => texts.push(delta))
      .finalMessage();
    expect(texts.join("")).toBe("Paris is sunny, Oslo is cold.");
    expect(second.stop_reason).toBe("end_turn");
    expect(runIdOf(second.id)).toBe(runIdOf(first.id));
  });

  it("text next to tool results (Claude Code's interruption notes) rides on the last result", async () => {
    const client = anthropic();
    const script = emu({ tool_calls: [{ id: "call_x", name: "get_weather", arguments: { city: "Rome" } }] });
    const first = await client.messages.create({ model: MODEL, max_tokens: 64, tools: [WEATHER_TOOL], messages: [{ role: "user", content: script }] });
    const use = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: "user", content: script },
        { role: "assistant", content: first.content },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: use?.id ?? "", content: "denied", is_error: true },
            { type: "text", text: "[Request interrupted by user]" },
          ],
        },
      ],
    });
    expect(second.content).toEqual([{ type: "text", text: "Tool results: call_x=denied\n\n[Request interrupted by user]" }]);
  });

  it("earlier tool turns become native tool history with short, consistent ids", async () => {
    const client = anthropic();
    const script = emu({ tool_calls: [{ id: "call_h", name: "get_weather", arguments: { city: "Lima" } }] });
    const first = await client.messages.create({ model: MODEL, max_tokens: 64, tools: [WEATHER_TOOL], messages: [{ role: "user", content: script }] });
    const use = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
    if (!use) throw new Error("no tool_use");
    const later = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: "user", content: "weather in Lima?" },
        { role: "assistant", content: [{ type: "thinking", thinking: "hmm", signature: THINKING_SIGNATURE }, ...first.content] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "warm" }, { type: "text", text: "thanks" }] },
        { role: "assistant", content: "It is warm." },
        { role: "user", content: "And tomorrow?" },
      ],
    });
    const history = (await nativeCreateBody(later.id))["history"] as Array<Record<string, unknown>>;
    const callId = (history[1]?.["tool_calls"] as Array<{ id: string }>)[0]?.id ?? "";
    expect(callId).toMatch(/^call_[0-9a-f]{24}_0$/);
    expect(history).toEqual([
      { role: "user", content: "weather in Lima?" },
      { role: "assistant", content: "", tool_calls: [{ id: callId, name: "get_weather", arguments: { city: "Lima" } }] },
      { role: "tool", tool_call_id: callId, content: "warm" },
      { role: "user", content: "thanks" },
      { role: "assistant", content: "It is warm." },
    ]);
  });

  it("forged, foreign, partial and replayed tool results are 400 invalid_request_error, never 5xx", async () => {
    const client = anthropic();
    const script = emu({
      tool_calls: [
        { id: "c1", name: "get_weather", arguments: { city: "A" } },
        { id: "c2", name: "get_weather", arguments: { city: "B" } },
      ],
    });
    const first = await client.messages.create({ model: MODEL, max_tokens: 64, tools: [WEATHER_TOOL], messages: [{ role: "user", content: script }] });
    const ids = first.content.flatMap((block) => (block.type === "tool_use" ? [block.id] : []));
    const answer = (results: Array<{ id: string; content: string }>, key: string = EMULATOR_KEYS.demo) =>
      anthropic({ apiKey: key })
        .messages.create({
          model: MODEL,
          max_tokens: 64,
          messages: [
            { role: "user", content: script },
            { role: "assistant", content: first.content },
            { role: "user", content: results.map((result) => ({ type: "tool_result" as const, tool_use_id: result.id, content: result.content })) },
          ],
        })
        .then(
          () => null,
          (error: unknown) => error as APIError,
        );

    const [a = "", b = ""] = ids;
    const forged = `${a.slice(0, -2)}${a.endsWith("AA") ? "BB" : "AA"}`;
    const cases: Array<[string, Promise<APIError | null>]> = [
      ["forged", answer([{ id: forged, content: "x" }, { id: b, content: "y" }])],
      // Ours next to a foreign one: one turn's results cannot both resume a run and start a new one.
      ["ours and a foreign provider id", answer([{ id: a, content: "x" }, { id: "toolu_01A09q90qw90lq917835lq9", content: "y" }])],
      ["another key", answer([{ id: a, content: "x" }, { id: b, content: "y" }], EMULATOR_KEYS.demoSecond)],
      ["another application", answer([{ id: a, content: "x" }, { id: b, content: "y" }], EMULATOR_KEYS.other)],
      ["partial", answer([{ id: a, content: "x" }])],
      ["duplicate", answer([{ id: a, content: "x" }, { id: a, content: "y" }])],
    ];
    for (const [name, pending] of cases) {
      const error = await pending;
      expect(error, name).toBeInstanceOf(BadRequestError);
      expect(error?.type, name).toBe("invalid_request_error");
    }
    // The run is still waiting: the real answer works, and a replay afterwards is a 400.
    expect(await answer([{ id: a, content: "x" }, { id: b, content: "y" }])).toBeNull();
    const replay = await answer([{ id: a, content: "x" }, { id: b, content: "y" }]);
    expect(replay).toBeInstanceOf(BadRequestError);
  });
});

describe("a transcript begun elsewhere (tool_use ids this gateway never issued)", () => {
  // Anthropic's own id shape: `toolu_` + 24 base62 characters, which never decodes as one of ours.
  const FOREIGN_ID = "toolu_01A09q90qw90lq917835lq9";
  const transcript: Anthropic.MessageParam[] = [
    { role: "user", content: "What is the weather in Paris?" },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Let me check." },
        { type: "tool_use", id: FOREIGN_ID, name: "get_weather", input: { city: "Paris" } },
      ],
    },
    { role: "user", content: [{ type: "tool_result", tool_use_id: FOREIGN_ID, content: "rain, 12°C" }, { type: "text", text: "Answer briefly." }] },
  ];
  const expectedHistory = [
    { role: "user", content: "What is the weather in Paris?" },
    { role: "assistant", content: "Let me check.", tool_calls: [{ id: FOREIGN_ID, name: "get_weather", arguments: { city: "Paris" } }] },
    { role: "tool", tool_call_id: FOREIGN_ID, content: "rain, 12°C" },
  ];

  it("runs as a new native run with the calls and results as history (blocking)", async () => {
    const message = await anthropic().messages.create({ model: MODEL, max_tokens: 64, tools: [WEATHER_TOOL], messages: transcript });
    expect(message.type).toBe("message");
    expect(message.stop_reason).toBe("end_turn");
    const native = await nativeCreateBody(message.id);
    expect(native.history).toEqual(expectedHistory);
    expect(native.query).toBe("Answer briefly.");
    expect(native.inputs).toMatchObject({ tools: [{ name: "get_weather" }] });
    // A new run: nothing was resumed.
    expect((await nativeRequests(runIdOf(message.id))).some((request) => request.path.endsWith("/resume"))).toBe(false);
  });

  it("runs the same way when streamed, and with only tool results in the last turn (empty query)", async () => {
    const onlyResults = [...transcript.slice(0, 2), { role: "user" as const, content: [{ type: "tool_result" as const, tool_use_id: FOREIGN_ID, content: "rain, 12°C" }] }];
    const message = await anthropic().messages.stream({ model: MODEL, max_tokens: 64, tools: [WEATHER_TOOL], messages: onlyResults }).finalMessage();
    expect(message.stop_reason).toBe("end_turn");
    const native = await nativeCreateBody(message.id);
    expect(native.history).toEqual(expectedHistory);
    expect(native.query).toBe("");
  });
});

describe("count_tokens", () => {
  it("estimates without creating a native run; tools add their overhead", async () => {
    const client = anthropic();
    const plain = await client.messages.countTokens({ model: MODEL, system: "x".repeat(40), messages: [{ role: "user", content: "y".repeat(80) }] });
    expect(plain).toEqual({ input_tokens: 30 });
    const withTools = await client.messages.countTokens({ model: MODEL, messages: [{ role: "user", content: "hi" }], tools: [WEATHER_TOOL] });
    expect(withTools.input_tokens).toBeGreaterThan(500);
    const recent = (await (await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/requests?last=1`)).json()) as {
      requests: Array<{ method: string; path: string }>;
    };
    expect(recent.requests[0]).toMatchObject({ method: "GET", path: "/api/agent/v1/models" });
  });

  it("requires a working key (both auth headers) and a valid body", async () => {
    await expect(anthropic({ authToken: EMULATOR_KEYS.demo }).messages.countTokens({ model: MODEL, messages: [{ role: "user", content: "hi" }] })).resolves.toEqual({
      input_tokens: 1,
    });
    const noKey = await post("/v1/messages/count_tokens", { model: MODEL, messages: [{ role: "user", content: "hi" }] }, { "x-api-key": "" });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    const badKey = await anthropic({ apiKey: "sk-nope-000" })
      .messages.countTokens({ model: MODEL, messages: [{ role: "user", content: "hi" }] })
      .catch((error: unknown) => error);
    expect(badKey).toBeInstanceOf(AuthenticationError);
    const invalid = await post("/v1/messages/count_tokens", { model: MODEL });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });
});

describe("auth and headers", () => {
  it("accepts x-api-key and Authorization: Bearer; anthropic-version is optional", async () => {
    const viaApiKey = await anthropic({ apiKey: EMULATOR_KEYS.demo }).messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "a" }] });
    const viaBearer = await anthropic({ authToken: EMULATOR_KEYS.demo }).messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "b" }] });
    expect(viaApiKey.content).toEqual([{ type: "text", text: "You said: a" }]);
    expect(viaBearer.content).toEqual([{ type: "text", text: "You said: b" }]);
    const bare = await post("/v1/messages", { model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "c" }] });
    expect(bare.status).toBe(200);
    expect(bare.headers.get("request-id")).toMatch(/^req_/);
  });

  it("401 authentication_error without a key or with a key native does not know", async () => {
    const missing = await post("/v1/messages", { model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "a" }] }, { "x-api-key": "" });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ type: "error", error: { type: "authentication_error" }, request_id: expect.stringMatching(/^req_/) });
    const unknown = await anthropic({ apiKey: "sk-unknown0000-x" })
      .messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "a" }] })
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(AuthenticationError);
    expect((unknown as APIError).type).toBe("authentication_error");
  });
});

describe("assistant prefill (a trailing assistant message)", () => {
  it("is a run, not a 400: native gets the conversation ending on the prefill, and the answer is only the continuation", async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: "user", content: "Name a colour" },
        { role: "assistant", content: "The colour is" },
      ],
    });
    // The emulator echoes what its model was given: the conversation, the prefill last, no query.
    expect(message.content).toEqual([{ type: "text", text: "You said:  [history: user: Name a colour | assistant: The colour is]" }]);
    expect(message.stop_reason).toBe("end_turn");
    const native = await nativeCreateBody(message.id);
    expect(native["query"]).toBe("");
    expect((native["history"] as Array<{ role: string; content: string }>).at(-1)).toEqual({ role: "assistant", content: "The colour is" });
  });
});
