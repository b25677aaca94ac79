/**
 * Chat Completions conformance: the real `openai` SDK (7.57) against the worker on all three chat
 * bases (`/v1`, `/openai/v1`, bare), the worker against the emulated native API. Covers `create`,
 * `stream: true` iteration, `chat.completions.stream().finalChatCompletion()`, reasoning,
 * `include_usage`, the two-step tool round trip (blocking and streaming), `reasoning_effort`, and
 * request-side errors. Native and run error mapping: errors.test.ts.
 */
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { decodeCallbackId } from "../../src/native/callback-ids";
import {
  BASES,
  COMPLETION_ID,
  EMULATOR_KEYS,
  MODEL,
  RESUMED_COMPLETION_ID,
  TOOL_CALL_ID,
  nativeCreateBody,
  nativeRequests,
  openai,
  post,
  runIdOf,
} from "./helpers";

const WEATHER_TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const TIME_TOOL = { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: {} } } };
const TWO_CALLS = emu({
  text: ["Let me check."],
  tool_calls: [
    { name: "get_weather", arguments: { city: "Paris" } },
    { name: "get_time", arguments: {} },
  ],
});

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe.each(BASES)("chat completions at %s", (baseURL) => {
  const client = () => openai({ baseURL });

  it("create (blocking): assistant text, stop, full usage; system + developer → system, earlier turns → history", async () => {
    const { data: completion, response } = await client()
      .chat.completions.create({
        model: MODEL,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "developer", content: "Speak plainly." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello!" },
          { role: "user", content: "How are you?" },
        ],
      })
      .withResponse();

    expect(completion.id).toMatch(COMPLETION_ID);
    expect(completion).toMatchObject({
      object: "chat.completion",
      model: MODEL,
      choices: [
        {
          index: 0,
          finish_reason: "stop",
          logprobs: null,
          message: { role: "assistant", refusal: null, content: "You said: How are you? [system: Be brief.\n\nSpeak plainly.] [history: user: Hi | assistant: Hello!]" },
        },
      ],
    });
    expect(completion.created).toBeGreaterThan(1_700_000_000);
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage?.total_tokens).toBe((completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0));
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(completion.usage?.completion_tokens_details?.reasoning_tokens).toBe(0);
    expect(response.headers.get("content-type")).toContain("application/json");

    const native = await nativeCreateBody(completion.id);
    // Blocking answers are folded over the native stream (from-native.ts explains why).
    expect(native).toMatchObject({ query: "How are you?", model: MODEL, system: "Be brief.\n\nSpeak plainly.", response_mode: "streaming" });
    expect(native["metadata"]).toEqual({ trace_id: response.headers.get("x-request-id") });
  });

  it("stream: true — role first, reasoning_content and content deltas, one finish chunk, no usage unless asked", async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      stream: true,
      messages: [{ role: "user", content: emu({ reasoning: ["Think", "ing."], text: ["Hel", "lo", "!"] }) }],
    });
    const chunks = await collect(stream);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0]?.id).toMatch(COMPLETION_ID);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.model === MODEL)).toBe(true);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant" });
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.role)).toHaveLength(1);
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined);
    expect(deltas.map((delta) => delta?.reasoning_content ?? "").join("")).toBe("Thinking.");
    expect(deltas.map((delta) => delta?.content ?? "").join("")).toBe("Hello!");
    expect(chunks.filter((chunk) => chunk.choices[0]?.finish_reason)).toHaveLength(1);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.every((chunk) => chunk.usage === undefined)).toBe(true);
  });

  it("stream_options.include_usage: usage:null on chunks, then one choices:[] chunk with cached and reasoning tokens", async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        {
          role: "user",
          content: emu({
            reasoning: ["r"],
            text: ["t"],
            usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20, reasoning_tokens: 3, cache_read_tokens: 4 },
          }),
        },
      ],
    });
    const chunks = await collect(stream);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({
      prompt_tokens: 12,
      completion_tokens: 8,
      total_tokens: 20,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 3 },
    });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
  });

  it("chat.completions.stream().finalChatCompletion() assembles the answer", async () => {
    const runner = client().chat.completions.stream({
      model: MODEL,
      messages: [{ role: "user", content: emu({ text: ["The ", "answer ", "is 42."] }) }],
      stream_options: { include_usage: true },
    });
    const final = await runner.finalChatCompletion();
    expect(final.id).toMatch(COMPLETION_ID);
    expect(final.choices[0]).toMatchObject({ finish_reason: "stop", message: { role: "assistant", content: "The answer is 42." } });
    expect(final.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("reasoning: blocking answer keeps <think> out of content and returns reasoning_content", async () => {
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: emu({ reasoning: ["Step 1. ", "Step 2."], text: ["Done."], think_tags: true }) }],
    });
    const message = completion.choices[0]?.message as { content: string | null; reasoning_content?: string };
    expect(message.content).toBe("Done.");
    expect(message.reasoning_content).toBe("Step 1. Step 2.");
  });

  it("two-step tool round trip, blocking: tool_calls + finish tool_calls, then role:tool results resume the run", async () => {
    const messages: ChatCompletionMessageParam[] = [{ role: "user", content: TWO_CALLS }];
    const first = await client().chat.completions.create({ model: MODEL, messages, tools: [WEATHER_TOOL, TIME_TOOL], tool_choice: "auto" });
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBe("Let me check.");
    const calls = choice?.message.tool_calls ?? [];
    expect(calls).toHaveLength(2);
    expect(calls.map((call) => (call.type === "function" ? [call.function.name, call.function.arguments] : null))).toEqual([
      ["get_weather", '{"city":"Paris"}'],
      ["get_time", "{}"],
    ]);
    for (const call of calls) expect(call.id).toMatch(TOOL_CALL_ID);
    expect(decodeCallbackId("call", calls[0]?.id ?? "")?.runId).toBe(runIdOf(first.id));

    const created = await nativeCreateBody(first.id);
    expect(created["inputs"]).toEqual({
      tools: [
        { name: "get_weather", source: "openai_compatible", description: "Current weather for a city", input_schema: WEATHER_TOOL.function.parameters },
        { name: "get_time", source: "openai_compatible", input_schema: { type: "object", properties: {} } },
      ],
      tool_choice: "auto",
    });

    const second = await client().chat.completions.create({
      model: MODEL,
      tools: [WEATHER_TOOL, TIME_TOOL],
      messages: [
        ...messages,
        choice?.message as ChatCompletionMessageParam,
        { role: "tool", tool_call_id: calls[0]?.id ?? "", content: "sunny" },
        { role: "tool", tool_call_id: calls[1]?.id ?? "", content: [{ type: "text", text: "noon" }] },
      ],
    });
    expect(second.id).toMatch(RESUMED_COMPLETION_ID);
    expect(second.id.startsWith(first.id)).toBe(true);
    expect(second.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "Tool results: call_1=sunny, call_2=noon" } });

    const resume = (await nativeRequests(runIdOf(first.id))).find((request) => request.path.endsWith("/resume"));
    expect(resume?.body).toMatchObject({
      response_payload: { tool_results: [{ tool_call_id: "call_1", content: "sunny" }, { tool_call_id: "call_2", content: "noon" }] },
    });
  });

  it("two-step tool round trip, streaming: proper tool-call deltas, then a streamed resume", async () => {
    const runner = client().chat.completions.stream({ model: MODEL, messages: [{ role: "user", content: TWO_CALLS }], tools: [WEATHER_TOOL, TIME_TOOL] });
    const chunks: ChatCompletionChunk[] = [];
    runner.on("chunk", (chunk) => chunks.push(chunk));
    const first = await runner.finalChatCompletion();
    expect(first.choices[0]?.finish_reason).toBe("tool_calls");
    const calls = first.choices[0]?.message.tool_calls ?? [];
    expect(calls.map((call) => (call.type === "function" ? call.function.name : ""))).toEqual(["get_weather", "get_time"]);

    // Each call's first fragment names it (AI SDK and openai-node check this, client-protocols.md §4.3).
    const fragments = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    for (const index of [0, 1]) {
      const opening = fragments.find((fragment) => fragment.index === index);
      expect(opening).toMatchObject({ id: expect.stringMatching(TOOL_CALL_ID), type: "function", function: { name: expect.any(String) } });
    }

    const resumed = await collect(
      await client().chat.completions.create({
        model: MODEL,
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          { role: "user", content: TWO_CALLS },
          first.choices[0]?.message as ChatCompletionMessageParam,
          { role: "tool", tool_call_id: calls[0]?.id ?? "", content: "rain" },
          { role: "tool", tool_call_id: calls[1]?.id ?? "", content: "9:00" },
        ],
      }),
    );
    expect(resumed[0]?.id).toMatch(RESUMED_COMPLETION_ID);
    expect(resumed.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("Tool results: call_1=rain, call_2=9:00");
    expect(resumed.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(resumed.at(-1)?.usage?.total_tokens).toBeGreaterThan(0);
  });
});

