/**
 * Client input (issue 7), on every route that reads a body, in the route's own envelope:
 * - the body cap is enforced while reading (a streamed body with no Content-Length stops being read
 *   just past the cap) → 413;
 * - `Content-Encoding` gzip, deflate, br, zstd are decoded; a decompression bomb → 413, data that is
 *   not valid for its coding → 400, an unknown coding → 415;
 * - malformed JSON, wrong types, missing fields, oversized strings and arrays, pathological nesting
 *   → 400 naming `param` (the zod issue path) where the protocol has one;
 * - property: arbitrary and mutated requests to every route are always a 2xx (with well-formed JSON
 *   or SSE) or a 4xx with a valid envelope — never a 5xx, never a hang.
 */
import * as zlib from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../src/http/body";
import { EMULATOR_KEYS, expectErrorResponse, gateway, readBody, within, type EnvOverrides } from "./helpers";
import { ANTHROPIC, CHAT, MODEL, parseEnvelope, RESPONSES, type ProtocolCase } from "./protocols";

interface BodyRoute {
  path: string;
  family: "openai" | "anthropic";
  /** A minimal valid body. */
  valid: Record<string, unknown>;
  /** For the SSE checks of 2xx answers. */
  protocol: ProtocolCase | null;
}

const countTokens: Record<string, unknown> = { model: MODEL, messages: [{ role: "user", content: "count me" }] };

/** Every route that reads a request body. */
const BODY_ROUTES: BodyRoute[] = [
  { path: "/v1/responses", family: "openai", valid: RESPONSES.body("hello", false), protocol: RESPONSES },
  { path: "/v1/chat/completions", family: "openai", valid: CHAT.body("hello", false), protocol: CHAT },
  { path: "/chat/completions", family: "openai", valid: CHAT.body("hello", false), protocol: CHAT },
  { path: "/openai/v1/chat/completions", family: "openai", valid: CHAT.body("hello", false), protocol: CHAT },
  { path: "/v1/messages", family: "anthropic", valid: ANTHROPIC.body("hello", false), protocol: ANTHROPIC },
  { path: "/v1/messages/count_tokens", family: "anthropic", valid: countTokens, protocol: null },
];

const auth = (family: "openai" | "anthropic"): Record<string, string> =>
  family === "anthropic" ? { "x-api-key": EMULATOR_KEYS.demo } : { authorization: `Bearer ${EMULATOR_KEYS.demo}` };

function post(route: Pick<BodyRoute, "path" | "family">, body: BodyInit, headers: Record<string, string> = {}, overrides: EnvOverrides = {}): Promise<Response> {
  const init: RequestInit & { duplex?: "half" } = {
    method: "POST",
    headers: { "content-type": "application/json", ...auth(route.family), ...headers },
    body,
  };
  if (body instanceof ReadableStream) init.duplex = "half";
  return gateway(route.path, init, overrides);
}

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Size cap
// ---------------------------------------------------------------------------------------------

describe("the body cap is enforced while reading → 413", () => {
  for (const route of BODY_ROUTES) {
    it(`${route.path}: a streamed body with no Content-Length stops being read just past the cap`, async () => {
      // An endless body: if the gateway buffered before checking, this would never finish.
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(encoder.encode(`{"pad":"${"x".repeat(1024)}",`));
        },
      });
      const response = await within(5_000, "the 413", post(route, endless, {}, { MAX_BODY_BYTES: "4096" }));
      const envelope = await expectErrorResponse(response, route.family, 413);
      if (route.family === "anthropic") expect(envelope.type).toBe("request_too_large");
      else expect(envelope.code).toBe("request_too_large");
      expect(pulled).toBeLessThan(16);
    });
  }

  it("a declared Content-Length over the cap is refused before reading", async () => {
    const route = BODY_ROUTES[1] as BodyRoute;
    const response = await post(route, "{}", { "content-length": String(9 * 1024 * 1024) });
    await expectErrorResponse(response, "openai", 413);
  });
});

// ---------------------------------------------------------------------------------------------
// Content-Encoding
// ---------------------------------------------------------------------------------------------

const zstd = zlib as unknown as { zstdCompressSync(input: Uint8Array): Uint8Array };
const ENCODERS: Record<string, (input: Uint8Array) => Uint8Array> = {
  gzip: (input) => zlib.gzipSync(input),
  deflate: (input) => zlib.deflateSync(input),
  br: (input) => zlib.brotliCompressSync(input),
  zstd: (input) => zstd.zstdCompressSync(input),
};

