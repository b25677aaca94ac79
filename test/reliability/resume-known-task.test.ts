/**
 * A tool loop's resume without the read of the waiting run (native/resume.ts `takeKnownTarget`): the
 * turn that answers calls this isolate just showed the caller goes straight to
 * `POST /runs/{id}/resume`, one native round trip less per turn. What native refuses is judged by
 * that read afterwards, with the same verdicts as a resume that reads first.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { emu } from "../../emulator/script";
import { decodeCallbackId, encodeCallbackId } from "../../src/native/callback-ids";
import { EMULATOR_KEYS, expectStream, gateway, nativeRequests, nonce, type RecordedNativeRequest } from "./helpers";
import { CHAT, MODEL } from "./protocols";

const NATIVE = "/api/agent/v1";
const WEATHER_PARAMETERS = { type: "object", properties: { city: { type: "string" } } };

function post(path: string, body: unknown, key: string = EMULATOR_KEYS.demo, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(path, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers }, body: JSON.stringify(body) });
}

/** The native requests of `runId` after the first `from` of them, as `METHOD path` lines. */
async function requestsAfter(runId: string, from: number): Promise<string[]> {
  const requests: RecordedNativeRequest[] = await nativeRequests({ runId });
  return requests.slice(from).map((request) => `${request.method} ${request.path}`);
}

/** A chat turn that asks for one tool call; its assistant message, the call id and the run behind it. */
async function chatToolTurn(key: string = EMULATOR_KEYS.demo) {
  const user = { role: "user", content: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, `weather ${nonce()}`) };
  const tools = [{ type: "function", function: { name: "get_weather", parameters: WEATHER_PARAMETERS } }];
  const response = await post("/v1/chat/completions", { model: MODEL, messages: [user], tools }, key);
  expect(response.status).toBe(200);
  const json = (await response.json()) as { choices: Array<{ message: { tool_calls: Array<{ id: string }> } }> };
  const assistant = json.choices[0]?.message;
  const callId = assistant?.tool_calls[0]?.id ?? "";
  const ref = decodeCallbackId("call", callId);
  if (!ref) throw new Error(`not a gateway call id: ${callId}`);
  const followUp = (content: string) => ({ model: MODEL, tools, messages: [user, assistant, { role: "tool", tool_call_id: callId, content }] });
  return { ref, followUp, seen: (await nativeRequests({ runId: ref.runId })).length };
}

/** Resumes the task straight at native (another isolate answering the same turn, say). */
async function resumeAtNative(runId: string, callbackTaskId: string, content: string): Promise<void> {
  const headers = { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" };
  const run = (await (await fetch(`${env.NATIVE_API_BASE_URL}${NATIVE}/runs/${runId}`, { headers })).json()) as {
    data: { required_action: { payload: { tool_calls: Array<{ id: string }> } } };
  };
  const nativeCallId = run.data.required_action.payload.tool_calls[0]?.id;
  const resumed = await fetch(`${env.NATIVE_API_BASE_URL}${NATIVE}/runs/${runId}/resume`, {
    method: "POST",
    headers,
    body: JSON.stringify({ callback_task_id: callbackTaskId, response_payload: { tool_results: [{ tool_call_id: nativeCallId, content }] } }),
  });
  expect(resumed.status).toBe(200);
}

/** The real SDKs, their fetch going to the in-process gateway (the module state this test reads). */
const sdkFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  return gateway(url.pathname + url.search, input instanceof Request ? new Request(input, init) : init);
};
const openai = new OpenAI({ apiKey: EMULATOR_KEYS.demo, baseURL: "http://gw/v1", fetch: sdkFetch, maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: EMULATOR_KEYS.demo, baseURL: "http://gw", fetch: sdkFetch, maxRetries: 0 });

