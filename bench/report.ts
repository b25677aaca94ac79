/**
 * Turns one benchmark run into bench/RESULTS.md (and the same tables on stdout): machine and
 * conditions, budgets with PASS/FAIL, then each section's table. The hand-written analysis
 * (bench/FINDINGS.md) is appended verbatim.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { coldStartBudgetLines, COLD_TTFB_BUDGET_MS, type ColdStartResult, type ColdStartRow } from "./coldstart";
import { d1BudgetLines, type D1LatencyResult } from "./d1latency";
import { ROOT } from "./lib/deps";
import type { CellResult, E2eResult } from "./e2e";
import type { Conditions, MachineInfo } from "./lib/machine";
import { TRANSLATING_FLOOR, TRANSLATING_FLOOR_FIRST } from "./lib/targets";
import { fmt } from "./lib/stats";
import type { MemoryMeasurement } from "./memory";
import type { MicroResult, StageSummary } from "./micro";
import type { SizeResult } from "./size";
import type { ToolLoopResult } from "./toolloop";

export interface BenchResults {
  machine: MachineInfo;
  code: { commit: string; dirtySrc: boolean };
  startedAt: Conditions;
  endedAt: Conditions | null;
  durationS: number;
  micro: MicroResult | null;
  e2e: E2eResult | null;
  memory: MemoryMeasurement[] | null;
  size: SizeResult | null;
  /** Issue 19: first request on fresh isolates (null when the phase did not run). */
  coldStart?: ColdStartResult | null;
  /** Issue 18: TTFB under a production-latency D1 (null when the phase did not run). */
  d1Latency?: D1LatencyResult | null;
  /** Issue 15: per-turn latency of a tool loop over the Responses WebSocket vs HTTP chaining (null when the phase did not run). */
  toolLoop?: ToolLoopResult | null;
  /** The long stream's request body, bytes (its TTFB budget is "a 94 KB request"). */
  longRequestBytes?: number | null;
  /** When and on what code each phase ran (a `--merge` run re-takes some phases into an earlier run). */
  phaseRuns?: Record<string, PhaseRun>;
  notes: string[];
}

export interface PhaseRun {
  commit: string;
  dirtySrc: boolean;
  at: string;
  loadAverage: [number, number, number];
  endLoadAverage: [number, number, number];
}

/**
 * The budgets the bench judges. Issue 18 (performance at internet scale) sets the streaming ones for
 * plain workerd; issue 19 (cold start) the startup, bundle and first-request ones.
 */
export const BUDGETS = {
  /** Issue 18: decoder + projector, and the whole in-workerd streaming path, per native event. */
  usPerEvent: 2,
  /** Issue 18: every long-stream cell (three protocols × c = 1, 8, 32) at ≥ 0.9 × the pass-through's req/s. */
  throughputRatio: 0.9,
  /** Issue 18: short answers' TTFB p50 (c = 1) within +0.5 ms of the pass-through's. */
  shortTtfbDeltaMs: 0.5,
  /** Issue 18: the long stream's (≈ 94 KB) request: TTFB p50 (c = 1) within +1 ms of the pass-through's. */
  longRequestTtfbDeltaMs: 1,
  /** "Flat": the 1M-delta stream may not grow the worker more than this beyond the 10k-delta one. */
  memorySlackBytes: 16 * 1024 * 1024,
  /** Issue 19's target (CI enforces `ciBundleBudgetKiB()`, scripts/check-bundles.sh, until the bundle reaches it). */
  bundleGzipKiB: 64,
  /** Issue 19: startup CPU (median of ≥ 20 fresh isolates). */
  startupCpuMs: 10,
};

/** The bundle budget CI enforces today: `ENFORCED_BUDGET_KIB` of scripts/check-bundles.sh (one place says it). */
export function ciBundleBudgetKiB(): number | null {
  const script = readFileSync(path.join(ROOT, "scripts", "check-bundles.sh"), "utf8");
  const match = /^ENFORCED_BUDGET_KIB=(\d+)$/m.exec(script);
  return match ? Number(match[1]) : null;
}

/** The runtime the issue 18 budgets are judged in (wrangler dev's devtools distort it: FINDINGS). */
const BUDGET_RUNTIME = "workerd, no devtools";

interface Budget {
  what: string;
  measured: string;
  pass: boolean | null;
}

const PROTOCOLS = ["responses", "chat", "anthropic"] as const;

