/**
 * `previous_response_id` chaining and function tool round trips, with the real `openai` SDK.
 *
 * Chaining binds the new run to the previous run's native conversation, so native carries every
 * earlier turn (not just the previous answer, unlike the fork's own adapter, native-api.md §4.2). The
 * emulator's default answer prints the history it was given, which makes that visible.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import OpenAI, { APIError } from "openai";
import { createApp } from "../../src/app";
import { forgetIsolateIndexMemory } from "../../src/index-store";
import { emu } from "../../emulator/script";
import { nativeCreateBodyOfRun } from "../native-requests";
import { call, checkEventOrder, EMULATOR_KEYS, lastNativeCreate, MODEL, openai, runIdOf, streamRaw } from "./helpers";

const WEATHER = {
  type: "function" as const,
  name: "get_weather",
  description: "Current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};


/**
 * `env.RESPONSE_INDEX` whose session reads (`withSession(…).prepare(sql).bind(…).first()`, the
 * index's lookups) run through `around` — to delay them (a replica round trip away) or record them.
 */
function indexWithSessionReads(around: (read: () => Promise<unknown>) => Promise<unknown>): D1Database {
  return new Proxy(env.RESPONSE_INDEX, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property !== "withSession" || typeof value !== "function") return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (...args: unknown[]) => {
        const session = (value as (...a: unknown[]) => D1DatabaseSession).apply(target, args);
        return {
          prepare: (sql: string) => ({ bind: (...values: unknown[]) => ({ first: () => around(() => session.prepare(sql).bind(...values).first()) }) }),
          getBookmark: () => session.getBookmark(),
        };
      };
    },
  }) as D1Database;
}

