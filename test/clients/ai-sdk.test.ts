/**
 * The Vercel AI SDK (`ai` 7, `@ai-sdk/openai` 4, `@ai-sdk/anthropic` 4), unmodified, against the
 * worker: `generateText` / `streamText` over the Responses provider, the Chat Completions provider
 * and the Anthropic provider — plain answers, reasoning, multi-step function tool round trips (the
 * SDK executes the tool and sends its result back) and store:true multi-turn (`item_reference`s).
 * Every test also asserts the SDK reported no warning and no error: a chunk that fails the
 * provider's schema surfaces as an error part, so "no error" means every chunk was understood.
 */
import { generateText, stepCountIs, streamText, tool, type ModelMessage } from "ai";
import * as z from "zod";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { anthropicProvider, installReportCollector, MODEL, onError, openaiProvider, reports, type SentRequest } from "./helpers";

/** Scripted usage, so the numbers the SDK reports can be checked exactly. */
const USAGE = { prompt_tokens: 120, completion_tokens: 30, reasoning_tokens: 10, cache_read_tokens: 20 };
/** What the AI SDK reports for USAGE through either OpenAI provider. */
const SDK_USAGE = {
  inputTokens: 120,
  inputTokenDetails: { noCacheTokens: 100, cacheReadTokens: 20 },
  outputTokens: 30,
  outputTokenDetails: { reasoningTokens: 10 },
  totalTokens: 150,
};

const weatherTools = () => ({
  get_weather: tool({
    description: "Current weather for a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }: { city: string }) => `sunny in ${city}`,
  }),
});
const WEATHER_PROMPT = emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, "Weather in Paris?");
const TOOL_ANSWER = /^Tool results: \S+=sunny in Paris$/;

/** The stream parts a healthy stream may contain (anything else, e.g. `error`, fails the test). */
const STREAM_PARTS = new Set([
  "start",
  "start-step",
  "text-start",
  "text-delta",
  "text-end",
  "reasoning-start",
  "reasoning-delta",
  "reasoning-end",
  "tool-input-start",
  "tool-input-delta",
  "tool-input-end",
  "tool-call",
  "tool-result",
  "finish-step",
  "finish",
]);

