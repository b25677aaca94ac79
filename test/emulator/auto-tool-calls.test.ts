/**
 * `EMULATOR_AUTO_TOOL_CALLS` (emulator/README.md): with it on, `tool_choice: auto` (or no choice)
 * with tools offered makes the emulated model call the first tool, through the real SDKs; with it
 * off (the suite's default emulator) the same requests answer text. A second emulator started by
 * test/global-setup.ts with `autoToolCalls: true` is reached through NATIVE_API_BASE_URL, exactly as
 * a real native server would be.
 */
import Anthropic from "@anthropic-ai/sdk";
import { env } from "cloudflare:test";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";
import { autoToolCallsFromEnv } from "../../emulator/server";
import { forcedToolCalls } from "../../emulator/tool-choice";
import { createApp } from "../../src/app";

const app = createApp();
const MODEL = "1flowbase";
const WEATHER_SCHEMA = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };

/** A fetch into the in-process gateway whose native API is `nativeUrl`. */
function gatewayFetch(nativeUrl: string): typeof fetch {
  return (input, init) => Promise.resolve(app.fetch(new Request(input, init), { ...env, NATIVE_API_BASE_URL: nativeUrl }));
}

const openaiOn = (nativeUrl: string) =>
  new OpenAI({ apiKey: EMULATOR_KEYS.demo, baseURL: "http://gw/v1", fetch: gatewayFetch(nativeUrl), maxRetries: 0 });
const anthropicOn = (nativeUrl: string) =>
  new Anthropic({ apiKey: EMULATOR_KEYS.demo, baseURL: "http://gw", fetch: gatewayFetch(nativeUrl), maxRetries: 0 });

describe("EMULATOR_AUTO_TOOL_CALLS", () => {
  it("reads 1/true/yes/on as on and anything else (unset included) as off", () => {
    expect(["1", "true", "YES", " on "].map(autoToolCallsFromEnv)).toEqual([true, true, true, true]);
    expect([undefined, "", "0", "false", "off"].map(autoToolCallsFromEnv)).toEqual([false, false, false, false, false]);
  });

  it("auto mode calls the first offered tool on auto / no choice / allowed_tools auto, never on none or without tools", () => {
    const tools = [{ name: "get_weather", input_schema: WEATHER_SCHEMA }, { name: "other" }];
    const call = [{ id: "call_1", name: "get_weather", arguments: { city: "example" } }];
    for (const tool_choice of ["auto", { type: "auto" }, undefined, { type: "allowed_tools", mode: "auto", tools: [{ type: "function", name: "get_weather" }] }]) {
      expect(forcedToolCalls({ tools, tool_choice }, { auto: true }), JSON.stringify(tool_choice)).toEqual(call);
      expect(forcedToolCalls({ tools, tool_choice }), JSON.stringify(tool_choice)).toBeNull();
    }
    expect(forcedToolCalls({ tools, tool_choice: "none" }, { auto: true })).toBeNull();
    expect(forcedToolCalls({ tools, tool_choice: { type: "none" } }, { auto: true })).toBeNull();
    expect(forcedToolCalls({ tool_choice: "auto" }, { auto: true })).toBeNull();
  });

  it("Responses (openai SDK): auto calls the tool when on, answers text when off; the result round-trips", async () => {
    const tools = [{ type: "function" as const, name: "get_weather", parameters: WEATHER_SCHEMA, strict: false }];
    const on = openaiOn(env.AUTO_TOOL_EMULATOR_URL);
    const called = await on.responses.create({ model: MODEL, input: "Weather in Paris?", tools, tool_choice: "auto" });
    const call = called.output.find((item) => item.type === "function_call");
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"example"}' });
    // After the tool result the model answers (no second call: no loop within a run).
    const answered = await on.responses.create({
      model: MODEL,
      previous_response_id: called.id,
      input: [{ type: "function_call_output", call_id: call?.type === "function_call" ? call.call_id : "", output: "rain" }],
      tools,
    });
    expect(answered.output.some((item) => item.type === "function_call")).toBe(false);
    expect(answered.output_text).toContain("rain");

    const off = await openaiOn(env.NATIVE_API_BASE_URL).responses.create({ model: MODEL, input: "Weather in Paris?", tools, tool_choice: "auto" });
    expect(off.output.some((item) => item.type === "function_call")).toBe(false);
  });

  it("Chat Completions (openai SDK): no tool_choice with tools offered is auto", async () => {
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: WEATHER_SCHEMA } }];
    const on = await openaiOn(env.AUTO_TOOL_EMULATOR_URL).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Weather?" }], tools });
    expect(on.choices[0]?.finish_reason).toBe("tool_calls");
    expect(on.choices[0]?.message.tool_calls?.[0]).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city":"example"}' } });
    const off = await openaiOn(env.NATIVE_API_BASE_URL).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Weather?" }], tools });
    expect(off.choices[0]?.finish_reason).toBe("stop");
  });

  it("a turn of tool results only (a client's own call ids, a new run) is answered, not called again", async () => {
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: WEATHER_SCHEMA } }];
    const client = openaiOn(env.AUTO_TOOL_EMULATOR_URL);
    const toolTurn = [
      { role: "user" as const, content: "Weather in Oslo?" },
      { role: "assistant" as const, content: null, tool_calls: [{ id: "client_call_1", type: "function" as const, function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] },
      { role: "tool" as const, tool_call_id: "client_call_1", content: "snow" },
    ];
    const answered = await client.chat.completions.create({ model: MODEL, tools, messages: toolTurn });
    expect(answered.choices[0]?.finish_reason).toBe("stop");
    expect(answered.choices[0]?.message.tool_calls ?? []).toEqual([]);
    // A new user message after the results is a new question: auto calls the tool again.
    const asked = await client.chat.completions.create({ model: MODEL, tools, messages: [...toolTurn, { role: "user", content: "And in Rome?" }] });
    expect(asked.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("Anthropic Messages (@anthropic-ai/sdk): tool_choice auto calls the tool when on, streaming too", async () => {
    const tools = [{ name: "get_weather", input_schema: WEATHER_SCHEMA as Anthropic.Tool.InputSchema }];
    const request = { model: MODEL, max_tokens: 64, tools, tool_choice: { type: "auto" as const }, messages: [{ role: "user" as const, content: "Weather?" }] };
    const on = await anthropicOn(env.AUTO_TOOL_EMULATOR_URL).messages.stream(request).finalMessage();
    expect(on.stop_reason).toBe("tool_use");
    expect(on.content.find((block) => block.type === "tool_use")).toMatchObject({ name: "get_weather", input: { city: "example" } });
    const off = await anthropicOn(env.NATIVE_API_BASE_URL).messages.create(request);
    expect(off.stop_reason).toBe("end_turn");
  });
});
