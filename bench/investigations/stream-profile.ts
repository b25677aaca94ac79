/**
 * Where a long stream's worker CPU goes end to end: the gateway (src/index.ts, unminified) in
 * workerd, the emulator serving the long native stream over loopback in its own process (one native
 * event per HTTP chunk, as a live model sends them), and a V8 sampling profile of the gateway's
 * isolate while one long streamed request runs through it. The complement of bench/micro.ts, which
 * feeds the pipeline from memory in big chunks: this one includes the runtime's per-chunk socket reads
 * and body writes, which is what the e2e throughput ratio pays for.
 *
 *   npx tsx bench/investigations/stream-profile.ts [--protocol=chat|anthropic|responses] [--store=false] [--top=30] [--reps=3]
 *   npx tsx bench/investigations/stream-profile.ts --entry=/tmp/x/index.js …   # B = a built bundle instead of src/
 *   npx tsx bench/investigations/stream-profile.ts --live-heap [--deltas=1000000] [--base=REV] [--protocol=…]
 *     the isolate's live JS heap (the objects in a heap snapshot) about every second while one stream
 *     of that many deltas runs, for the tree (and src/ at REV); BENCH_HEAP_TOP=8 names the largest
 *     objects (a sample taken while native's run.completed arrives holds its whole `answer`)
 *   npx tsx bench/investigations/stream-profile.ts --live-heap-rounds=6 [--base=REV]
 *     rounds of 200 concurrent short streams (the load test's mix: all three protocols, 1–240 deltas,
 *     0–6 ms apart) and the live heap after each round: a per-request leak grows round over round
 *   npx tsx bench/investigations/stream-profile.ts --floors [--reps=5]
 *     the same native stream through bench/investigations/js-pipe-worker.ts (untouched, copied by JS, decoded and
 *     re-encoded by JS: what touching every chunk from JS costs before any gateway work) and through
 *     the gateway per protocol, interleaved, with each one's throughput ÷ the untouched pipe
 *   npx tsx bench/investigations/stream-profile.ts --base=HEAD [--protocol=…] [--reps=5]
 *     interleaved A/B, src/ at the revision vs the working tree, without the profiler: wall time and
 *     the workerd process's CPU per stream (its socket work included)
 */
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { oneRequest, requestFor, type RequestSpec } from "../e2e";
import { sourceTreeAt } from "../lib/base-tree";
import { ROOT } from "../lib/deps";
import { cpuMs, descendantsNamed, sleep, startEmulatorProcess } from "../lib/proc";
import { median } from "../lib/stats";
import { bundleWorker, liveHeapBytes, openInspector, selfTimes, startWorkerd, type WorkerdSession } from "../lib/workerd";
import { emulatorDirective, LONG_STREAM, nativeEventCount } from "../lib/workload";
import { commandLine } from "../lib/cli";

const { args, option } = commandLine(`  npx tsx bench/investigations/stream-profile.ts [--protocol=chat|anthropic|responses] [--store=false] [--top=30] [--reps=3]\n  npx tsx bench/investigations/stream-profile.ts --entry=/tmp/x/index.js …   # B = a built bundle instead of src/\n  npx tsx bench/investigations/stream-profile.ts --live-heap [--deltas=1000000] [--base=REV] [--protocol=…]\n    the isolate's live JS heap (the objects in a heap snapshot) about every second while one stream\n    of that many deltas runs, for the tree (and src/ at REV); BENCH_HEAP_TOP=8 names the largest\n    objects (a sample taken while native's run.completed arrives holds its whole \`answer\`)\n  npx tsx bench/investigations/stream-profile.ts --live-heap-rounds=6 [--base=REV]\n    rounds of 200 concurrent short streams (the load test's mix: all three protocols, 1–240 deltas,\n    0–6 ms apart) and the live heap after each round: a per-request leak grows round over round\n  npx tsx bench/investigations/stream-profile.ts --floors [--reps=5]\n    the same native stream through bench/investigations/js-pipe-worker.ts (untouched, copied by JS, decoded and\n    re-encoded by JS: what touching every chunk from JS costs before any gateway work) and through\n    the gateway per protocol, interleaved, with each one's throughput ÷ the untouched pipe\n  npx tsx bench/investigations/stream-profile.ts --base=HEAD [--protocol=…] [--reps=5]\n    interleaved A/B, src/ at the revision vs the working tree, without the profiler: wall time and\n    the workerd process's CPU per stream (its socket work included)`);
const protocol = option("protocol", "chat") as "chat" | "anthropic" | "responses";
const top = Number(option("top", "30"));
const reps = Number(option("reps", "3"));
const base = option("base", "");
const floors = args.includes("--floors");
const liveHeap = args.includes("--live-heap");
const liveRounds = Number(option("live-heap-rounds", "0"));

