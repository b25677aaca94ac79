/**
 * The gateway with a production-latency D1 (bench/lib/d1-latency.ts): the deployed worker's own
 * default export (src/index.ts), called with `RESPONSE_INDEX` replaced by the latency model over two
 * local D1 databases (`INDEX_PRIMARY`, `INDEX_REPLICA`). Nothing in src/ knows it is measured.
 *
 * Model settings come from vars: BENCH_D1_PRIMARY_MS (100), BENCH_D1_REPLICA_MS (5),
 * BENCH_D1_LAG_MS ("0-50"). bench/d1latency.ts drives it.
 *
 * Each request's context (its `ctx.waitUntil`, which carries the model's replication, and for a
 * request tagged with an `x-bench-request-id` header, a trace of its D1 queries) lives in an
 * AsyncLocalStorage, which follows the request's continuations, `ctx.waitUntil` work included.
 * The request reaches the gateway as it came (re-wrapping it to drop that header would add work to
 * the path being timed; the gateway forwards no client header to native):
 *   GET /__bench/d1/trace?ids=a,b,c   → { a: D1RequestTrace, … } (and forgets them)
 *   GET /__bench/d1/state             → replication state and the model
 *   GET /__bench/d1/check             → the model's own checks (routing, lag, sessions) on a scratch table
 * A request with an `x-bench-new-isolate` header gets a fresh copy of the env (see the fetch handler).
 *   POST /__bench/d1/native/<native path>[?replica-read=1[&native-read=1]]
 *                                     → the yardstick for "one replica round trip": native's answer as is,
 *                                       forwarded by this worker, after one replica read through the model
 *                                       when asked (alongside a keyed native read with native-read=1, as a
 *                                       chained create reads the previous run) — see forwardToNative
 */
import { AsyncLocalStorage } from "node:async_hooks";
import gateway from "../src/index";
import { checkModel, createLatencyD1, d1ModelFromVars, emptyTrace, type D1RequestContext, type D1RequestTrace, type LatencyD1 } from "./lib/d1-latency";

interface BenchEnv extends Record<string, unknown> {
  INDEX_PRIMARY: D1Database;
  INDEX_REPLICA: D1Database;
}

/** The slice of the worker's default export the bench calls (a Hono app or an ExportedHandler alike). */
interface FetchHandler {
  fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Response | Promise<Response>;
}

const handler: FetchHandler = gateway;
const requests = new AsyncLocalStorage<D1RequestContext>();
const finished = new Map<string, D1RequestTrace>();
const TRACE_LIMIT = 20_000;

/**
 * One wrapped env per isolate: the gateway validates its config once per env object (config.ts), so
 * a fresh object per request would re-run that validation on every request, which production never does.
 */
let wrapped: { source: BenchEnv; env: Record<string, unknown>; d1: LatencyD1 } | undefined;

function gatewayEnv(env: BenchEnv): { env: Record<string, unknown>; d1: LatencyD1 } {
  if (wrapped?.source !== env) {
    const d1 = createLatencyD1(env.INDEX_PRIMARY, env.INDEX_REPLICA, d1ModelFromVars(env), () => requests.getStore(), wireFromVars(env));
    const { INDEX_PRIMARY: _primary, INDEX_REPLICA: _replica, ...rest } = env;
    wrapped = { source: env, env: { ...rest, RESPONSE_INDEX: d1.database }, d1 };
  }
  return wrapped;
}

/**
 * BENCH_D1_WIRE_URL set (bench/wire-process.ts): the model's round trips are I/O to that process,
 * which answers after the asked time — the isolate waits on a socket, as it does on production's D1.
 * Unset: timers in this isolate (bench/lib/d1-latency.ts `sleep`).
 */
