/**
 * Bundle size and startup cost of the deployable worker.
 *
 * Size: `wrangler deploy --dry-run --outdir <tmp>` (minified, wrangler.toml `minify = true`), the
 * "Total Upload … / gzip …" wrangler reports (Cloudflare's size limits apply to the compressed
 * upload), and our own gzip -9 of the bundle as a cross-check.
 *
 * Startup: what `wrangler check startup` measures — the CPU time of `await import(<bundle>)` (module
 * evaluation: top-level code of the worker, Hono, zod schemas) in a fresh workerd isolate, taken from
 * the isolate's V8 CPU profile (sampling every 50 µs), plus the wall time of the same import as the
 * isolate's own clock sees it (1 ms resolution). Median of several fresh isolates. Not measured: the
 * compile of the script and isolate creation, which Cloudflare does before any of our code runs.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { loadEsbuild, loadMiniflare, loadWebSocket, ROOT } from "./lib/deps";
import { serverPort } from "./lib/proc";
import type { GatewaySnapshot } from "./lib/snapshot";
import { median } from "./lib/stats";
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS, selfTimes, type CpuProfile } from "./lib/workerd";

export interface SizeResult {
  bundleBytes: number;
  gzip9Bytes: number;
  /** As printed by wrangler: `Total Upload: X KiB / gzip: Y KiB`. */
  wranglerTotalKiB: number | null;
  wranglerGzipKiB: number | null;
  files: string[];
  startup: StartupResult;
  composition: CompositionResult;
}

export async function runSize(snapshot: GatewaySnapshot, runs = 7): Promise<SizeResult> {
  const outdir = snapshot.dir;
  const upload = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(snapshot.buildOutput);
  const main = path.join(outdir, "index.js");
  const code = readFileSync(main);
  const gzip9 = zlib.gzipSync(code, { level: 9 }).byteLength;

  return {
    bundleBytes: statSync(main).size,
    gzip9Bytes: gzip9,
    wranglerTotalKiB: upload ? Number(upload[1]) : null,
    wranglerGzipKiB: upload ? Number(upload[2]) : null,
    files: readdirSync(outdir).filter((file) => file !== "wrangler.toml"),
    startup: await measureStartup(outdir, runs),
    composition: await composition(),
  };
}

export interface StartupResult {
  runs: number;
  cpuMsMedian: number;
  cpuMsRuns: number[];
  wallMsMedian: number;
  wallMsRuns: number[];
}

/** Startup of the bundle in `outdir` (its `index.js`), median over `runs` fresh isolates. */
export async function measureStartup(outdir: string, runs: number): Promise<StartupResult> {
  const files = readdirSync(outdir);
  const cpuMsRuns: number[] = [];
  const wallMsRuns: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { cpuMs, wallMs } = await startupOnce(outdir, files);
    cpuMsRuns.push(cpuMs);
    wallMsRuns.push(wallMs);
  }
  return { runs, cpuMsMedian: median(cpuMsRuns), cpuMsRuns, wallMsMedian: median(wallMsRuns), wallMsRuns };
}

export interface CompositionResult {
  /** esbuild's minified bundle of src/index.ts (close to, not equal to, wrangler's). */
  minifiedBytes: number;
  gzip9Bytes: number;
  /** Largest contributors, by package (zod split by area) or src folder. */
  top: Array<{ name: string; bytes: number }>;
}

/** What the bundle is made of: an esbuild metafile of the same entry, minified. */
export async function composition(): Promise<CompositionResult> {
  const result = await loadEsbuild().build({
    entryPoints: [path.join(ROOT, "src", "index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["node:*", "cloudflare:*"],
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  const plain = { code, inputs: Object.values(result.metafile.outputs)[0]?.inputs ?? {} };
  const groups = new Map<string, number>();
  for (const [file, info] of Object.entries(plain.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(file);
    let name: string;
    if (pkg?.[1] === "zod") name = /locales\//.test(pkg[2] ?? "") ? "zod (locales)" : /json-schema/.test(pkg[2] ?? "") ? "zod (JSON Schema)" : "zod (core + classic)";
    else if (pkg?.[1]) name = pkg[1];
    else name = file.split("/").slice(0, 2).join("/");
    groups.set(name, (groups.get(name) ?? 0) + info.bytesInOutput);
  }
  return {
    minifiedBytes: plain.code.byteLength,
    gzip9Bytes: zlib.gzipSync(plain.code, { level: 9 }).byteLength,
    top: [...groups.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, bytes]) => ({ name, bytes })),
  };
}

/** One fresh isolate: profile `await import("./index.js")`, the way `wrangler check startup` does. */
async function startupOnce(outdir: string, files: string[]): Promise<{ cpuMs: number; wallMs: number }> {
  const { profile, wallMs } = await startupProfile(outdir, files);
  return { cpuMs: selfTimes(profile, null).totalMs, wallMs };
}

/** The V8 CPU profile of `await import("./index.js")` in a fresh isolate (bench/startup-profile.ts reads it by module). */
export async function startupProfile(outdir: string, files: string[]): Promise<{ profile: CpuProfile; wallMs: number }> {
  const { Miniflare } = loadMiniflare();
  const modules = files
    .filter((file) => file.endsWith(".js") || file.endsWith(".mjs"))
    .map((file) => ({ type: "ESModule" as const, path: path.join(outdir, file), contents: readFileSync(path.join(outdir, file)) }));
  const mf = new Miniflare({
    name: "startup",
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    modulesRoot: outdir,
    modules: [
      {
        type: "ESModule",
        path: path.join(outdir, "__bench_startup.js"),
        contents: `export default { async fetch() { const t = performance.now(); await import("./index.js"); return new Response(String(performance.now() - t)); } };`,
      },
      ...modules,
    ],
    inspectorPort: await serverPort(),
    port: await serverPort(),
  });
  try {
    await mf.ready;
    const inspector = await mf.getInspectorURL();
    const WebSocketImpl = loadWebSocket();
    const ws = new WebSocketImpl(new URL("/core:user:startup", inspector.href).href);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("inspector connection failed")), { once: true });
    });
    const replies = new Map<number, (value: unknown) => void>();
    ws.addEventListener("message", (event: MessageEvent) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
      if (message.id !== undefined) replies.get(message.id)?.(message.result);
    });
    let id = 0;
    const send = (method: string, params: Record<string, unknown> = {}): Promise<unknown> => {
      const current = ++id;
      const reply = new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${method} timed out`)), 30_000);
        replies.set(current, (value) => {
          clearTimeout(timer);
          resolve(value);
        });
      });
      ws.send(JSON.stringify({ id: current, method, params }));
      return reply;
    };
    await send("Profiler.enable");
    await send("Profiler.setSamplingInterval", { interval: 50 });
    await send("Profiler.start");
    const response = await mf.dispatchFetch("http://startup.local/");
    const wallMs = Number(await response.text());
    const { profile } = (await send("Profiler.stop")) as { profile: CpuProfile };
    ws.close();
    return { profile, wallMs };
  } finally {
    await mf.dispose();
  }
}