const emulator = await startEmulatorProcess();
const spec = requestFor(protocol, emulatorDirective(LONG_STREAM));
// `--store=false`: Responses without the D1 ownership row and native conversation.
const body = protocol === "responses" && option("store", "true") === "false" ? JSON.stringify({ ...JSON.parse(spec.body), store: false }) : spec.body;
const events = nativeEventCount(LONG_STREAM);

interface Target {
  session: WorkerdSession;
  bundle: string;
  /** The workerd process running it (Miniflare's entry worker shares it, the same for A and B). */
  pid: number;
}

async function gateway(entry: string, name: string): Promise<Target> {
  // A built module (e.g. the `wrangler deploy --dry-run` bundle bench/e2e.ts serves) runs as it is.
  const bundle = entry.endsWith(".js") ? entry : await bundleWorker(entry);
  const before = new Set(descendantsNamed(process.pid, "workerd"));
  const session = await startWorkerd(bundle, name, { bindings: { NATIVE_API_BASE_URL: emulator.url, LOG_LEVEL: "off" }, d1Databases: ["RESPONSE_INDEX"] });
  const pid = descendantsNamed(process.pid, "workerd").find((candidate) => !before.has(candidate));
  if (pid === undefined) throw new Error("cannot find the new workerd process");
  for (const migration of readdirSync(path.join(ROOT, "migrations")).sort()) await session.d1Exec("RESPONSE_INDEX", readFileSync(path.join(ROOT, "migrations", migration), "utf8"));
  return { session, bundle, pid };
}

/** One stream without the profiler: wall ms and the workerd process's CPU ms (from /proc). */
async function measured(target: Target): Promise<{ wallMs: number; cpuMs: number }> {
  const cpuBefore = cpuMs(target.pid) ?? Number.NaN;
  const wallMs = await once(target.session);
  return { wallMs, cpuMs: (cpuMs(target.pid) ?? Number.NaN) - cpuBefore };
}

const agent = new http.Agent({ keepAlive: true });

/** TTFB of the last `once` (ms). */
let lastTtfbMs = 0;

/**
 * One streamed request, read to the end by node:http straight from the runtime's socket (as
 * bench/e2e.ts does, not through Miniflare's Node side); returns its wall time.
 */
async function once(session: WorkerdSession, request: RequestSpec = { ...spec, body }): Promise<number> {
  const sample = await oneRequest(agent, session.url, request, 120_000);
  if (!sample.ok) throw new Error(`${protocol}: ${sample.error ?? "failed"}`);
  lastTtfbMs = sample.ttfbMs;
  return sample.totalMs;
}

/**
 * The native request through bench/investigations/js-pipe-worker.ts in each mode, and the gateway (src/ as it is)
 * for each protocol, interleaved round by round so all see the same machine: wall and CPU medians,
 * and each ÷ the untouched pipe (what bench/e2e.ts reports at c=1, less exposed to load drift).
 */
