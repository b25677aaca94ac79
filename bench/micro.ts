/**
 * Projector cost inside workerd: bundles bench/projector-worker.ts, runs it in workerd (Miniflare,
 * the runtime wrangler dev uses), times each stage over the long stream, and profiles the gateway's
 * real streaming path with the isolate's V8 sampling profiler.
 */
import { bundleWorker, selfTimes, startWorkerd, type SelfTimeRow } from "./lib/workerd";
import { median } from "./lib/stats";
import type { StageResult } from "./projector-worker";
import { LONG_STREAM, type WorkloadShape } from "./lib/workload";

export interface StageSummary {
  stage: string;
  chunk: number;
  events: number;
  inputBytes: number;
  outputSize: number;
  medianMs: number;
  minMs: number;
  runsMs: number[];
  usPerEvent: number;
  eventsPerSec: number;
}

export interface ProfileSummary {
  stage: string;
  totalMs: number;
  rows: SelfTimeRow[];
}

export interface MicroResult {
  shape: WorkloadShape;
  stages: StageSummary[];
  profiles: ProfileSummary[];
}

export interface MicroOptions {
  shape: WorkloadShape;
  reps: number;
  warmup: number;
  /** [stage, chunk bytes] pairs. */
  stages: Array<[string, number]>;
  profileStages: string[];
  log: (line: string) => void;
}

const P = ["responses", "chat", "anthropic"] as const;

export const DEFAULT_MICRO: MicroOptions = {
  shape: LONG_STREAM,
  reps: 5,
  warmup: 2,
  // 4 KiB: the size workerd hands a fetch body to JS in (measured against the emulator: every chunk of
  // a long stream is ≤ 4096 bytes). 16 KiB and 512 B show how the per-chunk cost scales.
  stages: [
    ["floor:utf8", 4096],
    ["floor:json", 4096],
    ["decode", 4096],
    ...P.map((p): [string, number] => [`project:${p}`, 4096]),
    ...P.map((p): [string, number] => [`decode+project:${p}`, 4096]),
    ["pipeline:decode", 4096],
    ...P.map((p): [string, number] => [`pipeline:${p}`, 4096]),
    // The blocking answers: the same stream folded into one JSON answer.
    ...P.map((p): [string, number] => [`blocking:${p}`, 4096]),
    ["decode", 16384],
    ...P.map((p): [string, number] => [`pipeline:${p}`, 16384]),
    ["decode", 512],
    ...P.map((p): [string, number] => [`pipeline:${p}`, 512]),
  ],
  profileStages: ["decode", "project:responses", "project:chat", "project:anthropic", "pipeline:responses", "pipeline:chat", "pipeline:anthropic"],
  log: (line) => console.log(line),
};

async function runStage(
  session: Awaited<ReturnType<typeof startWorkerd>>,
  stage: string,
  chunk: number,
  shape: WorkloadShape,
  reps: number,
  warmup: number,
): Promise<StageResult> {
  const query = new URLSearchParams({
    stage,
    chunk: String(chunk),
    reps: String(reps),
    warmup: String(warmup),
    reasoning: String(shape.reasoningDeltas),
    message: String(shape.messageDeltas),
  });
  const response = await session.fetch(`/bench?${query}`);
  const body = (await response.json()) as StageResult | { error: string };
  if ("error" in body) throw new Error(`stage ${stage}: ${body.error}`);
  return body;
}

export async function runMicro(options: MicroOptions = DEFAULT_MICRO): Promise<MicroResult> {
  const bundle = await bundleWorker("bench/projector-worker.ts");
  const session = await startWorkerd(bundle);
  try {
    const stages: StageSummary[] = [];
    for (const [stage, chunk] of options.stages) {
      const result = await runStage(session, stage, chunk, options.shape, options.reps, options.warmup);
      const medianMs = median(result.runsMs);
      const summary: StageSummary = {
        stage,
        chunk,
        events: result.events,
        inputBytes: result.inputBytes,
        outputSize: result.outputSize,
        medianMs,
        minMs: Math.min(...result.runsMs),
        runsMs: result.runsMs,
        usPerEvent: (medianMs * 1000) / result.events,
        eventsPerSec: (result.events * 1000) / medianMs,
      };
      stages.push(summary);
      options.log(`  ${stage.padEnd(26)} chunk ${String(chunk).padStart(5)}  ${summary.usPerEvent.toFixed(3)} µs/event  (runs ${result.runsMs.map((ms) => ms.toFixed(0)).join(", ")} ms)`);
    }
    const profiles: ProfileSummary[] = [];
    for (const stage of options.profileStages) {
      const { profile } = await session.profile(() => runStage(session, stage, 4096, options.shape, 2, 1));
      const { rows, totalMs } = selfTimes(profile, bundle, 12);
      profiles.push({ stage, totalMs, rows });
    }
    return { shape: options.shape, stages, profiles };
  } finally {
    await session.dispose();
  }
}
