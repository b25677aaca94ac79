/**
 * Forced tool choice (emulator/tool-choice.ts): with `inputs.tool_choice` forcing a tool, the
 * emulated model calls it with schema-shaped arguments — no directive needed; after the tool
 * results it answers.
 */
import { describe, expect, it } from "vitest";
import { api, blocking, emu, events, postRun, type Run } from "./helpers";

const WEATHER = {
  name: "get_weather",
  source: "openai_compatible",
  description: "Weather for a city",
  input_schema: {
    type: "object",
    properties: {
      city: { type: "string" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      days: { type: "integer", minimum: 1, maximum: 7 },
      options: { type: "object", properties: { hourly: { type: "boolean" }, note: { type: "string" } }, required: ["hourly"] },
      tags: { type: "array", items: { type: "string", format: "email" } },
      ratio: { type: ["number", "null"] },
      optional_field: { type: "string" },
    },
    required: ["city", "unit", "days", "options", "tags", "ratio"],
  },
};
const SEARCH = { name: "search", source: "anthropic_compatible", input_schema: { type: "object", properties: { q: { type: "string", minLength: 12 } }, required: ["q"] } };
const WEATHER_ARGS = { city: "example", unit: "celsius", days: 1, options: { hourly: false }, tags: ["user@example.com"], ratio: 0 };

function resume(run: Run, content: string): Promise<Response> {
  return api(`/runs/${run.id}/resume`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      callback_task_id: run.required_action?.payload.callback_task_id,
      response_payload: { tool_results: (run.tool_calls ?? []).map((c) => ({ tool_call_id: c.id, content })) },
    }),
  });
}

describe("forced tool_choice", () => {
  it("'required' calls the first tool with arguments synthesised from its schema; the resume answers text", async () => {
    const run = await blocking({ query: "weather?", inputs: { tools: [WEATHER, SEARCH], tool_choice: "required" } });
    expect(run.status).toBe("waiting");
    expect(run.tool_calls).toEqual([{ id: "call_1", name: "get_weather", arguments: WEATHER_ARGS }]);
    expect(run.answer).toBeNull();
    const done = ((await (await resume(run, "sunny")).json()) as { data: Run }).data;
    expect(done.status).toBe("succeeded");
    expect(done.answer).toBe("Tool results: call_1=sunny");
  });

  it("every forcing form selects its tool", async () => {
    const forms: Array<[unknown, string]> = [
      [{ type: "function", name: "search" }, "search"],
      [{ type: "function", function: { name: "search" } }, "search"],
      [{ type: "tool", name: "search" }, "search"],
      [{ type: "any" }, "get_weather"],
      [{ type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "search" }] }, "search"],
      [{ name: "search" }, "search"],
    ];
    for (const [tool_choice, name] of forms) {
      const run = await blocking({ query: "go", inputs: { tools: [WEATHER, SEARCH], tool_choice } });
      expect(run.tool_calls?.map((c) => c.name), JSON.stringify(tool_choice)).toEqual([name]);
    }
    const search = await blocking({ query: "go", inputs: { tools: [WEATHER, SEARCH], tool_choice: { type: "tool", name: "search" } } });
    expect(search.tool_calls?.[0]?.arguments).toEqual({ q: "examplexxxxx" });
  });

  it("auto, none or no tool_choice never call a tool", async () => {
    for (const tool_choice of ["auto", "none", { type: "auto" }, { type: "none" }, undefined]) {
      const inputs: Record<string, unknown> = { tools: [WEATHER] };
      if (tool_choice !== undefined) inputs.tool_choice = tool_choice;
      const run = await blocking({ query: "hi", inputs });
      expect(run.status, JSON.stringify(tool_choice)).toBe("succeeded");
      expect(run.tool_calls).toBeNull();
    }
  });

  it("streams a required_action like scripted tool calls; a $ref / anyOf schema is followed", async () => {
    const tool = {
      name: "create",
      input_schema: {
        type: "object",
        $defs: { item: { type: "object", properties: { id: { type: "integer", exclusiveMinimum: 4 } }, required: ["id"] } },
        properties: { item: { $ref: "#/$defs/item" }, kind: { anyOf: [{ type: "null" }, { const: "widget" }] }, when: { type: "string", format: "date-time" } },
        required: ["item", "kind", "when"],
      },
    };
    const evs = events(await (await postRun({ query: "make one", response_mode: "streaming", inputs: { tools: [tool], tool_choice: "required" } })).text());
    expect(evs.map((e) => e.event)).toEqual(["run.started", "required_action"]);
    const action = evs[1]?.data.required_action as { payload: { tool_calls: Array<{ arguments: unknown }> } };
    expect(action.payload.tool_calls[0]?.arguments).toEqual({ item: { id: 5 }, kind: "widget", when: "2026-01-01T00:00:00Z" });
  });

  it("a scripted leg wins: scripted tool_calls replace the forced call; scripted text is spoken before the forced call", async () => {
    const scripted = await blocking({ query: emu({ tool_calls: [{ id: "mine", name: "search", arguments: { q: "x" } }] }), inputs: { tools: [WEATHER], tool_choice: "required" } });
    expect(scripted.tool_calls).toEqual([{ id: "mine", name: "search", arguments: { q: "x" } }]);
    const evs = events(await (await postRun({ query: emu({ text: ["Let me check."] }), response_mode: "streaming", inputs: { tools: [WEATHER], tool_choice: "required" } })).text());
    expect(evs.map((e) => e.event)).toEqual(["run.started", "message.delta", "required_action"]);
  });
});
