/**
 * `npm run bench`: every benchmark of the gateway in one run, side by side, written to
 * bench/RESULTS.md (and bench/results.json) and printed.
 *
 *   1. size       bundle size (wrangler deploy --dry-run), startup CPU in ≥ 20 fresh workerd
 *                 isolates, and where it goes by top-level statement (bench/size.ts)
 *   2. micro      projector cost per native event inside workerd (bench/projector-worker.ts) + profiles
 *   3. e2e        loopback load: emulator direct vs pass-through worker vs gateway (bench/e2e.ts)
 *   4. memory     worker RSS while streaming 10k and 1M deltas through the gateway (bench/memory.ts)
 *   5. coldstart  the first request on fresh isolates vs the pass-through worker (bench/coldstart.ts)
 *   6. d1latency  TTFB of every Responses lifecycle call under a production-latency D1 (bench/d1latency.ts;
 *                 BENCH_D1_PRIMARY_MS / BENCH_D1_REPLICA_MS / BENCH_D1_LAG_MS change the model)
 *   7. toolloop   per-turn latency of a 20-turn tool loop, Responses WebSocket vs HTTP chaining, store:true
 *                 and store:false, under local and production-latency D1 (bench/toolloop.ts)
 *
 * Options: `--phases=size,micro,e2e,memory,coldstart,d1latency,toolloop` (default all), `--quick` (small
 * counts, for a smoke test; its numbers are not the reference), `--no-write` (print only),
 * `--merge` (re-take the named phases into the last bench/results.json, keeping the others),
 * `--e2e-runtimes=workerd` (e2e in plain workerd only, where issue 18's budgets are judged),
 * `--report-only` (re-render RESULTS.md from the last bench/results.json, e.g. after editing
 * bench/FINDINGS.md). BENCH_PORTS=38700-38799 keeps its servers on a private port range. Takes
 * ~20 minutes; every request and wait is bounded, and the whole run stops itself after
 * BENCH_DEADLINE_MIN (default 60). Not part of `npm test`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runColdStart } from "./coldstart";
import { d1ModelFromArgs, runD1Latency } from "./d1latency";
import { DEFAULT_E2E, migrateLocalD1, requestFor, runE2E, startE2eEnvironment, type E2eOptions, type E2eResult, type RuntimeName } from "./e2e";
import { ROOT } from "./lib/deps";
import { codeVersion, conditions, machineInfo } from "./lib/machine";
import { startEmulatorProcess } from "./lib/proc";
import { MEMORY_SIZES, runMemory } from "./memory";
import { DEFAULT_MICRO, runMicro, type MicroOptions } from "./micro";
import { renderBudgetLines, renderMarkdown, type BenchResults } from "./report";
import { runToolLoop, toolLoopModels } from "./toolloop";
import { runSize } from "./size";
import { buildGatewaySnapshot } from "./lib/snapshot";
import { emulatorDirective } from "./lib/workload";

const args = process.argv.slice(2);

// `--report-only`: re-render RESULTS.md from bench/results.json (after editing FINDINGS.md).
if (args.includes("--report-only")) {
  const saved = JSON.parse(readFileSync(path.join(ROOT, "bench", "results.json"), "utf8")) as BenchResults;
  writeFileSync(path.join(ROOT, "bench", "RESULTS.md"), renderMarkdown(saved));
  console.log("re-rendered bench/RESULTS.md from bench/results.json");
  process.exit(0);
}
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const ALL_PHASES = ["size", "micro", "e2e", "memory", "coldstart", "d1latency", "toolloop"];
const phases = new Set((option("phases") ?? ALL_PHASES.join(",")).split(","));
for (const phase of phases) if (!ALL_PHASES.includes(phase)) throw new Error(`unknown phase ${phase}; phases: ${ALL_PHASES.join(",")}`);
const quick = flag("quick");
// `--e2e-runtimes=workerd`: the e2e phase in plain workerd only (where issue 18's budgets are judged), half the time.
const e2eRuntimes = (option("e2e-runtimes") ?? "wrangler,workerd").split(",").map((name): RuntimeName => {
  if (name === "wrangler") return "wrangler dev";
  if (name === "workerd") return "workerd, no devtools";
  throw new Error(`--e2e-runtimes takes wrangler and/or workerd, got ${name}`);
});
const write = !flag("no-write") && !quick;

const deadlineMin = Number(process.env.BENCH_DEADLINE_MIN ?? 60);
const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${deadlineMin} min; giving up`);
  process.exit(2);
}, deadlineMin * 60_000);
watchdog.unref();

function log(line: string): void {
  console.log(line);
}

const started = Date.now();
const fresh: BenchResults = {
  machine: machineInfo(),
  code: codeVersion(ROOT),
  startedAt: conditions(),
  endedAt: null,
  durationS: 0,
  micro: null,
  e2e: null,
  memory: null,
  size: null,
  coldStart: null,
  d1Latency: null,
  toolLoop: null,
  longRequestBytes: null,
  notes: [],
};
log(`bench: ${fresh.machine.cpuModel}, ${fresh.machine.cores} cores, node ${fresh.machine.node}, workerd ${fresh.machine.workerd}`);
log(`bench: load ${fresh.startedAt.loadAverage.map((v) => v.toFixed(2)).join(" ")}, other vitest processes: ${fresh.startedAt.otherVitestProcesses}`);
// `--merge`: re-take only the phases named in --phases, keeping the others from bench/results.json
// (the notes say which figures come from which run).
const merge = flag("merge");
const results: BenchResults = merge ? (JSON.parse(readFileSync(path.join(ROOT, "bench", "results.json"), "utf8")) as BenchResults) : fresh;
if (merge && !results.phaseRuns) {
  // An earlier run without per-phase records: its phases ran on its commit, from its start.
  const earlier = { commit: results.code.commit, dirtySrc: results.code.dirtySrc, at: results.startedAt.at, loadAverage: results.startedAt.loadAverage, endLoadAverage: results.endedAt?.loadAverage ?? results.startedAt.loadAverage };
  const present = { size: results.size, micro: results.micro, e2e: results.e2e, memory: results.memory, coldstart: results.coldStart, d1latency: results.d1Latency, toolloop: results.toolLoop };
  results.phaseRuns = Object.fromEntries(Object.entries(present).filter(([, value]) => value).map(([name]) => [name, earlier]));
}
if (merge) {
  results.notes.push(
    `Phases ${[...phases].join(", ")} re-taken at ${fresh.startedAt.at} on commit ${fresh.code.commit}${fresh.code.dirtySrc ? " (uncommitted src/ changes)" : ""}, ` +
      `load ${fresh.startedAt.loadAverage.map((v) => v.toFixed(2)).join(" / ")}; the other phases are from the run above.`,
  );
}
if (fresh.startedAt.otherVitestProcesses > 0) {
  results.notes.push(`${fresh.startedAt.otherVitestProcesses} other vitest processes were running when ${merge ? "the re-taken phases" : "the benchmark"} started: numbers include their competition for the CPU.`);
}
if (quick) results.notes.push("`--quick` run: reduced counts, not a reference measurement.");

log("\n== build: wrangler deploy --dry-run (the gateway snapshot every phase measures)");
const snapshot = buildGatewaySnapshot();
log(`  ${snapshot.dir}`);

/**
 * Runs one phase, recording when and on what code it ran. A phase that throws is reported (in the
 * notes, so RESULTS.md shows it, and by the exit code) and the run goes on: one broken phase does not
 * cost the others' figures.
 */
