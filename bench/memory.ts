/**
 * Memory of the worker while it streams a 10k-delta and a 1M-delta answer through the gateway.
 *
 * "The worker" is the workerd process wrangler dev runs the gateway in (not wrangler's proxy). Its
 * VmRSS is sampled every few milliseconds from /proc while the client reads the stream, and reported
 * as peak minus the baseline taken just before the request (after a warm-up), in two phases:
 * - while deltas stream (until the client sees the first frame the native terminal event causes):
 *   this must not grow with stream length — that is the "no buffering" check;
 * - including the terminal: native's `run.completed` carries the whole answer (native-api.md §2.2) and
 *   the Responses terminal events repeat it, so that phase grows with the answer by contract.
 * Each protocol gets a fresh gateway process so one measurement's heap does not hide the next.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { MarkerScanner, oneRequest, requestFor, startGateway, startPassthrough, type RuntimeName, type TargetKind } from "./e2e";

interface Subject {
  url: string;
  workerdPid: number;
  stop(): Promise<void>;
}
import { startMiniflareGateway, startMiniflarePassthrough } from "./lib/miniflare-runtime";
import { rssBytes, sleep } from "./lib/proc";
import type { GatewaySnapshot } from "./lib/snapshot";
import { median } from "./lib/stats";
import { answerLength, emulatorDirective, type WorkloadShape } from "./lib/workload";

export interface MemoryMeasurement {
  runtime: RuntimeName;
  target: string;
  kind: TargetKind;
  deltas: number;
  answerChars: number;
  ok: boolean;
  error?: string;
  totalMs: number;
  baselineBytes: number;
  /** Peak − baseline while deltas streamed. */
  streamingGrowthBytes: number;
  /** Peak − baseline over the whole request, terminal included. */
  overallGrowthBytes: number;
  /**
   * Growth during the second half of the delta phase (peak of the whole phase − peak of its first
   * half, by time): a buffering worker keeps growing here, GC headroom levels off.
   */
  secondHalfGrowthBytes: number;
  samples: number;
}

/** The first frame each protocol sends because of the native terminal event. */
const TERMINAL_PHASE: Record<TargetKind, string> = {
  native: "event: run.completed",
  responses: "event: response.output_text.done",
  chat: '"finish_reason":"stop"',
  anthropic: "event: message_delta",
};

export const MEMORY_SIZES: readonly WorkloadShape[] = [
  { reasoningDeltas: 0, messageDeltas: 10_000 },
  { reasoningDeltas: 0, messageDeltas: 1_000_000 },
];

async function baseline(pid: number): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < 20; i++) {
    values.push(rssBytes(pid) ?? Number.NaN);
    await sleep(25);
  }
  return median(values);
}

/** One streamed request with RSS sampling. */
export async function measureStream(
  runtime: RuntimeName,
  dev: { url: string; workerdPid: number },
  target: string,
  kind: TargetKind,
  shape: WorkloadShape,
  timeoutMs: number,
): Promise<MemoryMeasurement> {
  const pid = dev.workerdPid;
  const agent = new http.Agent({ keepAlive: false });
  const base = await baseline(pid);
  let streamingPeak = base;
  let overallPeak = base;
  let inTerminal = false;
  let terminalAt = Number.POSITIVE_INFINITY;
  let samples = 0;
  const streamingSamples: Array<{ at: number; rss: number }> = [];
  const sample = (): void => {
    const rss = rssBytes(pid);
    if (rss === null) return;
    samples++;
    if (rss > overallPeak) overallPeak = rss;
    if (!inTerminal) {
      if (rss > streamingPeak) streamingPeak = rss;
      streamingSamples.push({ at: performance.now(), rss });
    }
  };
  const timer = setInterval(sample, 5);
  const scanner = new MarkerScanner(TERMINAL_PHASE[kind]);
  const started = performance.now();
  const result = await oneRequest(agent, dev.url, requestFor(kind, emulatorDirective(shape)), timeoutMs, {
    onChunk: (chunk) => {
      sample();
      if (!inTerminal && scanner.push(chunk)) {
        inTerminal = true;
        terminalAt = performance.now();
      }
    },
  });
  // The terminal's allocations may peak just after the last byte left.
  for (let i = 0; i < 20; i++) {
    sample();
    await sleep(5);
  }
  clearInterval(timer);
  agent.destroy();
  const answer = answerLength(shape);
  const phaseEnd = Math.min(terminalAt, streamingSamples[streamingSamples.length - 1]?.at ?? started);
  const midpoint = started + (phaseEnd - started) / 2;
  const firstHalfPeak = streamingSamples.filter((s) => s.at <= midpoint).reduce((peak, s) => Math.max(peak, s.rss), base);
  return {
    runtime,
    target,
    kind,
    deltas: shape.reasoningDeltas + shape.messageDeltas,
    answerChars: answer.reasoning + answer.message,
    ok: result.ok,
    ...(result.error ? { error: result.error } : {}),
    totalMs: performance.now() - started,
    baselineBytes: base,
    streamingGrowthBytes: streamingPeak - base,
    overallGrowthBytes: overallPeak - base,
    secondHalfGrowthBytes: streamingPeak - firstHalfPeak,
    samples,
  };
}

