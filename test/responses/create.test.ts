/**
 * Responses create, driven by the real `openai` SDK (7.57) against the worker, the worker against
 * the emulated native API: blocking, `responses.stream()` → `finalResponse()`, raw iteration through
 * the strict order checker, reasoning, incomplete, failure, cut streams, and blocking == stream over
 * a table of scripted runs (invariant 4).
 */
import { describe, expect, it } from "vitest";
import OpenAI, { APIError } from "openai";
import { emu } from "../../emulator/script";
import { call, checkEventOrder, comparable, lastNativeCreate, MODEL, openai, streamRaw } from "./helpers";
import { oneRun } from "../support/deltas";

describe("blocking create", () => {
  it("returns a complete Response object with every SPEC-required field", async () => {
    const client = openai();
    const { data: response, response: http } = await client.responses
      .create({ model: MODEL, input: "Hello there", instructions: "Be brief.", metadata: { team: "qa" }, temperature: 0.2 })
      .withResponse();
    expect(http.headers.get("content-type")).toContain("application/json");
    expect(response.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(response).toMatchObject({
      object: "response",
      status: "completed",
      error: null,
      incomplete_details: null,
      instructions: "Be brief.",
      model: MODEL,
      parallel_tool_calls: true,
      previous_response_id: null,
      store: true,
      temperature: 0.2,
      // OpenAI's defaults where the request sent none (Open Responses requires numbers here).
      top_p: 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      top_logprobs: 0,
      tool_choice: "auto",
      tools: [],
      metadata: { team: "qa" },
      background: false,
    });
    expect(typeof response.created_at).toBe("number");
    expect(response.output).toEqual([
      {
        id: `msg_${response.id.slice(5)}_0`,
        type: "message",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "You said: Hello there [system: Be brief.]", annotations: [], logprobs: [] }],
      },
    ]);
    expect(response.output_text).toBe("You said: Hello there [system: Be brief.]");
    expect(response.usage).toEqual({
      input_tokens: expect.any(Number),
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: expect.any(Number),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: expect.any(Number),
    });
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
    // temperature is accepted but the flow decides it: reported, not silently dropped.
    expect(http.headers.get("x-1flowbase-ignored-params")).toBe("temperature");

    const native = await lastNativeCreate();
    expect(native).toMatchObject({
      query: "Hello there",
      system: "Be brief.",
      model: MODEL,
      // native always streams; blocking answers fold the stream (invariant 4)
      response_mode: "streaming",
      conversation: { user: "openai-responses" },
    });
    expect(native.history).toBeUndefined();
    expect((native.metadata as { trace_id?: string }).trace_id).toBe(http.headers.get("x-request-id"));
  });

  it("maps an item list: developer/system hoisted into system, history before the last user turn, images", async () => {
    const client = openai();
    const response = await client.responses.create({
      model: MODEL,
      input: [
        { role: "developer", content: "Answer in English." },
        { role: "user", content: [{ type: "input_text", text: "Hi" }] },
        { type: "message", id: "msg_prior", status: "completed", role: "assistant", content: [{ type: "output_text", text: "Hello!", annotations: [] }] },
        {
          role: "user",
          content: [
            { type: "input_text", text: "What is this?" },
            { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "auto" },
          ],
        },
      ],
    });
    expect(response.output_text).toContain("You said: What is this?");
    const native = await lastNativeCreate();
    expect(native.system).toBe("Answer in English.");
    expect(native.query).toBe("What is this?");
    expect(native.history).toEqual([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello!" },
      { role: "user", content: "What is this?", content_blocks: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "auto" } }] },
    ]);
  });

  it("accepts Codex's request shape (developer role, store:false, include, hosted and custom tools), maps custom tools and reports what it ignores", async () => {
    const response = await call("POST", "/responses", {
      model: MODEL,
      instructions: "You are Codex.",
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "<permissions>sandboxed</permissions>" }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "list files" }] },
      ],
      tools: [
        { type: "function", name: "shell", description: "Runs a command", parameters: { type: "object", properties: { command: { type: "array" } } }, strict: false },
        { type: "custom", name: "apply_patch", description: "Edit files", format: { type: "grammar", syntax: "lark", definition: "start: /.+/" } },
        { type: "web_search" },
      ],
      tool_choice: "auto",
      parallel_tool_calls: false,
      reasoning: { effort: "medium", summary: "auto" },
      store: false,
      stream: false,
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "session-1",
      text: { verbosity: "low" },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.status).toBe("completed");
    expect(body.store).toBe(false);
    expect(response.headers.get("x-1flowbase-ignored-params")?.split(", ").sort()).toEqual(
      ["include", "parallel_tool_calls", "prompt_cache_key", "text", "tools.web_search"].sort(),
    );
    const native = await lastNativeCreate();
    expect(native.system).toBe("You are Codex.\n\n<permissions>sandboxed</permissions>");
    expect(native.inputs).toEqual({
      tools: [
        { name: "shell", source: "openai_compatible", description: "Runs a command", input_schema: { type: "object", properties: { command: { type: "array" } } } },
        // The custom tool: one string `input`, its grammar stated in the description (to-native.ts).
        {
          name: "apply_patch",
          source: "openai_compatible",
          description: "Edit files\n\nCall it with one argument, `input`: the tool's input as free-form text.\n\nThe input must follow this lark grammar:\nstart: /.+/",
          input_schema: { type: "object", properties: { input: { type: "string" } }, required: ["input"] },
        },
      ],
      tool_choice: "auto",
    });
    // The default catalog model supports reasoning: effort is mapped, not ignored (native-api.md §1.4.1).
    expect(native.execution).toEqual({ model_parameters: { reasoning: { effort: "medium" } } });
    // store:false responses can never be chained: no native conversation is bound.
    expect(native.conversation).toBeUndefined();
  });

  it("reports a reasoning effort the model cannot take instead of failing the run", async () => {
    const response = await call("POST", "/responses", { model: "emu-plain", input: "hi", reasoning: { effort: "high" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-1flowbase-ignored-params")).toBe("reasoning.effort");
    expect((await lastNativeCreate()).execution).toBeUndefined();
  });
});

describe("streaming create", () => {
  it("responses.stream() → finalResponse() equals the blocking answer for the same script", async () => {
    const client = openai();
    const input = emu({ reasoning: ["Let me ", "think."], text: ["Hel", "lo ", "world"] }, "hi");
    const stream = client.responses.stream({ model: MODEL, input });
    const deltas: string[] = [];
    stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
    const streamed = await stream.finalResponse();
    expect(deltas.join("")).toBe("Hello world");
    expect(streamed.output_text).toBe("Hello world");
    expect(streamed.output.map((item) => item.type)).toEqual(["reasoning", "message"]);
    expect(streamed.output[0]).toEqual({ id: `rs_${streamed.id.slice(5)}_0`, type: "reasoning", summary: [{ type: "summary_text", text: "Let me think." }] });

    const blocking = await client.responses.create({ model: MODEL, input });
    expect(comparable(blocking)).toEqual(comparable(streamed));
  });

  it("iterates events in strict order with exactly one terminal event (raw SDK stream)", async () => {
    const client = openai();
    const stream = await client.responses.create({ model: MODEL, input: emu({ reasoning: ["a"], text: ["b", "c"] }, "x"), stream: true });
    const events: Array<{ event: string; data: Record<string, unknown> }> = [];
    for await (const event of stream) events.push({ event: event.type, data: event as unknown as Record<string, unknown> });
    const final = checkEventOrder(events);
    expect(final.status).toBe("completed");
    expect(oneRun(events.map((event) => event.event), "response.output_text.delta")).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const text = events.filter((event) => event.event === "response.output_text.delta").map((event) => event.data["delta"]);
    expect(text.join("")).toBe("bc");
  });

  it("frames every event as `event: <type>` + one `data:` line, ends with one data-only [DONE] after the terminal (Open Responses), and takes usage from the run record", async () => {
    const { response, text, events } = await streamRaw({ model: MODEL, input: "ping" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(text.endsWith("event: response.completed\ndata: " + JSON.stringify(events.at(-1)?.data) + "\n\ndata: [DONE]\n\n")).toBe(true);
    expect(text.split("[DONE]")).toHaveLength(2);
    const frames = text.split("\n\n").filter((chunk) => chunk.length > 0 && !chunk.startsWith(":"));
    for (const frame of frames.slice(0, -1)) {
      expect(frame.split("\n")).toHaveLength(2);
    }
    const final = checkEventOrder(events);
    // The emulator's run.completed carries no usage (like the fork): it comes from GET /runs/{id}.
    expect((final.usage as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    expect((final.usage as { total_tokens: number }).total_tokens).toBeGreaterThan(0);
  });
});

describe("reasoning, incomplete, failure, cut", () => {
  it("turns <think> in the native answer into a reasoning item; message text never contains <think>", async () => {
    // synthesized deltas: native's terminal fallback splits the stored answer (native-api.md §2.3);
    // here the message deltas themselves carry the tags, split across delta boundaries.
    const { events } = await streamRaw({ model: MODEL, input: emu({ text: ["<thi", "nk>deep ", "thought</th", "ink>", "Answer"] }, "q") });
    const final = checkEventOrder(events);
    expect(final.output).toEqual([
      expect.objectContaining({ type: "reasoning", summary: [{ type: "summary_text", text: "deep thought" }] }),
      expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "Answer" })] }),
    ]);
  });

  it("reasoning with reasoning-token usage from the run record", async () => {
    const client = openai();
    const response = await client.responses.create({
      model: MODEL,
      input: emu({ reasoning: ["r1"], text: ["t1"], usage: { prompt_tokens: 11, completion_tokens: 7, reasoning_tokens: 3, cache_read_tokens: 5 } }, "q"),
    });
    expect(response.usage).toEqual({
      input_tokens: 11,
      input_tokens_details: { cached_tokens: 5, cache_write_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 3 },
      total_tokens: 18,
    });
  });

  it("native incomplete → response.incomplete (stream) and status incomplete (blocking)", async () => {
    const input = emu({ text: ["partial"], incomplete: true }, "q");
    const { events } = await streamRaw({ model: MODEL, input });
    const final = checkEventOrder(events);
    expect(events[events.length - 1]?.data.type).toBe("response.incomplete");
    expect(final).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
    expect(final.output).toEqual([expect.objectContaining({ type: "message", status: "incomplete" })]);

    const blocking = await openai().responses.create({ model: MODEL, input });
    expect(comparable(blocking)).toEqual(comparable({ ...final, output_text: "partial" }));
  });

  it("native run.failed → error event then response.failed (stream); HTTP error in OpenAI shape (blocking)", async () => {
    const input = emu({ text: ["so far"], fail: { code: "rate_limited", message: "provider rate limited", after_deltas: 1 } }, "q");
    const { events } = await streamRaw({ model: MODEL, input });
    const final = checkEventOrder(events);
    expect(final).toMatchObject({ status: "failed", error: { code: "rate_limit_exceeded", message: "provider rate limited" } });
    expect(final.output).toEqual([expect.objectContaining({ type: "message", status: "incomplete", content: [expect.objectContaining({ text: "so far" })] })]);
    expect(events[events.length - 2]?.data).toMatchObject({
      type: "error",
      code: "rate_limit_exceeded",
      error: { type: "rate_limit_error", code: "rate_limit_exceeded", message: "provider rate limited" },
    });

    const error = await openai()
      .responses.create({ model: MODEL, input })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(429);
    expect((error as APIError).error).toMatchObject({ code: "rate_limit_exceeded", type: "rate_limit_error" });
  });

  it("the SDK's stream helper surfaces a failed run as an APIError", async () => {
    const stream = openai().responses.stream({ model: MODEL, input: emu({ fail: { code: "runtime_error", message: "boom" } }, "q") });
    await expect(stream.finalResponse()).rejects.toBeInstanceOf(APIError);
  });

  it.each([
    ["a stream cut after some deltas", { text: ["a", "b", "c"], drop_after: 3 }],
    ["a stream that ends without a terminal event", { text: ["a"], end_without_terminal: true }],
    ["malformed native SSE", { text: ["a", "b"], malformed: "json" as const }],
  ])("%s → error + response.failed, never a silent close", async (_name, script) => {
    const { events } = await streamRaw({ model: MODEL, input: emu(script, "q") });
    const final = checkEventOrder(events);
    expect(final.status).toBe("failed");
    expect(typeof (final.error as { code: string }).code).toBe("string");
  });

  it("a native HTTP error before the stream opens is a plain HTTP error", async () => {
    const response = await call("POST", "/responses", { model: MODEL, input: emu({ http_error: { status: 409, code: "application_not_published", message: "no publication" } }, "q"), stream: true });
    expect(response.status).toBe(409);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toMatchObject({ error: { code: "application_not_published", message: "no publication" } });
  });
});

