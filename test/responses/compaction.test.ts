/**
 * Responses compaction (`POST /v1/responses/compact`, src/protocols/openai-responses/compaction.ts),
 * through the real `openai` SDK's `client.responses.compact()`.
 *
 * The compaction item names a never-executed native run that records the whole window; a later
 * create carrying it continues with that window as explicit native history. The emulator's default
 * answer prints the history it was given, and its request log shows what native received.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import OpenAI, { APIError } from "openai";
import { emu } from "../../emulator/script";
import { createApp } from "../../src/app";
import { compactionOutputSchemas, openCompaction, sealCompaction } from "../../src/protocols/openai-responses/compaction";
import { openToken, signToken } from "../../src/http/signing";
import { fromBase64Url } from "../../src/native/callback-ids";
import { nativeCreateBodyOfRun, nativeRequests } from "../native-requests";
import { call, EMULATOR_KEYS, MODEL, openai, runIdOf, streamRaw } from "./helpers";

type CompactionItem = OpenAI.Responses.ResponseCompactionItem;

function compactionItemOf(compacted: OpenAI.Responses.CompactedResponse): CompactionItem {
  const last = compacted.output[compacted.output.length - 1];
  if (last?.type !== "compaction") throw new Error(`the last output item is not a compaction item: ${JSON.stringify(last)}`);
  return last;
}

/** The native run a compaction resource id (`resp_k<run hex>`) names. */
function recordRunOf(compacted: OpenAI.Responses.CompactedResponse): string {
  expect(compacted.id).toMatch(/^resp_k[0-9a-f]{32}$/);
  return runIdOf(`resp_${compacted.id.slice(6)}`);
}

/** The items a client sends back: the compacted output as-is, then its new turn (OpenAI's guide). */
function continuation(compacted: OpenAI.Responses.CompactedResponse, text: string): OpenAI.Responses.ResponseInputItem[] {
  const item = compactionItemOf(compacted);
  const param: OpenAI.Responses.ResponseCompactionItemParam = { type: "compaction", id: item.id, encrypted_content: item.encrypted_content };
  const userMessages: OpenAI.Responses.ResponseInputItem[] = compacted.output.flatMap((output) =>
    output.type === "message" && (output as { role?: string }).role === "user"
      ? [{ type: "message" as const, role: "user" as const, content: (output.content as Array<{ text: string }>).map((part) => ({ type: "input_text" as const, text: part.text })) }]
      : [],
  );
  return [...userMessages, param, { role: "user", content: text }];
}

async function errorOf(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  if (!(error instanceof APIError)) throw new Error(`expected an APIError, got ${String(error)}`);
  return error;
}

