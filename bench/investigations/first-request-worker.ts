/**
 * The first request of a fresh isolate, in-process (bench/investigations/first-request.ts drives it):
 * `GET /first?protocol=chat|anthropic|responses` imports the gateway (src/index.ts, bundled lazily:
 * esbuild turns the dynamic import into a deferred module init) and sends it one short streaming
 * request with native answered by a stubbed `fetch`, so a profile of this request holds the module
 * evaluation plus everything the first request builds, compiles and runs, and no network.
 */
import type { Env } from "../../src/config";
import { nativeStreamText, RUN_ID } from "../lib/workload";

const SHORT_RUN = nativeStreamText({ reasoningDeltas: 2, messageDeltas: 8 });

function stubNative(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (init?.method === "POST" && url.pathname.endsWith("/runs")) {
    return Promise.resolve(new Response(SHORT_RUN.replaceAll(RUN_ID, "0197a3c4-0000-7000-8000-000000000001"), { headers: { "content-type": "text/event-stream" } }));
  }
  // The model check's catalog read (the gateway caches it per key; a fresh isolate reads it once).
  if (url.pathname.endsWith("/models")) {
    return Promise.resolve(new Response(JSON.stringify({ object: "list", data: [{ id: "1flowbase", name: "1flowbase" }] }), { headers: { "content-type": "application/json" } }));
  }
  return Promise.resolve(new Response(JSON.stringify({ code: "not_found", message: `stub: no ${url.pathname}` }), { status: 404 }));
}

const BODIES: Record<string, { path: string; body: unknown; headers?: Record<string, string> }> = {
  chat: { path: "/v1/chat/completions", body: { model: "1flowbase", stream: true, messages: [{ role: "user", content: "Hello!" }] } },
  anthropic: { path: "/v1/messages", body: { model: "1flowbase", stream: true, max_tokens: 256, messages: [{ role: "user", content: "Hello!" }] }, headers: { "anthropic-version": "2023-06-01" } },
  responses: { path: "/v1/responses", body: { model: "1flowbase", stream: true, input: "Hello!" } },
};

export default {
  async fetch(request: Request, env: Env & { RESPONSE_INDEX: D1Database }, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/migrate") {
      await env.RESPONSE_INDEX.exec(
        "CREATE TABLE IF NOT EXISTS response_index (response_id TEXT PRIMARY KEY, native_run_id TEXT NOT NULL, owner_fingerprint TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
      );
      return new Response("ok");
    }
    const spec = BODIES[url.searchParams.get("protocol") ?? "chat"];
    if (url.pathname !== "/first" || !spec) return new Response("GET /first?protocol=chat|anthropic|responses", { status: 404 });
    globalThis.fetch = stubNative as typeof fetch;
    const started = performance.now();
    const worker = (await import("../../src/index")).default;
    const text = JSON.stringify(spec.body);
    const response = await worker.fetch(
      new Request(`http://gateway.bench${spec.path}`, {
        method: "POST",
        headers: { authorization: "Bearer bench-key", "content-type": "application/json", "content-length": String(new TextEncoder().encode(text).byteLength), ...spec.headers },
        body: text,
      }),
      { NATIVE_API_BASE_URL: "http://native.bench", RESPONSE_INDEX: env.RESPONSE_INDEX, LOG_LEVEL: "off" },
      ctx,
    );
    const body = await response.text();
    return Response.json({ status: response.status, ms: performance.now() - started, bytes: body.length, head: body.slice(0, 200) });
  },
};
