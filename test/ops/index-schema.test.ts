/**
 * A D1 whose migrations were never applied (issue 16 point 2): a permanent misconfiguration, found
 * before any native run is created, answered as a non-retryable 500 naming the command that fixes
 * it and logged with the request id. A transient D1 failure stays a retryable 503.
 *
 * Storage is per test file: the table parked here affects no other file. Each test passes its own
 * env object, so the gateway's per-configuration memory of a good schema starts empty.
 */
import { env } from "cloudflare:test";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";
import { createApp } from "../../src/app";
import { checkIndexSchema, IndexSchemaMissingError, IndexUnavailableError } from "../../src/index-store";
import { nativeCreatesWith, nonce } from "../reliability/helpers";

const app = createApp();
const MODEL = "1flowbase";

async function park(): Promise<void> {
  await env.RESPONSE_INDEX.prepare("ALTER TABLE response_index RENAME TO response_index_parked").run();
}
async function unpark(): Promise<void> {
  await env.RESPONSE_INDEX.prepare("ALTER TABLE response_index_parked RENAME TO response_index").run();
}

/** The real SDK with its default retries, on an env of its own; `sent` counts what reached the gateway. */
function sdk(settings: Record<string, unknown>): { client: OpenAI; sent: () => number } {
  let sent = 0;
  const client = new OpenAI({
    apiKey: EMULATOR_KEYS.demo,
    baseURL: "http://gw/v1",
    fetch: (input, init) => {
      sent += 1;
      return Promise.resolve(app.fetch(new Request(input as RequestInfo, init as RequestInit), settings));
    },
  });
  return { client, sent: () => sent };
}

const logged: string[] = [];
beforeEach(() => {
  logged.length = 0;
  for (const method of ["log", "warn", "error"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logged.push(`${method} ${args.map(String).join(" ")}`));
  }
});
afterEach(() => vi.restoreAllMocks());

describe("the D1 schema is missing", () => {
  beforeEach(park);
  afterEach(unpark);

  it("a stored create answers one non-retryable 500 naming the fix, and no native run is created — even through the SDK's retries", async () => {
    const marker = nonce();
    const { client, sent } = sdk({ ...env, LOG_LEVEL: "info" });
    const failure = await client.responses.create({ model: MODEL, input: `schema ${marker}` }, { headers: { "x-request-id": `req-schema-${marker}` } }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.InternalServerError);
    const error = failure as InstanceType<typeof OpenAI.InternalServerError>;
    expect(error.status).toBe(500);
    expect(error.code).toBe("index_schema_missing");
    expect(error.message).toContain("wrangler d1 migrations apply RESPONSE_INDEX --remote --env <tenant>");
    expect(error.headers?.get("x-should-retry")).toBe("false");
    // `x-should-retry: false` stops the SDK's two default retries.
    expect(sent()).toBe(1);
    expect(await nativeCreatesWith(marker)).toEqual([]);
    // Logged once, with the request id, as an error (nothing works until an operator acts).
    const lines = logged.filter((line) => line.includes(`req-schema-${marker}`));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error /);
    const line = JSON.parse(lines[0]!.slice("error ".length)) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: "request", status: 500, outcome: "failed", errorCode: "index_schema_missing" });
    expect(String(line.errorDetail)).toContain("no such table");
  });

  it("a streaming create and a chat or messages create with an Idempotency-Key fail the same way before native", async () => {
    const marker = nonce();
    const settings = { ...env };
    const json = (body: unknown, headers: Record<string, string> = {}) => ({
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}`, ...headers },
      body: JSON.stringify(body),
    });
    const answers = [
      await app.fetch(new Request("http://gw/v1/responses", json({ model: MODEL, input: `stream ${marker}`, stream: true })), settings),
      await app.fetch(new Request("http://gw/v1/chat/completions", json({ model: MODEL, messages: [{ role: "user", content: `chat ${marker}` }] }, { "idempotency-key": `k-${marker}` })), settings),
      await app.fetch(
        new Request("http://gw/v1/messages", json({ model: MODEL, max_tokens: 16, messages: [{ role: "user", content: `messages ${marker}` }] }, { "idempotency-key": `m-${marker}` })),
        settings,
      ),
    ];
    for (const response of answers) {
      expect(response.status).toBe(500);
      expect(response.headers.get("x-should-retry")).toBe("false");
      expect(await response.text()).toContain("wrangler d1 migrations apply");
    }
    expect(await nativeCreatesWith(marker)).toEqual([]);
  });

  it("lifecycle routes answer the 500 too, not a retryable 503", async () => {
    const response = await app.fetch(new Request(`http://gw/v1/responses/resp_${"1".repeat(32)}`, { headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}` } }), { ...env });
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { code: "index_schema_missing", type: "server_error" } });
    expect(response.headers.get("x-should-retry")).toBe("false");
  });

  it("what needs no D1 still works: store:false, chat and messages without a key", async () => {
    const { client } = sdk({ ...env });
    const response = await client.responses.create({ model: MODEL, input: "hello", store: false });
    expect(response.status).toBe("completed");
    const chat = await app.fetch(
      new Request("http://gw/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}` },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
      }),
      { ...env },
    );
    expect(chat.status).toBe(200);
  });
});