describe("POST /v1/responses/compact", () => {
  it("compacting a stored chain returns the compaction resource: the chain's user messages, then one signed compaction item", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: "My name is Ada." });
    const second = await client.responses.create({ model: MODEL, input: "I like tea.", previous_response_id: first.id });
    const compacted = await client.responses.compact({ model: MODEL, previous_response_id: second.id });

    expect(compactionOutputSchemas().CompactionResource.safeParse(compacted).error).toBeUndefined();
    expect(compacted.object).toBe("response.compaction");
    expect(Number.isInteger(compacted.created_at)).toBe(true);
    expect(Math.abs(compacted.created_at - Date.now() / 1000)).toBeLessThan(60);
    expect(compacted.output.map((item) => item.type)).toEqual(["message", "message", "compaction"]);
    expect(compacted.output.slice(0, 2)).toMatchObject([
      { type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "My name is Ada." }] },
      { type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "I like tea." }] },
    ]);
    const item = compactionItemOf(compacted);
    expect(item.id).toMatch(/^cmp_[0-9a-f]{32}$/);
    expect(item.encrypted_content).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    // No model pass ran: the window is recorded, not summarised.
    expect(compacted.usage).toEqual({ input_tokens: 0, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 });

    // The record run: the whole chain as explicit history, never executed, no native conversation.
    const recordRunId = recordRunOf(compacted);
    const record = await nativeCreateBodyOfRun(recordRunId);
    expect(record.response_mode).toBe("manual");
    expect(record.conversation).toBeUndefined();
    expect(record.query).toBe("");
    expect(record.history).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output_text },
      { role: "user", content: "I like tea." },
      { role: "assistant", content: second.output_text },
    ]);
    // It is cancelled off the critical path, so no later native worker could execute it.
    await expect.poll(async () => (await nativeRequests(recordRunId)).some((request) => request.path.endsWith(`/runs/${recordRunId}/cancel`))).toBe(true);
    // A compaction is not a response: its id is not retrievable.
    expect((await errorOf(client.responses.retrieve(compacted.id))).status).toBe(404);
    // The cancelled record still carries the window: a continuation after the cancel has all of it.
    const next = await client.responses.create({ model: MODEL, input: continuation(compacted, "Still there?") });
    expect((await nativeCreateBodyOfRun(runIdOf(next.id))).history).toEqual(record.history);
  });

  it("a create whose input carries the compaction item continues with the full window: native receives every earlier turn", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: "My name is Ada." });
    const second = await client.responses.create({ model: MODEL, input: "I like tea.", previous_response_id: first.id });
    const compacted = await client.responses.compact({ model: MODEL, previous_response_id: second.id });

    const next = await client.responses.create({ model: MODEL, input: continuation(compacted, "What do you know about me?") });
    expect(next.status).toBe("completed");
    expect(next.previous_response_id).toBeNull();
    const native = await nativeCreateBodyOfRun(runIdOf(next.id));
    // The user messages the compact output repeated are not sent twice: the window carries them.
    expect(native.history).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output_text },
      { role: "user", content: "I like tea." },
      { role: "assistant", content: second.output_text },
    ]);
    expect(native.query).toBe("What do you know about me?");
    expect(next.output_text).toContain("user: My name is Ada.");
    expect(next.output_text).toContain("user: I like tea.");

    // The compaction item alone (first item, no user messages before it) continues the same way, streamed.
    const item = compactionItemOf(compacted);
    const streamed = await streamRaw({ model: MODEL, input: [{ type: "compaction", encrypted_content: item.encrypted_content }, { role: "user", content: "Again?" }] });
    expect(streamed.response.status).toBe(200);
    const completed = streamed.events.find((event) => event.event === "response.completed");
    const streamedId = (completed?.data.response as { id: string }).id;
    expect((await nativeCreateBodyOfRun(runIdOf(streamedId))).history).toEqual(native.history);

    // Instructions before the item still apply (they are not part of any window).
    const instructed = await client.responses.create({
      model: MODEL,
      input: [{ role: "developer", content: "Answer in French." }, ...continuation(compacted, "Bonjour?")],
    });
    const instructedNative = await nativeCreateBodyOfRun(runIdOf(instructed.id));
    expect(instructedNative.system).toBe("Answer in French.");
    expect(instructedNative.history).toEqual(native.history);

    // And the continuation is an ordinary stored response: chaining from it keeps the whole window.
    const chained = await client.responses.create({ model: MODEL, input: "And now?", previous_response_id: next.id });
    expect((await nativeCreateBodyOfRun(runIdOf(chained.id))).history).toEqual([
      ...(native.history as unknown[]),
      { role: "user", content: "What do you know about me?" },
      { role: "assistant", content: next.output_text },
    ]);
  });

  it("compacts a stateless input (Open Responses' compact-response request) and a store:false create continues from it (its WebSocket compact-new-chain, over HTTP)", async () => {
    const client = openai();
    const compacted = await client.responses.compact({
      model: MODEL,
      prompt_cache_key: "openresponses-compact-test",
      input: [
        { type: "message", role: "user", content: [{ type: "input_text", text: "Remember the compaction code word: slate." }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "OK." }] } as OpenAI.Responses.ResponseInputItem,
        { type: "message", role: "user", content: [{ type: "input_text", text: "Compress this conversation for later continuation." }] },
      ],
    });
    expect(compacted.object).toBe("response.compaction");
    expect(compacted.output.some((item) => item.type === "compaction")).toBe(true);
    expect(compacted.output.filter((item) => item.type === "message")).toHaveLength(2);

    // The compliance runner passes the output back as-is (raw JSON, no previous_response_id, store:false).
    const response = await call("POST", "/responses", {
      model: MODEL,
      store: false,
      input: [...compacted.output, { type: "message", role: "user", content: "Continue from here. Reply with exactly: compacted" }],
      tools: [],
    });
    expect(response.status, await response.clone().text()).toBe(200);
    const body = (await response.json()) as { id: string; status: string; store: boolean };
    expect(body.status).toBe("completed");
    expect(body.store).toBe(false);
    expect(body.id).toMatch(/^resp_u/);
    const native = await nativeCreateBodyOfRun(runIdOf(`resp_${body.id.slice(6)}`));
    expect(native.history).toEqual([
      { role: "user", content: "Remember the compaction code word: slate." },
      { role: "assistant", content: "OK." },
      { role: "user", content: "Compress this conversation for later continuation." },
    ]);
    expect(native.query).toBe("Continue from here. Reply with exactly: compacted");
  });

  it("re-compacting a window that already holds a compaction item keeps all of it", async () => {
    const client = openai();
    const compacted = await client.responses.compact({ model: MODEL, input: [{ role: "user", content: "One." }, { role: "assistant", content: "Two." }] });
    const again = await client.responses.compact({
      model: MODEL,
      input: [...continuation(compacted, "Three."), { role: "assistant", content: "Four." }],
    });
    expect(again.output.filter((item) => item.type === "message")).toHaveLength(2);
    const next = await client.responses.create({ model: MODEL, input: continuation(again, "Five?") });
    expect((await nativeCreateBodyOfRun(runIdOf(next.id))).history).toEqual([
      { role: "user", content: "One." },
      { role: "assistant", content: "Two." },
      { role: "user", content: "Three." },
      { role: "assistant", content: "Four." },
    ]);
  });

  it("a window that ends with the outputs of this gateway's own tool calls is recorded, not resumed", async () => {
    const client = openai();
    const weather = { type: "function" as const, name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false };
    const asked = await client.responses.create({ model: MODEL, input: emu({ tool_calls: [{ id: "native_call_c", name: "get_weather", arguments: { city: "Oslo" } }] }, "Weather in Oslo?"), tools: [weather] });
    const fc = asked.output[0];
    if (fc?.type !== "function_call") throw new Error("expected a function call");
    const compacted = await client.responses.compact({
      model: MODEL,
      input: [
        { role: "user", content: "Weather in Oslo?" },
        { type: "function_call", call_id: fc.call_id, name: fc.name, arguments: fc.arguments },
        { type: "function_call_output", call_id: fc.call_id, output: "snow, -3°C" },
      ],
    });
    const record = await nativeCreateBodyOfRun(recordRunOf(compacted));
    expect(record.history).toEqual([
      { role: "user", content: "Weather in Oslo?" },
      { role: "assistant", content: "", tool_calls: [{ id: fc.call_id, name: "get_weather", arguments: { city: "Oslo" } }] },
      { role: "tool", tool_call_id: fc.call_id, content: "snow, -3°C" },
    ]);
    // The waiting run was not resumed by compacting its transcript.
    expect((await nativeRequests(runIdOf(asked.id))).some((request) => request.path.endsWith("/resume"))).toBe(false);
  });

  it("fields no pass applies are reported as ignored (strict: a 400 naming them)", async () => {
    const lenient = await call("POST", "/responses/compact", { model: MODEL, input: "x", prompt_cache_key: "k", reasoning: { effort: "high" } });
    expect(lenient.status).toBe(200);
    expect(lenient.headers.get("x-1flowbase-ignored-params")).toBe("prompt_cache_key, reasoning");
    const strict = await call("POST", "/responses/compact", { model: MODEL, input: "x", prompt_cache_key: "k" }, EMULATOR_KEYS.demo, { "x-1flowbase-parameter-policy": "strict" });
    expect(strict.status).toBe(400);
    expect(await strict.json()).toMatchObject({ error: { param: "prompt_cache_key", code: "unsupported_parameter" } });
  });

  it("a missing model is a 400 naming it (Open Responses' compact-missing-model); nothing to compact is a 400 too", async () => {
    const missing = await call("POST", "/responses/compact", { input: [{ type: "message", role: "user", content: "Compact this conversation." }] });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { type: "invalid_request_error", param: "model", message: expect.stringContaining("'model' is required") } });
    const empty = await errorOf(openai().responses.compact({ model: MODEL }));
    expect(empty.status).toBe(400);
    expect(empty.error).toMatchObject({ param: "input" });
  });
});