describe("previous_response_id", () => {
  it("a three-turn chain gives native every earlier turn as explicit history (its memory keeps only query + answer)", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: "My name is Ada.", instructions: "Turn-1 instructions" });
    const firstNative = await lastNativeCreate();
    const second = await client.responses.create({ model: MODEL, input: "I like tea.", previous_response_id: first.id });
    const secondNative = await lastNativeCreate();
    const third = await client.responses.create({ model: MODEL, input: "What do you know about me?", previous_response_id: second.id, stream: false });
    const thirdNative = await lastNativeCreate();

    expect(new Set([first.id, second.id, third.id]).size).toBe(3);
    expect(third.previous_response_id).toBe(second.id);
    // The whole chain, in order, rebuilt from the native run records — not left to native's
    // rehydration, which would drop any turn that arrived as explicit history (errata 4).
    expect(secondNative.history).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output_text },
    ]);
    expect(thirdNative.history).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output_text },
      { role: "user", content: "I like tea." },
      { role: "assistant", content: second.output_text },
    ]);
    expect(third.output_text).toContain("user: My name is Ada.");
    expect(third.output_text).toContain("user: I like tea.");
    // Same native conversation on every turn (1flowbase shows one conversation).
    expect(secondNative.conversation).toEqual(thirdNative.conversation);
    expect((secondNative.conversation as { id?: string }).id).toMatch(/^conv_/);
    // instructions are not carried over by previous_response_id (as in OpenAI).
    expect(secondNative.system).toBeUndefined();
    expect(firstNative.system).toBe("Turn-1 instructions");
  });

  it("a first turn's explicit history survives the chain: turns 2 and 3 reach native with all of it, in order", async () => {
    const client = openai();
    const first = await client.responses.create({
      model: MODEL,
      input: [
        { role: "user", content: "My name is Ada." },
        { role: "assistant", content: "Noted." },
        { role: "user", content: "What is 2+2?" },
      ],
    });
    const second = await client.responses.create({ model: MODEL, input: "And 3+3?", previous_response_id: first.id });
    const third = await client.responses.create({ model: MODEL, input: "What is my name?", previous_response_id: second.id });
    const thirdNative = await lastNativeCreate();
    expect(thirdNative.history).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: "Noted." },
      { role: "user", content: "What is 2+2?" },
      { role: "assistant", content: first.output_text },
      { role: "user", content: "And 3+3?" },
      { role: "assistant", content: second.output_text },
    ]);
    expect(third.output_text).toContain("user: My name is Ada.");
  });

  it("a failed turn's error text is never fed back as the assistant's answer", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: "Remember 7." });
    const failed = await client.responses
      .create({ model: MODEL, input: emu({ fail: { error_code: "provider_upstream_error", message: "upstream exploded" } }, "then fail"), previous_response_id: first.id })
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(APIError);
    // The failed response is not chainable as a completed one; chain from the first answer instead.
    await client.responses.create({ model: MODEL, input: "What number?", previous_response_id: first.id });
    const native = await lastNativeCreate();
    expect(JSON.stringify(native.history)).not.toContain("upstream exploded");
  });

  it("over native's body limit: truncation auto drops the oldest turns, disabled is a 400 naming the way out", async () => {
    const client = openai();
    const filler = "x".repeat(900);
    const input = [
      { role: "user" as const, content: `old question ${filler}` },
      { role: "assistant" as const, content: `old answer ${filler}` },
      { role: "user" as const, content: "new question" },
    ];
    const limited = (truncation: "auto" | "disabled") =>
      createApp().fetch(
        new Request("http://gw/v1/responses", {
          method: "POST",
          headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, input, truncation }),
        }),
        { ...env, NATIVE_MAX_REQUEST_BYTES: "1500" },
      );
    const refused = await limited("disabled");
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: "context_length_exceeded", param: "input", message: expect.stringContaining('truncation: "auto"') } });
    const truncated = await limited("auto");
    expect(truncated.status, await truncated.clone().text()).toBe(200);
    const native = await lastNativeCreate();
    expect(native.query).toBe("new question");
    expect(native.history).toBeUndefined();
    expect(client).toBeDefined();
  });


  it("a chain over native's body limit: context_length_exceeded for an owned previous response, previous_response_not_found for a deleted one (ownership is decided first)", async () => {
    // The create maps against native's copy of the previous run while the index is still being read
    // (routes/responses.ts, issue 18); that early mapping's error must not overtake the index's answer.
    const client = openai();
    const owned = await client.responses.create({ model: MODEL, input: `remember ${"x".repeat(900)}` });
    const deleted = await client.responses.create({ model: MODEL, input: `remember ${"y".repeat(900)}` });
    await client.responses.delete(deleted.id);
    // The index answers after native does, as a replica round trip away would; and this isolate
    // forgets the tombstone it wrote, so the index itself must say "deleted".
    forgetIsolateIndexMemory();
    const slowIndex = indexWithSessionReads(async (read) => (await new Promise((resolve) => setTimeout(resolve, 50)), read()));
    const chain = (previous: string) =>
      createApp().fetch(
        new Request("http://gw/v1/responses", {
          method: "POST",
          headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, input: `and ${"z".repeat(400)}`, previous_response_id: previous }),
        }),
        { ...env, RESPONSE_INDEX: slowIndex, NATIVE_MAX_REQUEST_BYTES: "1500" },
      );
    const tooLong = await chain(owned.id);
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ error: { code: "context_length_exceeded", param: "input" } });
    const gone = await chain(deleted.id);
    expect(gone.status).toBe(400);
    expect(await gone.json()).toMatchObject({ error: { code: "previous_response_not_found", param: "previous_response_id" } });
  });
  it("a chained create sends its index read before native's GET of the previous run (the longer of the two, issue 18)", async () => {
    // Both reads are on the wire together; the index read (a replica round trip in production) goes
    // first, so the cost of starting a fetch does not delay it (bench/FINDINGS.md, session 9).
    const client = openai();
    const previous = await client.responses.create({ model: MODEL, input: "first turn" });
    forgetIsolateIndexMemory(); // the index itself must be read, not this isolate's memory of the claim
    const order: string[] = [];
    const recordingIndex = indexWithSessionReads((read) => {
      order.push("index read");
      return read();
    });
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      if (method === "GET" && new URL(url).pathname.endsWith(`/api/agent/v1/runs/${runIdOf(previous.id)}`)) order.push("native GET of the previous run");
      return realFetch(input, init);
    }) as typeof fetch;
    let chained: Response;
    try {
      chained = await createApp().fetch(
        new Request("http://gw/v1/responses", {
          method: "POST",
          headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, input: "second turn", previous_response_id: previous.id }),
        }),
        { ...env, RESPONSE_INDEX: recordingIndex },
      );
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(chained.status, await chained.clone().text()).toBe(200);
    expect(((await chained.json()) as { previous_response_id: string }).previous_response_id).toBe(previous.id);
    expect(order.slice(0, 2)).toEqual(["index read", "native GET of the previous run"]);
  });

  it("streams a chained turn and chains from a streamed turn (the claim precedes response.created)", async () => {
    const first = await streamRaw({ model: MODEL, input: "Remember 42." });
    const firstId = (checkEventOrder(first.events) as { id: string }).id;
    // Chained immediately after the stream: the index row exists before the first event was sent.
    const second = await streamRaw({ model: MODEL, input: "What number?", previous_response_id: firstId });
    const final = checkEventOrder(second.events) as { previous_response_id: string; output: Array<{ content: Array<{ text: string }> }> };
    expect(final.previous_response_id).toBe(firstId);
    expect(final.output[0]?.content[0]?.text).toContain("user: Remember 42.");
  });

  it("an input carrying more than the new turn is sent as explicit history: previous turns + new items", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: "alpha" });
    await client.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [
        { role: "user", content: "beta" },
        { role: "user", content: "gamma" },
      ],
    });
    const native = await lastNativeCreate();
    expect(native.query).toBe("gamma");
    expect(native.history).toEqual([
      { role: "user", content: "alpha" },
      { role: "assistant", content: "You said: alpha" },
      { role: "user", content: "beta" },
    ]);
    expect((native.conversation as { id?: string }).id).toMatch(/^conv_/);
  });

  it("unknown, deleted, store:false and another key's ids are the same 400 previous_response_not_found", async () => {
    const client = openai();
    const stored = await client.responses.create({ model: MODEL, input: "mine" });
    const unstored = await client.responses.create({ model: MODEL, input: "not stored", store: false });
    const deleted = await client.responses.create({ model: MODEL, input: "to delete" });
    await client.responses.delete(deleted.id);
    const unknown = `resp_${"0".repeat(32)}`;

    const attempt = async (id: string, key: string = EMULATOR_KEYS.demo) => {
      const response = await call("POST", "/responses", { model: MODEL, input: "next", previous_response_id: id }, key);
      return { status: response.status, body: (await response.json()) as { error: Record<string, unknown> } };
    };
    const cases = [
      await attempt(unknown),
      await attempt("not-a-response-id"),
      await attempt(deleted.id),
      await attempt(unstored.id),
      await attempt(stored.id, EMULATOR_KEYS.demoSecond),
      await attempt(stored.id, EMULATOR_KEYS.other),
    ];
    const ids = [unknown, "not-a-response-id", deleted.id, unstored.id, stored.id, stored.id];
    cases.forEach((result, index) => {
      expect(result.status).toBe(400);
      expect(result.body).toEqual({
        error: {
          message: `Previous response with id '${ids[index]}' not found.`,
          type: "invalid_request_error",
          param: "previous_response_id",
          code: "previous_response_not_found",
        },
      });
    });
    // The SDK raises the typed error.
    await expect(client.responses.create({ model: MODEL, input: "x", previous_response_id: unknown })).rejects.toMatchObject({
      status: 400,
      code: "previous_response_not_found",
      param: "previous_response_id",
    });
  });
});