describe("a resume of calls this isolate just showed the caller (real SDKs)", () => {
  it("chat (openai SDK): goes straight to native's resume, and answers the turn", async () => {
    const user = { role: "user" as const, content: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, `weather ${nonce()}`) };
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: WEATHER_PARAMETERS } }];
    const first = await openai.chat.completions.create({ model: MODEL, messages: [user], tools });
    const assistant = first.choices[0]?.message;
    const call = assistant?.tool_calls?.[0];
    const ref = decodeCallbackId("call", call?.id ?? "");
    if (!assistant || !call || !ref) throw new Error("expected a gateway tool call");
    const seen = (await nativeRequests({ runId: ref.runId })).length;

    const second = await openai.chat.completions.create({ model: MODEL, tools, messages: [user, assistant, { role: "tool", tool_call_id: call.id, content: "21°C" }] });
    expect(second.choices[0]?.message.content).toMatch(/^Tool results: .+=21°C$/);
    const after = await requestsAfter(ref.runId, seen);
    expect(after[0]).toBe(`POST ${NATIVE}/runs/${ref.runId}/resume`);
    expect(after).not.toContain(`GET ${NATIVE}/runs/${ref.runId}`);
  });

  it("responses (openai SDK stream helper, chained by previous_response_id): no read of the waiting run", async () => {
    const tools = [{ type: "function" as const, name: "get_weather", parameters: WEATHER_PARAMETERS, strict: false }];
    const first = await openai.responses.stream({ model: MODEL, tools, input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Rome" } }] }, `rome ${nonce()}`) }).finalResponse();
    const call = first.output[0];
    if (call?.type !== "function_call") throw new Error("expected a function call");
    const ref = decodeCallbackId("call", call.call_id);
    if (!ref) throw new Error(`not a gateway call id: ${call.call_id}`);
    const seen = (await nativeRequests({ runId: ref.runId })).length;

    const second = await openai.responses
      .stream({ model: MODEL, tools, previous_response_id: first.id, input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }] })
      .finalResponse();
    expect(second.status).toBe("completed");
    expect(second.output_text).toMatch(/=sunny$/);
    expect((await requestsAfter(ref.runId, seen))[0]).toBe(`POST ${NATIVE}/runs/${ref.runId}/resume`);
  });

  it("anthropic (@anthropic-ai/sdk stream helper): no read of the waiting run", async () => {
    const tools = [{ name: "get_weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } } } }];
    const user = { role: "user" as const, content: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Lima" } }] }, `lima ${nonce()}`) };
    const first = await anthropic.messages.create({ model: MODEL, max_tokens: 256, tools, messages: [user] });
    const toolUse = first.content.find((block) => block.type === "tool_use");
    if (toolUse?.type !== "tool_use") throw new Error("expected a tool_use block");
    const ref = decodeCallbackId("toolu", toolUse.id);
    if (!ref) throw new Error(`not a gateway tool_use id: ${toolUse.id}`);
    const seen = (await nativeRequests({ runId: ref.runId })).length;

    const second = await anthropic.messages
      .stream({ model: MODEL, max_tokens: 256, tools, messages: [user, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "mild" }] }] })
      .finalMessage();
    expect(second.stop_reason).toBe("end_turn");
    const text = second.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    expect(text).toMatch(/=mild$/);
    expect((await requestsAfter(ref.runId, seen))[0]).toBe(`POST ${NATIVE}/runs/${ref.runId}/resume`);
  });
});

describe("a keyed resume (Idempotency-Key)", () => {
  it("still reads the run first: its claim is written before the resume and must name a run native vouched for", async () => {
    const tools = [{ type: "function", name: "get_weather", parameters: WEATHER_PARAMETERS }];
    const first = await post("/v1/responses", { model: MODEL, tools, input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, `keyed ${nonce()}`) });
    const response = (await first.json()) as { id: string; output: Array<{ call_id: string }> };
    const callId = response.output[0]?.call_id ?? "";
    const ref = decodeCallbackId("call", callId);
    if (!ref) throw new Error(`not a gateway call id: ${callId}`);
    const seen = (await nativeRequests({ runId: ref.runId })).length;
    const body = { model: MODEL, tools, previous_response_id: response.id, input: [{ type: "function_call_output", call_id: callId, output: "sunny" }] };
    const resumed = await post("/v1/responses", body, EMULATOR_KEYS.demo, { "idempotency-key": `resume-${nonce()}` });
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as { output_text?: string; status: string }).status).toBe("completed");
    const after = await requestsAfter(ref.runId, seen);
    expect(after.indexOf(`GET ${NATIVE}/runs/${ref.runId}`)).toBeGreaterThanOrEqual(0);
    expect(after.indexOf(`GET ${NATIVE}/runs/${ref.runId}`)).toBeLessThan(after.indexOf(`POST ${NATIVE}/runs/${ref.runId}/resume`));
  });
});