describe("compaction items that cannot be used", () => {
  async function compactedItem(apiKey: string = EMULATOR_KEYS.demo): Promise<CompactionItem> {
    return compactionItemOf(await openai(apiKey).responses.compact({ model: MODEL, input: "A secret window." }));
  }

  async function createWith(encrypted: string, apiKey: string = EMULATOR_KEYS.demo): Promise<{ status: number; body: unknown }> {
    const response = await call("POST", "/responses", { model: MODEL, input: [{ type: "compaction", encrypted_content: encrypted }, { role: "user", content: "Go on." }] }, apiKey);
    return { status: response.status, body: await response.json() };
  }

  it("a tampered encrypted_content, garbage, and another key's item all get the same 400", async () => {
    const item = await compactedItem();
    const flipped = item.encrypted_content.slice(0, 5) + (item.encrypted_content[5] === "A" ? "B" : "A") + item.encrypted_content.slice(6);
    const tampered = await createWith(flipped);
    const garbage = await createWith("gAAAAABpM0Yj-not-ours=");
    const empty = await createWith("");
    const foreignKey = await createWith(item.encrypted_content, EMULATOR_KEYS.demoSecond);
    const foreignApp = await createWith(item.encrypted_content, EMULATOR_KEYS.other);
    expect(tampered.status).toBe(400);
    expect(tampered.body).toEqual({
      error: {
        type: "invalid_request_error",
        code: "invalid_encrypted_content",
        param: "input[0].encrypted_content",
        message: expect.stringContaining("The compaction item at input[0] is invalid"),
      },
    });
    for (const other of [garbage, empty, foreignKey, foreignApp]) {
      expect(other.status).toBe(400);
      expect(other.body).toEqual(tampered.body);
    }
    // The owner's own item still works.
    expect((await createWith(item.encrypted_content)).status).toBe(200);
  });

  it("another key's item is refused by /compact too, identically to garbage", async () => {
    const item = await compactedItem();
    const recompact = (encrypted: string, apiKey: string) =>
      errorOf(openai(apiKey).responses.compact({ model: MODEL, input: [{ type: "compaction", encrypted_content: encrypted }, { role: "user", content: "x" }] }));
    const foreign = await recompact(item.encrypted_content, EMULATOR_KEYS.demoSecond);
    const garbage = await recompact("garbage", EMULATOR_KEYS.demoSecond);
    expect(foreign.status).toBe(400);
    expect(foreign.error).toEqual(garbage.error);
  });

  it("a compaction item together with previous_response_id is refused by name", async () => {
    const client = openai();
    const first = await client.responses.create({ model: MODEL, input: "Hi." });
    const item = await compactedItem();
    const error = await errorOf(
      client.responses.create({ model: MODEL, previous_response_id: first.id, input: [{ type: "compaction", encrypted_content: item.encrypted_content }, { role: "user", content: "x" }] }),
    );
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ param: "previous_response_id" });
  });

  it("a store:false response id cannot be compacted (it is never chainable); store:false creates may carry compaction items", async () => {
    const client = openai();
    const unstored = await client.responses.create({ model: MODEL, input: "Not kept.", store: false });
    expect(unstored.id).toMatch(/^resp_u/);
    const error = await errorOf(client.responses.compact({ model: MODEL, previous_response_id: unstored.id }));
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ code: "previous_response_not_found", param: "previous_response_id" });
    // The stateless way: compact the input itself, continue with store:false.
    const item = await compactedItem();
    const next = await client.responses.create({ model: MODEL, store: false, input: [{ type: "compaction", encrypted_content: item.encrypted_content }, { role: "user", content: "And?" }] });
    expect(next.id).toMatch(/^resp_u/);
    expect((await nativeCreateBodyOfRun(runIdOf(`resp_${next.id.slice(6)}`))).history).toEqual([{ role: "user", content: "A secret window." }]);
  });
});