describe("Content-Encoding: gzip, deflate, br, zstd decoded; bomb → 413; malformed → 400; unknown → 415", () => {
  for (const route of BODY_ROUTES) {
    it(route.path, async () => {
      for (const [coding, encode] of Object.entries(ENCODERS)) {
        const ok = await post(route, encode(encoder.encode(JSON.stringify(route.valid))), { "content-encoding": coding });
        expect(ok.status, `${coding}: ${await ok.clone().text()}`).toBe(200);
        await readBody(ok);

        // 2 MiB of JSON that compresses to a few KB, against a 64 KiB decoded cap.
        const bomb = encode(encoder.encode(JSON.stringify({ ...route.valid, pad: " ".repeat(2 * 1024 * 1024) })));
        expect(bomb.byteLength).toBeLessThan(64 * 1024);
        const tooLarge = await post(route, bomb, { "content-encoding": coding }, { MAX_DECOMPRESSED_BYTES: String(64 * 1024) });
        const envelope = await expectErrorResponse(tooLarge, route.family, 413);
        if (route.family === "openai") expect(envelope.code).toBe("request_too_large");

        const garbage = await post(route, encoder.encode("this is not compressed at all"), { "content-encoding": coding });
        const malformed = await expectErrorResponse(garbage, route.family, 400);
        if (route.family === "openai") expect(malformed.code).toBe("invalid_content_encoding");
      }
      const unknown = await post(route, JSON.stringify(route.valid), { "content-encoding": "compress" });
      const envelope = await expectErrorResponse(unknown, route.family, 415);
      if (route.family === "openai") expect(envelope.code).toBe("unsupported_content_encoding");
    });
  }

  it("stacked codings are decoded in reverse order (RFC 9110 §8.4)", async () => {
    const route = BODY_ROUTES[1] as BodyRoute;
    const body = ENCODERS.br?.(ENCODERS.gzip?.(encoder.encode(JSON.stringify(route.valid))) ?? new Uint8Array()) ?? new Uint8Array();
    const response = await post(route, body, { "content-encoding": "gzip, br" });
    expect(response.status).toBe(200);
    await readBody(response);
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed and invalid bodies → 400 naming param
// ---------------------------------------------------------------------------------------------

const deep = (depth: number): unknown => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

interface InvalidCase {
  name: string;
  body: (valid: Record<string, unknown>) => unknown;
  /** Expected `param` (OpenAI routes; Anthropic has no param field, its message names the field). */
  param: string | null;
}

const chatCases: InvalidCase[] = [
  { name: "missing model", body: ({ model: _model, ...rest }) => rest, param: "model" },
  { name: "messages is a string", body: (valid) => ({ ...valid, messages: "hi" }), param: "messages" },
  { name: "empty messages", body: (valid) => ({ ...valid, messages: [] }), param: "messages" },
  { name: "content is a number", body: (valid) => ({ ...valid, messages: [{ role: "user", content: 5 }] }), param: "messages[0].content" },
  { name: "stream is a string", body: (valid) => ({ ...valid, stream: "yes" }), param: "stream" },
  { name: "model id over 256 characters", body: (valid) => ({ ...valid, model: "m".repeat(257) }), param: "model" },
  {
    name: "129 tools",
    body: (valid) => ({ ...valid, tools: Array.from({ length: 129 }, (_, i) => ({ type: "function", function: { name: `f${i}` } })) }),
    param: "tools",
  },
  {
    name: "function name over 64 characters",
    body: (valid) => ({ ...valid, tools: [{ type: "function", function: { name: "f".repeat(65) } }] }),
    param: "tools[0].function.name",
  },
  { name: "100 001 messages", body: (valid) => ({ ...valid, messages: Array.from({ length: 100_001 }, () => ({ role: "user", content: "" })) }), param: "messages" },
];

const anthropicCases: InvalidCase[] = [
  { name: "missing max_tokens", body: ({ max_tokens: _max, ...rest }) => rest, param: "max_tokens" },
  { name: "messages is an object", body: (valid) => ({ ...valid, messages: { role: "user" } }), param: "messages" },
  { name: "role is unknown", body: (valid) => ({ ...valid, messages: [{ role: "robot", content: "x" }] }), param: "messages[0].role" },
  { name: "model id over 256 characters", body: (valid) => ({ ...valid, model: "m".repeat(257) }), param: "model" },
  { name: "tool name over 128 characters", body: (valid) => ({ ...valid, tools: [{ name: "t".repeat(129), input_schema: { type: "object" } }] }), param: "tools[0].name" },
  { name: "metadata.user_id over 256 characters", body: (valid) => ({ ...valid, metadata: { user_id: "u".repeat(257) } }), param: "metadata.user_id" },
  { name: "100 001 messages", body: (valid) => ({ ...valid, messages: Array.from({ length: 100_001 }, () => ({ role: "user", content: "" })) }), param: "messages" },
];

const responsesCases: InvalidCase[] = [
  { name: "missing input", body: ({ input: _input, ...rest }) => rest, param: "input" },
  { name: "input is a number", body: (valid) => ({ ...valid, input: 5 }), param: "input" },
  { name: "temperature out of range", body: (valid) => ({ ...valid, temperature: 7 }), param: "temperature" },
  { name: "metadata value over 512 characters", body: (valid) => ({ ...valid, metadata: { k: "v".repeat(513) } }), param: "metadata.k" },
];

const everyRoute: InvalidCase[] = [
  { name: "JSON that does not parse", body: () => '{"model": "m", "messages": [', param: null },
  { name: "a JSON array instead of an object", body: () => "[]", param: null },
  { name: "JSON null", body: () => "null", param: null },
  { name: `nesting deeper than ${MAX_JSON_DEPTH} levels (was a 500: stack overflow downstream)`, body: (valid) => ({ ...valid, tools: deep(10_000) }), param: null },
];

describe("invalid bodies → 400 in the route's envelope, naming param", () => {
  const table: Array<[BodyRoute, InvalidCase[]]> = [
    [BODY_ROUTES[0] as BodyRoute, [...responsesCases, ...everyRoute]],
    [BODY_ROUTES[1] as BodyRoute, [...chatCases, ...everyRoute]],
    [BODY_ROUTES[4] as BodyRoute, [...anthropicCases, ...everyRoute]],
    [BODY_ROUTES[5] as BodyRoute, everyRoute],
  ];
  for (const [route, cases] of table) {
    for (const invalid of cases) {
      it(`${route.path}: ${invalid.name}`, async () => {
        const body = invalid.body(route.valid);
        const response = await post(route, typeof body === "string" ? body : JSON.stringify(body));
        const envelope = await expectErrorResponse(response, route.family, 400);
        if (route.family === "openai") expect(envelope.param).toBe(invalid.param);
        else if (invalid.param) expect(envelope.message).toContain(invalid.param);
      });
    }
  }

  it(`nesting up to ${MAX_JSON_DEPTH} levels is fine; brackets inside strings do not count`, async () => {
    const route = BODY_ROUTES[1] as BodyRoute;
    const schema = { type: "object", properties: { x: deep(MAX_JSON_DEPTH - 8) }, description: "[".repeat(5_000) };
    const response = await post(route, JSON.stringify({ ...route.valid, tools: [{ type: "function", function: { name: "f", parameters: schema } }] }));
    expect(response.status, await response.clone().text()).toBe(200);
    await readBody(response);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: arbitrary and mutated requests → 2xx or 4xx with a valid envelope; never 5xx, never a hang
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Seeds per route: valid requests with enough structure for mutations to hit interesting fields. */
const SEEDS: Record<string, Json[]> = {
  "/v1/responses": [
    { model: MODEL, input: "hi" },
    {
      model: MODEL,
      instructions: "Be brief.",
      input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }],
      tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
      tool_choice: "auto",
      stream: true,
      metadata: { a: "b" },
    },
  ],
  chat: [
    { model: MODEL, messages: [{ role: "user", content: "hi" }] },
    {
      model: MODEL,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "hi" }] },
        { role: "assistant", content: "hello" },
        { role: "user", content: "again" },
      ],
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      temperature: 0.2,
    },
  ],
  "/v1/messages": [
    { model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "hi" }] },
    {
      model: MODEL,
      max_tokens: 64,
      stream: true,
      system: [{ type: "text", text: "Be brief." }],
      messages: [
        { role: "user", content: [{ type: "text", text: "hi" }] },
        { role: "assistant", content: "hello" },
        { role: "user", content: "again" },
      ],
      tools: [{ name: "f", input_schema: { type: "object" } }],
      metadata: { user_id: "u1" },
    },
  ],
  "/v1/messages/count_tokens": [countTokens as Json],
  cancel: [{}],
};

