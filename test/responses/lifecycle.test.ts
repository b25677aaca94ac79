/**
 * Lifecycle routes with the real `openai` SDK: retrieve (and streamed replay), delete, input_items
 * (cursor pagination), cancel, and cross-key isolation on every one of them.
 */
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { env } from "cloudflare:test";
import { call, checkEventOrder, comparable, EMULATOR_KEYS, MODEL, openai, parseSse, runIdOf, type SseEvent } from "./helpers";

describe("GET /v1/responses/{id}", () => {
  it("rebuilds the same Response from the native run record", async () => {
    const client = openai();
    const created = await client.responses.create({ model: MODEL, input: emu({ reasoning: ["hm"], text: ["Fine."] }, "How are you?"), instructions: "Be kind." });
    const retrieved = await client.responses.retrieve(created.id);
    expect(comparable(retrieved)).toEqual(comparable(created));
    expect(retrieved.output.map((item) => item.id)).toEqual([`rs_${created.id.slice(5)}_0`, `msg_${created.id.slice(5)}_1`]);
  });

  it("a response waiting for tool outputs is rebuilt with the same call items (ids and call_ids)", async () => {
    const client = openai();
    const created = await client.responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ name: "lookup", arguments: { q: "x" } }] }, "use the tool"),
      tools: [{ type: "function", name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } }, strict: false }],
    });
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved.output).toEqual(created.output);
    expect(retrieved.tools).toEqual([{ type: "function", name: "lookup", description: null, parameters: { type: "object", properties: { q: { type: "string" } } }, strict: false }]);
  });

  it("replays a finished response as a stream (responses.stream({ response_id }))", async () => {
    const client = openai();
    const created = await client.responses.create({ model: MODEL, input: "replay me" });
    const replayed = await client.responses.stream({ response_id: created.id }).finalResponse();
    expect(comparable(replayed)).toEqual(comparable(created));
    const raw = await call("GET", `/responses/${created.id}?stream=true`);
    checkEventOrder(parseSse(await raw.text()));
  });

  it("never leaks the run's node_input_payload (env secrets)", async () => {
    const created = await openai().responses.create({ model: MODEL, input: "secret?" });
    const text = await (await call("GET", `/responses/${created.id}`)).text();
    expect(text).not.toContain("node_input_payload");
    expect(text).not.toContain("emulator-env-secret");
  });
});

describe("DELETE /v1/responses/{id}", () => {
  it("removes the index row: then 404 on every route and not chainable; the native run stays", async () => {
    const client = openai();
    const created = await client.responses.create({ model: MODEL, input: "delete me" });
    const deleted = await call("DELETE", `/responses/${created.id}`);
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ id: created.id, object: "response", deleted: true });
    await expect(client.responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.responses.delete(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.responses.inputItems.list(created.id)).rejects.toMatchObject({ status: 404 });
    // The SDK's own delete succeeds too.
    const again = await client.responses.create({ model: MODEL, input: "delete me too" });
    await client.responses.delete(again.id);
    await expect(client.responses.retrieve(again.id)).rejects.toMatchObject({ status: 404 });
    // The native run is 1flowbase's record and stays.
    const nativeRun = await fetch(new URL(`/__emulator/runs/${runIdOf(created.id)}`, env.NATIVE_API_BASE_URL));
    expect(nativeRun.status).toBe(200);
  });
});