describe("tool results that do not answer our pending calls are 400s, never 500s", () => {
  async function toolTurn(apiKey: string = EMULATOR_KEYS.demo) {
    const completion = await openai({ apiKey }).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: TWO_CALLS }] });
    return { message: completion.choices[0]?.message as ChatCompletionMessageParam, ids: (completion.choices[0]?.message.tool_calls ?? []).map((call) => call.id) };
  }
  const answer = (turn: { message: ChatCompletionMessageParam }, results: Array<[string, string]>): ChatCompletionMessageParam[] => [
    { role: "user", content: TWO_CALLS },
    turn.message,
    ...results.map(([id, content]): ChatCompletionMessageParam => ({ role: "tool", tool_call_id: id, content })),
  ];

  async function expect400(messages: ChatCompletionMessageParam[], code: string, apiKey?: string) {
    const error = await openai({ apiKey }).chat.completions.create({ model: MODEL, messages }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, code, param: "messages" });
  }

  it("a forged id", async () => {
    const turn = await toolTurn();
    await expect400(answer(turn, [[turn.ids[0] ?? "", "a"], ["call_forged", "b"]]), "invalid_tool_call_id");
  });

  it("an altered id (one character changed)", async () => {
    const turn = await toolTurn();
    // A character inside the encoded task id: still well-formed, but names no pending task of ours.
    const id = turn.ids[1] ?? "";
    const altered = `${id.slice(0, 30)}${id[30] === "A" ? "B" : "A"}${id.slice(31)}`;
    await expect400(answer(turn, [[turn.ids[0] ?? "", "a"], [altered, "b"]]), "invalid_tool_call_id");
  });

  it("a partial answer (one result for two calls), and a duplicate", async () => {
    const turn = await toolTurn();
    await expect400(answer(turn, [[turn.ids[0] ?? "", "a"]]), "invalid_tool_results");
    await expect400(answer(turn, [[turn.ids[0] ?? "", "a"], [turn.ids[0] ?? "", "b"]]), "invalid_tool_results");
  });

  it("another key's tool calls (same application, different key)", async () => {
    const turn = await toolTurn(EMULATOR_KEYS.demo);
    await expect400(answer(turn, [[turn.ids[0] ?? "", "a"], [turn.ids[1] ?? "", "b"]]), "invalid_tool_call_id", EMULATOR_KEYS.demoSecond);
  });

  it("results for calls that were already answered", async () => {
    const turn = await toolTurn();
    const messages = answer(turn, [[turn.ids[0] ?? "", "a"], [turn.ids[1] ?? "", "b"]]);
    await openai().chat.completions.create({ model: MODEL, messages });
    await expect400(messages, "invalid_tool_call_id");
  });
});