describe("the schema check", () => {
  it("is not remembered when it fails: once the migrations are applied, the same deployment works", async () => {
    const settings = { ...env };
    const { client } = sdk(settings);
    await park();
    try {
      await expect(client.responses.create({ model: MODEL, input: "before" })).rejects.toMatchObject({ status: 500 });
    } finally {
      await unpark();
    }
    const response = await client.responses.create({ model: MODEL, input: "after" });
    expect(response.status).toBe("completed");
  });

  it("a transient D1 failure stays a retryable 503, still before native", async () => {
    const marker = nonce();
    const down = {
      prepare: () => {
        throw new Error("D1_ERROR: Network connection lost");
      },
      batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost")),
    } as unknown as D1Database;
    const response = await app.fetch(
      new Request("http://gw/v1/responses", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}` },
        body: JSON.stringify({ model: MODEL, input: `down ${marker}` }),
      }),
      { ...env, RESPONSE_INDEX: down },
    );
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: "index_unavailable" } });
    expect(response.headers.get("x-should-retry")).toBe("true");
    expect(await nativeCreatesWith(marker)).toEqual([]);
  });
});

/**
 * Where the schema check asks (index-store/schema.ts `checkIndexSchema`): the nearest replica first,
 * since a query on the plain binding is a primary round trip on a new isolate's first stored create;
 * the primary only when the replica says no or fails.
 */
describe("the schema check asks the nearest replica first", () => {
  type Answer = "present" | "missing" | "down";
  /** A sessions-capable D1 whose replica and primary answer the probe as told; `asked` lists who was asked. */
  function d1(replica: Answer, primary: Answer): { db: D1Database; asked: string[] } {
    const asked: string[] = [];
    const answer = (who: string, how: Answer) => ({
      prepare: (sql: string) => ({ sql }),
      batch: () => {
        asked.push(who);
        if (how === "missing") return Promise.reject(new Error("D1_ERROR: no such table: response_index: SQLITE_ERROR"));
        if (how === "down") return Promise.reject(new Error("D1_ERROR: Network connection lost"));
        return Promise.resolve([]);
      },
    });
    const db = {
      // The plain binding goes to the primary.
      ...answer("primary", primary),
      withSession: (constraint: string) => (constraint === "first-primary" ? answer("primary session", primary) : answer("replica", replica)),
    } as unknown as D1Database;
    return { db, asked };
  }

  it("a replica that has the schema is enough: the primary is not asked", async () => {
    const { db, asked } = d1("present", "present");
    await expect(checkIndexSchema(db)).resolves.toBeUndefined();
    expect(asked).toEqual(["replica"]);
  });

  it("a replica behind a migration just applied: the primary has it, the check passes", async () => {
    const { db, asked } = d1("missing", "present");
    await expect(checkIndexSchema(db)).resolves.toBeUndefined();
    expect(asked).toEqual(["replica", "primary"]);
  });

  it("missing on the primary too: IndexSchemaMissingError", async () => {
    const { db, asked } = d1("missing", "missing");
    await expect(checkIndexSchema(db)).rejects.toBeInstanceOf(IndexSchemaMissingError);
    expect(asked).toEqual(["replica", "primary"]);
  });

  it("a replica that fails leaves the verdict to the primary: present, missing or down", async () => {
    await expect(checkIndexSchema(d1("down", "present").db)).resolves.toBeUndefined();
    await expect(checkIndexSchema(d1("down", "missing").db)).rejects.toBeInstanceOf(IndexSchemaMissingError);
    await expect(checkIndexSchema(d1("down", "down").db)).rejects.toBeInstanceOf(IndexUnavailableError);
  });

  it("a Sessions API that fails leaves the verdict to the plain binding", async () => {
    const asked: string[] = [];
    const db = {
      prepare: (sql: string) => ({ sql }),
      batch: () => (asked.push("primary"), Promise.resolve([])),
      withSession: () => {
        throw new Error("D1_ERROR: sessions unavailable");
      },
    } as unknown as D1Database;
    await expect(checkIndexSchema(db)).resolves.toBeUndefined();
    expect(asked).toEqual(["primary"]);
  });

  it("a binding without sessions is asked once", async () => {
    const asked: string[] = [];
    const plain = { prepare: (sql: string) => ({ sql }), batch: () => (asked.push("plain"), Promise.resolve([])) } as unknown as D1Database;
    await expect(checkIndexSchema(plain)).resolves.toBeUndefined();
    expect(asked).toEqual(["plain"]);
  });
});
