/**
 * Isolation and secrets (issue 7):
 * - every response-id path (create with `previous_response_id`, with and without tool outputs; GET;
 *   GET `?stream=true`; DELETE; cancel; input_items) answers a second key of the same application and
 *   a key of another application exactly as it answers an id that never existed — status and body,
 *   modulo the id — and changes nothing for the owner;
 * - the index fails closed (503, retryable) on every one of those paths when D1 errors, however it
 *   errors; and reads go to the nearest replica first, the primary only on a miss of an id native
 *   cannot vouch for (a young id's miss is settled by native), so a chained request right after a
 *   turn resolves even with read replication;
 * - API keys appear in no log line, no D1 row, no answer; native's `node_input_payload.env` and its
 *   own response headers reach no client, on any route, blocking, streaming, lifecycle or error;
 * - CORS is off by default and, with `CORS_ALLOW_ORIGINS`, works for the allowed origins only.
 */
import { env } from "cloudflare:test";
import { forgetIsolateIndexMemory } from "../../src/index-store";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { emu, EMULATOR_ENV_SECRET } from "../../emulator/script";
import { NATIVE_ONLY_HEADERS } from "../../emulator/server";
import { EMULATOR_KEYS, gateway, nonce, readBody, type EnvOverrides } from "./helpers";
import { MODEL, RESPONSES } from "./protocols";

const json = (key: string, body?: unknown, method = "POST"): RequestInit => ({
  method,
  headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
  body: body === undefined ? null : JSON.stringify(body),
});
const bearer = (key: string, method = "GET"): RequestInit => ({ method, headers: { authorization: `Bearer ${key}` } });

const randomHex = (length: number): string => Array.from(crypto.getRandomValues(new Uint8Array(length / 2)), (byte) => byte.toString(16).padStart(2, "0")).join("");

/** The run id inside `resp_<run hex32>[<task hex32>]`. */
function runIdOf(responseId: string): string {
  const hex = responseId.slice(5, 37);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Reads the first events of a streamed create until `marker` appears, then leaves (the run goes on). */
async function startStream(body: Record<string, unknown>, until: string): Promise<string> {
  const response = await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { ...body, stream: true }));
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes(until)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${until}: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text;
}

interface Owned {
  finished: string;
  inProgress: string;
  resumed: string;
  callId: string;
}

/** Each response-id path, as a request for `id` made with `key`. */
const PATHS: Array<[string, (id: string, key: string, owned: Owned) => Promise<Response>]> = [
  ["create with previous_response_id", (id, key) => gateway("/v1/responses", json(key, { model: MODEL, input: "and then?", previous_response_id: id }))],
  [
    "create with previous_response_id and tool outputs",
    (id, key, owned) =>
      gateway("/v1/responses", json(key, { model: MODEL, previous_response_id: id, input: [{ type: "function_call_output", call_id: owned.callId, output: "stolen" }] })),
  ],
  ["GET", (id, key) => gateway(`/v1/responses/${id}`, bearer(key))],
  ["GET ?stream=true", (id, key) => gateway(`/v1/responses/${id}?stream=true`, bearer(key))],
  ["GET input_items", (id, key) => gateway(`/v1/responses/${id}/input_items?limit=5`, bearer(key))],
  ["POST cancel", (id, key) => gateway(`/v1/responses/${id}/cancel`, bearer(key, "POST"))],
  ["DELETE", (id, key) => gateway(`/v1/responses/${id}`, bearer(key, "DELETE"))],
];

let owned: Owned;