describe("a transcript begun elsewhere (tool call ids this gateway never issued)", () => {
  // OpenAI's own id shape (`call_` + 24 base62): never decodes as one of ours (callback-ids.ts).
  const FOREIGN_ID = "call_Xh2bRk1yQ9uLm4Zp7Tc3Wv5N";
  const transcript: ChatCompletionMessageParam[] = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: null, tool_calls: [{ id: FOREIGN_ID, type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
    { role: "tool", tool_call_id: FOREIGN_ID, content: "rain, 12°C" },
  ];
  const expectedHistory = [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: "", tool_calls: [{ id: FOREIGN_ID, name: "get_weather", arguments: { city: "Paris" } }] },
    { role: "tool", tool_call_id: FOREIGN_ID, content: "rain, 12°C" },
  ];

  it("runs as a new native run with the whole transcript as history and an empty query (blocking)", async () => {
    const completion = await openai().chat.completions.create({ model: MODEL, tools: [WEATHER_TOOL], messages: transcript });
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    const native = await nativeCreateBody(completion.id);
    expect(native).toMatchObject({ query: "", system: "Be brief.", history: expectedHistory });
    expect((await nativeRequests(runIdOf(completion.id))).some((request) => request.path.endsWith("/resume"))).toBe(false);
  });

  it("runs the same way when streamed", async () => {
    const stream = await openai().chat.completions.create({ model: MODEL, tools: [WEATHER_TOOL], messages: transcript, stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
    expect((await nativeCreateBody(chunks[0]?.id ?? "")).history).toEqual(expectedHistory);
  });
});

describe("reasoning_effort", () => {
  it("reaches native as execution.model_parameters.reasoning.effort when the model supports it", async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: MODEL, reasoning_effort: "high", messages: [{ role: "user", content: "Hi" }] })
      .withResponse();
    expect(response.headers.get("x-1flowbase-ignored-params")).toBeNull();
    expect((await nativeCreateBody(data.id))["execution"]).toEqual({ model_parameters: { reasoning: { effort: "high" } } });
  });

  it("is reported as ignored for a model without reasoning (lenient), a 400 in strict mode", async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: "emu-plain", reasoning_effort: "low", temperature: 0.3, messages: [{ role: "user", content: "Hi" }] })
      .withResponse();
    expect(response.headers.get("x-1flowbase-ignored-params")).toBe("temperature, reasoning_effort");
    expect((await nativeCreateBody(data.id))["execution"]).toBeUndefined();

    const strict = openai({ headers: { "x-1flowbase-parameter-policy": "strict" } });
    const error = await strict.chat.completions
      .create({ model: "emu-plain", reasoning_effort: "low", messages: [{ role: "user", content: "Hi" }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ param: "reasoning_effort", code: "unsupported_parameter" });
  });
});

