/**
 * Running bench code inside workerd: esbuild bundles a worker module (like wrangler would, not
 * minified so profiles keep names), Miniflare runs it in workerd, and the V8 inspector of the user
 * worker's isolate (the same channel `wrangler check startup` profiles through) gives CPU profiles.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadEsbuild, loadMiniflare, loadWebSocket, ROOT } from "./deps";
import { serverPort } from "./proc";

/** The gateway's compatibility settings (wrangler.toml), so the bench isolate behaves like the gateway's. */
export const COMPATIBILITY_DATE = "2026-04-20";
export const COMPATIBILITY_FLAGS = ["nodejs_compat", "enable_request_signal"];

/** Bundles `entry` (relative to the repo root, or absolute) into one ES module; returns its path. */
export async function bundleWorker(entry: string): Promise<string> {
  const outdir = mkdtempSync(path.join(os.tmpdir(), "bench-bundle-"));
  const outfile = path.join(outdir, "worker.js");
  await loadEsbuild().build({
    entryPoints: [path.resolve(ROOT, entry)],
    // Bare imports (zod, hono) resolve from the repo's node_modules even for a tree outside it (bench/investigations/ab.ts).
    nodePaths: [path.join(ROOT, "node_modules")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["node:*", "cloudflare:*"],
    minify: false,
    logLevel: "warning",
  });
  return outfile;
}

export interface WorkerdSession {
  /** The runtime's own HTTP socket (loopback), for clients that should not go through Miniflare's Node side. */
  url: string;
  fetch(pathAndQuery: string): Promise<Response>;
  /** Any request to the worker (method, headers, body), answered with its whole body read. */
  request(pathAndQuery: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<Response>;
  /** The worker isolate's inspector (DevTools protocol over WebSocket). */
  inspectorUrl(): Promise<string>;
  /** Runs SQL statements (e.g. a migration) against one of the session's D1 bindings. */
  d1Exec(binding: string, sql: string): Promise<void>;
  /** CPU profile of this isolate while `during` runs (V8 sampling profiler). */
  profile<T>(during: () => Promise<T>, samplingIntervalUs?: number): Promise<{ result: T; profile: CpuProfile }>;
  dispose(): Promise<void>;
}

/** `extra`: more Miniflare options, e.g. `{ d1Databases: ["RESPONSE_INDEX"] }` (bench/investigations/request.ts). */
export async function startWorkerd(scriptPath: string, name = "bench", extra: Record<string, unknown> = {}): Promise<WorkerdSession> {
  const { Miniflare } = loadMiniflare();
  const mf = new Miniflare({
    ...extra,
    name,
    modules: true,
    scriptPath,
    // Module names are relative to this root; the bundle lives in a temp dir outside the repo.
    modulesRoot: path.dirname(scriptPath),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    inspectorPort: await serverPort(),
    host: "127.0.0.1",
    port: await serverPort(),
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const inspectorUrl = async (): Promise<string> => new URL(`/core:user:${name}`, (await mf.getInspectorURL()).href).href;
  return {
    url,
    async fetch(pathAndQuery) {
      // Miniflare's Response is undici's; re-wrap so callers get the global type.
      const response = await mf.dispatchFetch(`http://bench.local${pathAndQuery}`);
      return new Response(await response.arrayBuffer(), { status: response.status, headers: [...response.headers] });
    },
    async request(pathAndQuery, init) {
      const response = await mf.dispatchFetch(`http://bench.local${pathAndQuery}`, init);
      return new Response(await response.arrayBuffer(), { status: response.status, headers: [...response.headers] });
    },
    inspectorUrl,
    async d1Exec(binding, sql) {
      const db = (await mf.getD1Database(binding)) as { prepare(query: string): { run(): Promise<unknown> } };
      // One statement at a time: D1's exec() wants each on one line. Comment lines go first: a
      // statement that is only comments (or comments before an ALTER TABLE) is refused by local D1.
      const code = sql.split("\n").filter((line) => !line.trim().startsWith("--")).join("\n");
      for (const statement of code.split(";").map((part) => part.trim()).filter(Boolean)) await db.prepare(statement).run();
    },
    async profile(during, samplingIntervalUs = 100) {
      return profileOver(await inspectorUrl(), during, samplingIntervalUs);
    },
    dispose: () => mf.dispose(),
  };
}

// ---------------------------------------------------------------------------------------------
// V8 CPU profiles
// ---------------------------------------------------------------------------------------------

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  /** Self-time samples by 1-based source line of this function (V8 reports them per node). */
  positionTicks?: Array<{ line: number; ticks: number }>;
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A DevTools protocol session with one isolate (workerd's inspector). */
export interface InspectorSession {
  send(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<unknown>;
  /** Calls `handler` with the params of every `method` event until the returned function is called. */
  on(method: string, handler: (params: unknown) => void): () => void;
  close(): void;
}

export async function openInspector(wsUrl: string): Promise<InspectorSession> {
  const WebSocketImpl = loadWebSocket();
  const ws = new WebSocketImpl(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`cannot connect to the workerd inspector at ${wsUrl}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (value: unknown) => void>();
  const listeners = new Map<string, Set<(params: unknown) => void>>();
  ws.addEventListener("message", (event: MessageEvent) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; method?: string; params?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
    else if (message.method) for (const handler of listeners.get(message.method) ?? []) handler(message.params);
  });
  return {
    send(method, params = {}, timeoutMs = 60_000) {
      const id = nextId++;
      const answered = new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), timeoutMs);
        pending.set(id, (value) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(value);
        });
      });
      ws.send(JSON.stringify({ id, method, params }));
      return answered;
    },
    on(method, handler) {
      const set = listeners.get(method) ?? new Set();
      set.add(handler);
      listeners.set(method, set);
      return () => set.delete(handler);
    },
    close: () => ws.close(),
  };
}

/**
 * The isolate's live JS heap in bytes: the sum of the self sizes of every object in a heap snapshot.
 * V8 takes a snapshot right after a full GC, so this is exactly what was reachable at that moment.
 * (workerd's inspector does not answer `HeapProfiler.collectGarbage`, and V8's used heap size read
 * after a snapshot also counts whatever the isolate allocated in between — up to a young generation
 * of garbage while a stream runs.)
 */
export async function liveHeapBytes(inspector: InspectorSession): Promise<number> {
  const chunks: string[] = [];
  const stop = inspector.on("HeapProfiler.addHeapSnapshotChunk", (params) => chunks.push((params as { chunk: string }).chunk));
  try {
    await inspector.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  } finally {
    stop();
  }
  const snapshot = JSON.parse(chunks.join("")) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf("self_size");
  if (selfSize < 0 || fields.length === 0) throw new Error("heap snapshot without self_size");
  let total = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i] ?? 0;
  if (process.env.BENCH_HEAP_TOP) {
    const full = snapshot as unknown as { strings: string[]; snapshot: { meta: { node_types: [string[]] } } };
    const typeNames = full.snapshot.meta.node_types[0];
    const byName = new Map<string, number>();
    for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
      const key = `${typeNames[snapshot.nodes[i + fields.indexOf("type")] ?? 0]}:${(full.strings[snapshot.nodes[i + fields.indexOf("name")] ?? 0] ?? "").slice(0, 60)}`;
      byName.set(key, (byName.get(key) ?? 0) + (snapshot.nodes[i + selfSize] ?? 0));
    }
    const top = [...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BENCH_HEAP_TOP));
    console.log(`heap ${(total / 1048576).toFixed(1)} MiB: ${top.map(([k, v]) => `${k} ${(v / 1048576).toFixed(2)}`).join(" | ")}`);
  }
  return total;
}

/**
 * An inspector session whose profiler answered `Profiler.enable`. A connection to Miniflare's
 * inspector proxy sometimes opens and then answers nothing ("inspector Profiler.enable timed out":
 * the micro phase of session 14's full run lost its figures to it); each attempt waits 10 s, and the
 * next one reconnects.
 */
export async function openProfiler(wsUrl: string, attempts = 3): Promise<InspectorSession> {
  for (let attempt = 1; ; attempt++) {
    const inspector = await openInspector(wsUrl);
    try {
      await inspector.send("Profiler.enable", {}, 10_000);
      return inspector;
    } catch (error) {
      inspector.close();
      if (attempt >= attempts) throw error;
      console.warn(`  (inspector: ${(error as Error).message}; reconnecting, attempt ${attempt + 1} of ${attempts})`);
    }
  }
}

async function profileOver<T>(wsUrl: string, during: () => Promise<T>, samplingIntervalUs: number): Promise<{ result: T; profile: CpuProfile }> {
  const inspector = await openProfiler(wsUrl);
  try {
    await inspector.send("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
    await inspector.send("Profiler.start");
    const result = await during();
    const stopped = (await inspector.send("Profiler.stop")) as { profile: CpuProfile };
    return { result, profile: stopped.profile };
  } finally {
    inspector.close();
  }
}

export interface SelfTimeRow {
  /** `functionName (module:line)`; module from esbuild's `// path` section comments. */
  name: string;
  selfMs: number;
  share: number;
}

/**
 * Self time per function. The bundle is not minified and esbuild starts each source module with a
 * `// <path>` comment, so a profile line number maps back to its source module.
 */
export function selfTimes(profile: CpuProfile, bundlePath: string | null, limit = 15): { rows: SelfTimeRow[]; totalMs: number; idleMs: number } {
  const moduleAt = bundlePath ? moduleLineIndex(readFileSync(bundlePath, "utf8")) : null;
  const byNode = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) byNode.set(node.id, node);
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  profile.samples.forEach((nodeId, index) => {
    const dt = profile.timeDeltas[index + 1] ?? 0;
    const node = byNode.get(nodeId);
    if (!node) return;
    const frame = node.callFrame;
    if (frame.functionName === "(idle)") {
      idleUs += dt;
      return;
    }
    totalUs += dt;
    let where = "";
    if (frame.url) {
      const module = moduleAt ? moduleAt(frame.lineNumber) : path.basename(frame.url);
      where = ` (${module}${moduleAt ? "" : `:${frame.lineNumber + 1}`})`;
    }
    const key = `${frame.functionName || "(anonymous)"}${where}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
  });
  const rows = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: totalUs > 0 ? us / totalUs : 0 }));
  return { rows, totalMs: totalUs / 1000, idleMs: idleUs / 1000 };
}

export function moduleLineIndex(bundle: string): (line: number) => string {
  const starts: Array<{ line: number; module: string }> = [];
  bundle.split("\n").forEach((text, line) => {
    const match = /^\/\/ ((?:src|bench|node_modules|emulator)\/\S+)$/.exec(text);
    if (match?.[1]) starts.push({ line, module: match[1].replace(/^node_modules\//, "") });
  });
  return (line) => {
    let found = "bundle";
    for (const start of starts) {
      if (start.line > line) break;
      found = start.module;
    }
    return found;
  };
}
