/**
 * The request path inside workerd: a worker that sends `n` short requests through the gateway's own
 * app (`createApp().fetch`, exactly what src/index.ts exports) with native answered in-process by a
 * stubbed `fetch` (a canned short SSE run), and answers with the CPU-side cost per request. The D1
 * ownership index is a real (Miniflare) D1 binding with the migrations applied (request.ts), so
 * Responses pays its claim as in production.
 *
 *   GET /bench?protocol=chat|anthropic|responses|responses-nostore|responses-chained&stream=1|0&n=300[&promptBytes=94000][&prompt=long]
 *
 * What it isolates: everything the worker does for a short request besides the network — routing,
 * auth, body read and zod validation, policy, mapping, the native client (headers, JSON body, SSE
 * decode), projection, the usage lookup when the terminal has no usage, logging — minus socket I/O.
 * bench/investigations/request.ts drives it and profiles it.
 */
import { createApp } from "../../src/app";
import type { Env } from "../../src/config";
import { emulatorDirective, LONG_STREAM, nativeStreamText, RUN_ID } from "../lib/workload";

const app = createApp();

/** A short answer: 2 reasoning deltas, 8 message deltas, usage on the terminal (native 0.3 shape). */
const SHORT_RUN = nativeStreamText({ reasoningDeltas: 2, messageDeltas: 8 });
const encoder = new TextEncoder();
let runCounter = 0;

/** Native, answered in-process: every run gets a fresh id (Responses claims `resp_<run>` in D1). */
function stubNative(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (init?.method === "POST" && url.pathname.endsWith("/runs")) {
    const runId = `0197a3c4-0000-7000-8000-${(++runCounter).toString(16).padStart(12, "0")}`;
    const body = encoder.encode(SHORT_RUN.replaceAll(RUN_ID, runId));
    return Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } }));
  }
  // A chained create's read of the previous run (`GET /runs/{id}`): a finished one-turn run, the
  // shape the emulator answers (fork `native.rs` run view).
  const runRead = /\/runs\/([0-9a-f-]{36})$/.exec(url.pathname);
  if ((init?.method ?? "GET") === "GET" && runRead?.[1]) {
    return Promise.resolve(new Response(JSON.stringify({ data: finishedRun(runRead[1]), meta: null }), { headers: { "content-type": "application/json" } }));
  }
  // The model check's catalog read (cached by the gateway for 30 s per key: once per run here).
  if (url.pathname.endsWith("/models")) {
    return Promise.resolve(new Response(JSON.stringify({ object: "list", data: [{ id: "1flowbase", name: "1flowbase" }] }), { headers: { "content-type": "application/json" } }));
  }
  return Promise.resolve(new Response(JSON.stringify({ error: { message: `bench stub: no ${init?.method ?? "GET"} ${url.pathname}` } }), { status: 404 }));
}

function finishedRun(id: string): Record<string, unknown> {
  return {
    id,
    application_id: "0197a000-0000-7000-8000-00000000a001",
    api_key_id: "0197a000-0000-7000-8000-00000000c001",
    publication_version_id: "0197a000-0000-7000-8000-00000000b001",
    status: "succeeded",
    node_input_payload: { "node-start": { query: "remember the word amber", history: [], files: [] }, env: { SECRET: "bench" }, sys: {} },
    metadata: { title: "remember the word amber", compatibility_mode: "native-v1", idempotency_key: null, request: { conversation: { id: null, user: null } } },
    answer: "You said: remember the word amber",
    answer_segments: [{ kind: "message", text: "You said: remember the word amber" }],
    required_action: null,
    tool_calls: null,
    usage: { prompt_tokens: 6, completion_tokens: 9, total_tokens: 15 },
    error: null,
    created_at: "2026-12-02 20:23:51.655001 +00:00:00",
  };
}

/** The stored response `responses-chained` continues (made by the first request of a run). */
let chainFrom = "";

