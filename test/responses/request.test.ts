/**
 * Request validation and the parameter policy table: what is mapped, what is accepted and reported,
 * what is a 400 naming the param — in lenient and strict mode.
 */
import { describe, expect, it } from "vitest";
import { RESPONSES_POLICY } from "../../src/protocols/openai-responses/policy";
import { CreateResponseRequest } from "../../src/protocols/openai-responses/schema";
import { CUSTOM_TOOL_INPUT_SCHEMA, customToolFromNative, mapTools } from "../../src/protocols/openai-responses/to-native";
import { call, lastNativeCreate, MODEL } from "./helpers";

async function expect400(body: Record<string, unknown>, param: string | RegExp, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const response = await call("POST", "/responses", body, undefined, headers);
  const json = (await response.json()) as { error: Record<string, unknown> };
  expect(response.status, JSON.stringify(json)).toBe(400);
  expect(response.headers.get("content-type")).toContain("application/json");
  if (typeof param === "string") expect(json.error.param).toBe(param);
  else expect(json.error.param).toMatch(param);
  expect(json.error.type).toBe("invalid_request_error");
  return json.error;
}

const STRICT = { "x-1flowbase-parameter-policy": "strict" };

describe("policy table", () => {
  it("has exactly one row per top-level field of the request schema", () => {
    expect(Object.keys(RESPONSES_POLICY).sort()).toEqual(Object.keys(CreateResponseRequest.shape).sort());
  });

  it.each([
    ["background: true", { background: true }, "background"],
    ["an OpenAI conversation", { conversation: "conv_123" }, "conversation"],
    ["a stored prompt", { prompt: { id: "pmpt_1" } }, "prompt"],
    ["moderated completions", { moderation: { model: "omni-moderation-latest" } }, "moderation"],
  ])("rejects %s with a 400 naming the param", async (_name, extra, param) => {
    const error = await expect400({ model: MODEL, input: "x", ...extra }, param);
    expect(error.code).toBe("unsupported_feature");
  });

  it("background: false and explicit nulls are fine", async () => {
    const response = await call("POST", "/responses", { model: MODEL, input: "x", background: false, conversation: null, temperature: null, tools: [] });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-1flowbase-ignored-params")).toBeNull();
  });

  it("strict mode turns every accepted-but-ignored field into a 400", async () => {
    await expect400({ model: MODEL, input: "x", temperature: 0.5 }, "temperature", STRICT);
    await expect400({ model: MODEL, input: "x", tools: [{ type: "web_search" }] }, "tools", STRICT);
    await expect400({ model: "emu-plain", input: "x", reasoning: { effort: "low" } }, "reasoning", STRICT);
    await expect400({ model: MODEL, input: [{ type: "computer_call", call_id: "c" }, { role: "user", content: "x" }] }, "input", STRICT);
    // …but mapped fields and defaults pass.
    const ok = await call("POST", "/responses", { model: MODEL, input: "x", instructions: "i", parallel_tool_calls: true, truncation: "disabled", store: true, metadata: { a: "b" } }, undefined, STRICT);
    expect(ok.status).toBe(200);
  });
});

