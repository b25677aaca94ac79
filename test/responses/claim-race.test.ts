/**
 * The ownership claim is written alongside the stream, not before the first byte (README, "The
 * ownership index off the critical path"). These tests hold every claim write in a test-only D1
 * wrapper until the test releases it, so the requests below provably run while the claim is still
 * in flight: the row is not in D1 when they are answered.
 */
import { env } from "cloudflare:test";
import OpenAI, { APIError } from "openai";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { isYoungResponseRef, parseResponseId, YOUNG_ID_MS } from "../../src/protocols/openai-responses/ids";
import { forgetIsolateIndexMemory } from "../../src/index-store";
import { emu } from "../../emulator/script";
import { EMULATOR_KEYS, MODEL } from "./helpers";

/** Test-only: RESPONSE_INDEX with every claim (INSERT into response_index without a tombstone) held until `release()`. */
function heldClaims(): { db: D1Database; held: () => number; release: () => Promise<void> } {
  const real = env.RESPONSE_INDEX;
  const waiting: Array<() => void> = [];
  const landed: Promise<unknown>[] = [];
  let open = false;
  const isClaim = (sql: string): boolean => /^\s*INSERT INTO response_index/i.test(sql) && !/deleted_at/.test(sql);
  const db = new Proxy(real, {
    get(target, property) {
      if (property === "prepare") {
        return (sql: string) => {
          const statement = target.prepare(sql);
          if (!isClaim(sql)) return statement;
          return {
            bind: (...values: unknown[]) => {
              const bound = statement.bind(...values);
              return {
                run: () => {
                  const done = (open ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))).then(() => bound.run());
                  landed.push(done.catch(() => undefined));
                  return done;
                },
              };
            },
          };
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as D1Database;
  return {
    db,
    held: () => waiting.length,
    release: async () => {
      open = true;
      for (const resolve of waiting.splice(0)) resolve();
      await Promise.all(landed);
    },
  };
}

/**
 * Reads `stream` (an SDK stream not iterated yet) and checks that its claim starts only once the
 * runtime has taken the first frames: none held before iterating, one held after response.created,
 * the row in D1 only after `gate` releases it.
 */
async function expectClaimAfterFirstFrames(gate: ReturnType<typeof heldClaims>, stream: AsyncIterable<OpenAI.Responses.ResponseStreamEvent>, idPattern: RegExp): Promise<void> {
  // Not iterated yet: the first frames are untaken, so no claim may have started.
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(gate.held()).toBe(0);
  let id = "";
  let status = "";
  for await (const event of stream) {
    if (event.type === "response.created") {
      id = event.response.id;
      await vi.waitFor(() => expect(gate.held()).toBe(1));
    }
    if (event.type === "response.completed") status = event.response.status ?? "";
  }
  expect(status).toBe("completed");
  expect(id).toMatch(idPattern);
  expect(await rowOf(id)).toBeNull();
  await gate.release();
  expect(await rowOf(id)).toEqual({ deleted_at: null });
}

function clientOver(db: D1Database, apiKey: string = EMULATOR_KEYS.demo): OpenAI {
  const app = createApp();
  return new OpenAI({
    apiKey,
    baseURL: "http://gw/v1",
    maxRetries: 0,
    fetch: async (input, init) => app.fetch(new Request(input as RequestInfo, init as RequestInit), { ...env, RESPONSE_INDEX: db }) as unknown as globalThis.Response,
  });
}

async function rowOf(id: string): Promise<{ deleted_at: number | null } | null> {
  return env.RESPONSE_INDEX.prepare("SELECT deleted_at FROM response_index WHERE response_id = ?1").bind(id).first<{ deleted_at: number | null }>();
}

async function notFound(promise: Promise<unknown>): Promise<{ status: number; code: unknown; message: string }> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(APIError);
  const api = error as APIError;
  return { status: api.status ?? 0, code: api.code, message: api.message.replace(/resp_[A-Za-z0-9]+/g, "<id>") };
}

describe("the claim in flight: an immediate chain resolves, ownership still holds", () => {
  it("chains, GETs and keeps a foreign key out the instant response.created arrives, before the claim is in D1", async () => {
    const gate = heldClaims();
    const client = clientOver(gate.db);
    const stream = await client.responses.create({ model: MODEL, input: "remember the word amber", stream: true });
    let id = "";
    for await (const event of stream) {
      if (event.type !== "response.created") continue;
      id = event.response.id;
      // The claim starts once response.created has left (routes/responses.ts) and is held: nothing is in D1 yet.
      await vi.waitFor(() => expect(gate.held()).toBe(1));
      expect(await rowOf(id)).toBeNull();
      const chained = await client.responses.create({ model: MODEL, input: "what was the word?", previous_response_id: id });
      expect(chained.status).toBe("completed");
      const got = await client.responses.retrieve(id);
      expect(got.id).toBe(id);
      // Another key (same application) and an unknown id get the same answer.
      const foreign = clientOver(gate.db, EMULATOR_KEYS.demoSecond);
      const asForeign = await notFound(foreign.responses.create({ model: MODEL, input: "x", previous_response_id: id }));
      const unknownId = `resp_${id.slice(5, 17)}${"0".repeat(20)}`;
      const asUnknown = await notFound(client.responses.create({ model: MODEL, input: "x", previous_response_id: unknownId }));
      expect(asForeign).toEqual({ status: 400, code: "previous_response_not_found", message: asUnknown.message });
      expect(await notFound(foreign.responses.retrieve(id))).toMatchObject({ status: 404 });
      expect(await rowOf(id)).toBeNull(); // all of the above ran with the claim still in flight
    }
    expect(id).toMatch(/^resp_[0-9a-f]{32}$/);
    await gate.release();
    expect(await rowOf(id)).toEqual({ deleted_at: null });
  });

  it("a streamed create's claim waits until the runtime has taken its first frames", async () => {
    // Its D1 write must not delay the first byte: started before the first frames had left, it sat on
    // a long stream's first byte (bench/FINDINGS.md, session 15). The SDK's stream reads the body only
    // when iterated, so until then the first frames stay untaken and no claim may start.
    const gate = heldClaims();
    const stream = await clientOver(gate.db).responses.create({ model: MODEL, input: "claim me after my first frames", stream: true });
    await expectClaimAfterFirstFrames(gate, stream, /^resp_[0-9a-f]{32}$/);
  });

  it("a streamed tool-output resume's claim also waits until the runtime has taken its first frames", async () => {
    const tools = [{ type: "function" as const, name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }];
    const first = await clientOver(env.RESPONSE_INDEX).responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ id: "native_call_1", name: "get_weather", arguments: { city: "Oslo" } }] }, "Weather in Oslo?"),
      tools,
    });
    const call = first.output[0];
    if (call?.type !== "function_call") throw new Error("expected a function call");
    const gate = heldClaims();
    const stream = await clientOver(gate.db).responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "snow" }],
      tools,
      stream: true,
    });
    await expectClaimAfterFirstFrames(gate, stream, /^resp_[0-9a-f]{64}$/);
  });

  it("a DELETE while the claim is in flight leaves a tombstone the late claim cannot overwrite", async () => {
    const gate = heldClaims();
    const client = clientOver(gate.db);
    const created = await client.responses.create({ model: MODEL, input: "short-lived" });
    await vi.waitFor(() => expect(gate.held()).toBe(1));
    expect(await client.responses.delete(created.id)).toMatchObject({ id: created.id, deleted: true });
    expect(await rowOf(created.id)).toMatchObject({ deleted_at: expect.any(Number) });
    await gate.release(); // the claim lands now, after the DELETE
    expect(await rowOf(created.id)).toMatchObject({ deleted_at: expect.any(Number) });
    expect(await notFound(client.responses.retrieve(created.id))).toMatchObject({ status: 404 });
    expect(await notFound(client.responses.create({ model: MODEL, input: "x", previous_response_id: created.id }))).toMatchObject({
      status: 400,
      code: "previous_response_not_found",
    });
    expect(await notFound(client.responses.delete(created.id))).toMatchObject({ status: 404 });
  });

  it("a tool loop's resumed answer chains and is retrieved while its claim is in flight, on this isolate and on another", async () => {
    const gate = heldClaims();
    const client = clientOver(gate.db);
    const tools = [{ type: "function" as const, name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }];
    const first = await client.responses.create({
      model: MODEL,
      input: emu({ tool_calls: [{ id: "native_call_1", name: "get_weather", arguments: { city: "Oslo" } }] }, "Weather in Oslo?"),
      tools,
    });
    const call = first.output[0];
    if (call?.type !== "function_call") throw new Error("expected a function call");
    await gate.release(); // the first answer's claim lands; the resumed answer's is held below
    const gated = heldClaims();
    const resumedClient = clientOver(gated.db);
    const resumed = await resumedClient.responses.create({ model: MODEL, previous_response_id: first.id, input: [{ type: "function_call_output", call_id: call.call_id, output: "snow" }], tools });
    expect(resumed.id).toMatch(/^resp_[0-9a-f]{64}$/);
    await vi.waitFor(() => expect(gated.held()).toBe(1));
    expect(await rowOf(resumed.id)).toBeNull();
    // This isolate knows its claim is in flight; another (nothing remembered) asks native.
    expect((await resumedClient.responses.create({ model: MODEL, input: "and tomorrow?", previous_response_id: resumed.id })).status).toBe("completed");
    forgetIsolateIndexMemory();
    expect((await resumedClient.responses.retrieve(resumed.id)).output_text).toBe(resumed.output_text);
    const foreign = clientOver(gated.db, EMULATOR_KEYS.demoSecond);
    expect(await notFound(foreign.responses.retrieve(resumed.id))).toMatchObject({ status: 404 });
    expect(await rowOf(resumed.id)).toBeNull(); // all of the above with the claim still in flight
    await gated.release();
    expect(await rowOf(resumed.id)).toEqual({ deleted_at: null });
  });

  it("a store:false id is never chainable or retrievable, even while young", async () => {
    const gate = heldClaims();
    const client = clientOver(gate.db);
    const unstored = await client.responses.create({ model: MODEL, input: "ephemeral", store: false });
    expect(unstored.id).toMatch(/^resp_u[0-9a-f]{32}$/);
    expect(gate.held()).toBe(0);
    expect(await notFound(client.responses.create({ model: MODEL, input: "x", previous_response_id: unstored.id }))).toMatchObject({
      status: 400,
      code: "previous_response_not_found",
    });
    expect(await notFound(client.responses.retrieve(unstored.id))).toMatchObject({ status: 404 });
    // Without the marker, native would vouch for the run (it is the caller's), so the marker keeps it out:
    expect(parseResponseId(unstored.id)).toBeNull();
  });

  it("an id is young by the UUIDv7 of its run (first answer) or of its callback task (resumed answer)", () => {
    const now = Date.UTC(2026, 0, 1);
    const v7 = (ms: number): string => {
      const hex = ms.toString(16).padStart(12, "0");
      return `${hex.slice(0, 8)}-${hex.slice(8)}-7abc-8def-0123456789ab`;
    };
    expect(isYoungResponseRef({ runId: v7(now - 1_000) }, now)).toBe(true);
    expect(isYoungResponseRef({ runId: v7(now - YOUNG_ID_MS - 1) }, now)).toBe(false);
    expect(isYoungResponseRef({ runId: v7(now + 120_000) }, now)).toBe(false);
    // A resumed answer is young by its callback task's id (the task is at least as old as the answer).
    expect(isYoungResponseRef({ runId: v7(now - YOUNG_ID_MS - 60_000), callbackTaskId: v7(now - 1_000) }, now)).toBe(true);
    expect(isYoungResponseRef({ runId: v7(now - 1_000), callbackTaskId: v7(now - YOUNG_ID_MS - 1) }, now)).toBe(false);
    expect(isYoungResponseRef({ runId: v7(now - 1_000), callbackTaskId: v7(now - 1_000).replace("-7abc-", "-4abc-") }, now)).toBe(false);
    expect(isYoungResponseRef({ runId: v7(now - 1_000).replace("-7abc-", "-4abc-") }, now)).toBe(false);
  });
});