const FUZZ_ROUTES: Array<{ path: string; family: "openai" | "anthropic"; seeds: Json[]; protocol: ProtocolCase | null }> = [
  { path: "/v1/responses", family: "openai", seeds: SEEDS["/v1/responses"] ?? [], protocol: RESPONSES },
  { path: "/v1/chat/completions", family: "openai", seeds: SEEDS.chat ?? [], protocol: CHAT },
  { path: "/chat/completions", family: "openai", seeds: SEEDS.chat ?? [], protocol: CHAT },
  { path: "/openai/v1/chat/completions", family: "openai", seeds: SEEDS.chat ?? [], protocol: CHAT },
  { path: "/v1/messages", family: "anthropic", seeds: SEEDS["/v1/messages"] ?? [], protocol: ANTHROPIC },
  { path: "/v1/messages/count_tokens", family: "anthropic", seeds: SEEDS["/v1/messages/count_tokens"] ?? [], protocol: null },
  { path: `/v1/responses/resp_${"0".repeat(32)}/cancel`, family: "openai", seeds: SEEDS.cancel ?? [], protocol: null },
];

/** Every path to a value inside `value` (object keys and array indexes), the root excluded. */
function paths(value: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) value.forEach((item, index) => (out.push([...prefix, index]), paths(item, [...prefix, index], out)));
  else if (value !== null && typeof value === "object") for (const [key, item] of Object.entries(value)) out.push([...prefix, key]), paths(item, [...prefix, key], out);
  return out;
}