describe("item_reference (the Vercel AI SDK's default with store:true)", () => {
  it("earlier assistant turns sent as references are rebuilt from their runs, owner-checked", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: emu({ reasoning: ["hm"], text: ["Paris is in France."] }, "Where is Paris?") });
    const [reasoningItem, messageItem] = first.output;
    const response = await call("POST", "/responses", {
      model: MODEL,
      input: [
        { role: "user", content: [{ type: "input_text", text: "Where is Paris?" }] },
        { type: "item_reference", id: reasoningItem?.id },
        { type: "item_reference", id: messageItem?.id },
        { role: "user", content: [{ type: "input_text", text: "And Rome?" }] },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-1flowbase-ignored-params")).toBeNull();
    expect((await lastNativeCreate()).history).toEqual([
      { role: "user", content: "Where is Paris?" },
      { role: "assistant", content: "Paris is in France." },
    ]);

    // Another key cannot read them through a reference either: skipped and reported, never leaked.
    const foreign = await call(
      "POST",
      "/responses",
      { model: MODEL, input: [{ type: "item_reference", id: messageItem?.id }, { role: "user", content: "x" }] },
      EMULATOR_KEYS.demoSecond,
    );
    expect(foreign.status).toBe(200);
    expect(foreign.headers.get("x-1flowbase-ignored-params")).toBe("input.item_reference");
    expect((await lastNativeCreate()).history).toBeUndefined();
  });
});