async function measureFloors(): Promise<void> {
  const bundle = await bundleWorker("bench/investigations/js-pipe-worker.ts");
  const before = new Set(descendantsNamed(process.pid, "workerd"));
  const session = await startWorkerd(bundle, "floors", { bindings: { NATIVE_API_BASE_URL: emulator.url } });
  const pid = descendantsNamed(process.pid, "workerd").find((candidate) => !before.has(candidate));
  const pipeTarget: Target = { session, bundle, pid: pid ?? -1 };
  targets.push(pipeTarget);
  const gatewayTarget = await gateway(option("entry", "src/index.ts"), "gateway");
  targets.push(gatewayTarget);
  const native = requestFor("native", emulatorDirective(LONG_STREAM));
  const cases: Array<{ name: string; target: Target; request: RequestSpec }> = ["pipe", "js-copy", "js-decode"].map((mode) => ({
    name: mode,
    target: pipeTarget,
    request: { ...native, headers: { ...native.headers, "x-bench-mode": mode } },
  }));
  for (const kind of ["chat", "anthropic", "responses"] as const) cases.push({ name: `gateway ${kind}`, target: gatewayTarget, request: requestFor(kind, emulatorDirective(LONG_STREAM)) });
  const responsesSpec = requestFor("responses", emulatorDirective(LONG_STREAM));
  cases.push({ name: "gateway responses, store:false", target: gatewayTarget, request: { ...responsesSpec, body: JSON.stringify({ ...JSON.parse(responsesSpec.body), store: false }) } });
  const runs = new Map<string, Array<{ wallMs: number; cpuMs: number; ttfbMs: number }>>(cases.map((c) => [c.name, []]));
  for (const c of cases) await once(c.target.session, c.request);
  for (let i = 0; i < reps; i++) {
    for (const c of cases) {
      const cpuBefore = cpuMs(c.target.pid) ?? Number.NaN;
      const wallMs = await once(c.target.session, c.request);
      runs.get(c.name)?.push({ wallMs, cpuMs: (cpuMs(c.target.pid) ?? Number.NaN) - cpuBefore, ttfbMs: lastTtfbMs });
    }
  }
  console.log(`the long native stream (${events} events, c=1), ${reps} interleaved rounds, medians; CPU = the worker's workerd process`);
  const pipeWall = median((runs.get("pipe") ?? []).map((r) => r.wallMs));
  for (const c of cases) {
    const list = runs.get(c.name) ?? [];
    const wall = median(list.map((r) => r.wallMs));
    const cpu = median(list.map((r) => r.cpuMs));
    const ttfb = median(list.map((r) => r.ttfbMs));
    console.log(`${c.name.padEnd(31)} wall ${wall.toFixed(0).padStart(5)} ms  CPU ${cpu.toFixed(0).padStart(5)} ms = ${usPerEvent(cpu)} µs/event   throughput ÷ pipe ${(pipeWall / wall).toFixed(2)}   TTFB ${ttfb.toFixed(2)} ms`);
  }
}

/** One profiled stream: wall ms and the isolate's busy ms (non-idle samples). */
async function profiled(target: Target): Promise<{ wallMs: number; busyMs: number; rows: ReturnType<typeof selfTimes>["rows"] }> {
  const { result: wallMs, profile } = await target.session.profile(() => once(target.session), 100);
  const { rows, totalMs } = selfTimes(profile, target.bundle, top);
  return { wallMs, busyMs: totalMs, rows };
}

const usPerEvent = (ms: number) => ((ms * 1000) / events).toFixed(2);
const targets: Target[] = [];
/** The gateway alone (profile), or against src/ at `base` (A/B). */
async function measureGateway(): Promise<void> {
  const runs = await treeAndBase();
  const tree = (runs.at(-1) as [string, Target])[1];
  const baseTarget = runs.length > 1 ? (runs[0] as [string, Target])[1] : null;
  if (baseTarget) {
    await once(baseTarget.session);
    await once(tree.session);
    // Without the profiler (its sampling costs the isolate ~20 %): wall and process CPU per stream.
    const a: Array<{ wallMs: number; cpuMs: number }> = [];
    const b: Array<{ wallMs: number; cpuMs: number }> = [];
    for (let i = 0; i < reps; i++) {
      a.push(await measured(baseTarget));
      b.push(await measured(tree));
    }
    const row = (label: string, runs: Array<{ wallMs: number; cpuMs: number }>) => {
      const wall = median(runs.map((r) => r.wallMs));
      const cpu = median(runs.map((r) => r.cpuMs));
      console.log(`${label}  wall ${wall.toFixed(0).padStart(5)} ms  workerd CPU ${cpu.toFixed(0).padStart(5)} ms = ${usPerEvent(cpu)} µs/event   (CPU runs ${runs.map((r) => r.cpuMs.toFixed(0)).join(", ")})`);
      return { wall, cpu };
    };
    console.log(`${protocol}: ${events} native events over loopback, ${reps} interleaved rounds, medians`);
    const ma = row(`A = ${base.padEnd(8)}`, a);
    const mb = row("B = tree    ", b);
    console.log(`B/A CPU ${(mb.cpu / ma.cpu).toFixed(2)} (${((1 - mb.cpu / ma.cpu) * 100).toFixed(0)} % less), wall ${(mb.wall / ma.wall).toFixed(2)}`);
  } else {
    await once(tree.session);
    for (let i = 0; i < reps; i++) {
      const { wallMs, busyMs, rows } = await profiled(tree);
      console.log(`\n${protocol}: ${events} native events, wall ${wallMs.toFixed(0)} ms, isolate busy ${busyMs.toFixed(0)} ms = ${usPerEvent(busyMs)} µs/event`);
      if (i === reps - 1) for (const r of rows) console.log(`${r.selfMs.toFixed(1).padStart(8)} ms ${(r.share * 100).toFixed(1).padStart(5)} %  ${r.name}`);
    }
  }
}