type Mutation =
  | { kind: "text"; pick: number; value: string }
  | { kind: "number"; pick: number; value: number }
  | { kind: "drop"; pick: number }
  | { kind: "set"; pick: number; value: Json }
  | { kind: "add"; key: string; value: Json }
  | { kind: "huge"; pick: number; size: number }
  | { kind: "deep"; pick: number; depth: number };

/** Applies one mutation to a deep copy target (at a path chosen by `pick` modulo the path count). */
function mutate(root: Json, mutation: Mutation): Json {
  if (mutation.kind === "add") {
    if (root === null || typeof root !== "object" || Array.isArray(root)) return root;
    return { ...root, [mutation.key]: mutation.value };
  }
  const at = (path: Array<string | number>): Json => path.reduce<Json>((value, step) => (value as Record<string | number, Json>)[step] as Json, root);
  // Leaf mutations keep the type (a valid request with odd content); the others may break anything.
  const wanted = mutation.kind === "text" ? "string" : mutation.kind === "number" ? "number" : null;
  const all = paths(root).filter((path) => wanted === null || typeof at(path) === wanted);
  if (all.length === 0) return root;
  const path = all[mutation.pick % all.length] ?? [];
  const copy = structuredClone(root);
  let parent: Json = copy;
  for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[step] as Json;
  const last = path[path.length - 1] as string | number;
  const container = parent as Record<string | number, Json>;
  switch (mutation.kind) {
    case "text":
    case "number":
      container[last] = mutation.value;
      break;
    case "drop":
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete container[last];
      break;
    case "set":
      container[last] = mutation.value;
      break;
    case "huge":
      container[last] = "x".repeat(mutation.size);
      break;
    case "deep": {
      let value: Json = container[last] ?? null;
      for (let i = 0; i < mutation.depth; i++) value = [value];
      container[last] = value;
      break;
    }
  }
  return copy;
}