describe("function tool round trips", () => {
  it("chained: function_call → function_call_output with previous_response_id resumes the native task (new response id)", async () => {
    const client = openai();
    const first = await client.responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ id: "native_call_1", name: "get_weather", arguments: { city: "Paris" } }] }, "Weather in Paris?"),
      tools: [WEATHER],
    });
    expect(first.status).toBe("completed");
    expect(first.output).toHaveLength(1);
    const call0 = first.output[0];
    if (call0?.type !== "function_call") throw new Error("expected a function call");
    expect(call0).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" });
    expect(call0.call_id).toMatch(/^call_[A-Za-z0-9_-]{44}$/);
    expect(call0.id).toBe(`fc_${first.id.slice(5)}_0`);
    const native = await lastNativeCreate();
    expect(native.inputs).toMatchObject({ tools: [{ name: "get_weather", source: "openai_compatible" }] });

    const second = await client.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call0.call_id, output: "sunny, 21°C" }],
      tools: [WEATHER],
    });
    expect(second.output_text).toBe("Tool results: native_call_1=sunny, 21°C");
    expect(second.id).toMatch(/^resp_[0-9a-f]{64}$/);
    expect(second.id).not.toBe(first.id);
    expect(runIdOf(second.id)).toBe(runIdOf(first.id));
    expect(second.previous_response_id).toBe(first.id);

    // The resumed answer is claimed too: chainable and retrievable.
    const third = await client.responses.create({ model: MODEL, previous_response_id: second.id, input: "thanks" });
    expect(third.status).toBe("completed");
    expect((await client.responses.retrieve(second.id)).output_text).toBe("Tool results: native_call_1=sunny, 21°C");
  });

  it("streamed: the tool call turn and the resumed turn both pass the order checker", async () => {
    const first = await streamRaw({
      model: MODEL,
      input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }, { name: "get_weather", arguments: { city: "Rome" } }] }, "two cities"),
      tools: [WEATHER],
    });
    const firstResponse = checkEventOrder(first.events) as { id: string; status: string; output: Array<{ call_id: string; arguments: string }> };
    expect(firstResponse.status).toBe("completed");
    expect(firstResponse.output.map((item) => item.arguments)).toEqual(['{"city":"Oslo"}', '{"city":"Rome"}']);
    expect(new Set(firstResponse.output.map((item) => item.call_id)).size).toBe(2);
    expect(first.events.map((event) => event.data.type)).toEqual([
      "response.created",
      "response.in_progress",
      ...Array<string[]>(2)
        .fill(["response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done"])
        .flat(),
      "response.completed",
    ]);

    const second = await streamRaw({
      model: MODEL,
      previous_response_id: firstResponse.id,
      input: firstResponse.output.map((item, index) => ({ type: "function_call_output", call_id: item.call_id, output: index === 0 ? "cold" : "warm" })),
    });
    const secondResponse = checkEventOrder(second.events) as { id: string; output: Array<{ content: Array<{ text: string }> }> };
    expect(secondResponse.id).not.toBe(firstResponse.id);
    expect(secondResponse.output[0]?.content[0]?.text).toBe("Tool results: call_1=cold, call_2=warm");
  });

  it("stateless (store:false, full transcript, no previous_response_id): the call id alone resumes the task", async () => {
    const client = openai();
    const transcript: Array<Record<string, unknown>> = [
      { type: "message", role: "developer", content: [{ type: "input_text", text: "You are an agent." }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Lima" } }] }, "Lima?") }] },
    ];
    const first = await client.responses.create({ model: MODEL, store: false, input: transcript as never, tools: [WEATHER] });
    const fc = first.output[0];
    if (fc?.type !== "function_call") throw new Error("expected a function call");
    const second = await client.responses.create({
      model: MODEL,
      store: false,
      tools: [WEATHER],
      input: [
        ...transcript,
        { type: "reasoning", id: "rs_x", summary: [], encrypted_content: null },
        { type: "function_call", id: fc.id, call_id: fc.call_id, name: fc.name, arguments: fc.arguments },
        { type: "function_call_output", call_id: fc.call_id, output: [{ type: "input_text", text: "fog" }] },
      ] as never,
    });
    expect(second.output_text).toBe("Tool results: call_1=fog");
    expect((second as unknown as { store: boolean }).store).toBe(false);
    // store:false → never retrievable or chainable.
    await expect(client.responses.retrieve(second.id)).rejects.toMatchObject({ status: 404 });
  });

  it("forged, foreign, mismatched, partial and replayed call ids are 400s, never 5xx", async () => {
    const client = openai();
    const twoCalls = await client.responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "A" } }, { name: "get_weather", arguments: { city: "B" } }] }, "x"),
      tools: [WEATHER],
    });
    const [a, b] = twoCalls.output as Array<{ call_id: string }>;
    const other = await client.responses.create({ model: MODEL, input: "unrelated" });
    const output = (callId: string, text = "r") => ({ type: "function_call_output", call_id: callId, output: text });

    const expect400 = async (body: Record<string, unknown>, key: string = EMULATOR_KEYS.demo, param = "input") => {
      const response = await call("POST", "/responses", { model: MODEL, ...body }, key);
      const json = (await response.json()) as { error: { param: string | null } };
      expect(response.status, JSON.stringify(json)).toBe(400);
      expect(json.error.param).toBe(param);
    };
    await expect400({ input: [output(`${a?.call_id.slice(0, -2)}xx`)] });
    await expect400({ input: [output(a?.call_id ?? "")] }); // one of two results
    await expect400({ input: [output(a?.call_id ?? ""), output(b?.call_id ?? "")] }, EMULATOR_KEYS.demoSecond); // another key's run
    await expect400({ previous_response_id: other.id, input: [output(a?.call_id ?? ""), output(b?.call_id ?? "")] }, EMULATOR_KEYS.demo, "previous_response_id");

    const resumed = await client.responses.create({ model: MODEL, input: [output(a?.call_id ?? "", "1"), output(b?.call_id ?? "", "2")] as never });
    expect(resumed.output_text).toBe("Tool results: call_1=1, call_2=2");
    await expect400({ input: [output(a?.call_id ?? "", "1"), output(b?.call_id ?? "", "2")] }); // already answered
  });
});