describe("OpenAI Responses provider (createOpenAI(...).responses)", () => {
  installReportCollector();

  it("generateText: text, finish reason, usage", async () => {
    const sent: SentRequest[] = [];
    const result = await generateText({ model: openaiProvider(sent).responses(MODEL), prompt: emu({ text: ["Hello ", "world"], usage: USAGE }, "Hi") });
    expect(result.text).toBe("Hello world");
    expect(result.finishReason).toBe("stop");
    expect(result.usage).toMatchObject({ ...SDK_USAGE, outputTokenDetails: { textTokens: 20, reasoningTokens: 10 } });
    expect(result.finalStep.response.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ url: "http://gw/v1/responses", status: 200 });
  });

  it("streamText: text deltas, finish reason, usage, only known stream parts", async () => {
    const parts: string[] = [];
    const result = streamText({
      model: openaiProvider().responses(MODEL),
      // Paced like tokens: deltas that arrive together would be joined (TextCoalescer).
      prompt: emu({ text: ["Hello ", "streamed ", "world"], delta_delay_ms: 30, usage: USAGE }, "Hi"),
      onError,
      onChunk: ({ chunk }) => void parts.push(chunk.type),
    });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    expect(deltas.join("")).toBe("Hello streamed world");
    // More than one delta: the stream is incremental (three at token pace; ≥ 2 tolerates a busy test worker).
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(await result.finishReason).toBe("stop");
    expect(await result.usage).toMatchObject({ inputTokens: 120, outputTokens: 30, totalTokens: 150, outputTokenDetails: { reasoningTokens: 10 } });
    const full: string[] = [];
    for await (const part of result.fullStream) full.push(part.type);
    expect(full.filter((type) => !STREAM_PARTS.has(type))).toEqual([]);
    expect(parts).toContain("text-delta");
  });

  it("reasoning: generateText and streamText both give the reasoning and the text apart", async () => {
    const prompt = emu({ reasoning: ["Let me ", "think."], text: ["Answer."] }, "Why?");
    const blocking = await generateText({ model: openaiProvider().responses(MODEL), prompt });
    expect(blocking.text).toBe("Answer.");
    expect(blocking.finalStep.reasoningText).toBe("Let me think.");
    expect(blocking.finishReason).toBe("stop");
    expect(blocking.usage.outputTokenDetails.reasoningTokens).toBeGreaterThan(0);

    const streamed = streamText({ model: openaiProvider().responses(MODEL), prompt, onError });
    expect(await streamed.text).toBe("Answer.");
    expect(await streamed.reasoningText).toBe("Let me think.");
    expect(await streamed.finishReason).toBe("stop");
  });

  it("generateText: function tool round trip over two steps (function_call_output resumes the run)", async () => {
    const sent: SentRequest[] = [];
    const result = await generateText({
      model: openaiProvider(sent).responses(MODEL),
      tools: weatherTools(),
      stopWhen: stepCountIs(3),
      prompt: WEATHER_PROMPT,
    });
    expect(result.steps).toHaveLength(2);
    const [first, second] = result.steps;
    expect(first?.finishReason).toBe("tool-calls");
    expect(first?.toolCalls).toMatchObject([{ toolName: "get_weather", input: { city: "Paris" } }]);
    expect(first?.toolResults).toMatchObject([{ toolName: "get_weather", output: "sunny in Paris" }]);
    expect(second?.finishReason).toBe("stop");
    expect(result.text).toMatch(TOOL_ANSWER);
    expect(result.finishReason).toBe("stop");
    expect(result.usage.inputTokens).toBe((first?.usage.inputTokens ?? 0) + (second?.usage.inputTokens ?? 0));
    expect(result.usage.outputTokens).toBeGreaterThan(0);

    // What the SDK sent on the second step: the call and its output, matched by call_id.
    const callId = first?.toolCalls[0]?.toolCallId;
    const input = sent[1]?.body.input as Array<Record<string, unknown>>;
    expect(input).toContainEqual(expect.objectContaining({ type: "function_call", call_id: callId, name: "get_weather" }));
    expect(input).toContainEqual({ type: "function_call_output", call_id: callId, output: "sunny in Paris" });
    expect(sent.map((request) => request.status)).toEqual([200, 200]);
  });

  it("streamText: function tool round trip over two steps", async () => {
    const result = streamText({
      model: openaiProvider().responses(MODEL),
      tools: weatherTools(),
      stopWhen: stepCountIs(3),
      prompt: WEATHER_PROMPT,
      onError,
    });
    expect(await result.text).toMatch(TOOL_ANSWER);
    const steps = await result.steps;
    expect(steps.map((step) => step.finishReason)).toEqual(["tool-calls", "stop"]);
    expect(steps[0]?.toolCalls).toMatchObject([{ toolName: "get_weather", input: { city: "Paris" } }]);
    expect(await result.finishReason).toBe("stop");
    expect((await result.usage).totalTokens).toBeGreaterThan(0);
  });

  it("streamText: reasoning before a tool call, then the tool round trip (store:true references the reasoning item)", async () => {
    const sent: SentRequest[] = [];
    const result = streamText({
      model: openaiProvider(sent).responses(MODEL),
      tools: weatherTools(),
      stopWhen: stepCountIs(3),
      prompt: emu({ reasoning: ["I need the weather."], tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, "Weather?"),
      onError,
    });
    expect(await result.text).toMatch(TOOL_ANSWER);
    const steps = await result.steps;
    expect(steps[0]?.reasoningText).toBe("I need the weather.");
    expect(steps.map((step) => step.finishReason)).toEqual(["tool-calls", "stop"]);
    const input = sent[1]?.body.input as Array<Record<string, unknown>>;
    expect(input.some((item) => item.type === "item_reference")).toBe(true);
  });

  it("multi-turn with store:true: earlier assistant turns travel as item_references and reach the run", async () => {
    const sent: SentRequest[] = [];
    const model = openaiProvider(sent).responses(MODEL);
    const messages: ModelMessage[] = [{ role: "user", content: "My name is Ada." }];
    const first = await generateText({ model, messages });
    expect(first.text).toBe("You said: My name is Ada.");
    messages.push(...first.responseMessages, { role: "user", content: "What is my name?" });
    const second = await generateText({ model, messages });

    const input = sent[1]?.body.input as Array<Record<string, unknown>>;
    expect(input).toContainEqual({ type: "item_reference", id: expect.stringMatching(/^msg_/) });
    expect(second.text).toBe("You said: What is my name? [history: user: My name is Ada. | assistant: You said: My name is Ada.]");
    expect(second.finishReason).toBe("stop");

    // Third turn, streamed, over two references.
    messages.push(...second.responseMessages, { role: "user", content: "Thanks" });
    const third = streamText({ model, messages, onError });
    expect(await third.text).toBe(
      "You said: Thanks [history: user: My name is Ada. | assistant: You said: My name is Ada. | user: What is my name? | assistant: " +
        "You said: What is my name? [history: user: My name is Ada. | assistant: You said: My name is Ada.]]",
    );
  });

  it("multi-turn after a tool round trip: the call, its output and the answer reach the next run", async () => {
    const sent: SentRequest[] = [];
    const model = openaiProvider(sent).responses(MODEL);
    const messages: ModelMessage[] = [{ role: "user", content: WEATHER_PROMPT }];
    const first = await generateText({ model, tools: weatherTools(), stopWhen: stepCountIs(3), messages });
    expect(first.text).toMatch(TOOL_ANSWER);
    messages.push(...first.responseMessages, { role: "user", content: "And tomorrow?" });
    const next = await generateText({ model, tools: weatherTools(), messages });
    const input = sent[2]?.body.input as Array<Record<string, unknown>>;
    expect(input.map((item) => item.type ?? item.role)).toEqual(["user", "function_call", "function_call_output", "item_reference", "user"]);
    expect(next.text).toMatch(/^You said: And tomorrow\? \[history: user: Weather in Paris\?.* \| tool: sunny in Paris \| assistant: Tool results: \S+=sunny in Paris\]$/);
    expect(next.finalStep.response.headers?.["x-1flowbase-ignored-params"]).toBeUndefined();
  });

  it("a failed run: generateText rejects and streamText reports one error with the run's message", async () => {
    const prompt = emu({ fail: { code: "provider_error", message: "the flow failed" } }, "Hi");
    await expect(generateText({ model: openaiProvider().responses(MODEL), prompt, maxRetries: 0 })).rejects.toThrow(/the flow failed/);
    const errors: unknown[] = [];
    const streamed = streamText({ model: openaiProvider().responses(MODEL), prompt, maxRetries: 0, onError: ({ error }) => void errors.push(error) });
    await streamed.consumeStream();
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/the flow failed/);
  });
});