/** The gateway from the working tree, and from `src/` at `--base` when given (first). */
async function treeAndBase(): Promise<Array<[string, Target]>> {
  const runs: Array<[string, Target]> = [["tree", await gateway(option("entry", "src/index.ts"), "b")]];
  if (base) runs.unshift([base, await gateway(path.join(sourceTreeAt(base), "src", "index.ts"), "a")]);
  for (const [, target] of runs) targets.push(target);
  return runs;
}

/** Live heap samples while one stream of `--deltas` runs through the tree (and `--base`). */
async function measureLiveHeap(): Promise<void> {
  const deltas = Number(option("deltas", "1000000"));
  const shape = { reasoningDeltas: 0, messageDeltas: deltas };
  const longSpec = requestFor(protocol, emulatorDirective(shape));
  const runs = await treeAndBase();
  for (const [label, target] of runs) {
    await once(target.session);
    const inspector = await openInspector(await target.session.inspectorUrl());
    const samples: string[] = [`before ${(await liveHeapBytes(inspector) / 1048576).toFixed(1)}`];
    let done = false;
    const sampling = (async () => {
      while (!done) {
        await sleep(700);
        if (!done) samples.push((await liveHeapBytes(inspector) / 1048576).toFixed(1));
      }
    })();
    const started = performance.now();
    const sample = await oneRequest(agent, target.session.url, longSpec, 600_000);
    done = true;
    await sampling;
    samples.push(`after ${(await liveHeapBytes(inspector) / 1048576).toFixed(1)}`);
    inspector.close();
    console.log(`${protocol} ${deltas} deltas, ${label}: ${sample.ok ? "ok" : sample.error} in ${((performance.now() - started) / 1000).toFixed(1)} s; live heap MiB: ${samples.join(", ")}`);
  }
}

/** Live heap after each of `--live-heap-rounds` rounds of 200 concurrent mixed streams. */
async function measureLiveHeapRounds(): Promise<void> {
  const runs = await treeAndBase();
  const kinds = ["responses", "chat", "anthropic"] as const;
  for (const [label, target] of runs) {
    const inspector = await openInspector(await target.session.inspectorUrl());
    const heap = async () => (await liveHeapBytes(inspector)) / 1048576;
    await once(target.session);
    const after: string[] = [`before ${(await heap()).toFixed(2)}`];
    const roundAgent = new http.Agent({ keepAlive: true, maxSockets: 200 });
    for (let round = 0; round < liveRounds; round++) {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, index) => {
          const script = { text: [`r${round}i${index};`], repeat: 1 + ((index * 37) % 240), delta_delay_ms: index % 7 };
          return oneRequest(roundAgent, target.session.url, requestFor(kinds[index % 3] ?? "chat", `load [[emu:${JSON.stringify(script)}]]`), 120_000);
        }),
      );
      const failed = results.filter((r) => !r.ok).length;
      after.push(`${(await heap()).toFixed(2)}${failed ? ` (${failed} failed)` : ""}`);
    }
    roundAgent.destroy();
    inspector.close();
    console.log(`${label}: live heap MiB after each round of 200 concurrent streams: ${after.join(", ")}`);
  }
}

try {
  if (floors) await measureFloors();
  else if (liveRounds > 0) await measureLiveHeapRounds();
  else if (liveHeap) await measureLiveHeap();
  else await measureGateway();
} finally {
  for (const target of targets) await target.session.dispose();
  await emulator.stop();
}