describe("GET /v1/responses/{id}/input_items", () => {
  const input = [
    { role: "user" as const, content: "first" },
    { type: "message" as const, id: "msg_prev", status: "completed" as const, role: "assistant" as const, content: [{ type: "output_text" as const, text: "second", annotations: [] }] },
    { role: "user" as const, content: "third" },
  ];

  it("lists the run's recorded input, newest first by default, with ids and a list envelope", async () => {
    const created = await openai().responses.create({ model: MODEL, input, instructions: "not an item" });
    const response = await call("GET", `/responses/${created.id}/input_items`);
    const list = (await response.json()) as { object: string; data: Array<{ id: string }>; first_id: string; last_id: string; has_more: boolean };
    const suffix = created.id.slice(5);
    expect(list).toEqual({
      object: "list",
      data: [
        { id: `msg_${suffix}_in_2`, type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "third" }] },
        { id: `msg_${suffix}_in_1`, type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "second" }] },
        { id: `msg_${suffix}_in_0`, type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "first" }] },
      ],
      first_id: `msg_${suffix}_in_2`,
      last_id: `msg_${suffix}_in_0`,
      has_more: false,
    });
  });

  it("paginates with limit/after/order, and the SDK's auto-pagination walks every page", async () => {
    const client = openai();
    const created = await client.responses.create({ model: MODEL, input });
    const page = await client.responses.inputItems.list(created.id, { limit: 1, order: "asc" });
    expect(page.data).toHaveLength(1);
    expect(page.has_more).toBe(true);
    const texts: string[] = [];
    for await (const item of client.responses.inputItems.list(created.id, { limit: 1, order: "asc" })) {
      if (item.type === "message") texts.push((item.content[0] as { text: string }).text);
    }
    expect(texts).toEqual(["first", "second", "third"]);
    const bad = await call("GET", `/responses/${created.id}/input_items?limit=0`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { param: "limit" } });
  });

  it("lists function calls and their outputs from a replayed transcript", async () => {
    const created = await openai().responses.create({
      model: MODEL,
      input: [
        { role: "user", content: "use a tool" },
        { type: "function_call", call_id: "call_a", name: "f", arguments: '{"x":1}' },
        { type: "function_call_output", call_id: "call_a", output: "42" },
        { role: "user", content: "and now?" },
      ] as never,
    });
    const list = (await (await call("GET", `/responses/${created.id}/input_items?order=asc`)).json()) as { data: Array<Record<string, unknown>> };
    expect(list.data.map((item) => item.type)).toEqual(["message", "function_call", "function_call_output", "message"]);
    expect(list.data[1]).toMatchObject({ call_id: "call_a", name: "f", arguments: '{"x":1}' });
    expect(list.data[2]).toMatchObject({ call_id: "call_a", output: "42" });
  });
});

/** Reads an SSE body until `predicate` matches an event; returns the reader to continue with. */
async function readUntil(body: ReadableStream<Uint8Array>, predicate: (event: SseEvent) => boolean) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stream ended early");
    text += decoder.decode(value, { stream: true });
    const events = parseSse(text.slice(0, text.lastIndexOf("\n\n") + 2));
    const match = events.find(predicate);
    if (match) return { reader, match, text };
  }
}

async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>, text: string): Promise<string> {
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
  }
}