const failedPhases: string[] = [];
async function phase(name: string, title: string, work: () => Promise<void>): Promise<void> {
  if (!phases.has(name)) return;
  log(`\n== ${name}: ${title}`);
  const at = conditions();
  try {
    await work();
    results.phaseRuns = { ...(results.phaseRuns ?? {}), [name]: { commit: fresh.code.commit, dirtySrc: fresh.code.dirtySrc, at: at.at, loadAverage: at.loadAverage, endLoadAverage: conditions().loadAverage } };
  } catch (error) {
    failedPhases.push(name);
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    console.error(`phase ${name} failed:\n${message}`);
    results.notes.push(`Phase **${name} failed** (${at.at}): ${(error instanceof Error ? error.message : String(error)).split("\n").slice(0, 4).join(" / ")}`);
  }
}

await phase("size", "bundle, startup in workerd", async () => {
  results.size = await runSize(snapshot, quick ? 3 : 21, quick ? 2 : 7);
  log(`  gzip ${results.size.wranglerGzipKiB ?? "?"} KiB, startup CPU ${results.size.startup.cpuMsMedian.toFixed(1)} ms (median of ${results.size.startup.runs})`);
  for (const row of results.size.startupMap?.statements.slice(0, 5) ?? []) log(`  startup ${row.ms.toFixed(2).padStart(7)} ms  ${row.where}`);
});