describe("OpenAI Chat Completions provider (createOpenAI(...).chat)", () => {
  installReportCollector();

  it("generateText and streamText: text, finish reason, usage", async () => {
    const prompt = emu({ text: ["Hello ", "chat"], usage: USAGE }, "Hi");
    const blocking = await generateText({ model: openaiProvider().chat(MODEL), prompt });
    expect(blocking.text).toBe("Hello chat");
    expect(blocking.finishReason).toBe("stop");
    expect(blocking.usage).toMatchObject(SDK_USAGE);

    const streamed = streamText({ model: openaiProvider().chat(MODEL), prompt, onError });
    const deltas: string[] = [];
    for await (const delta of streamed.textStream) deltas.push(delta);
    expect(deltas.join("")).toBe("Hello chat");
    expect(await streamed.finishReason).toBe("stop");
    expect(await streamed.usage).toMatchObject({ inputTokens: 120, outputTokens: 30, totalTokens: 150 });
  });

  it("reasoning runs: the text is clean (reasoning_content is not read by this provider)", async () => {
    // The gateway sends reasoning as `reasoning_content` (never `<think>` in `content`). @ai-sdk/openai's
    // chat provider has no reasoning field in its schema (OpenAI's Chat API returns none), so the
    // reasoning is dropped client-side; the text must still be exactly the answer.
    const prompt = emu({ reasoning: ["Hmm."], text: ["Done."] }, "Why?");
    const blocking = await generateText({ model: openaiProvider().chat(MODEL), prompt });
    expect(blocking.text).toBe("Done.");
    expect(blocking.finalStep.reasoningText).toBeUndefined();
    expect(blocking.finishReason).toBe("stop");
    const streamed = streamText({ model: openaiProvider().chat(MODEL), prompt, onError });
    expect(await streamed.text).toBe("Done.");
    expect(await streamed.finishReason).toBe("stop");
  });

  it("generateText: tool round trip (role:tool message resumes the run)", async () => {
    const sent: SentRequest[] = [];
    const result = await generateText({ model: openaiProvider(sent).chat(MODEL), tools: weatherTools(), stopWhen: stepCountIs(3), prompt: WEATHER_PROMPT });
    expect(result.steps.map((step) => step.finishReason)).toEqual(["tool-calls", "stop"]);
    expect(result.steps[0]?.toolCalls).toMatchObject([{ toolName: "get_weather", input: { city: "Paris" } }]);
    expect(result.text).toMatch(TOOL_ANSWER);
    const callId = result.steps[0]?.toolCalls[0]?.toolCallId;
    expect(sent[1]?.body.messages).toContainEqual({ role: "tool", tool_call_id: callId, content: "sunny in Paris" });
    expect(result.usage.totalTokens).toBeGreaterThan(0);
  });

  it("streamText: tool round trip", async () => {
    const result = streamText({ model: openaiProvider().chat(MODEL), tools: weatherTools(), stopWhen: stepCountIs(3), prompt: WEATHER_PROMPT, onError });
    expect(await result.text).toMatch(TOOL_ANSWER);
    expect((await result.steps).map((step) => step.finishReason)).toEqual(["tool-calls", "stop"]);
    expect(await result.finishReason).toBe("stop");
  });
});