describe("a transcript begun elsewhere (call ids this gateway never issued)", () => {
  // OpenAI's own id shape: never decodes as one of ours (callback-ids.ts), so no native run is claimed.
  const FOREIGN_ID = "call_Xh2bRk1yQ9uLm4Zp7Tc3Wv5N";
  const transcript = [
    { role: "user" as const, content: "Weather in Paris?" },
    { type: "function_call" as const, call_id: FOREIGN_ID, name: "get_weather", arguments: '{"city":"Paris"}' },
    { type: "function_call_output" as const, call_id: FOREIGN_ID, output: "rain, 12°C" },
  ];
  const expectedHistory = [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: "", tool_calls: [{ id: FOREIGN_ID, name: "get_weather", arguments: { city: "Paris" } }] },
    { role: "tool", tool_call_id: FOREIGN_ID, content: "rain, 12°C" },
  ];

  it("runs as a new native run with the calls and outputs as history and an empty query (blocking)", async () => {
    const response = await openai().responses.create({ model: MODEL, input: transcript, tools: [WEATHER] });
    expect(response.status).toBe("completed");
    const native = await nativeCreateBodyOfRun(runIdOf(response.id));
    expect(native).toMatchObject({ query: "", history: expectedHistory });
    // Its input items are the transcript as sent: no empty user message for the empty query.
    const items = await openai().responses.inputItems.list(response.id, { order: "asc" });
    expect(items.data.map((item) => item.type)).toEqual(["message", "function_call", "function_call_output"]);
    expect(items.data[2]).toMatchObject({ call_id: FOREIGN_ID, output: "rain, 12°C" });
  });

  it("runs the same way when streamed", async () => {
    const stream = await openai().responses.create({ model: MODEL, input: transcript, tools: [WEATHER], stream: true });
    let completed: OpenAI.Responses.Response | null = null;
    for await (const event of stream) if (event.type === "response.completed") completed = event.response;
    expect(completed?.status).toBe("completed");
    expect((await nativeCreateBodyOfRun(runIdOf(completed?.id ?? ""))).history).toEqual(expectedHistory);
  });

  it("an id that decodes as ours but names nothing pending is still a 400", async () => {
    const forged = `call_${"A".repeat(44)}`;
    const error = await openai()
      .responses.create({ model: MODEL, input: [{ type: "function_call_output", call_id: forged, output: "x" }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, param: "input" });
  });
});