const BODIES: Record<string, (stream: boolean, prompt: string) => { path: string; body: unknown; headers?: Record<string, string> }> = {
  chat: (stream, prompt) => ({ path: "/v1/chat/completions", body: { model: "1flowbase", stream, messages: [{ role: "user", content: prompt }] } }),
  anthropic: (stream, prompt) => ({
    path: "/v1/messages",
    body: { model: "1flowbase", stream, max_tokens: 256, messages: [{ role: "user", content: prompt }] },
    headers: { "anthropic-version": "2023-06-01" },
  }),
  responses: (stream, prompt) => ({ path: "/v1/responses", body: { model: "1flowbase", stream, input: prompt } }),
  // The same without the D1 ownership claim: what the index costs per request.
  "responses-nostore": (stream, prompt) => ({ path: "/v1/responses", body: { model: "1flowbase", stream, store: false, input: prompt } }),
  // A chained create (previous_response_id of an aged, claimed response): the index read, native's
  // GET of the previous run and the rebuild of its turn, on top of a stored create.
  "responses-chained": (stream, prompt) => ({ path: "/v1/responses", body: { model: "1flowbase", stream, input: prompt, previous_response_id: chainFrom } }),
};

export default {
  async fetch(request: Request, env: Env & { RESPONSE_INDEX: D1Database }, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/bench") return new Response("GET /bench?protocol=&stream=&n=", { status: 404 });
    const protocol = url.searchParams.get("protocol") ?? "chat";
    const stream = url.searchParams.get("stream") !== "0";
    const n = Number(url.searchParams.get("n") ?? "300");
    const make = BODIES[protocol];
    if (!make) return new Response(`unknown protocol ${protocol}`, { status: 400 });
    globalThis.fetch = stubNative as typeof fetch;
    const workerEnv: Env = { NATIVE_API_BASE_URL: "http://native.bench", RESPONSE_INDEX: env.RESPONSE_INDEX, LOG_LEVEL: "off" };
    // `promptBytes`: a longer prompt (the e2e long stream's request is ~94 KB), padded with words.
    const promptBytes = Number(url.searchParams.get("promptBytes") ?? "0");
    // `prompt=long`: the e2e long stream's own prompt (its emulator directive, ~73K UTF-16 units with
    // quotes and non-ASCII text, 94 KB as JSON): what the "94 KB request" cell really sends.
    const prompt = url.searchParams.get("prompt") === "long" ? emulatorDirective(LONG_STREAM) : promptBytes > 11 ? `Hello there${" lorem ipsum".repeat(Math.ceil((promptBytes - 11) / 12))}`.slice(0, promptBytes) : "Hello there";
    if (protocol === "responses-chained" && !chainFrom) {
      const first = await app.fetch(
        new Request("http://gateway.bench/v1/responses", {
          method: "POST",
          headers: { authorization: "Bearer bench-key", "content-type": "application/json" },
          body: JSON.stringify({ model: "1flowbase", input: "remember the word amber" }),
        }),
        workerEnv,
        ctx,
      );
      chainFrom = ((await first.json()) as { id: string }).id;
      // The claim is written alongside the answer; chain only once it is in D1 (an aged id's path).
      for (let i = 0; i < 100 && !(await env.RESPONSE_INDEX.prepare("SELECT 1 FROM response_index WHERE response_id = ?1").bind(chainFrom).first()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    const { path, body, headers } = make(stream, prompt);
    const text = JSON.stringify(body);
    const length = encoder.encode(text).byteLength;
    let bytes = 0;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const response = await app.fetch(
        new Request(`http://gateway.bench${path}`, {
          method: "POST",
          // As an HTTP client sends it (a Request built from a string has no content-length header).
          headers: { authorization: "Bearer bench-key", "content-type": "application/json", "content-length": String(length), ...headers },
          body: text,
        }),
        workerEnv,
        ctx,
      );
      if (response.status !== 200) return new Response(`request ${i}: ${response.status} ${await response.text()}`, { status: 500 });
      bytes += (await response.arrayBuffer()).byteLength;
    }
    const ms = performance.now() - started;
    return Response.json({ protocol, stream, n, ms, usPerRequest: (ms * 1000) / n, bytes });
  },
};