function table(header: string[], rows: string[][], align?: Array<"l" | "r">): string {
  const sep = header.map((_, i) => ((align?.[i] ?? "r") === "l" ? ":--" : "--:"));
  return [header, sep, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

function stage(micro: MicroResult, name: string, chunk = 4096): StageSummary | undefined {
  return micro.stages.find((s) => s.stage === name && s.chunk === chunk);
}

/** `target`'s cell in the same runtime, workload and concurrency as `cell`. */
function cellOf(e2e: E2eResult, cell: CellResult, target: string): CellResult | undefined {
  return e2e.cells.find((c) => c.runtime === cell.runtime && c.target === target && c.workload === cell.workload && c.concurrency === cell.concurrency);
}

function passthroughCell(e2e: E2eResult, cell: CellResult): CellResult | undefined {
  return cellOf(e2e, cell, "pass-through worker");
}

/** The translating floor's row in the same shape as `cell`'s protocol: Responses reads native's first event before answering. */
function floorCell(e2e: E2eResult, cell: CellResult): CellResult | undefined {
  return cellOf(e2e, cell, cell.kind === "responses" ? TRANSLATING_FLOOR_FIRST : TRANSLATING_FLOOR);
}

function isFloor(cell: CellResult): boolean {
  return cell.target === TRANSLATING_FLOOR || cell.target === TRANSLATING_FLOOR_FIRST;
}

export function budgets(results: BenchResults): Budget[] {
  const out: Budget[] = [];
  const { micro, e2e, memory, size } = results;
  if (micro) {
    for (const p of PROTOCOLS) {
      const sync = stage(micro, `decode+project:${p}`);
      const pipe = stage(micro, `pipeline:${p}`);
      if (sync) out.push({ what: `${p}: decoder + projector ≤ ${BUDGETS.usPerEvent} µs / native event (CPU, in workerd)`, measured: `${fmt(sync.usPerEvent, 2)} µs`, pass: sync.usPerEvent <= BUDGETS.usPerEvent });
      if (pipe) out.push({ what: `${p}: whole streaming path (streams + SSE encoding) ≤ ${BUDGETS.usPerEvent} µs / native event`, measured: `${fmt(pipe.usPerEvent, 2)} µs`, pass: pipe.usPerEvent <= BUDGETS.usPerEvent });
    }
  }
  if (e2e) {
    const gatewayCells = e2e.cells.filter((c) => c.kind !== "native" && c.runtime === BUDGET_RUNTIME);
    for (const cell of gatewayCells.filter((c) => c.workload === "long")) {
      const ref = passthroughCell(e2e, cell);
      if (!ref) continue;
      const ratio = cell.rps / ref.rps;
      out.push({ what: `[${cell.runtime}] ${cell.target} c=${cell.concurrency}: throughput ≥ ${BUDGETS.throughputRatio} × pass-through (long stream)`, measured: `${fmt(ratio, 2)} ×`, pass: cell.errors === 0 && ratio >= BUDGETS.throughputRatio });
    }
    for (const cell of gatewayCells.filter((c) => c.concurrency === 1)) {
      const ref = passthroughCell(e2e, cell);
      if (!ref) continue;
      const delta = cell.ttfbP50 - ref.ttfbP50;
      const limit = cell.workload === "short" ? BUDGETS.shortTtfbDeltaMs : BUDGETS.longRequestTtfbDeltaMs;
      const what =
        cell.workload === "short"
          ? `short answer: TTFB p50 within +${limit} ms of pass-through`
          : `the long stream's ${results.longRequestBytes ? `${fmt(results.longRequestBytes / 1000, 0)} KB` : "≈ 94 KB"} request: TTFB p50 within +${limit} ms of pass-through`;
      // The floor under the budget: what the least translating worker of the same shape measured over
      // the same pass-through in the same rounds (translating-floor-worker.ts). Context, not the budget.
      const floor = floorCell(e2e, cell);
      const floorDelta = floor && floor.errors === 0 ? floor.ttfbP50 - ref.ttfbP50 : null;
      const signed = (v: number): string => `${v >= 0 ? "+" : ""}${fmt(v, 2)}`;
      const measured = `${signed(delta)} ms${floorDelta === null ? "" : ` (${floor?.target} ${signed(floorDelta)})`}`;
      out.push({ what: `[${cell.runtime}] ${cell.target} c=1, ${what}`, measured, pass: cell.errors === 0 && ref.errors === 0 && delta <= limit });
    }
  }
  if (memory) {
    for (const [runtime, target] of [...new Set(memory.map((m) => `${m.runtime}\u0000${m.target}`))].map((key) => key.split("\u0000") as [string, string]).filter(([, t]) => t.startsWith("gateway"))) {
      const rows = memory.filter((m) => m.runtime === runtime && m.target === target).sort((a, b) => a.deltas - b.deltas);
      const small = rows[0];
      const large = rows[rows.length - 1];
      if (!small || !large || small === large) continue;
      const growth = large.streamingGrowthBytes - small.streamingGrowthBytes;
      out.push({
        what: `[${runtime}] ${target}: memory flat in stream length while streaming (${large.deltas.toLocaleString("en-US")} vs ${small.deltas.toLocaleString("en-US")} deltas, ≤ +${BUDGETS.memorySlackBytes / 1048576} MiB)`,
        measured: `${growth >= 0 ? "+" : ""}${fmt(growth / 1048576, 1)} MiB`,
        pass: small.ok && large.ok && growth <= BUDGETS.memorySlackBytes,
      });
      out.push({
        what: `[${runtime}] ${target}: no growth over the second half of the ${large.deltas.toLocaleString("en-US")}-delta stream (≤ +${BUDGETS.memorySlackBytes / 1048576} MiB; buffering would grow here)`,
        measured: `+${fmt(large.secondHalfGrowthBytes / 1048576, 1)} MiB`,
        pass: large.ok && large.secondHalfGrowthBytes <= BUDGETS.memorySlackBytes,
      });
      if (large.livePeakStreamingBytes !== null && large.liveBaselineBytes !== null) {
        const liveGrowth = large.livePeakStreamingBytes - large.liveBaselineBytes;
        const smallGrowth = small.livePeakStreamingBytes !== null && small.liveBaselineBytes !== null ? small.livePeakStreamingBytes - small.liveBaselineBytes : null;
        out.push({
          what:
            `[${runtime}] ${target}: live JS heap (after a full GC) while streaming ${large.deltas.toLocaleString("en-US")} deltas − before the request ≤ +${BUDGETS.memorySlackBytes / 1048576} MiB ` +
            `(${large.liveSamples} GCs${smallGrowth === null ? "" : `; ${small.deltas.toLocaleString("en-US")} deltas: ${smallGrowth >= 0 ? "+" : ""}${fmt(smallGrowth / 1048576, 1)} MiB`})`,
          measured: `${liveGrowth >= 0 ? "+" : ""}${fmt(liveGrowth / 1048576, 1)} MiB`,
          pass: large.ok && liveGrowth <= BUDGETS.memorySlackBytes,
        });
        if (large.liveSecondHalfGrowthBytes !== null) {
          out.push({
            what: `[${runtime}] ${target}: live JS heap growth over the second half of the ${large.deltas.toLocaleString("en-US")}-delta stream (≤ +${BUDGETS.memorySlackBytes / 1048576} MiB)`,
            measured: `+${fmt(large.liveSecondHalfGrowthBytes / 1048576, 1)} MiB`,
            pass: large.ok && large.liveSecondHalfGrowthBytes <= BUDGETS.memorySlackBytes,
          });
        }
      }
    }
  }
  if (size) {
    const kib = size.wranglerGzipKiB ?? size.gzip9Bytes / 1024;
    const enforced = ciBundleBudgetKiB();
    out.push({ what: `bundle ≤ ${BUDGETS.bundleGzipKiB} KiB gzipped (wrangler's upload size; CI enforces ${enforced ?? "?"} KiB: scripts/check-bundles.sh)`, measured: `${fmt(kib, 2)} KiB`, pass: kib <= BUDGETS.bundleGzipKiB });
    out.push({
      what: `startup ≤ ${BUDGETS.startupCpuMs} ms CPU (await import of the deployed bundle, workerd's main thread, median of ${size.startup.runs} fresh isolates${size.startup.runs < 20 ? "; fewer than the 20 the budget asks for" : ""})`,
      measured: `${fmt(size.startup.cpuMsMedian, 1)} ms`,
      pass: size.startup.cpuMsMedian <= BUDGETS.startupCpuMs,
    });
  }
  if (results.coldStart) out.push(...coldStartBudgetLines(results.coldStart));
  if (results.d1Latency) out.push(...d1BudgetLines(results.d1Latency));
  return out;
}

/** One row per phase run: which phases, on which commit, when, under what load (1-min load at start → end). */
function phaseProvenance(results: BenchResults): string[][] {
  const runs = results.phaseRuns;
  if (!runs || Object.keys(runs).length === 0) return [];
  const groups = new Map<string, string[]>();
  for (const [name, run] of Object.entries(runs)) {
    const key = `commit ${run.commit}${run.dirtySrc ? " + uncommitted src/" : ""}, ${run.at.slice(0, 16).replace("T", " ")} UTC, load ${fmt(run.loadAverage[0], 2)} → ${fmt(run.endLoadAverage[0], 2)}`;
    groups.set(key, [...(groups.get(key) ?? []), name]);
  }
  return [...groups.entries()].map(([key, names]) => [`Phases ${names.join(", ")}`, key]);
}

function ms(value: number, digits = 1): string {
  return fmt(value, digits);
}

export function renderMarkdown(results: BenchResults): string {
  const { machine, startedAt, endedAt, micro, e2e, memory, size } = results;
  const parts: string[] = [];
  parts.push(`# Benchmark results\n`);
  parts.push(
    `Generated by \`npm run bench\` (bench/run.ts) on **${startedAt.at}** in ${fmt(results.durationS / 60, 1)} min. ` +
      `Regenerate with \`npm run bench\`; the analysis at the end (bench/FINDINGS.md) is hand-written against a run like this one.\n`,
  );
  parts.push(`## Machine and conditions\n`);
  parts.push(
    table(
      ["", ""],
      [
        [
          "Code measured",
          new Set(Object.values(results.phaseRuns ?? {}).map((run) => run.commit)).size > 1
            ? "**differs by phase** (rows below: phases re-taken with `--merge`)"
            : `commit ${results.code.commit}${results.code.dirtySrc ? " **plus uncommitted changes in src/**" : ""}`,
        ],
        ["CPU", machine.cpuModel],
        ["Cores", String(machine.cores)],
        ["Memory", `${fmt(machine.memoryBytes / 1024 ** 3, 1)} GiB`],
        ["OS", machine.os],
        ["Node", machine.node],
        ["workerd", machine.workerd],
        ["wrangler / miniflare", `${machine.wrangler} / ${machine.miniflare}`],
        ["Load average at start (1/5/15 min)", startedAt.loadAverage.map((v) => fmt(v, 2)).join(" / ")],
        ["Load average at end", endedAt ? endedAt.loadAverage.map((v) => fmt(v, 2)).join(" / ") : "–"],
        ["Other vitest processes at start / end", `${startedAt.otherVitestProcesses} / ${endedAt?.otherVitestProcesses ?? "–"}`],
        ...phaseProvenance(results),
      ],
      ["l", "l"],
    ),
  );
  if (results.notes.length > 0) parts.push(`\n${results.notes.map((n) => `- ${n}`).join("\n")}`);

  const budgetRows = budgets(results);
  parts.push(`\n## Budgets\n`);
  parts.push(table(["Budget", "Measured", "Result"], budgetRows.map((b) => [b.what, b.measured, b.pass === null ? "–" : b.pass ? "PASS" : "**FAIL**"]), ["l", "r", "l"]));
  if (e2e?.cells.some((c) => c.runtime !== BUDGET_RUNTIME)) {
    parts.push(`
The streaming budgets (issue 18) are judged in plain workerd; the wrangler dev cells (devtools attached) are in section 2 for reference.`);
  }

  if (micro) {
    parts.push(`\n## 1. Projector cost inside workerd\n`);
    parts.push(
      `One native stream built in memory with the emulator's framing: run.started, ${micro.shape.reasoningDeltas.toLocaleString("en-US")} reasoning deltas, ` +
        `${micro.shape.messageDeltas.toLocaleString("en-US")} message deltas, run.completed carrying the whole answer (${stage(micro, "decode")?.events.toLocaleString("en-US") ?? "?"} events, ` +
        `${fmt((stage(micro, "decode")?.inputBytes ?? 0) / 1048576, 1)} MiB), fed in chunks of the given size (4 KiB is what workerd hands a fetch body to JS in — measured, every chunk of the emulator's long stream is ≤ 4096 bytes; budgets use it). Run in workerd (Miniflare) by bench/projector-worker.ts; ` +
        `median of ${micro.stages[0]?.runsMs.length ?? "?"} runs after warm-up; workerd's clock has 1 ms resolution, every run takes ≫ 10 ms.\n\n` +
        `- \`decode\`: NativeSseParser alone · \`project:p\`: projector alone over decoded events · \`decode+project:p\`: both, synchronously (pure CPU) · ` +
        `\`pipeline:p\`: the gateway's real path — body ReadableStream → readNativeStream → projectToSse → bytes.\n`,
    );
    parts.push(
      table(
        ["Stage", "Chunk (B)", "µs / native event", "native events / s", "ms / stream (median)", "Output"],
        micro.stages.map((s) => [
          `\`${s.stage}\``,
          String(s.chunk),
          fmt(s.usPerEvent, 3),
          fmt(s.eventsPerSec, 0),
          ms(s.medianMs, 0),
          s.stage === "decode" || s.stage === "pipeline:decode" || s.stage === "floor:json"
            ? `${s.outputSize.toLocaleString("en-US")} events`
            : s.stage === "floor:utf8"
              ? `${s.outputSize.toLocaleString("en-US")} chars`
              : `${fmt(s.outputSize / 1048576, 1)} MiB`,
        ]),
        ["l", "r", "r", "r", "r", "r"],
      ),
    );
  }

  if (e2e) {
    parts.push(`\n## 2. End to end on loopback\n`);
    parts.push(
      `Long stream: the emulator streams ${(e2e.shape.reasoningDeltas + e2e.shape.messageDeltas).toLocaleString("en-US")} deltas (${e2e.shape.reasoningDeltas.toLocaleString("en-US")} reasoning, ` +
        `then message) per request; short: the default echo answer (a handful of deltas). Targets: the emulator directly; the reference pass-through worker ` +
        `(bench/passthrough-worker.ts); in the workerd runtime, the translating floor (bench/translating-floor-worker.ts: the request read, parsed and re-serialised, ` +
        `every native event decoded and written back with the least a projection writes, nothing else — the least any translating worker pays; "· first" reads native's first event before answering, as Responses does); the gateway (the \`wrangler deploy --dry-run\` bundle of src/index.ts, NATIVE_API_BASE_URL = the emulator, local D1 migrated) per protocol, streaming.\n\n` +
        `Two runtimes. **wrangler dev** (as specified; \`wrangler dev --var NATIVE_API_BASE_URL:…\`): requests go straight to the runtime workerd's own socket, not through ` +
        `wrangler's dev proxy, but wrangler's devtools connection to the runtime stays attached and costs CPU in both workerd processes ("proxy" column) — see FINDINGS. ` +
        `**workerd, no devtools**: the same bundles in workerd through Miniflare without an inspector — closer to production. ` +
        `TTFB = first body byte. CPU columns: milliseconds of CPU per request of the worker's workerd / wrangler's second workerd / the emulator (from /proc). ` +
        `Ratios are gateway ÷ pass-through in the same runtime at the same concurrency. Client: node:http, keep-alive. p99 is nearest-rank over n requests. ` +
        `Targets are interleaved: each cell's n requests run in up to 4 rounds (each round keeps at least c requests), and every round runs all the targets in turn (every other round in reverse order), ` +
        `so the machine's load drift (±30 % within minutes on this shared VM) falls on all of them alike; req/s = completed requests ÷ the cell's summed wall time.\n`,
    );
    for (const runtime of [...new Set(e2e.cells.map((c) => c.runtime))]) {
      for (const workload of ["long", "short"] as const) {
        const cells = e2e.cells.filter((c) => c.runtime === runtime && c.workload === workload);
        if (cells.length === 0) continue;
        parts.push(`\n### ${workload === "long" ? "Long stream" : "Short answer"} — ${runtime}\n`);
        parts.push(
          table(
            ["Target", "c", "n", "req/s", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms", "total p99 ms", "÷ pass-through req/s", "TTFB Δ p50 ms", "CPU ms/req worker · proxy · emulator", "errors"],
            cells.map((c) => {
              const ref = passthroughCell(e2e, c);
              const isGateway = c.kind !== "native" || isFloor(c);
              return [
                c.target,
                String(c.concurrency),
                String(c.requests),
                fmt(c.rps, 2),
                ms(c.ttfbP50, 2),
                ms(c.ttfbP99, 2),
                ms(c.totalP50, 1),
                ms(c.totalP99, 1),
                isGateway && ref ? `${fmt(c.rps / ref.rps, 2)} ×` : "",
                isGateway && ref ? `${c.ttfbP50 - ref.ttfbP50 >= 0 ? "+" : ""}${fmt(c.ttfbP50 - ref.ttfbP50, 2)}` : "",
                [c.cpuPerRequest.workerd, c.cpuPerRequest.proxy, c.cpuPerRequest.emulator].map((v) => (v === null ? "–" : fmt(v, workload === "long" ? 0 : 2))).join(" · "),
                c.errors ? `${c.errors}: ${c.firstError ?? ""}` : "0",
              ];
            }),
            ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"],
          ),
        );
      }
    }
  }

  if (memory) {
    parts.push(`\n## 3. Memory while streaming\n`);
    parts.push(
      `VmRSS of the workerd process running the worker (under wrangler dev: its runtime, not its proxy; and the same bundle in workerd without devtools), sampled every ≤ 5 ms during the request, minus the median ` +
        `RSS just before it (after a warm-up). "While streaming" stops at the first frame the native terminal event causes; "overall" includes the terminal, ` +
        `where native's run.completed carries the whole answer (native-api.md §2.2) and Responses repeats it in its done events (protocol-mandated, grows with the answer). ` +
        `Each target runs in a fresh process. ` +
        `RSS also counts garbage: V8 lets dead objects accumulate between major GCs (with no heap limit set locally, tens of MB at a stream's allocation rate), so in the ` +
        `workerd runtime the isolate's inspector is also asked — in a second run of the same stream, so the snapshots' own allocations stay out of the RSS columns — every ~1 s while the deltas stream, for the **live** heap (the objects in a heap snapshot, which V8 takes right after a full GC). Samples that ended within 250 ms of the terminal phase are left out: native's run.completed carries the whole answer, and the decoder holds that one line while it arrives. ` +
        `Buffering the answer would grow the live heap; streaming keeps it flat.\n`,
    );
    parts.push(
      table(
        ["Runtime", "Target", "Deltas", "Answer (chars)", "Baseline RSS", "Peak − baseline while streaming", "Growth over 2nd half of streaming", "Peak − baseline overall", "Live heap before → peak while streaming (GCs)", "Time", "OK"],
        memory.map((m) => [
          m.runtime,
          m.target,
          m.deltas.toLocaleString("en-US"),
          m.answerChars.toLocaleString("en-US"),
          `${fmt(m.baselineBytes / 1048576, 1)} MiB`,
          `${fmt(m.streamingGrowthBytes / 1048576, 1)} MiB`,
          `${fmt(m.secondHalfGrowthBytes / 1048576, 1)} MiB`,
          `${fmt(m.overallGrowthBytes / 1048576, 1)} MiB`,
          m.liveBaselineBytes !== null && m.livePeakStreamingBytes !== null
            ? `${fmt(m.liveBaselineBytes / 1048576, 1)} → ${fmt(m.livePeakStreamingBytes / 1048576, 1)} MiB (${m.liveSamples})`
            : "–",
          `${fmt(m.totalMs / 1000, 1)} s`,
          m.ok ? "yes" : `no: ${m.error ?? ""}`,
        ]),
        ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "l"],
      ),
    );
  }

  if (size) {
    parts.push(`\n## 4. Bundle size and startup\n`);
    parts.push(
      table(
        ["Measure", "Value"],
        [
          ["`wrangler deploy --dry-run` bundle (minified index.js)", `${fmt(size.bundleBytes / 1024, 1)} KiB`],
          ["wrangler's Total Upload / gzip", size.wranglerTotalKiB === null ? "not printed" : `${fmt(size.wranglerTotalKiB, 2)} KiB / **${fmt(size.wranglerGzipKiB ?? 0, 2)} KiB**`],
          ["gzip -9 of index.js", `${fmt(size.gzip9Bytes / 1024, 1)} KiB`],
          [
            `Startup: CPU of \`await import(bundle)\` in a fresh workerd isolate (what \`wrangler check startup\` measures): workerd's main thread, schedstat, minus an empty request; median of ${size.startup.runs}`,
            `**${fmt(size.startup.cpuMsMedian, 1)} ms** (runs ${size.startup.cpuMsRuns.map((v) => fmt(v, 0)).join(", ")})`,
          ],
          ...(size.startup.cpuAllThreadsMsMedian !== undefined
            ? [["Startup: the same on all of workerd's threads (V8's concurrent compile and GC helpers too)", `${fmt(size.startup.cpuAllThreadsMsMedian, 1)} ms`]]
            : []),
          ...(size.startup.profileMsMedian !== undefined
            ? [["Startup: the import's V8 profile time (wall time with JS on the stack; inflates on a loaded machine), separate isolates", `${fmt(size.startup.profileMsMedian, 1)} ms`]]
            : []),
          ["Startup: wall time of the same import, isolate clock (1 ms resolution)", `${fmt(size.startup.wallMsMedian, 0)} ms`],
          ...(e2e?.wranglerReadyMs ? [["`wrangler dev` launch → first 200 (gateway /healthz; noisy, for reference only)", `${fmt(e2e.wranglerReadyMs.gateway / 1000, 1)} s`]] : []),
        ],
        ["l", "r"],
      ),
    );
    const map = size.startupMap;
    if (map) {
      const inStatements = map.srcFiles.reduce((sum, row) => sum + row.ms, 0);
      parts.push(
        `\nWhere the startup CPU goes (bench/lib/startup-attribution.ts: an instrumented, unminified build of src/index.ts in ${map.runs} fresh isolates, ` +
          `${fmt(map.totalMs, 1)} ms median, ${fmt(inStatements, 1)} ms of it inside src/ top-level statements). Each sample is charged to the top-level statement of a src/ module ` +
          `that was running, inclusive of the zod or Hono work it called. The first statement that builds a zod schema also pays zod's one-time warm-up ` +
          `(V8 compiling zod's functions on their first call): making that statement lazy moves the warm-up to the next schema built at startup; it goes only when none is. ` +
          `\`npx tsx bench/investigations/startup-profile.ts\` prints the full lists.\n`,
      );
      parts.push(table(["Top-level statement (src/file:line)", "ms (median)"], map.statements.slice(0, 12).map((row) => [`\`${row.where.replace(/`/g, "'").replace(/\|/g, "\\|")}\``, fmt(row.ms, 2)]), ["l", "r"]));
      parts.push(`\nBy src/ file (its statements summed), and what ran outside every src/ statement:\n`);
      parts.push(
        table(
          ["src/ file", "ms", "Outside src/ statements", "ms"],
          Array.from({ length: 8 }, (_, i) => {
            const file = map.srcFiles[i];
            const other = map.outside[i];
            return [file ? file.where : "", file ? fmt(file.ms, 2) : "", other ? other.where : "", other ? fmt(other.ms, 2) : ""];
          }),
          ["l", "r", "l", "r"],
        ),
      );
    }
    const c = size.composition;
    parts.push(`\nWhat the bundle is made of (esbuild metafile of src/index.ts, minified; ${fmt(c.minifiedBytes / 1024, 1)} KiB, gzip -9 ${fmt(c.gzip9Bytes / 1024, 1)} KiB):\n`);
    parts.push(table(["Part", "Minified KiB", "Share"], c.top.map((t) => [t.name, fmt(t.bytes / 1024, 1), `${fmt((100 * t.bytes) / c.minifiedBytes, 0)} %`]), ["l", "r", "r"]));
  }

  if (micro && micro.profiles.length > 0) {
    parts.push(`\n## 5. Profile of the hot path (V8 sampling profiler of the workerd isolate)\n`);
    parts.push(
      `Self time by function while the stage runs twice over the long stream (4 KiB chunks), sampled every 100 µs through the isolate's inspector ` +
        `(the channel \`wrangler check startup\` uses). Module = source file (from the unminified bundle). "(program)" is V8/workerd native work outside JS, ` +
        `"(garbage collector)" is GC.\n`,
    );
    for (const profile of micro.profiles) {
      parts.push(`\n**\`${profile.stage}\`** — ${fmt(profile.totalMs, 0)} ms sampled\n`);
      parts.push(table(["Function (module)", "Self ms", "Share"], profile.rows.map((r) => [`\`${r.name}\``, fmt(r.selfMs, 1), `${fmt(r.share * 100, 1)} %`]), ["l", "r", "r"]));
    }
  }

  const cold = results.coldStart;
  if (cold) {
    parts.push(`\n## 6. Cold start: the first request on a fresh isolate\n`);
    parts.push(
      `bench/coldstart.ts: ${cold.rounds} rounds, each a fresh workerd process with one new isolate per subject (the deployable bundle for the gateway rows, bench/passthrough-worker.ts ` +
        `for the reference), each loaded behind a two-line entry that imports the worker on its first request — so that request pays module evaluation as a new edge isolate's first request does ` +
        `(workerd itself evaluates a main module before any request). A warm-up worker opens the process's connections to the emulator and wakes the local D1 first; subjects go in an order ` +
        `rotated per round, each first request on a new connection; "warm" = requests 2–4 on the same isolate. CPU = workerd's main thread across the request (schedstat): the isolate's own work, which a loaded machine stretches far less than a TTFB. Not included: script compile and isolate creation before the request reaches JS.\n`,
    );
    const reference = cold.rows.find((row) => row.bundle === "pass-through");
    parts.push(
      table(
        ["Subject", "n", "first request TTFB p50 ms", "p90 ms", "Δ p50 vs pass-through ms", "first request total p50 ms", "first request CPU p50 ms", "warm TTFB p50 ms", "warm CPU p50 ms", "errors"],
        cold.rows.map((row) => [
          row.name,
          String(row.rounds),
          fmt(row.coldTtfbP50, 1),
          fmt(row.coldTtfbP90, 1),
          reference && row !== reference ? `${row.coldTtfbP50 - reference.coldTtfbP50 >= 0 ? "+" : ""}${fmt(row.coldTtfbP50 - reference.coldTtfbP50, 1)}` : "",
          fmt(row.coldTotalP50, 1),
          row.coldCpuMsP50 === undefined ? "–" : fmt(row.coldCpuMsP50, 1),
          fmt(row.warmTtfbP50, 2),
          row.warmCpuMsP50 === undefined ? "–" : fmt(row.warmCpuMsP50, 2),
          row.errors ? `${row.errors}: ${row.firstError ?? ""}` : "0",
        ]),
        ["l", "r", "r", "r", "r", "r", "r", "r", "r", "l"],
      ),
    );
    parts.push(`\nBudget: each gateway row's first-request TTFB p50 within +${COLD_TTFB_BUDGET_MS} ms of the pass-through's.`);
    const floors = cold.rows.filter((row) => row.bundle.startsWith("floor/"));
    if (reference && floors.length > 0) {
      const delta = (row: ColdStartRow): string => `${row.coldTtfbP50 - reference.coldTtfbP50 >= 0 ? "+" : ""}${fmt(row.coldTtfbP50 - reference.coldTtfbP50, 1)} ms`;
      const cpu = (row: ColdStartRow): string => `+${fmt(row.coldCpuMsP50 - reference.coldCpuMsP50, 1)} ms CPU`;
      parts.push(
        `\nThe floor rows (bench/floor/) are the pinned stack alone, before any of the gateway's code: a chat request routed by Hono and/or validated by zod/mini ` +
          `(four fields, with zod's English locale as src/zod.ts sets it), forwarded to native, native's SSE returned as is. Their first requests over the pass-through's: ` +
          floors.map((row) => `${row.name.replace(/^floor: /, "").replace(/, native SSE as is$/, "")} ${delta(row)} (${cpu(row)})`).join("; ") +
          `. What a fresh isolate's first request pays for zod (its first schema built and first parse: V8 compiling zod core) and Hono is a lower bound of the gateway's delta; ` +
          `their warm TTFB (requests 2–4) is the same floor for the warm short-answer budget.`,
      );
    }
  }

  const d1 = results.d1Latency;
  if (d1) {
    parts.push(`\n## 7. Time to first byte under a production-latency D1\n`);
    parts.push(
      `bench/d1latency.ts: the gateway (bench/d1-latency-worker.ts: the deployed worker's default export with \`RESPONSE_INDEX\` replaced by bench/lib/d1-latency.ts) in workerd, the emulator as native. ` +
        `The model: primary round trip **${d1.model.primaryRttMs} ms**, nearest replica **${d1.model.replicaRttMs} ms**, replica lag ${d1.model.lagMinMs}–${d1.model.lagMaxMs} ms; ` +
        (d1.wire === "io"
          ? `each round trip is I/O the worker waits on, as on production's D1 (a request to bench/wire-process.ts, answered that long after it arrived; the query runs at the trip's midpoint), not a timer in the worker's isolate, which other work there delays (FINDINGS, session 9); `
          : `each round trip is a timer in the worker's isolate; `) +
        `D1's routing (https://developers.cloudflare.com/d1/best-practices/read-replication/): queries on the plain binding and every write go to the primary, ` +
        `\`withSession("first-primary")\`'s first query to the primary, \`first-unconstrained\` reads to the replica as it is (a read right after another request's write can miss), ` +
        `a read that needs a bookmark waits for the replica to reach it. The model's own ${d1.modelChecks.length} checks (${d1.modelChecks.filter((check) => check.pass).length} pass) ran first. ` +
        `${d1.rounds} interleaved rounds (every case once per round, starting at a different case each round), c = 1, keep-alive. "Chained" chains from a response created before the round ` +
        `(older than the replica lag); "chained, immediate" sends the chained request the instant the previous stream's \`response.created\` frame arrives. ` +
        `D1 on the path = the queries that had completed before the worker returned its Response (mean count per request by instance, and their median summed time); ` +
        `"after" = queries that ran alongside the stream or in \`waitUntil\`. ` +
        `The yardstick rows are not the gateway: native forwarded by the bench worker as is, with and without one replica read first (and that read alongside a keyed native read); ` +
        `their difference is the "one replica round trip" of the chained budget, as this machine delivers it on the way to native (the injected figure, the local D1 query, ` +
        `the wire's or timer's overshoot, and native answering later after an idle wait).\n`,
    );
    parts.push(
      table(
        ["Case", "n", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms", "D1 on the path: primary · replica (ms)", "D1 after: primary · replica", "errors"],
        d1.rows.map((row) => [
          row.name,
          String(row.n),
          fmt(row.ttfbP50, 1),
          fmt(row.ttfbP99, 1),
          fmt(row.totalP50, 1),
          row.d1 ? `${fmt(row.d1.primaryBefore, 1)} · ${fmt(row.d1.replicaBefore, 1)} (${fmt(row.d1.msBeforeResponseP50, 0)})` : "–",
          row.d1 ? `${fmt(row.d1.primaryAfter, 1)} · ${fmt(row.d1.replicaAfter, 1)}` : "–",
          row.errors ? `${row.errors}: ${row.firstError ?? ""}` : "0",
        ]),
        ["l", "r", "r", "r", "r", "r", "r", "l"],
      ),
    );
    parts.push(
      `\nImmediate chains: ${d1.immediateChain.resolved} of ${d1.immediateChain.attempts} resolved` +
        `${d1.immediateChain.notFound ? `, ${d1.immediateChain.notFound} answered previous_response_not_found` : ""}; ` +
        `then ${d1.immediateStreak?.attempts ?? 0} in a row (untimed): ${d1.immediateStreak?.resolved ?? 0} resolved` +
        `${d1.immediateStreak?.firstFailure ? ` (first failure: ${d1.immediateStreak.firstFailure})` : ""}. ` +
        `p99 is nearest-rank over n (with n ≤ 40, the slowest sample or next to it).`,
    );
  }

  const loop = results.toolLoop;
  if (loop) {
    parts.push(`\n## 8. A ${loop.turnsPerLoop}-turn tool loop: Responses WebSocket vs HTTP chaining\n`);
    parts.push(
      `bench/toolloop.ts: the same gateway worker (bench/d1-latency-worker.ts) and emulator for both transports, in workerd, under ` +
        loop.models.map((m) => `D1 **${m.label}** (primary ${m.model.primaryRttMs} ms, replica ${m.model.replicaRttMs} ms, lag ${m.model.lagMinMs}–${m.model.lagMaxMs} ms)`).join(" and ") +
        `. A loop: one untimed create that calls a tool, then ${loop.turnsPerLoop} turns, each a \`response.create\` carrying a \`function_call_output\` for the previous turn's call ` +
        `and answered by a new function call (the emulator's \`after_tools\` script runs after every resume). WebSocket: one socket per loop, opened before the timed turns, ` +
        `chained by \`previous_response_id\`; HTTP: \`POST /v1/responses\` streamed, keep-alive. Over HTTP a \`store: false\` response cannot be chained by id ` +
        `(checked: ${loop.httpUnstoredChain.map((check) => `D1 ${check.model} HTTP ${check.status} ${check.code ?? ""}`).join(", ")}), so that row replays the whole transcript each turn, as a stateless client does. ` +
        `First byte: the first message / SSE body byte after the turn was sent; complete: its terminal event; p99 nearest-rank over every turn. ` +
        `${loop.rounds} interleaved rounds (every loop once per round, starting at a different one each round), c = 1.\n`,
    );
    parts.push(
      table(
        ["Case", "turns", "first byte p50 ms", "first byte p99 ms", "complete p50 ms", "complete p99 ms", `${loop.turnsPerLoop} turns p50 ms`, `${loop.turnsPerLoop} turns max ms`, "socket open p50 ms", "errors"],
        loop.rows.map((row) => [
          row.name,
          String(row.turns),
          fmt(row.firstByteP50, 1),
          fmt(row.firstByteP99, 1),
          fmt(row.completeP50, 1),
          fmt(row.completeP99, 1),
          fmt(row.loopTotalP50, 0),
          fmt(row.loopTotalMax, 0),
          row.connectP50 === null ? "–" : fmt(row.connectP50, 1),
          row.errors ? `${row.errors}: ${row.firstError ?? ""}` : "0",
        ]),
        ["l", "r", "r", "r", "r", "r", "r", "r", "r", "l"],
      ),
    );
  }

  const findings = new URL("./FINDINGS.md", import.meta.url);
  if (existsSync(findings)) parts.push(`\n${readFileSync(findings, "utf8").trim()}\n`);
  return `${parts.join("\n")}\n`;
}

/** The budgets as console lines. */
export function renderBudgetLines(results: BenchResults): string[] {
  return budgets(results).map((b) => `${b.pass === null ? "  -  " : b.pass ? "PASS " : "FAIL "} ${b.what}: ${b.measured}`);
}