describe("what native refuses is judged as before", () => {
  it("a turn answered elsewhere meanwhile (another payload) is the same 400 as without the hint", async () => {
    const { ref, followUp, seen } = await chatToolTurn();
    await resumeAtNative(ref.runId, ref.callbackTaskId, "answered elsewhere");
    const response = await post("/v1/chat/completions", followUp("21°C"));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "invalid_tool_call_id", param: "messages" } });
    // resumeAtNative's read and resume; then the gateway's refused resume, and the read that judged it.
    expect(await requestsAfter(ref.runId, seen)).toEqual([
      `GET ${NATIVE}/runs/${ref.runId}`,
      `POST ${NATIVE}/runs/${ref.runId}/resume`,
      `POST ${NATIVE}/runs/${ref.runId}/resume`,
      `GET ${NATIVE}/runs/${ref.runId}`,
    ]);
  });

  it("a streamed turn refused that way ends with the same error code as its terminal error", async () => {
    const { ref, followUp } = await chatToolTurn();
    await resumeAtNative(ref.runId, ref.callbackTaskId, "answered elsewhere");
    const response = await post("/v1/chat/completions", { ...followUp("21°C"), stream: true });
    // Checked by the strict chat wire reader: one error chunk, then [DONE].
    expect(await expectStream(CHAT, response)).toMatchObject({ kind: "error", error: "invalid_tool_call_id" });
  });

  it("is used once: the same turn sent again reads the run and is refused before any header", async () => {
    const { ref, followUp } = await chatToolTurn();
    expect((await post("/v1/chat/completions", followUp("21°C"))).status).toBe(200);
    const before = (await nativeRequests({ runId: ref.runId })).length;
    const again = await post("/v1/chat/completions", { ...followUp("21°C"), stream: true });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: { code: "invalid_tool_call_id" } });
    expect(await requestsAfter(ref.runId, before)).toEqual([`GET ${NATIVE}/runs/${ref.runId}`]);
  });

  it("is the caller's own: another key's results read the run (native refuses them), and the owner's hint stays", async () => {
    const { ref, followUp, seen } = await chatToolTurn();
    const foreign = await post("/v1/chat/completions", followUp("stolen"), EMULATOR_KEYS.demoSecond);
    expect(foreign.status).toBe(400);
    expect(await foreign.json()).toMatchObject({ error: { code: "invalid_tool_call_id" } });
    expect(await requestsAfter(ref.runId, seen)).toEqual([`GET ${NATIVE}/runs/${ref.runId}`]);

    const own = await post("/v1/chat/completions", followUp("21°C"));
    expect(own.status).toBe(200);
    expect(await requestsAfter(ref.runId, seen + 1)).toEqual([`POST ${NATIVE}/runs/${ref.runId}/resume`]);
  });

  it("a task this isolate never showed (a run from elsewhere) reads the run first, as before", async () => {
    const headers = { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" };
    const created = await fetch(`${env.NATIVE_API_BASE_URL}${NATIVE}/runs`, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Kyiv" } }] }, `kyiv ${nonce()}`), response_mode: "blocking" }),
    });
    const run = ((await created.json()) as { data: { id: string; status: string; required_action: { payload: { callback_task_id: string } } } }).data;
    expect(run.status).toBe("waiting");
    const callId = encodeCallbackId("call", { runId: run.id, callbackTaskId: run.required_action.payload.callback_task_id, index: 0 });
    const tools = [{ type: "function", function: { name: "get_weather", parameters: WEATHER_PARAMETERS } }];
    const assistant = { role: "assistant", content: null, tool_calls: [{ id: callId, type: "function", function: { name: "get_weather", arguments: '{"city":"Kyiv"}' } }] };
    const seen = (await nativeRequests({ runId: run.id })).length;
    const response = await post("/v1/chat/completions", { model: MODEL, tools, messages: [{ role: "user", content: "weather" }, assistant, { role: "tool", tool_call_id: callId, content: "cold" }] });
    expect(response.status).toBe(200);
    expect(await requestsAfter(run.id, seen)).toEqual([`GET ${NATIVE}/runs/${run.id}`, `POST ${NATIVE}/runs/${run.id}/resume`]);
  });
});