describe("custom tools (Codex's apply_patch) through the openai SDK", () => {
  const APPLY_PATCH = {
    type: "custom" as const,
    name: "apply_patch",
    description: "Edit files",
    format: { type: "grammar" as const, syntax: "lark" as const, definition: "start: /.+/" },
  };
  const PATCH = "*** Begin Patch\n*** End Patch";

  it("blocking: a custom_tool_call item; the custom_tool_call_output resumes the run; tool_choice custom forces it", async () => {
    const client = openai();
    const first = await client.responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ name: "apply_patch", arguments: { input: PATCH } }] }, "Patch it"),
      tools: [APPLY_PATCH],
    });
    const call = first.output[0];
    if (call?.type !== "custom_tool_call") throw new Error(`expected a custom tool call, got ${JSON.stringify(first.output)}`);
    expect(call).toMatchObject({ type: "custom_tool_call", name: "apply_patch", input: PATCH, status: "completed" });
    expect(first.tools).toEqual([APPLY_PATCH]);
    // Rebuilt from the run record (GET), the call is still a custom tool call and the tool a custom tool.
    const retrieved = await client.responses.retrieve(first.id);
    expect(retrieved.output).toEqual(first.output);
    expect(retrieved.tools).toEqual([{ ...APPLY_PATCH }]);
    const second = await client.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [{ type: "custom_tool_call_output", call_id: call.call_id, output: "Done!" }],
      tools: [APPLY_PATCH],
    });
    expect(second.output_text).toBe("Tool results: call_1=Done!");

    // The emulator's forced tool choice fills the one string argument from the schema.
    const forced = await client.responses.create({ model: MODEL, input: "patch", tools: [APPLY_PATCH], tool_choice: { type: "custom", name: "apply_patch" } });
    expect(forced.output[0]).toMatchObject({ type: "custom_tool_call", name: "apply_patch", input: "example" });
    expect((await lastNativeCreate()).inputs).toMatchObject({ tool_choice: { type: "function", name: "apply_patch" } });
  });

  it("streaming: output_item.added → custom_tool_call_input.delta → .done → output_item.done", async () => {
    const stream = await openai().responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ name: "apply_patch", arguments: { input: PATCH } }] }, "Patch it"),
      tools: [APPLY_PATCH],
      stream: true,
    });
    const types: string[] = [];
    let delta = "";
    let doneInput: string | null = null;
    let completed: OpenAI.Responses.Response | null = null;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.custom_tool_call_input.delta") delta += event.delta;
      if (event.type === "response.custom_tool_call_input.done") doneInput = event.input;
      if (event.type === "response.completed") completed = event.response;
    }
    expect(types.filter((type) => type.includes("output_item") || type.includes("custom_tool_call"))).toEqual([
      "response.output_item.added",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.done",
      "response.output_item.done",
    ]);
    expect(delta).toBe(PATCH);
    expect(doneInput).toBe(PATCH);
    expect(completed?.output).toMatchObject([{ type: "custom_tool_call", name: "apply_patch", input: PATCH }]);

    // The SDK's stream helper accumulates the same item.
    const helper = openai().responses.stream({
      model: MODEL,
      input: emu({ tool_calls: [{ name: "apply_patch", arguments: { input: PATCH } }] }, "Patch it"),
      tools: [APPLY_PATCH],
    });
    expect((await helper.finalResponse()).output).toMatchObject([{ type: "custom_tool_call", name: "apply_patch", input: PATCH }]);
  });
});