describe("blocking == final stream snapshot (invariant 4)", () => {
  const scripts: Array<[string, Parameters<typeof emu>[0]]> = [
    ["text", { text: ["one ", "two"] }],
    ["reasoning then text", { reasoning: ["think"], text: ["answer"] }],
    ["interleaved segments", { segments: [{ kind: "reasoning", text: "r1" }, { kind: "message", text: "m1" }, { kind: "reasoning", text: "r2" }, { kind: "message", text: "m2" }] }],
    ["synthesized deltas", { reasoning: ["x"], text: ["y"], synthesized_deltas: true }],
    ["usage on the terminal event", { text: ["u"], usage_on_terminal: true, usage: { prompt_tokens: 3, completion_tokens: 4 } }],
    ["incomplete", { text: ["cut"], incomplete: true }],
    ["tool calls", { tool_calls: [{ name: "lookup", arguments: { q: 1 } }, { name: "other", arguments: {} }] }],
    ["unicode", { text: ["héllo ", "🌍", " 中文"] }],
  ];
  it.each(scripts)("%s", async (_name, script) => {
    const input = emu(script, "same");
    const { events } = await streamRaw({ model: MODEL, input });
    const streamed = checkEventOrder(events);
    const blocking = await (await call("POST", "/responses", { model: MODEL, input })).json();
    expect(comparable(blocking)).toEqual(comparable(streamed));
  });

  it("text streamed before tool calls is in the blocking answer too (native keeps none for a waiting run)", async () => {
    // Native returns no answer for a waiting run (native-api.md §1.5, §7); blocking folds the native
    // stream, so it still carries the text that preceded the calls, with the same ids and call_ids.
    const input = emu({ text: ["Checking."], tool_calls: [{ name: "lookup", arguments: { q: 1 } }] }, "same");
    const streamed = checkEventOrder((await streamRaw({ model: MODEL, input })).events) as { output: Array<Record<string, unknown>> };
    const blocking = (await (await call("POST", "/responses", { model: MODEL, input })).json()) as { output: Array<Record<string, unknown>> };
    expect(streamed.output.map((item) => item.type)).toEqual(["message", "function_call"]);
    expect(comparable(blocking)).toEqual(comparable(streamed));
  });
});

describe("tools echoed as OpenAI echoes them (OpenAI FunctionTool, Open Responses FunctionTool: description and strict required)", () => {
  it("a function tool sent without description and strict comes back with description null and strict false; sent values are kept", async () => {
    const parameters = { type: "object", properties: { q: { type: "string" } } };
    const response = await openai().responses.create({
      model: MODEL,
      input: "hi",
      tools: [
        { type: "function", name: "bare", parameters } as unknown as OpenAI.Responses.FunctionTool,
        { type: "function", name: "full", description: "Finds things", parameters, strict: true },
      ],
    });
    expect(response.tools).toEqual([
      { type: "function", name: "bare", description: null, parameters, strict: false },
      { type: "function", name: "full", description: "Finds things", parameters, strict: true },
    ]);
    expect(response).toMatchObject({ temperature: 1, top_p: 1, presence_penalty: 0, frequency_penalty: 0, top_logprobs: 0 });
  });
});