beforeAll(async () => {
  const finished = (await (await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: "isolation: mine" }))).json()) as { id: string };
  const tool = (await (
    await gateway(
      "/v1/responses",
      json(EMULATOR_KEYS.demo, {
        model: MODEL,
        input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, "weather?"),
        tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
      }),
    )
  ).json()) as { id: string; output: Array<{ call_id: string }> };
  const callId = tool.output[0]?.call_id ?? "";
  const resumed = (await (
    await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, previous_response_id: tool.id, input: [{ type: "function_call_output", call_id: callId, output: "sunny" }] }))
  ).json()) as { id: string };
  // In progress for 60 s: the owner could cancel it; nobody else may.
  const started = await startStream({ model: MODEL, input: emu({ text: ["late"], wait_ms: 60_000 }, "isolation: running") }, "response.in_progress");
  const inProgress = /"id":"(resp_[0-9a-f]{32})"/.exec(started)?.[1] ?? "";
  owned = { finished: finished.id, inProgress, resumed: resumed.id, callId };
  for (const id of [owned.finished, owned.inProgress, owned.resumed]) expect(id).toMatch(/^resp_[0-9a-f]{32}([0-9a-f]{32})?$/);
});

afterAll(async () => {
  if (owned?.inProgress) await readBody(await gateway(`/v1/responses/${owned.inProgress}/cancel`, bearer(EMULATOR_KEYS.demo, "POST")));
});

