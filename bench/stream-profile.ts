/**
 * Where a long stream's worker CPU goes end to end: the gateway (src/index.ts, unminified) in
 * workerd, the emulator serving the long native stream over loopback in its own process (one native
 * event per HTTP chunk, as a live model sends them), and a V8 sampling profile of the gateway's
 * isolate while one long streamed request runs through it. The complement of bench/micro.ts, which
 * feeds the pipeline from memory in big chunks: this one includes the runtime's per-chunk socket reads
 * and body writes, which is what the e2e throughput ratio pays for.
 *
 *   npx tsx bench/stream-profile.ts [--protocol=chat|anthropic|responses] [--top=30] [--reps=3]
 *   npx tsx bench/stream-profile.ts --base=HEAD [--protocol=…] [--reps=5]
 *     interleaved A/B, src/ at the revision vs the working tree, without the profiler: wall time and
 *     the workerd process's CPU per stream (its socket work included)
 */
import path from "node:path";
import { requestFor } from "./e2e";
import { sourceTreeAt } from "./lib/base-tree";
import { cpuMs, descendantsNamed, startEmulatorProcess } from "./lib/proc";
import { median } from "./lib/stats";
import { bundleWorker, selfTimes, startWorkerd, type WorkerdSession } from "./lib/workerd";
import { emulatorDirective, LONG_STREAM, nativeEventCount } from "./lib/workload";

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const protocol = option("protocol", "chat") as "chat" | "anthropic" | "responses";
const top = Number(option("top", "30"));
const reps = Number(option("reps", "3"));
const base = option("base", "");

const emulator = await startEmulatorProcess();
const spec = requestFor(protocol, emulatorDirective(LONG_STREAM));
// Responses without the D1 row: one claim per stream is irrelevant to a 100k-event stream, and this
// in-memory D1 has no migrations applied.
const body = protocol === "responses" ? JSON.stringify({ ...JSON.parse(spec.body), store: false }) : spec.body;
const events = nativeEventCount(LONG_STREAM);

interface Target {
  session: WorkerdSession;
  bundle: string;
  /** The workerd process running it (Miniflare's entry worker shares it, the same for A and B). */
  pid: number;
}

async function gateway(entry: string, name: string): Promise<Target> {
  const bundle = await bundleWorker(entry);
  const before = new Set(descendantsNamed(process.pid, "workerd"));
  const session = await startWorkerd(bundle, name, { bindings: { NATIVE_API_BASE_URL: emulator.url, LOG_LEVEL: "off" }, d1Databases: ["RESPONSE_INDEX"] });
  const pid = descendantsNamed(process.pid, "workerd").find((candidate) => !before.has(candidate));
  if (pid === undefined) throw new Error("cannot find the new workerd process");
  return { session, bundle, pid };
}

/** One stream without the profiler: wall ms and the workerd process's CPU ms (from /proc). */
async function measured(target: Target): Promise<{ wallMs: number; cpuMs: number }> {
  const cpuBefore = cpuMs(target.pid) ?? Number.NaN;
  const wallMs = await once(target.session);
  return { wallMs, cpuMs: (cpuMs(target.pid) ?? Number.NaN) - cpuBefore };
}

async function once(session: WorkerdSession): Promise<number> {
  const started = performance.now();
  const response = await session.request(spec.path, { method: "POST", headers: spec.headers, body });
  const text = await response.text();
  if (response.status !== 200 || !text.includes(spec.terminal)) throw new Error(`${protocol}: ${response.status} ${text.slice(0, 300)}`);
  return performance.now() - started;
}

/** One profiled stream: wall ms and the isolate's busy ms (non-idle samples). */
async function profiled(target: Target): Promise<{ wallMs: number; busyMs: number; rows: ReturnType<typeof selfTimes>["rows"] }> {
  const { result: wallMs, profile } = await target.session.profile(() => once(target.session), 100);
  const { rows, totalMs } = selfTimes(profile, target.bundle, top);
  return { wallMs, busyMs: totalMs, rows };
}

const usPerEvent = (ms: number) => ((ms * 1000) / events).toFixed(2);
const targets: Target[] = [];
try {
  const tree = await gateway("src/index.ts", "b");
  targets.push(tree);
  if (base) {
    const baseTarget = await gateway(path.join(sourceTreeAt(base), "src", "index.ts"), "a");
    targets.push(baseTarget);
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
} finally {
  for (const target of targets) await target.session.dispose();
  await emulator.stop();
}