function wireFromVars(env: BenchEnv): ((ms: number) => Promise<void>) | undefined {
  const url = typeof env.BENCH_D1_WIRE_URL === "string" && env.BENCH_D1_WIRE_URL !== "" ? env.BENCH_D1_WIRE_URL.replace(/\/+$/, "") : null;
  if (url === null) return undefined;
  return async (ms) => {
    const answer = await fetch(`${url}/?ms=${ms}`);
    await answer.arrayBuffer();
    if (!answer.ok) throw new Error(`d1-latency wire answered ${answer.status}`);
  };
}

const NATIVE_PREFIX = "/__bench/d1/native/";

/**
 * The bare minimum a chained request needs before native: one index read at the nearest replica
 * (the gateway's lookup shape: `first-unconstrained`, one row), then native's own answer, returned
 * untouched. Its time to first byte over the same forward without the read is one replica round trip
 * as this machine delivers it — more than the injected figure: the local D1 query, the timer's
 * overshoot, and the native hop that follows an idle wait (measured here: a native POST 7 ms after
 * the last one answered 0.7 ms later than one sent back to back, every process having gone idle).
 */
async function forwardToNative(request: Request, url: URL, env: Record<string, unknown>, d1: LatencyD1): Promise<Response> {
  const native = String(env.NATIVE_API_BASE_URL).replace(/\/+$/, "");
  // A keyed native read on the wire during the replica read (its body read and parsed), as a chained
  // create's `GET /runs/{id}` is: whatever the two cost each other on this machine.
  const alongside = url.searchParams.get("native-read") === "1" ? fetch(`${native}/api/agent/v1/models`, { headers: request.headers }).then((r) => r.json()) : null;
  alongside?.catch(() => undefined); // awaited below; a failed replica read must not leave it unhandled
  if (url.searchParams.get("replica-read") === "1") {
    const session = d1.database.withSession("first-unconstrained");
    await session.prepare("SELECT response_id, native_run_id, created_at, expires_at, deleted_at FROM response_index WHERE expires_at > ?1 LIMIT 1").bind(Math.floor(Date.now() / 1000)).first();
  }
  if (alongside) await alongside;
  const target = `${native}/${url.pathname.slice(NATIVE_PREFIX.length)}`;
  return fetch(target, { method: request.method, headers: request.headers, body: request.body });
}

export default {
  async fetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    const { env: workerEnv, d1 } = gatewayEnv(env);
    if (url.pathname === "/__bench/d1/state") return Response.json({ model: d1ModelFromVars(env), ...d1.state() });
    if (url.pathname === "/__bench/d1/check") return Response.json(await checkModel(env.INDEX_PRIMARY, env.INDEX_REPLICA, (promise) => ctx.waitUntil(promise)));
    if (url.pathname === "/__bench/d1/trace") {
      const out: Record<string, D1RequestTrace | null> = {};
      for (const id of (url.searchParams.get("ids") ?? "").split(",").filter(Boolean)) {
        out[id] = finished.get(id) ?? null;
        finished.delete(id);
      }
      return Response.json(out);
    }
    // Every request gets a context (its waitUntil carries replication); only tagged ones are traced.
    const id = request.headers.get("x-bench-request-id");
    const trace = id === null ? null : emptyTrace();
    if (id !== null && trace) {
      if (finished.size >= TRACE_LIMIT) finished.clear();
      finished.set(id, trace);
    }
    return requests.run({ trace, waitUntil: (promise) => ctx.waitUntil(promise) }, async () => {
      try {
        if (url.pathname.startsWith(NATIVE_PREFIX)) return await forwardToNative(request, url, workerEnv, d1);
        // `x-bench-new-isolate`: the gateway sees this env for the first time, as a new isolate's first
        // request does — its config is parsed again and its per-configuration memory (the D1 schema
        // check's success) starts empty. Caches keyed otherwise (the model catalog) stay warm.
        return await handler.fetch(request, request.headers.has("x-bench-new-isolate") ? { ...workerEnv } : workerEnv, ctx);
      } finally {
        if (trace) trace.responded = true;
      }
    });
  },
};