await phase("micro", "projector cost inside workerd", async () => {
  const options: MicroOptions = quick ? { ...DEFAULT_MICRO, reps: 2, warmup: 1, log } : { ...DEFAULT_MICRO, log };
  results.micro = await runMicro(options);
});

await phase("e2e", "loopback load", async () => {
  const cells: E2eResult["cells"] = [];
  let readyMs: E2eResult["wranglerReadyMs"] = null;
  for (const runtime of e2eRuntimes) {
    const env = await startE2eEnvironment(snapshot, runtime);
    try {
      const secondary = runtime !== "wrangler dev";
      const options: E2eOptions = quick
        ? { ...DEFAULT_E2E, concurrencies: [1, 4], longRequests: (c) => c, shortRequests: () => 20, shortConcurrencies: [1], log }
        : secondary
          ? { ...DEFAULT_E2E, log }
          : // 32 concurrent long streams under wrangler dev's devtools took its runtime down (FINDINGS).
            { ...DEFAULT_E2E, concurrencies: [1, 8], log };
      const result = await runE2E(env, options);
      cells.push(...result.cells);
      readyMs ??= result.wranglerReadyMs;
    } finally {
      await env.stop();
    }
  }
  results.e2e = { cells, shape: DEFAULT_E2E.shape, wranglerReadyMs: readyMs };
  results.longRequestBytes = Buffer.byteLength(requestFor("chat", emulatorDirective(DEFAULT_E2E.shape)).body);
});

await phase("memory", "worker RSS (and the live heap, in workerd) while streaming", async () => {
  const measurements: NonNullable<BenchResults["memory"]> = [];
  for (const runtime of ["wrangler dev", "workerd, no devtools"] as const) {
    const emulator = await startEmulatorProcess();
    try {
      const persistDir = mkdtempSync(path.join(os.tmpdir(), "bench-memory-"));
      migrateLocalD1(snapshot, persistDir);
      measurements.push(
        ...(await runMemory({
          runtime,
          snapshot,
          emulatorUrl: emulator.url,
          persistDir,
          sizes: quick ? [{ reasoningDeltas: 0, messageDeltas: 10_000 }, { reasoningDeltas: 0, messageDeltas: 100_000 }] : MEMORY_SIZES,
          timeoutMs: 600_000,
          log,
        })),
      );
    } finally {
      await emulator.stop();
    }
  }
  results.memory = measurements;
});

await phase("coldstart", "the first request on fresh isolates", async () => {
  results.coldStart = await runColdStart({ rounds: quick ? 3 : 21, snapshot, log });
});

await phase("d1latency", "TTFB under a production-latency D1", async () => {
  results.d1Latency = await runD1Latency({ rounds: quick ? 3 : 30, ...(quick ? { streak: 50 } : {}), model: d1ModelFromArgs([]), log });
});

await phase("toolloop", "a 20-turn tool loop, WebSocket vs HTTP chaining", async () => {
  results.toolLoop = await runToolLoop({ rounds: quick ? 2 : 10, turns: quick ? 5 : 20, models: toolLoopModels(), log });
});

if (!merge) {
  results.endedAt = conditions();
  results.durationS = (Date.now() - started) / 1000;
}
const markdown = renderMarkdown(results);
log(`\n${markdown}`);
log("== budgets");
for (const line of renderBudgetLines(results)) log(line);
if (write) {
  writeFileSync(path.join(ROOT, "bench", "RESULTS.md"), markdown);
  writeFileSync(path.join(ROOT, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  log("\nwrote bench/RESULTS.md and bench/results.json");
}
clearTimeout(watchdog);
if (failedPhases.length > 0) console.error(`bench: phases failed: ${failedPhases.join(", ")} (the others are written)`);
process.exit(failedPhases.length > 0 ? 1 : 0);