describe("every response-id path: another key's id looks exactly like an id that never existed", () => {
  const keys: Array<[string, string]> = [
    ["a second key of the same application", EMULATOR_KEYS.demoSecond],
    ["a key of another application", EMULATOR_KEYS.other],
  ];
  for (const [who, key] of keys) {
    for (const [path, send] of PATHS) {
      it(`${path} — ${who}`, async () => {
        for (const id of [owned.finished, owned.inProgress, owned.resumed]) {
          const missing = id.length === 37 ? `resp_${randomHex(32)}` : `resp_${randomHex(64)}`;
          const foreign = await send(id, key, owned);
          const absent = await send(missing, key, owned);
          const foreignText = (await readBody(foreign)).replaceAll(id, "<id>");
          const absentText = (await readBody(absent)).replaceAll(missing, "<id>");
          expect(foreign.status, foreignText).toBe(absent.status);
          expect([400, 404]).toContain(foreign.status);
          expect(foreignText).toBe(absentText);
          expect(foreign.headers.get("content-type")).toBe(absent.headers.get("content-type"));
        }
      });
    }
  }

  it("…and nothing changed for the owner: still retrievable, the running response not cancelled", async () => {
    for (const id of [owned.finished, owned.resumed, owned.inProgress]) {
      const response = await gateway(`/v1/responses/${id}`, bearer(EMULATOR_KEYS.demo));
      expect(response.status, id).toBe(200);
      await readBody(response);
    }
    const run = (await (await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/runs/${runIdOf(owned.inProgress)}`)).json()) as { data: { status: string } };
    expect(run.data.status).toBe("running");
  });
});

// ---------------------------------------------------------------------------------------------
// The index fails closed
// ---------------------------------------------------------------------------------------------

/** Three ways D1 breaks: at prepare, when a statement runs, and inside a read session. */
const BROKEN_D1: Array<[string, D1Database]> = [
  [
    "prepare throws",
    {
      // A transient failure ("no such table" would be a missing schema: a non-retryable 500, test/ops/index-schema.test.ts).
      prepare() {
        throw new Error("D1_ERROR: internal error");
      },
    } as unknown as D1Database,
  ],
  [
    "statements reject",
    {
      prepare() {
        const statement = {
          bind: () => statement,
          first: () => Promise.reject(new Error("D1_ERROR: network connection lost")),
          run: () => Promise.reject(new Error("D1_ERROR: network connection lost")),
          all: () => Promise.reject(new Error("D1_ERROR: network connection lost")),
        };
        return statement;
      },
      batch: () => Promise.reject(new Error("D1_ERROR: network connection lost")),
    } as unknown as D1Database,
  ],
  [
    "the read session fails",
    {
      prepare: (sql: string) => env.RESPONSE_INDEX.prepare(sql),
      batch: (statements: D1PreparedStatement[]) => env.RESPONSE_INDEX.batch(statements),
      withSession() {
        throw new Error("D1_ERROR: sessions unavailable");
      },
    } as unknown as D1Database,
  ],
];

describe("the index fails closed: 503 on every response-id path when D1 errors", () => {
  for (const [how, broken] of BROKEN_D1) {
    it(how, async () => {
      const overrides: EnvOverrides = { RESPONSE_INDEX: broken };
      // A response of its own: where a variant lets writes through, its DELETE really deletes.
      const created = await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: `fail closed ${nonce()}` }));
      const id = ((await created.json()) as { id: string }).id;
      const sends: Array<[string, () => Promise<Response>]> = [
        ["create with previous_response_id", () => gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: "x", previous_response_id: id }), overrides)],
        [
          "create with previous_response_id and tool outputs",
          () => gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, previous_response_id: id, input: [{ type: "function_call_output", call_id: owned.callId, output: "x" }] }), overrides),
        ],
        ["GET", () => gateway(`/v1/responses/${id}`, bearer(EMULATOR_KEYS.demo), overrides)],
        ["GET ?stream=true", () => gateway(`/v1/responses/${id}?stream=true`, bearer(EMULATOR_KEYS.demo), overrides)],
        ["GET input_items", () => gateway(`/v1/responses/${id}/input_items`, bearer(EMULATOR_KEYS.demo), overrides)],
        ["POST cancel", () => gateway(`/v1/responses/${id}/cancel`, bearer(EMULATOR_KEYS.demo, "POST"), overrides)],
        ["DELETE", () => gateway(`/v1/responses/${id}`, bearer(EMULATOR_KEYS.demo, "DELETE"), overrides)],
        ["blocking create (claim)", () => gateway("/v1/responses", json(EMULATOR_KEYS.demo, RESPONSES.body("x", false)), overrides)],
        ["streaming create (claim before the first event)", () => gateway("/v1/responses", json(EMULATOR_KEYS.demo, RESPONSES.body("x", true)), overrides)],
      ];
      for (const [path, send] of sends) {
        const response = await send();
        const text = await readBody(response);
        // "The read session fails" only breaks reads: writes (claims, deletes) still reach the primary.
        if (how === "the read session fails" && (path.startsWith("blocking") || path.startsWith("streaming") || path === "DELETE")) {
          expect(response.status, `${path}: ${text}`).toBe(200);
          continue;
        }
        expect(response.status, `${path}: ${text}`).toBe(503);
        expect(JSON.parse(text)).toMatchObject({ error: { code: "index_unavailable", type: "server_error" } });
        expect(response.headers.get("x-should-retry")).toBe("true");
        expect(response.headers.get("retry-after")).toBe("1");
      }
    });
  }
});

describe("index reads: the nearest replica first, the primary only on a miss", () => {
  /**
   * A D1 binding that records where each statement went (the real D1 answers them all). While
   * `replicaStale()` is true the nearest replica has seen nothing yet: its row reads find no row
   * (D1's replicas lag the primary).
   */
  function recordingD1(replicaStale: () => boolean = () => false): { db: D1Database; calls: Array<{ via: string; sql: string }> } {
    const calls: Array<{ via: string; sql: string }> = [];
    const real = env.RESPONSE_INDEX;
    const db = {
      prepare(sql: string) {
        calls.push({ via: "primary", sql });
        return real.prepare(sql);
      },
      batch: (statements: D1PreparedStatement[]) => real.batch(statements),
      withSession(constraint: string) {
        return {
          prepare(sql: string) {
            calls.push({ via: `session:${constraint}`, sql });
            const stale = constraint === "first-unconstrained" && replicaStale() && /FROM response_index WHERE/i.test(sql);
            return real.prepare(stale ? `${sql} AND 0` : sql);
          },
          getBookmark: () => null,
        };
      },
    } as unknown as D1Database;
    return { db, calls };
  }
  const rowReads = (calls: Array<{ via: string; sql: string }>) => calls.filter((call) => /^\s*SELECT/i.test(call.sql) && !/LIMIT 0$/.test(call.sql));

  it("a claimed id is read from a first-unconstrained session alone; writes go to the primary", async () => {
    const { db, calls } = recordingD1();
    const overrides: EnvOverrides = { RESPONSE_INDEX: db };
    const first = (await (await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: `turn 1 ${nonce()}` }), overrides)).json()) as { id: string };
    // The claim is written alongside the answer: wait until it is in D1 before reading.
    for (let i = 0; i < 50 && !(await env.RESPONSE_INDEX.prepare("SELECT 1 FROM response_index WHERE response_id = ?1").bind(first.id).first()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    calls.length = 0;
    const chained = await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: "turn 2", previous_response_id: first.id }), overrides);
    expect(chained.status).toBe(200);
    const chainedId = (JSON.parse(await readBody(chained)) as { id: string }).id;
    const lookup = await gateway(`/v1/responses/${first.id}`, bearer(EMULATOR_KEYS.demo), overrides);
    expect(lookup.status).toBe(200);
    await readBody(lookup);
    // The chained answer's own claim is deferred (routes/responses.ts): wait for it before counting writes.
    await vi.waitFor(async () => expect(await env.RESPONSE_INDEX.prepare("SELECT 1 FROM response_index WHERE response_id = ?1").bind(chainedId).first()).not.toBeNull());
    const reads = rowReads(calls);
    expect(reads.length).toBeGreaterThanOrEqual(2);
    expect(new Set(reads.map((call) => call.via))).toEqual(new Set(["session:first-unconstrained"]));
    const writes = calls.filter((call) => /^\s*(INSERT|DELETE|UPDATE)/i.test(call.sql));
    expect(writes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(writes.map((call) => call.via))).toEqual(new Set(["primary"]));
  });

  it("a miss on the replica is read again from the primary before it is absent", async () => {
    const { db, calls } = recordingD1();
    const unknown = await gateway(`/v1/responses/resp_${"3".repeat(32)}`, bearer(EMULATOR_KEYS.demo), { RESPONSE_INDEX: db });
    expect(unknown.status).toBe(404);
    await readBody(unknown);
    expect(rowReads(calls).map((call) => call.via)).toEqual(["session:first-unconstrained", "session:first-primary"]);
  });
  it("a young id the replica has not seen is settled by native, not the primary; a tombstone this isolate wrote wins at once", async () => {
    let replicaCaughtUp = false;
    const { db, calls } = recordingD1(() => !replicaCaughtUp);
    const overrides: EnvOverrides = { RESPONSE_INDEX: db };
    const first = (await (await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: `young ${nonce()}` }), overrides)).json()) as { id: string };
    calls.length = 0;
    const chained = await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: "and now?", previous_response_id: first.id }), overrides);
    expect(chained.status, await chained.clone().text()).toBe(200);
    await readBody(chained);
    const got = await gateway(`/v1/responses/${first.id}`, bearer(EMULATOR_KEYS.demo), overrides);
    expect(got.status).toBe(200);
    await readBody(got);
    const foreign = await gateway(`/v1/responses/${first.id}`, bearer(EMULATOR_KEYS.demoSecond), overrides);
    expect(foreign.status).toBe(404);
    await readBody(foreign);
    expect(rowReads(calls).length).toBeGreaterThanOrEqual(3);
    expect(new Set(rowReads(calls).map((call) => call.via))).toEqual(new Set(["session:first-unconstrained"]));

    const deleted = await gateway(`/v1/responses/${first.id}`, { ...bearer(EMULATOR_KEYS.demo), method: "DELETE" }, overrides);
    expect(deleted.status).toBe(200);
    await readBody(deleted);
    calls.length = 0;
    // The replica still has neither the claim nor the tombstone, native still has the run: the
    // tombstone this isolate wrote is what makes both answers "not found", with no D1 read at all.
    const afterDelete = await gateway(`/v1/responses/${first.id}`, bearer(EMULATOR_KEYS.demo), overrides);
    expect(afterDelete.status, `${await afterDelete.clone().text()} ${JSON.stringify(calls)}`).toBe(404);
    await readBody(afterDelete);
    const chainAfterDelete = await gateway("/v1/responses", json(EMULATOR_KEYS.demo, { model: MODEL, input: "x", previous_response_id: first.id }), overrides);
    expect(chainAfterDelete.status).toBe(400);
    expect(((await chainAfterDelete.json()) as { error: { code: string } }).error.code).toBe("previous_response_not_found");
    expect(rowReads(calls)).toEqual([]);

    // Another isolate (nothing remembered) once the replica has caught up: the tombstone wins there too.
    forgetIsolateIndexMemory();
    replicaCaughtUp = true;
    const elsewhere = await gateway(`/v1/responses/${first.id}`, bearer(EMULATOR_KEYS.demo), overrides);
    expect(elsewhere.status).toBe(404);
    await readBody(elsewhere);
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

const UNKNOWN_KEY = "sk-unknownkey01-ThisKeyDoesNotExistAnywhereButMustNotLeak000";
const ALL_KEYS = [...Object.values(EMULATOR_KEYS), UNKNOWN_KEY];

/** Each key and its distinctive tail (a partial leak is a leak). */
const keyNeedles = ALL_KEYS.flatMap((key) => [key, key.slice(3, 19), key.slice(-16)]);

interface Answer {
  label: string;
  status: number;
  headers: Headers;
  text: string;
}

/** One request per route and outcome a client can see: blocking, streaming, lifecycle and errors. */
async function everyKindOfAnswer(): Promise<Answer[]> {
  const debug: EnvOverrides = { LOG_LEVEL: "debug" };
  const answers: Answer[] = [];
  const send = async (label: string, path: string, init: RequestInit, overrides: EnvOverrides = {}) => {
    const response = await gateway(path, init, { ...debug, ...overrides });
    answers.push({ label, status: response.status, headers: response.headers, text: await readBody(response) });
    return answers.at(-1) as Answer;
  };
  const anthropic = (key: string, body: unknown): RequestInit => ({
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
  const chat = (content: string, stream = false) => ({ model: MODEL, messages: [{ role: "user", content }], stream });
  const messages = (content: string, stream = false) => ({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content }], stream });
  const tools = [{ type: "function", name: "get_weather", parameters: { type: "object" } }];

  for (const key of [EMULATOR_KEYS.demo, EMULATOR_KEYS.demoSecond, EMULATOR_KEYS.other]) {
    const created = await send("responses blocking", "/v1/responses", json(key, { model: MODEL, input: "secret check" }));
    const id = (JSON.parse(created.text) as { id: string }).id;
    await send("responses streaming", "/v1/responses", json(key, { model: MODEL, input: "secret check", stream: true }));
    await send("responses GET", `/v1/responses/${id}`, bearer(key));
    await send("responses GET stream", `/v1/responses/${id}?stream=true`, bearer(key));
    await send("responses input_items", `/v1/responses/${id}/input_items`, bearer(key));
    await send("responses cancel (finished)", `/v1/responses/${id}/cancel`, bearer(key, "POST"));
    await send("responses chained", "/v1/responses", json(key, { model: MODEL, input: "again", previous_response_id: id }));
    await send("responses DELETE", `/v1/responses/${id}`, bearer(key, "DELETE"));
    await send("chat blocking", "/v1/chat/completions", json(key, chat("secret check")));
    await send("chat streaming", "/v1/chat/completions", json(key, chat("secret check", true)));
    await send("messages blocking", "/v1/messages", anthropic(key, messages("secret check")));
    await send("messages streaming", "/v1/messages", anthropic(key, messages("secret check", true)));
    await send("count_tokens", "/v1/messages/count_tokens", anthropic(key, { model: MODEL, messages: [{ role: "user", content: "x" }] }));
    await send("models", "/v1/models", bearer(key));
    await send("model", `/v1/models/${MODEL}`, bearer(key));
  }
  const key = EMULATOR_KEYS.demo;
  // A waiting run (its record carries node_input_payload.env like every run), then its lifecycle.
  const waiting = await send("responses tool call", "/v1/responses", json(key, { model: MODEL, input: emu({ tool_calls: [{ name: "get_weather" }] }), tools }));
  const waitingId = (JSON.parse(waiting.text) as { id: string }).id;
  await send("responses GET waiting", `/v1/responses/${waitingId}`, bearer(key));
  await send("responses input_items waiting", `/v1/responses/${waitingId}/input_items`, bearer(key));
  await send("chat tool call streaming", "/v1/chat/completions", json(key, { ...chat(emu({ tool_calls: [{ name: "get_weather" }] }), true), tools: [{ type: "function", function: { name: "get_weather" } }] }));
  // Failures: native's own errors, a failed run, broken streams, transport, the index, auth.
  for (const [label, failingKey] of [["unknown key", UNKNOWN_KEY], ["unpublished application", EMULATOR_KEYS.unpublished]] as const) {
    await send(`chat ${label}`, "/v1/chat/completions", json(failingKey, chat("x")));
    await send(`messages ${label}`, "/v1/messages", anthropic(failingKey, messages("x")));
    await send(`responses ${label}`, "/v1/responses", json(failingKey, { model: MODEL, input: "x" }));
    await send(`models ${label}`, "/v1/models", bearer(failingKey));
    await send(`responses GET ${label}`, `/v1/responses/resp_${randomHex(32)}`, bearer(failingKey));
  }
  await send("chat failed run streaming", "/v1/chat/completions", json(key, chat(emu({ text: ["a"], fail: { code: "runtime_error" } }), true)));
  await send("messages failed run blocking", "/v1/messages", anthropic(key, messages(emu({ fail: { code: "runtime_error" } }))));
  await send("responses cut stream", "/v1/responses", json(key, { model: MODEL, input: emu({ text: ["a"], drop_after: 2 }), stream: true }));
  await send("responses native 500", "/v1/responses", json(key, { model: MODEL, input: emu({ http_error: { status: 500, code: "internal_error" } }) }));
  await send("chat unreachable", "/v1/chat/completions", json(key, chat("x")), { NATIVE_API_BASE_URL: "http://127.0.0.1:1" });
  await send("responses index down", `/v1/responses/${waitingId}`, bearer(key), { RESPONSE_INDEX: (BROKEN_D1[1] as [string, D1Database])[1] });
  await send("missing key", "/v1/chat/completions", { method: "POST", body: JSON.stringify(chat("x")) });
  return answers;
}

describe("secrets", () => {
  let answers: Answer[] = [];
  const logged: string[] = [];

  beforeAll(async () => {
    const spies = (["log", "info", "warn", "error", "debug"] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg) ?? String(arg))).join(" "));
      }),
    );
    try {
      answers = await everyKindOfAnswer();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }, 30_000);

  it("the run covered successes, streams, lifecycle routes and failures", () => {
    const statuses = new Set(answers.map((answer) => answer.status));
    for (const status of [200, 400, 401, 404, 409, 502, 503]) expect(statuses, `no ${status} in the batch`).toContain(status);
    expect(answers.some((answer) => (answer.headers.get("content-type") ?? "").startsWith("text/event-stream"))).toBe(true);
    // The request log was on: one line per request, and the upstream failures logged warnings.
    expect(logged.filter((line) => line.includes('"msg":"request"')).length).toBe(answers.length);
    expect(logged.some((line) => line.includes('"level":"warn"'))).toBe(true);
  });

  it("API keys appear in no log line", () => {
    for (const line of logged) for (const needle of keyNeedles) expect(line.includes(needle), `log line leaks a key: ${line}`).toBe(false);
  });

  it("API keys and node_input_payload.env appear in no answer (bodies and headers)", () => {
    for (const answer of answers) {
      const visible = `${answer.text}\n${[...answer.headers].map(([name, value]) => `${name}: ${value}`).join("\n")}`;
      for (const needle of keyNeedles) expect(visible.includes(needle), `${answer.label} (${answer.status}) leaks a key`).toBe(false);
      expect(visible.includes(EMULATOR_ENV_SECRET), `${answer.label} (${answer.status}) leaks node_input_payload.env`).toBe(false);
      expect(visible).not.toMatch(/node_input_payload/);
    }
  });

  it("native's response headers (server, set-cookie, x-powered-by, x-native-*) reach no client", () => {
    for (const answer of answers) {
      const leaked = [...answer.headers.keys()].filter((name) => name in NATIVE_ONLY_HEADERS || name.startsWith("x-native") || name === "set-cookie" || name === "server");
      expect(leaked, `${answer.label} (${answer.status})`).toEqual([]);
    }
  });

  it("no D1 row holds a key: only ids, run ids, SHA-256 fingerprints and timestamps", async () => {
    const { results } = await env.RESPONSE_INDEX.prepare("SELECT * FROM response_index").all<Record<string, unknown>>();
    expect(results.length).toBeGreaterThan(0);
    for (const row of results) {
      expect(Object.keys(row).sort()).toEqual(["created_at", "deleted_at", "expires_at", "native_run_id", "owner_fingerprint", "response_id"]);
      expect(row.owner_fingerprint).toMatch(/^[0-9a-f]{64}$/);
      const text = JSON.stringify(row);
      for (const needle of keyNeedles) expect(text.includes(needle)).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------

describe("CORS", () => {
  const ALLOWED = "https://app.example.com";
  const OTHER = "https://evil.example.net";
  const preflight = (origin: string, overrides: EnvOverrides = {}) =>
    gateway(
      "/v1/chat/completions",
      { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } },
      overrides,
    );
  const actual = (origin: string, overrides: EnvOverrides = {}, key: string | null = EMULATOR_KEYS.demo, stream = false) =>
    gateway(
      "/v1/chat/completions",
      {
        method: "POST",
        headers: { origin, "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "cors" }], stream }),
      },
      overrides,
    );

  it("is off by default: no CORS headers on preflights or cross-origin requests", async () => {
    const pre = await preflight(ALLOWED);
    await readBody(pre);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(pre.status).not.toBe(204);
    const response = await actual(ALLOWED);
    await readBody(response);
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("with CORS_ALLOW_ORIGINS: allowed origins get preflight and actual answers (success, stream, error)", async () => {
    const overrides: EnvOverrides = { CORS_ALLOW_ORIGINS: `${ALLOWED}, https://second.example.com` };
    const pre = await preflight(ALLOWED, overrides);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const allowHeaders = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const header of ["authorization", "x-api-key", "content-type", "idempotency-key", "anthropic-version"]) expect(allowHeaders).toContain(header);
    expect(pre.headers.get("vary")).toContain("Origin");

    for (const [label, response] of [
      ["blocking", await actual(ALLOWED, overrides)],
      ["streaming", await actual(ALLOWED, overrides, EMULATOR_KEYS.demo, true)],
      ["401", await actual(ALLOWED, overrides, null)],
    ] as const) {
      await readBody(response);
      expect(response.headers.get("access-control-allow-origin"), label).toBe(ALLOWED);
      expect(response.headers.get("access-control-expose-headers"), label).toContain("x-request-id");
      expect(response.headers.get("vary"), label).toContain("Origin");
    }
  });

  it("with CORS_ALLOW_ORIGINS: other origins get no CORS headers", async () => {
    const overrides: EnvOverrides = { CORS_ALLOW_ORIGINS: ALLOWED };
    const pre = await preflight(OTHER, overrides);
    await readBody(pre);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const response = await actual(OTHER, overrides);
    await readBody(response);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("`*` allows any origin", async () => {
    const pre = await preflight(OTHER, { CORS_ALLOW_ORIGINS: "*" });
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
  });
});