describe("Anthropic provider (createAnthropic)", () => {
  installReportCollector();
  // maxOutputTokens set explicitly: for a model id it does not know, the provider otherwise warns
  // that it capped max_tokens at 4096 (a client-side notice, nothing the gateway sends).
  const settings = { maxOutputTokens: 1024 } as const;

  it("generateText and streamText: text, finish reason, usage", async () => {
    const prompt = emu({ text: ["Hello ", "claude"], usage: USAGE }, "Hi");
    const blocking = await generateText({ model: anthropicProvider()(MODEL), prompt, ...settings });
    expect(blocking.text).toBe("Hello claude");
    expect(blocking.finishReason).toBe("stop");
    // The gateway's Anthropic usage keeps native's prompt_tokens as `input_tokens` (1flowbase's own
    // adapter does the same) and adds `cache_read_input_tokens`; the SDK, following Anthropic's
    // definition (input_tokens excludes cache reads), sums them: 120 + 20.
    const expectedUsage = { inputTokens: 140, inputTokenDetails: { noCacheTokens: 120, cacheReadTokens: 20 }, outputTokens: 30, totalTokens: 170 };
    expect(blocking.usage).toMatchObject(expectedUsage);

    const streamed = streamText({ model: anthropicProvider()(MODEL), prompt, onError, ...settings });
    const deltas: string[] = [];
    for await (const delta of streamed.textStream) deltas.push(delta);
    expect(deltas.join("")).toBe("Hello claude");
    expect(await streamed.finishReason).toBe("stop");
    expect(await streamed.usage).toMatchObject(expectedUsage);
  });

  it("reasoning: thinking blocks come back as reasoning, blocking and streamed", async () => {
    const prompt = emu({ reasoning: ["Let me ", "think."], text: ["Answer."] }, "Why?");
    const providerOptions = { anthropic: { thinking: { type: "enabled", budgetTokens: 1024 } } } as const;
    const blocking = await generateText({ model: anthropicProvider()(MODEL), prompt, providerOptions, maxOutputTokens: 4096 });
    expect(blocking.text).toBe("Answer.");
    expect(blocking.finalStep.reasoningText).toBe("Let me think.");
    const streamed = streamText({ model: anthropicProvider()(MODEL), prompt, providerOptions, maxOutputTokens: 4096, onError });
    expect(await streamed.text).toBe("Answer.");
    expect(await streamed.reasoningText).toBe("Let me think.");
    expect(await streamed.finishReason).toBe("stop");
  });

  it("generateText: tool round trip (tool_result resumes the run)", async () => {
    const sent: SentRequest[] = [];
    const result = await generateText({ model: anthropicProvider(sent)(MODEL), tools: weatherTools(), stopWhen: stepCountIs(3), prompt: WEATHER_PROMPT, ...settings });
    expect(result.steps.map((step) => step.finishReason)).toEqual(["tool-calls", "stop"]);
    expect(result.steps[0]?.toolCalls).toMatchObject([{ toolName: "get_weather", input: { city: "Paris" } }]);
    expect(result.text).toMatch(TOOL_ANSWER);
    const callId = result.steps[0]?.toolCalls[0]?.toolCallId;
    const last = (sent[1]?.body.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>).at(-1);
    expect(last?.content).toContainEqual(expect.objectContaining({ type: "tool_result", tool_use_id: callId }));
  });

  it("streamText: reasoning + tool round trip (thinking replayed on the next step)", async () => {
    const result = streamText({
      model: anthropicProvider()(MODEL),
      tools: weatherTools(),
      stopWhen: stepCountIs(3),
      prompt: emu({ reasoning: ["Need weather."], tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, "Weather?"),
      providerOptions: { anthropic: { thinking: { type: "enabled", budgetTokens: 1024 } } },
      maxOutputTokens: 4096,
      onError,
    });
    expect(await result.text).toMatch(TOOL_ANSWER);
    const steps = await result.steps;
    expect(steps.map((step) => step.finishReason)).toEqual(["tool-calls", "stop"]);
    expect(steps[0]?.reasoningText).toBe("Need weather.");
    expect(reports.errors).toEqual([]);
  });
});

describe("a failed run, through each provider", () => {
  installReportCollector();
  const prompt = emu({ fail: { code: "provider_error", message: "the flow failed" } }, "Hi");
  const models = {
    chat: () => openaiProvider().chat(MODEL),
    anthropic: () => anthropicProvider()(MODEL),
  };

  for (const [name, model] of Object.entries(models)) {
    it(`${name}: generateText rejects, streamText reports one error naming the failure`, async () => {
      await expect(generateText({ model: model(), prompt, maxRetries: 0, maxOutputTokens: 1024 })).rejects.toThrow(/the flow failed/);
      const errors: unknown[] = [];
      const streamed = streamText({ model: model(), prompt, maxRetries: 0, maxOutputTokens: 1024, onError: ({ error }) => void errors.push(error) });
      await streamed.consumeStream();
      expect(errors).toHaveLength(1);
      expect(String((errors[0] as Error).message)).toMatch(/the flow failed/);
    });
  }
});
