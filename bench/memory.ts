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
 *
 * RSS counts garbage too: V8 lets dead objects pile up between major GCs (with no heap limit set
 * locally, to tens of MB at this allocation rate), so RSS alone cannot tell buffering from GC slack.
 * In the workerd runtime the isolate's inspector is therefore also asked (in a second run of the same
 * stream, so the snapshots' own allocations stay out of the RSS figures), every ~1 s while the
 * deltas stream, for the **live** JS heap (the objects in a heap snapshot, taken right after a full GC): a worker that
 * buffered the answer grows here; one that streams stays flat.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { MarkerScanner, oneRequest, requestFor, startGateway, startPassthrough, type RuntimeName, type TargetKind } from "./e2e";

import { startMiniflareGateway, startMiniflarePassthrough } from "./lib/miniflare-runtime";
import { liveHeapBytes, openInspector, type InspectorSession } from "./lib/workerd";

interface Subject {
  url: string;
  workerdPid: number;
  /** The worker isolate's inspector, when the runtime offers one to this benchmark (workerd). */
  inspectorUrl?: string | null;
  stop(): Promise<void>;
}
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
  /** Live JS heap of the isolate (after a full GC) just before the request; null without an inspector. */
  liveBaselineBytes: number | null;
  /** Largest live heap seen while deltas streamed, and how many times it was measured. */
  livePeakStreamingBytes: number | null;
  liveSamples: number;
  /** Largest live heap in the second half of the delta phase − largest in the first half. */
  liveSecondHalfGrowthBytes: number | null;
}

/** The first frame each protocol sends because of the native terminal event. */
const TERMINAL_PHASE: Record<TargetKind, string> = {
  native: "event: run.completed",
  responses: "event: response.output_text.done",
  chat: '"finish_reason":"stop"',
  anthropic: "event: message_delta",
};

/** See measureStream: live-heap samples this close to the terminal phase may hold native's terminal line. */
const TERMINAL_MARGIN_MS = 250;

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
  dev: { url: string; workerdPid: number; inspectorUrl?: string | null },
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
  // Live heap: one heap snapshot at a time, every ~1 s, until the terminal phase starts.
  const inspector: InspectorSession | null = dev.inspectorUrl ? await openInspector(dev.inspectorUrl) : null;
  const liveBaseline = inspector ? await liveHeapBytes(inspector) : null;
  const taken: Array<{ at: number; endAt: number; bytes: number }> = [];
  let requestDone = false;
  const liveLoop = (async () => {
    if (!inspector) return;
    while (!requestDone && !inTerminal) {
      const at = performance.now();
      const bytes = await liveHeapBytes(inspector);
      taken.push({ at, endAt: performance.now(), bytes });
      await sleep(700);
    }
  })();
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
  requestDone = true;
  await liveLoop;
  inspector?.close();
  agent.destroy();
  const answer = answerLength(shape);
  const phaseEnd = Math.min(terminalAt, streamingSamples[streamingSamples.length - 1]?.at ?? started);
  const midpoint = started + (phaseEnd - started) / 2;
  // Native's run.completed carries the whole answer (native-api.md §2.2): while its bytes arrive the
  // decoder holds that one line (8.5 MiB for 1M deltas here), before the client sees any terminal
  // frame. A snapshot that ended within TERMINAL_MARGIN_MS of the terminal phase may have caught it,
  // so it does not count as "while deltas stream".
  const liveSamples = taken.filter((s) => s.endAt <= terminalAt - TERMINAL_MARGIN_MS);
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
    liveBaselineBytes: liveBaseline,
    livePeakStreamingBytes: liveSamples.length > 0 ? Math.max(...liveSamples.map((s) => s.bytes)) : null,
    liveSamples: liveSamples.length,
    liveSecondHalfGrowthBytes: liveGrowthOverSecondHalf(liveSamples, midpoint),
  };
}

/** Peak of all live-heap samples − peak of those in the first half (null without one in each half). */
function liveGrowthOverSecondHalf(samples: ReadonlyArray<{ at: number; bytes: number }>, midpoint: number): number | null {
  const first = samples.filter((s) => s.at <= midpoint);
  if (first.length === 0 || first.length === samples.length) return null;
  return Math.max(...samples.map((s) => s.bytes)) - Math.max(...first.map((s) => s.bytes));
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
  const passthrough = (): Promise<Subject> => (wranglerDev ? startPassthrough(options.emulatorUrl, options.persistDir) : startMiniflarePassthrough(options.emulatorUrl, true));
  const gateway = (): Promise<Subject> =>
    wranglerDev ? startGateway(options.snapshot, options.emulatorUrl, options.persistDir) : startMiniflareGateway(options.snapshot, options.emulatorUrl, options.persistDir, true);
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
        // RSS first, with nobody talking to the inspector: a heap snapshot allocates in the process
        // and would show up as RSS. Then, when there is an inspector, the same stream again for the
        // live heap only.
        const rss = await measureStream(options.runtime, { url: dev.url, workerdPid: dev.workerdPid }, subject.name, subject.kind, shape, options.timeoutMs);
        let measurement = rss;
        if (dev.inspectorUrl) {
          await fetch(`${options.emulatorUrl}/__emulator/reset`, { method: "POST", body: "{}" }).then((r) => r.arrayBuffer());
          await sleep(1_500);
          const live = await measureStream(options.runtime, dev, subject.name, subject.kind, shape, options.timeoutMs);
          measurement = {
            ...rss,
            ok: rss.ok && live.ok,
            ...(rss.error ?? live.error ? { error: rss.error ?? live.error } : {}),
            liveBaselineBytes: live.liveBaselineBytes,
            livePeakStreamingBytes: live.livePeakStreamingBytes,
            liveSamples: live.liveSamples,
            liveSecondHalfGrowthBytes: live.liveSecondHalfGrowthBytes,
          };
        }
        out.push(measurement);
        options.log(
          `  [${options.runtime}] ${subject.name.padEnd(20)} ${String(measurement.deltas).padStart(8)} deltas: streaming +${(measurement.streamingGrowthBytes / 1048576).toFixed(1)} MiB, ` +
            `overall +${(measurement.overallGrowthBytes / 1048576).toFixed(1)} MiB, ${(measurement.totalMs / 1000).toFixed(1)} s` +
            (measurement.livePeakStreamingBytes !== null && measurement.liveBaselineBytes !== null
              ? `; live heap ${(measurement.liveBaselineBytes / 1048576).toFixed(1)} → peak ${(measurement.livePeakStreamingBytes / 1048576).toFixed(1)} MiB over ${measurement.liveSamples} GCs`
              : "") +
            (measurement.ok ? "" : `  ERROR ${measurement.error ?? ""}`),
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