describe("request validation", () => {
  it.each([
    ["missing model", { input: "x" }, "model"],
    ["missing input", { model: MODEL }, "input"],
    ["temperature out of range", { model: MODEL, input: "x", temperature: 3 }, "temperature"],
    ["17 metadata pairs", { model: MODEL, input: "x", metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }, "metadata"],
    ["a metadata value over 512 chars", { model: MODEL, input: "x", metadata: { k: "v".repeat(513) } }, "metadata.k"],
    ["a function tool without a name", { model: MODEL, input: "x", tools: [{ type: "function", parameters: {} }] }, /^tools\[0\]/],
    ["an unknown content part type", { model: MODEL, input: [{ role: "user", content: [{ type: "input_video", url: "x" }] }] }, /^input\[0\]\.content\[0\]/],
    ["a file content part", { model: MODEL, input: [{ role: "user", content: [{ type: "input_text", text: "x" }, { type: "input_file", file_id: "f" }] }] }, "input[0].content[1]"],
    ["an image by file id", { model: MODEL, input: [{ role: "user", content: [{ type: "input_image", file_id: "file_1", detail: "auto" }] }] }, "input[0].content[0].file_id"],
    ["a function_call without call_id", { model: MODEL, input: [{ type: "function_call", name: "f", arguments: "{}" }, { role: "user", content: "x" }] }, "input[0].call_id"],
    ["no user message", { model: MODEL, input: [{ role: "developer", content: "only instructions" }] }, "input"],
    ["an assistant turn after the last user message", { model: MODEL, input: [{ role: "user", content: "x" }, { role: "assistant", content: "prefill" }] }, "input[1]"],
    ["tool_choice forcing a hosted tool", { model: MODEL, input: "x", tools: [{ type: "web_search" }], tool_choice: { type: "web_search" } }, "tool_choice"],
    ["tool_choice naming a function not in tools", { model: MODEL, input: "x", tool_choice: { type: "function", name: "nope" } }, "tool_choice"],
    ["a negative max_output_tokens", { model: MODEL, input: "x", max_output_tokens: -1 }, "max_output_tokens"],
  ])("%s → 400", async (_name, body, param) => {
    await expect400(body, param);
  });

  it("a body that is not JSON is a 400 in OpenAI shape; no key is a 401", async () => {
    const bad = await call("POST", "/responses", undefined, undefined, { "content-type": "application/json" });
    expect(bad.status).toBe(400);
    const noKey = await fetchWorker();
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ error: { type: "authentication_error" } });
  });
});

async function fetchWorker(): Promise<Response> {
  const { SELF } = await import("cloudflare:test");
  return SELF.fetch("http://gw/v1/responses", { method: "POST", body: JSON.stringify({ model: MODEL, input: "x" }), headers: { "content-type": "application/json" } });
}

describe("tool mapping", () => {
  const fn = (name: string) => ({ type: "function", name, parameters: { type: "object", properties: {} } });

  it("allowed_tools narrows the native tool list and maps its mode", async () => {
    const response = await call("POST", "/responses", {
      model: MODEL,
      input: "x",
      tools: [fn("a"), fn("b"), fn("c")],
      tool_choice: { type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "b" }] },
    });
    expect(response.status).toBe(200);
    const native = await lastNativeCreate();
    expect(native.inputs).toEqual({ tools: [{ name: "b", source: "openai_compatible", input_schema: { type: "object", properties: {} } }], tool_choice: "required" });
  });

  it("a function tool_choice and string choices pass through", async () => {
    await call("POST", "/responses", { model: MODEL, input: "x", tools: [fn("a")], tool_choice: { type: "function", name: "a" } });
    expect((await lastNativeCreate()).inputs).toMatchObject({ tool_choice: { type: "function", name: "a" } });
    await call("POST", "/responses", { model: MODEL, input: "x", tools: [fn("a")], tool_choice: "none" });
    expect((await lastNativeCreate()).inputs).toMatchObject({ tool_choice: "none" });
  });

  it("replays Codex's custom tool calls and outputs as native tool turns; reports unrecoverable references", async () => {
    const response = await call("POST", "/responses", {
      model: MODEL,
      input: [
        { role: "user", content: "patch it" },
        { type: "custom_tool_call", call_id: "c1", name: "apply_patch", input: "*** Begin Patch" },
        { type: "custom_tool_call_output", call_id: "c1", output: "ok" },
        { type: "item_reference", id: "msg_abc" },
        { id: "msg_def" },
        { role: "user", content: "thanks" },
      ],
    });
    expect(response.status).toBe(200);
    // The references are not this gateway's items: nothing to recover, so they are reported.
    expect(response.headers.get("x-1flowbase-ignored-params")?.split(", ").sort()).toEqual(["input.item_reference"]);
    expect((await lastNativeCreate()).history).toEqual([
      { role: "user", content: "patch it" },
      { role: "assistant", content: "", tool_calls: [{ id: "c1", name: "apply_patch", arguments: { input: "*** Begin Patch" } }] },
      { role: "tool", tool_call_id: "c1", content: "ok" },
    ]);
  });

  it("function calls of a replayed transcript become one assistant turn with tool_calls, outputs become tool turns", async () => {
    await call("POST", "/responses", {
      model: MODEL,
      input: [
        { role: "user", content: "q" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me check." }] },
        { type: "function_call", call_id: "c1", name: "f", arguments: '{"a":1}' },
        { type: "function_call", call_id: "c2", name: "g", arguments: "not json" },
        { type: "function_call_output", call_id: "c1", output: "one" },
        { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "two" }] },
        { role: "user", content: "so?" },
      ],
    });
    expect((await lastNativeCreate()).history).toEqual([
      { role: "user", content: "q" },
      {
        role: "assistant",
        content: "Let me check.",
        tool_calls: [
          { id: "c1", name: "f", arguments: { a: 1 } },
          { id: "c2", name: "g", arguments: "not json" },
        ],
      },
      { role: "tool", tool_call_id: "c1", content: "one" },
      { role: "tool", tool_call_id: "c2", content: "two" },
    ]);
  });
});