describe("the signing secret", () => {
  const post = (path: string, body: unknown, overrides: Record<string, string>) =>
    createApp().fetch(
      new Request(`http://gw/v1${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
      { ...env, ...overrides },
    );
  const OLD = "old-signing-secret-0123456789abcdef-0123";
  const NEW = "new-signing-secret-0123456789abcdef-4567";

  it("without GATEWAY_SIGNING_SECRET compaction is refused by name, never answered unsigned", async () => {
    const compact = await post("/responses/compact", { model: MODEL, input: "x" }, { GATEWAY_SIGNING_SECRET: "" });
    expect(compact.status).toBe(400);
    expect(((await compact.json()) as { error: { message: string } }).error.message).toContain("GATEWAY_SIGNING_SECRET");
    const create = await post("/responses", { model: MODEL, input: [{ type: "compaction", encrypted_content: "x" }, { role: "user", content: "y" }] }, { GATEWAY_SIGNING_SECRET: "" });
    expect(create.status).toBe(400);
    expect(await create.json()).toMatchObject({ error: { param: "input[0]", message: expect.stringContaining("GATEWAY_SIGNING_SECRET") } });
  });

  it("a short secret is a configuration error naming it", async () => {
    const response = await post("/responses/compact", { model: MODEL, input: "x" }, { GATEWAY_SIGNING_SECRET: "short" });
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("GATEWAY_SIGNING_SECRET");
  });

  it("a window over native's request limit is refused whole, never recorded with turns dropped", async () => {
    const long = "x".repeat(900);
    const response = await post("/responses/compact", { model: MODEL, input: [{ role: "user", content: long }, { role: "assistant", content: long }] }, { NATIVE_MAX_REQUEST_BYTES: "1500" });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "context_length_exceeded", param: "input", message: expect.stringContaining("cannot be recorded whole") } });
  });

  it("rotation: items signed with the previous secret still verify while it is configured, and only then", async () => {
    const compact = await post("/responses/compact", { model: MODEL, input: "Rotated window." }, { GATEWAY_SIGNING_SECRET: OLD });
    expect(compact.status).toBe(200);
    const compacted = (await compact.json()) as OpenAI.Responses.CompactedResponse;
    const input = [{ type: "compaction", encrypted_content: compactionItemOf(compacted).encrypted_content }, { role: "user", content: "Still there?" }];
    expect((await post("/responses", { model: MODEL, input }, { GATEWAY_SIGNING_SECRET: NEW, GATEWAY_SIGNING_SECRET_PREVIOUS: OLD })).status).toBe(200);
    const retired = await post("/responses", { model: MODEL, input }, { GATEWAY_SIGNING_SECRET: NEW });
    expect(retired.status).toBe(400);
    expect(await retired.json()).toMatchObject({ error: { code: "invalid_encrypted_content" } });
  });
});

describe("the compaction token (src/http/signing.ts)", () => {
  const keys = { current: "unit-signing-secret-0123456789abcdef-xyz" };
  const owner = "a".repeat(64);
  const runId = "019ae4b1-c2d3-7e8f-9a0b-1c2d3e4f5a6b";

  it("round-trips for its owner only, and only in its own purpose", async () => {
    const token = await sealCompaction(keys, owner, runId);
    expect(await openCompaction(keys, owner, token)).toBe(runId);
    expect(await openCompaction(keys, "b".repeat(64), token)).toBeNull();
    expect(await openCompaction({ current: "another-secret-0123456789abcdef-0123456" }, owner, token)).toBeNull();
    // Same bytes signed for another purpose never open as a compaction.
    const payload = new Uint8Array(16).fill(7);
    const other = await signToken(keys, "some.other.purpose", owner, payload);
    expect(await openToken(keys, "responses.compaction.v1", owner, other, 16)).toBeNull();
    expect(await openToken(keys, "some.other.purpose", owner, other, 16)).toEqual(payload);
  });

  it("rejects every other spelling: truncated, extended, non-canonical base64, padding, other alphabets", async () => {
    const token = await sealCompaction(keys, owner, runId);
    // 2 + 32 bytes end in a partial base64 group: its last character has 4 unused bits. Setting one
    // decodes to the very same bytes (so the MAC would verify) — only the canonical check refuses it.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const tailed = await signToken(keys, "t", owner, new Uint8Array(2));
    const nonCanonical = tailed.slice(0, -1) + alphabet[alphabet.indexOf(tailed.slice(-1)) + 1];
    expect(fromBase64Url(nonCanonical)).toEqual(fromBase64Url(tailed));
    expect(await openToken(keys, "t", owner, tailed, 2)).toEqual(new Uint8Array(2));
    for (const variant of [token.slice(0, -1), `${token}A`, `${token}=`, token.replace(/-/g, "+").replace(/_/g, "/") + (token.includes("-") || token.includes("_") ? "" : "+"), ` ${token}`]) {
      expect(await openCompaction(keys, owner, variant), variant).toBeNull();
    }
    expect(await openToken(keys, "t", owner, nonCanonical, 2)).toBeNull();
  });
});

describe("context_management on create", () => {
  it("is refused with a 400 naming it (server-side compaction inside a create is not available)", async () => {
    const error = await errorOf(openai().responses.create({ model: MODEL, input: "hi", context_management: [{ type: "compaction", compact_threshold: 1000 }] }));
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ param: "context_management", message: expect.stringContaining("/v1/responses/compact") });
  });

  it("an empty list asks for nothing and is not refused", async () => {
    const response = await openai().responses.create({ model: MODEL, input: "hi", context_management: [] });
    expect(response.status).toBe("completed");
  });
});

describe("compaction over the Responses WebSocket (the create pipeline is shared)", () => {
  /** One `response.create` on a fresh socket; resolves with the terminal message. */
  async function socketTurn(create: Record<string, unknown>): Promise<Record<string, unknown>> {
    const upgrade = await SELF.fetch("http://gw/v1/responses", { headers: { upgrade: "websocket", authorization: `Bearer ${EMULATOR_KEYS.demo}` } });
    expect(upgrade.status).toBe(101);
    const socket = upgrade.webSocket;
    if (!socket) throw new Error("no webSocket on the 101");
    socket.accept();
    const terminal = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no terminal message within 10 s")), 10_000);
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(event.data as string) as Record<string, unknown>;
        if (["response.completed", "response.failed", "response.incomplete", "error"].includes(String(message.type))) {
          clearTimeout(timer);
          resolve(message);
        }
      });
    });
    socket.send(JSON.stringify({ type: "response.create", ...create }));
    try {
      return await terminal;
    } finally {
      socket.close(1000, "done");
    }
  }

  it("Open Responses' websocket-compact-new-chain: the compacted output plus a new turn, store:false, no previous_response_id", async () => {
    const compacted = await openai().responses.compact({
      model: MODEL,
      input: [
        { type: "message", role: "user", content: [{ type: "input_text", text: "Remember the compaction code word: slate." }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "OK." }] } as OpenAI.Responses.ResponseInputItem,
        { type: "message", role: "user", content: [{ type: "input_text", text: "Compress this conversation for later continuation." }] },
      ],
    });
    const terminal = await socketTurn({
      model: MODEL,
      store: false,
      input: [...compacted.output, { type: "message", role: "user", content: "Continue from here. Reply with exactly: compacted" }],
      tools: [],
    });
    expect(terminal.type, JSON.stringify(terminal)).toBe("response.completed");
    const response = terminal.response as { id: string; status: string };
    expect(response.status).toBe("completed");
    const native = await nativeCreateBodyOfRun(runIdOf(`resp_${response.id.replace(/^resp_u?/, "")}`));
    expect(native.history).toEqual([
      { role: "user", content: "Remember the compaction code word: slate." },
      { role: "assistant", content: "OK." },
      { role: "user", content: "Compress this conversation for later continuation." },
    ]);

    // An unusable item is the same 400 over the socket, as an error message.
    const refused = await socketTurn({ model: MODEL, input: [{ type: "compaction", encrypted_content: "garbage" }, { role: "user", content: "x" }] });
    expect(refused).toMatchObject({ type: "error", status: 400, error: { code: "invalid_encrypted_content", param: "input[0].encrypted_content" } });
  });
});