export interface MemoryOptions {
  runtime: RuntimeName;
  snapshot: GatewaySnapshot;
  emulatorUrl: string;
  persistDir: string;
  sizes: readonly WorkloadShape[];
  timeoutMs: number;
  log: (line: string) => void;
}

export async function runMemory(options: MemoryOptions): Promise<MemoryMeasurement[]> {
  const out: MemoryMeasurement[] = [];
  const wranglerDev = options.runtime === "wrangler dev";
  const passthrough = (): Promise<Subject> => (wranglerDev ? startPassthrough(options.emulatorUrl, options.persistDir) : startMiniflarePassthrough(options.emulatorUrl));
  const gateway = (): Promise<Subject> =>
    wranglerDev ? startGateway(options.snapshot, options.emulatorUrl, options.persistDir) : startMiniflareGateway(options.snapshot, options.emulatorUrl, options.persistDir);
  const subjects: Array<{ name: string; kind: TargetKind; start: () => Promise<Subject> }> = [
    { name: "pass-through worker", kind: "native", start: passthrough },
    { name: "gateway · responses", kind: "responses", start: gateway },
    { name: "gateway · chat", kind: "chat", start: gateway },
    { name: "gateway · anthropic", kind: "anthropic", start: gateway },
  ];
  for (const subject of subjects) {
    const dev = await subject.start();
    try {
      // Warm-up: code compiled, pools and the D1 file open, before any baseline is taken.
      const agent = new http.Agent({ keepAlive: false });
      for (let i = 0; i < 3; i++) await oneRequest(agent, dev.url, requestFor(subject.kind, "Hello!"), 30_000);
      await oneRequest(agent, dev.url, requestFor(subject.kind, emulatorDirective({ reasoningDeltas: 0, messageDeltas: 1_600 })), 60_000);
      agent.destroy();
      await sleep(1_000);
      for (const shape of options.sizes) {
        const measurement = await measureStream(options.runtime, dev, subject.name, subject.kind, shape, options.timeoutMs);
        out.push(measurement);
        options.log(
          `  [${options.runtime}] ${subject.name.padEnd(20)} ${String(measurement.deltas).padStart(8)} deltas: streaming +${(measurement.streamingGrowthBytes / 1048576).toFixed(1)} MiB, ` +
            `overall +${(measurement.overallGrowthBytes / 1048576).toFixed(1)} MiB, ${(measurement.totalMs / 1000).toFixed(1)} s${measurement.ok ? "" : `  ERROR ${measurement.error ?? ""}`}`,
        );
        await fetch(`${options.emulatorUrl}/__emulator/reset`, { method: "POST", body: "{}" }).then((r) => r.arrayBuffer());
        await sleep(1_500);
      }
    } finally {
      await dev.stop();
    }
  }
  return out;
}