describe("request size bounds (a client mistake is a 400 naming the field)", () => {
  it.each([
    ["model", { model: "", input: "hi" }],
    ["tools", { model: "m", input: "hi", tools: Array.from({ length: 129 }, (_, i) => ({ type: "function", name: `f${i}` })) }],
    ["tools[0].name", { model: "m", input: "hi", tools: [{ type: "function", name: "x".repeat(65) }] }],
    ["safety_identifier", { model: "m", input: "hi", safety_identifier: "s".repeat(65) }],
  ])("%s", async (param, body) => {
    const response = await call("POST", "/responses", body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { param, type: "invalid_request_error" } });
  });
});

describe("custom tools ↔ native function tools", () => {
  const roundTrip = (tool: Record<string, unknown>) => {
    const mapped = mapTools(CreateResponseRequest.parse({ model: MODEL, input: "x", tools: [tool] }), [], "lenient").tools?.[0];
    return mapped ? customToolFromNative(mapped) : null;
  };

  it("a grammar, a text format and a bare custom tool come back as they were sent", () => {
    const grammar = { type: "custom", name: "apply_patch", description: "Edit files", format: { type: "grammar", syntax: "lark", definition: "start: a\n\nb: /x+/" } };
    expect(roundTrip(grammar)).toEqual(grammar);
    expect(roundTrip({ type: "custom", name: "note", format: { type: "text" } })).toEqual({ type: "custom", name: "note", description: null, format: { type: "text" } });
    expect(roundTrip({ type: "custom", name: "bare" })).toEqual({ type: "custom", name: "bare", description: null, format: { type: "text" } });
  });

  it("a function tool that happens to take one string `input` stays a function", () => {
    expect(customToolFromNative({ name: "f", description: "takes input", input_schema: CUSTOM_TOOL_INPUT_SCHEMA })).toBeNull();
    expect(customToolFromNative({ name: "f", input_schema: CUSTOM_TOOL_INPUT_SCHEMA })).toBeNull();
  });

  it("a malformed custom tool is a 400 naming it; tool_choice custom must name one", async () => {
    const bad = await call("POST", "/responses", { model: MODEL, input: "x", tools: [{ type: "custom", name: "" }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toMatch(/^tools\[0\]/);
    const unknown = await call("POST", "/responses", { model: MODEL, input: "x", tools: [{ type: "custom", name: "a" }], tool_choice: { type: "custom", name: "b" } });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { param: string } }).error.param).toBe("tool_choice");
  });
});