const jsonValue = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
const knownKeys = fc.constantFrom("model", "messages", "input", "stream", "tools", "tool_choice", "max_tokens", "system", "metadata", "previous_response_id", "user", "n", "reasoning_effort", "thinking", "store", "instructions", "stream_options", "__proto__", "constructor");
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Any UTF-16, lone surrogates and NULs included: valid JSON strings a client may well send.
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("text" as const), pick: fc.nat(), value: fc.string({ unit: "binary", maxLength: 200 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("number" as const), pick: fc.nat(), value: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("set" as const), pick: fc.nat(), value: jsonValue }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("add" as const), key: knownKeys, value: jsonValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("huge" as const), pick: fc.nat(), size: fc.integer({ min: 1_000, max: 40_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deep" as const), pick: fc.nat(), depth: fc.integer({ min: 1, max: 150 }) }) },
);

type Payload = { body: Uint8Array; headers: Record<string, string> };

function payloads(seeds: Json[]): fc.Arbitrary<Payload> {
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 0, maxLength: 3 })).map(([seed, steps]) => steps.reduce(mutate, seed));
  const json = (value: fc.Arbitrary<Json>) => value.map((body): Payload => ({ body: encoder.encode(JSON.stringify(body)), headers: {} }));
  return fc.oneof(
    { weight: 6, arbitrary: json(mutated) },
    { weight: 1, arbitrary: json(fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>) },
    // Garbage bytes, and a valid body cut short.
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((body): Payload => ({ body, headers: {} })) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.nat()).map(([seed, cut]): Payload => {
        const bytes = encoder.encode(JSON.stringify(seed));
        return { body: bytes.subarray(0, cut % (bytes.length + 1)), headers: {} };
      }),
    },
    // Headers clients get wrong: content types, codings the body does not have, an empty coding.
    {
      weight: 1,
      arbitrary: fc
        .tuple(json(mutated), fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""), fc.constantFrom("gzip", "br", "zstd", "deflate", "identity", "x-unknown", ", ,", "gzip, gzip"))
        .map(([payload, type, coding]): Payload => ({ body: payload.body, headers: { "content-type": type, "content-encoding": coding } })),
    },
  );
}

/** The property: a 2xx carries well-formed JSON or SSE; anything else is a 4xx with a valid envelope. */
async function checkAnswer(route: (typeof FUZZ_ROUTES)[number], payload: Payload): Promise<void> {
  const response = await within(5_000, `headers of ${route.path}`, post(route, payload.body, payload.headers, { MAX_BODY_BYTES: String(32 * 1024) }));
  const text = await readBody(response, 5_000, `body of ${route.path}`);
  const context = `${route.path} → ${response.status}: ${text.slice(0, 300)}\nrequest: ${new TextDecoder().decode(payload.body.subarray(0, 300))}`;
  expect(response.status, context).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers.get("content-type"), context).toContain("application/json");
    expect(() => parseEnvelope(route.family, JSON.parse(text) as unknown), context).not.toThrow();
    return;
  }
  expect(response.status, context).toBeGreaterThanOrEqual(200);
  if ((response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    expect(route.protocol, context).not.toBeNull();
    expect(() => route.protocol?.readStream(text), context).not.toThrow();
  } else {
    expect(() => JSON.parse(text) as unknown, context).not.toThrow();
  }
}

describe("property: arbitrary and mutated requests never get a 5xx or hang", () => {
  for (const route of FUZZ_ROUTES) {
    it(`POST ${route.path}`, async () => {
      await fc.assert(
        fc.asyncProperty(payloads(route.seeds), (payload) => checkAnswer(route, payload)),
        { numRuns: 40 },
      );
    }, 30_000);
  }

  it("GET/DELETE lifecycle and model routes with arbitrary ids and queries", async () => {
    const routes = ["/v1/responses/{}", "/v1/responses/{}/input_items", "/v1/models/{}"];
    const segment = fc.oneof(fc.string({ maxLength: 80 }), fc.constant(`resp_${"a".repeat(32)}`), fc.stringMatching(/^resp_[0-9a-f]{0,70}$/));
    const query = fc.dictionary(fc.constantFrom("limit", "order", "after", "stream", "include[]"), fc.string({ maxLength: 20 }), { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.constantFrom("GET", "DELETE"), segment, query, async (template, method, id, params) => {
        const path = `${template.replace("{}", encodeURIComponent(id))}?${new URLSearchParams(params)}`;
        const response = await within(5_000, path, gateway(path, { method, headers: auth("openai") }));
        const text = await readBody(response, 5_000);
        expect(response.status, `${method} ${path} → ${text.slice(0, 200)}`).toBeLessThan(500);
        if (response.status >= 400) expect(() => parseEnvelope("openai", JSON.parse(text) as unknown)).not.toThrow();
      }),
      { numRuns: 60 },
    );
  });
});
