/**
 * Startup of a worker bundle, measured the way `wrangler check startup` does: the CPU time of
 * `await import(<bundle>)` (module evaluation: the worker's top-level code, Hono, zod schemas) in
 * a fresh workerd isolate, from the isolate's V8 CPU profile (sampling every 50 µs), plus the wall
 * time of the same import on the isolate's own clock (1 ms resolution). Not measured: compiling the
 * script and creating the isolate, which Cloudflare does before any of our code runs.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { loadMiniflare } from "./deps";
import { serverPort } from "./proc";
import { median } from "./stats";
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS, openInspector, selfTimes, type CpuProfile } from "./workerd";

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
    const { profile, wallMs } = await startupProfile(outdir, files);
    cpuMsRuns.push(selfTimes(profile, null).totalMs);
    wallMsRuns.push(wallMs);
  }
  return { runs, cpuMsMedian: median(cpuMsRuns), cpuMsRuns, wallMsMedian: median(wallMsRuns), wallMsRuns };
}

/** The V8 CPU profile of `await import("./index.js")` in a fresh isolate (one Miniflare per call). */
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
    const inspector = await openInspector(new URL("/core:user:startup", (await mf.getInspectorURL()).href).href);
    try {
      await inspector.send("Profiler.enable");
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
