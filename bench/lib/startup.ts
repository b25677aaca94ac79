/**
 * Startup of a worker bundle: the cost of `await import(<bundle>)` (module evaluation: the worker's
 * top-level code, Hono, zod schemas) in a fresh workerd isolate, which is what `wrangler check
 * startup` measures, taken two ways per isolate:
 * - **CPU**: the CPU time workerd's main thread (where the isolate runs JS) spent on the import
 *   (Linux schedstat, ns), minus that of an empty request through the same path. This is the
 *   budget's figure: it counts CPU, not wall time, so other processes competing for the cores do
 *   not inflate it (much: caches and shared cores still do). V8's helper threads (concurrent
 *   compile and GC) are reported beside it.
 * - **profile**: the isolate's V8 CPU profile (sampling every 50 µs, the channel `wrangler check
 *   startup` uses; a separate fresh isolate). The sampler charges wall time while JS is on the
 *   stack, so on a loaded machine it reads high; it is what tells the modules apart.
 * Plus the wall time of the import on the isolate's own clock (1 ms resolution). Not measured:
 * compiling the script and creating the isolate, which Cloudflare does before any of our code runs.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { loadMiniflare } from "./deps";
import { descendantsNamed, serverPort } from "./proc";
import { median } from "./stats";
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS, openProfiler, selfTimes, type CpuProfile } from "./workerd";

export interface StartupResult {
  runs: number;
  /** CPU of the import on workerd's main thread (schedstat), ms: the budget's figure. */
  cpuMsMedian: number;
  cpuMsRuns: number[];
  /** The same on all of workerd's threads (V8's concurrent compile and GC helpers included). */
  cpuAllThreadsMsMedian?: number;
  /** The same import's V8 profile time (wall time with JS on the stack), ms. */
  profileMsMedian?: number;
  profileMsRuns?: number[];
  wallMsMedian: number;
  wallMsRuns: number[];
}

/** Startup of the bundle in `outdir` (its `index.js`), median over `runs` fresh isolates for each measure. */
export async function measureStartup(outdir: string, runs: number): Promise<StartupResult> {
  const files = readdirSync(outdir);
  const cpuMsRuns: number[] = [];
  const allThreadsMsRuns: number[] = [];
  const profileMsRuns: number[] = [];
  const wallMsRuns: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { cpuMs, allThreadsMs, wallMs } = await startupCpu(outdir, files);
    cpuMsRuns.push(cpuMs);
    allThreadsMsRuns.push(allThreadsMs);
    wallMsRuns.push(wallMs);
    const { profile } = await startupProfile(outdir, files);
    profileMsRuns.push(selfTimes(profile, null).totalMs);
  }
  return {
    runs,
    cpuMsMedian: median(cpuMsRuns),
    cpuMsRuns,
    cpuAllThreadsMsMedian: median(allThreadsMsRuns),
    profileMsMedian: median(profileMsRuns),
    profileMsRuns,
    wallMsMedian: median(wallMsRuns),
    wallMsRuns,
  };
}

/** CPU time (ms) process `pid` has run: its main thread, and all its threads (/proc/<pid>/task/<tid>/schedstat, ns). */
function processCpuMs(pid: number): { main: number; all: number } {
  let all = 0;
  let main = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      all += ns;
      if (Number(tid) === pid) main = ns;
    } catch {
      // thread gone meanwhile
    }
  }
  return { main: main / 1e6, all: all / 1e6 };
}

/** CPU time (ms) the main thread of process `pid` has run (where workerd runs its isolates' JS). */
export function mainThreadCpuMs(pid: number): number {
  return processCpuMs(pid).main;
}

const STARTUP_HARNESS = `export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/noop") return new Response("0");
    const t = performance.now();
    await import("./index.js");
    return new Response(String(performance.now() - t));
  },
};`;

function harnessModules(outdir: string, files: string[]): Array<{ type: "ESModule"; path: string; contents: Uint8Array | string }> {
  return [
    { type: "ESModule", path: path.join(outdir, "__bench_startup.js"), contents: STARTUP_HARNESS },
    ...files
      .filter((file) => file.endsWith(".js") || file.endsWith(".mjs"))
      .map((file) => ({ type: "ESModule" as const, path: path.join(outdir, file), contents: readFileSync(path.join(outdir, file)) })),
  ];
}

/**
 * One fresh isolate, no inspector: the CPU of `await import("./index.js")` — the workerd process's
 * thread CPU across that request minus across an empty request on the same path (the second of
 * two, so neither pays first-request costs of Miniflare's own entry).
 */
export async function startupCpu(outdir: string, files: string[]): Promise<{ cpuMs: number; allThreadsMs: number; wallMs: number }> {
  const { Miniflare } = loadMiniflare();
  const before = new Set(descendantsNamed(process.pid, "workerd"));
  const mf = new Miniflare({
    name: "startup",
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    modulesRoot: outdir,
    modules: harnessModules(outdir, files),
    port: await serverPort(),
  });
  try {
    await mf.ready;
    const pids = descendantsNamed(process.pid, "workerd").filter((pid) => !before.has(pid));
    if (pids.length !== 1) throw new Error(`expected one new workerd for the startup isolate, found ${pids.length}`);
    const pid = pids[0] as number;
    const cpuOf = async (pathname: string): Promise<{ main: number; all: number; body: string }> => {
      const start = processCpuMs(pid);
      const response = await mf.dispatchFetch(`http://startup.local${pathname}`);
      const body = await response.text();
      const end = processCpuMs(pid);
      return { main: end.main - start.main, all: end.all - start.all, body };
    };
    await cpuOf("/noop");
    const empty = await cpuOf("/noop");
    const imported = await cpuOf("/");
    return { cpuMs: imported.main - empty.main, allThreadsMs: imported.all - empty.all, wallMs: Number(imported.body) };
  } finally {
    await mf.dispose();
  }
}

/** The V8 CPU profile of `await import("./index.js")` in a fresh isolate (one Miniflare per call). */
export async function startupProfile(outdir: string, files: string[]): Promise<{ profile: CpuProfile; wallMs: number }> {
  const { Miniflare } = loadMiniflare();
  const mf = new Miniflare({
    name: "startup",
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    modulesRoot: outdir,
    modules: harnessModules(outdir, files),
    inspectorPort: await serverPort(),
    port: await serverPort(),
  });
  try {
    await mf.ready;
    const inspector = await openProfiler(new URL("/core:user:startup", (await mf.getInspectorURL()).href).href);
    try {
      await inspector.send("Profiler.setSamplingInterval", { interval: 50 });
      await inspector.send("Profiler.start");
      const response = await mf.dispatchFetch("http://startup.local/");
      const wallMs = Number(await response.text());
      const { profile } = (await inspector.send("Profiler.stop")) as { profile: CpuProfile };
      return { profile, wallMs };
    } finally {
      inspector.close();
    }
  } finally {
    await mf.dispose();
  }
}