describe("ownership index unavailable", () => {
  // A D1 binding that fails every statement: the gateway must fail closed (503), never guess.
  const brokenIndex = {
    prepare() {
      throw new Error("D1 is down");
    },
  } as unknown as D1Database;
  const app = createApp();
  const request = (method: string, path: string, body?: unknown) =>
    app.fetch(
      new Request(`http://gw/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
      }),
      { ...env, RESPONSE_INDEX: brokenIndex },
    );

  it.each([
    ["a chained create", "POST", "/responses", { model: MODEL, input: "x", previous_response_id: `resp_${"1".repeat(32)}` }],
    ["a blocking create (claim)", "POST", "/responses", { model: MODEL, input: "x" }],
    ["a streaming create (claim before the first event)", "POST", "/responses", { model: MODEL, input: "x", stream: true }],
    ["GET", "GET", `/responses/resp_${"1".repeat(32)}`, undefined],
    ["DELETE", "DELETE", `/responses/resp_${"1".repeat(32)}`, undefined],
  ])("%s → 503, not a guess", async (_name, method, path, body) => {
    const response = await request(method, path, body);
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toMatchObject({ error: { code: "index_unavailable", type: "server_error" } });
  });

  it("store:false needs no index", async () => {
    const response = await request("POST", "/responses", { model: MODEL, input: "x", store: false });
    expect(response.status).toBe(200);
  });

  it("the SDK sees a typed 503 it may retry", async () => {
    const client = new OpenAI({
      apiKey: EMULATOR_KEYS.demo,
      baseURL: "http://gw/v1",
      maxRetries: 0,
      fetch: async (input, init) => app.fetch(new Request(input as RequestInfo, init as RequestInit), { ...env, RESPONSE_INDEX: brokenIndex }) as unknown as globalThis.Response,
    });
    const error = await client.responses.retrieve(`resp_${"2".repeat(32)}`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBe(503);
    expect((error as APIError).headers?.get("x-should-retry")).toBe("true");
  });
});

describe("function_call_output on a continuation", () => {
  it("an output that answers no call of the previous response nor of this input is a 400 (OpenAI's 'No tool call found')", async () => {
    const first = await openai().responses.create({ model: MODEL, input: emu({ text: ["OK"] }, "hi") });
    const error = await openai()
      .responses.create({ model: MODEL, previous_response_id: first.id, input: [{ type: "function_call_output", call_id: "call_elsewhere", output: "x" }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 400, code: "invalid_tool_call_id", param: "input" });
    expect((error as APIError).message).toMatch(/No tool call found for function call output with call_id call_elsewhere/);

    // Replayed with its call in the same input, the same output is a transcript the run can take.
    const replayed = await openai().responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [
        { type: "function_call", call_id: "call_elsewhere", name: "lookup", arguments: "{}" },
        { type: "function_call_output", call_id: "call_elsewhere", output: "x" },
      ],
    });
    expect(replayed.status).toBe("completed");
  });
});