describe("request-side errors and auth", () => {
  it("x-api-key works like Bearer; no key is a 401 before native is called", async () => {
    const ok = await post("/chat/completions", { model: MODEL, messages: [{ role: "user", content: "Hi" }] }, { authorization: "", "x-api-key": EMULATOR_KEYS.demo });
    expect(ok.status).toBe(200);
    const missing = await post("/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: "Hi" }] }, { authorization: "" });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: "authentication_error" } });
  });

  it.each([
    [{ model: MODEL, n: 2, messages: [{ role: "user", content: "Hi" }] }, "n", "unsupported_feature"],
    [{ model: MODEL, messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }] }] }, "messages[0].content[0]", "unsupported_feature"],
    [{ model: MODEL, modalities: ["text", "audio"], audio: { voice: "alloy", format: "mp3" }, messages: [{ role: "user", content: "Hi" }] }, "audio", "unsupported_feature"],
    [{ model: MODEL, messages: [{ role: "user" }] }, "messages[0].content", "invalid_request"],
    [{ model: MODEL, stream: true, messages: [{ role: "assistant", content: "x" }] }, "messages", "invalid_request"],
  ])("%j → 400 naming %s", async (body, param, code) => {
    const response = await post("/v1/chat/completions", body);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error", param, code } });
  });

  it("malformed JSON is a 400, not a 500", async () => {
    const response = await post("/openai/v1/chat/completions", "{not json");
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "invalid_json" } });
  });
});