describe("POST /v1/responses/{id}/cancel", () => {
  it("cancels a running response: native cancel, status cancelled, and the stream ends with error + response.failed", async () => {
    const response = await call("POST", "/responses", { model: MODEL, input: emu({ text: ["never"], wait_ms: 10_000 }, "slow"), stream: true });
    const { reader, match, text } = await readUntil(response.body!, (event) => event.data.type === "response.in_progress");
    const id = (match.data.response as { id: string }).id;

    const cancelled = await openai().responses.cancel(id);
    expect(cancelled).toMatchObject({ id, object: "response", status: "cancelled", output: [] });

    const events = parseSse(await readRest(reader, text));
    const final = checkEventOrder(events);
    expect(final).toMatchObject({ status: "cancelled", error: { code: "run_cancelled" } });
    expect((await openai().responses.retrieve(id)).status).toBe("cancelled");
  });

  it("a run that completes while the cancel is in flight is answered as what it became (completed), not as cancelled", async () => {
    const response = await call("POST", "/responses", { model: MODEL, input: emu({ text: ["made it"], wait_ms: 400, cancel_race: true }, "race"), stream: true });
    const { reader, match, text } = await readUntil(response.body!, (event) => event.data.type === "response.in_progress");
    const id = (match.data.response as { id: string }).id;
    const answered = await openai().responses.cancel(id);
    expect(answered).toMatchObject({ id, status: "completed", output: [expect.objectContaining({ type: "message" })] });
    const final = checkEventOrder(parseSse(await readRest(reader, text)));
    expect(final).toMatchObject({ status: "completed" });
  });

  it("a finished response cannot be cancelled: 400, not a 5xx", async () => {
    const created = await openai().responses.create({ model: MODEL, input: "done already" });
    const response = await call("POST", `/responses/${created.id}/cancel`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error", code: "response_not_cancellable" } });
  });
});

describe("cross-key isolation on every lifecycle route", () => {
  it("another key's id answers exactly like an id that never existed (404)", async () => {
    const mine = await openai().responses.create({ model: MODEL, input: "mine" });
    const unknown = `resp_${"f".repeat(32)}`;
    const routes = (id: string): Array<[string, string]> => [
      ["GET", `/responses/${id}`],
      ["DELETE", `/responses/${id}`],
      ["GET", `/responses/${id}/input_items`],
      ["POST", `/responses/${id}/cancel`],
    ];
    for (const key of [EMULATOR_KEYS.demoSecond, EMULATOR_KEYS.other]) {
      for (const [index, [method, path]] of routes(mine.id).entries()) {
        const foreign = await call(method, path, undefined, key);
        const [unknownMethod, unknownPath] = routes(unknown)[index] ?? ["", ""];
        const missing = await call(unknownMethod, unknownPath, undefined, key);
        expect(foreign.status, `${method} ${path}`).toBe(404);
        expect(missing.status).toBe(404);
        const foreignBody = (await foreign.json()) as { error: { message: string } };
        const missingBody = (await missing.json()) as { error: { message: string } };
        expect(foreignBody).toEqual({ error: { message: `Response with id '${mine.id}' not found.`, type: "invalid_request_error", param: null, code: null } });
        expect({ ...foreignBody.error, message: "" }).toEqual({ ...missingBody.error, message: "" });
      }
    }
    // …and key 1 still owns it: the foreign DELETE removed nothing.
    expect((await openai().responses.retrieve(mine.id)).id).toBe(mine.id);
  });

  it("/v1/responses is the one Responses entry point (no /openai/v1/responses, no /responses)", async () => {
    const { SELF } = await import("cloudflare:test");
    for (const url of ["http://gw/openai/v1/responses", "http://gw/responses"]) {
      const response = await SELF.fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, input: "x" }),
      });
      expect(response.status, url).toBe(404);
    }
  });

  it("an invalid key is a 401 on every lifecycle route and on chaining, whatever the id — never a 404 that hides it", async () => {
    const mine = await openai().responses.create({ model: MODEL, input: "mine" });
    const invalid = "sk-invalid00000-ThisKeyIsNotKnownToNative0000000000000000";
    for (const id of [mine.id, `resp_${"e".repeat(32)}`, "nope"]) {
      for (const [method, path] of [
        ["GET", `/responses/${id}`],
        ["DELETE", `/responses/${id}`],
        ["GET", `/responses/${id}/input_items`],
        ["POST", `/responses/${id}/cancel`],
      ] as const) {
        const response = await call(method, path, undefined, invalid);
        expect(response.status, `${method} ${path}`).toBe(401);
        expect(await response.json()).toMatchObject({ error: { type: "authentication_error" } });
      }
    }
    const chained = await call("POST", "/responses", { model: MODEL, input: "x", previous_response_id: mine.id }, invalid);
    expect(chained.status).toBe(401);
    // …and the owner still has it: the invalid key's DELETE removed nothing.
    expect((await openai().responses.retrieve(mine.id)).id).toBe(mine.id);
  });

  it("malformed ids are 404s without touching D1", async () => {
    for (const path of ["/responses/nope", "/responses/resp_XYZ/input_items"]) {
      const response = await call("GET", path);
      expect(response.status).toBe(404);
    }
  });
});
