/**
 * End-to-end load driver on loopback: the same long native stream served
 *   (a) by the emulator directly,
 *   (b) through the reference pass-through worker (bench/passthrough-worker.ts, `wrangler dev`),
 *   (c) through the gateway (`wrangler dev` of src/index.ts → emulator) for each protocol, streaming;
 * at a few concurrencies, reporting requests/s, time to first body byte and total time (p50/p99),
 * plus the CPU each process spent per request (from /proc, so the cost can be attributed).
 *
 * The client is `node:http` with a keep-alive agent: the cheapest Node client, so the driver takes as
 * little of this small machine's CPU as possible. Every cell runs a fixed number of requests, each
 * with a timeout; nothing loops unbounded.
 *
 * Standalone: `npx tsx bench/e2e.ts [--runtime=workerd]` (prints the tables); `npm run bench` runs it as one phase.
 */
import http from "node:http";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { EMULATOR_KEYS } from "../emulator/script";
import { cpuMs, sleep, startEmulatorProcess, startWranglerDev, wrangler, type WranglerDev } from "./lib/proc";
import { median, percentile } from "./lib/stats";
import { emulatorDirective, LONG_STREAM, nativeEventCount, type WorkloadShape } from "./lib/workload";
import { ROOT } from "./lib/deps";
import { buildGatewaySnapshot, type GatewaySnapshot } from "./lib/snapshot";
import { startMiniflareGateway, startMiniflarePassthrough } from "./lib/miniflare-runtime";
import { TRANSLATING_FLOOR, TRANSLATING_FLOOR_FIRST } from "./lib/targets";

export type TargetKind = "native" | "responses" | "chat" | "anthropic";

export interface Target {
  /** Row label, e.g. `gateway · responses`. */
  name: string;
  kind: TargetKind;
  origin: string;
  /** The workerd running the worker (none for the emulator directly). */
  workerdPid: number | null;
  /** wrangler's dev proxy workerd in front of it (an extra loopback hop that pass-through and gateway share). */
  proxyPid: number | null;
  /** Headers added to every request of this target (the translating floor's mode). */
  headers?: Record<string, string>;
}

export interface RequestSpec {
  /** Default POST. */
  method?: string;
  path: string;
  headers: Record<string, string>;
  /** Empty: no body (GET, DELETE). */
  body: string;
  /** The body is complete only if this protocol's terminal marker appears in it. */
  terminal: string;
  /** The status a success answers with; default 200 (native's blocking create is a 201). */
  status?: number;
}

export interface RequestOptions {
  /** Default true: the SSE stream; false: the blocking answer. */
  stream?: boolean;
  /** Responses `store` (default: left out, which means true). */
  store?: boolean;
  /** Responses `previous_response_id`. */
  previousResponseId?: string;
}

/** An Anthropic max_tokens above every bench workload's answer (3M deltas ≈ 13M chars ≈ 3.3M counted tokens). */
const BENCH_MAX_TOKENS = 100_000_000;

/** The request each protocol's client sends for `prompt` (streamed unless `stream: false`). */
export function requestFor(kind: TargetKind, prompt: string, options: RequestOptions = {}): RequestSpec {
  const stream = options.stream ?? true;
  const bearer = { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" };
  switch (kind) {
    case "native":
      return stream
        ? {
            path: "/api/agent/v1/runs",
            headers: { ...bearer, accept: "text/event-stream" },
            body: JSON.stringify({ query: prompt, response_mode: "streaming" }),
            terminal: "event: run.completed",
          }
        : { path: "/api/agent/v1/runs", headers: bearer, body: JSON.stringify({ query: prompt, response_mode: "blocking" }), terminal: '"status":"succeeded"', status: 201 };
    case "responses": {
      const body: Record<string, unknown> = { model: "1flowbase", input: prompt };
      if (stream) body.stream = true;
      if (options.store !== undefined) body.store = options.store;
      if (options.previousResponseId) body.previous_response_id = options.previousResponseId;
      return { path: "/v1/responses", headers: bearer, body: JSON.stringify(body), terminal: stream ? "event: response.completed" : '"status":"completed"' };
    }
    case "chat":
      // What the OpenAI and Vercel AI SDKs send when they want usage (the common case).
      return stream
        ? {
            path: "/v1/chat/completions",
            headers: bearer,
            body: JSON.stringify({ model: "1flowbase", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: prompt }] }),
            terminal: "data: [DONE]",
          }
        : { path: "/v1/chat/completions", headers: bearer, body: JSON.stringify({ model: "1flowbase", messages: [{ role: "user", content: prompt }] }), terminal: '"finish_reason"' };
    case "anthropic":
      // max_tokens is required and enforced at the edge (src/protocols/anthropic/policy.ts: 4 chars a
      // token). 64,000 cut the long stream (~443K chars) at ~256K chars and the 1M-delta memory stream
      // at 6 %, and the cut answer still ended in message_stop, so those anthropic cells measured a
      // short stream. BENCH_MAX_TOKENS covers every workload here; the terminal marker is the
      // end_turn stop reason, which a cut answer (stop_reason "max_tokens") cannot produce.
      return {
        path: "/v1/messages",
        headers: { "x-api-key": EMULATOR_KEYS.demo, "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: JSON.stringify({ model: "1flowbase", max_tokens: BENCH_MAX_TOKENS, ...(stream ? { stream: true } : {}), messages: [{ role: "user", content: prompt }] }),
        terminal: '"stop_reason":"end_turn"',
      };
  }
}

/** Finds a byte string in a chunked body, including across chunk boundaries. */
export class MarkerScanner {
  private readonly marker: Buffer;
  private carry: Buffer = Buffer.alloc(0);
  found = false;

  constructor(marker: string) {
    this.marker = Buffer.from(marker, "utf8");
  }

  push(chunk: Buffer): boolean {
    if (this.found) return true;
    const keep = this.marker.length - 1;
    if (chunk.indexOf(this.marker) !== -1 || Buffer.concat([this.carry, chunk.subarray(0, keep)]).indexOf(this.marker) !== -1) {
      this.found = true;
      return true;
    }
    this.carry = Buffer.from(chunk.subarray(Math.max(0, chunk.length - keep)));
    return false;
  }
}

export interface Sample {
  ok: boolean;
  status: number;
  ttfbMs: number;
  totalMs: number;
  bytes: number;
  error?: string;
}

export interface StreamWatch {
  /** Called for every body chunk (memory sampling hooks in here). */
  onChunk?: (chunk: Buffer) => void;
}

/** One request, read to the end. Never rejects; a failure is `ok: false` with a reason. */
export function oneRequest(agent: http.Agent, origin: string, spec: RequestSpec, timeoutMs: number, watch: StreamWatch = {}): Promise<Sample> {
  const url = new URL(origin);
  return new Promise<Sample>((resolve) => {
    const started = performance.now();
    let ttfb = -1;
    let bytes = 0;
    let tail = "";
    let status = 0;
    const terminal = new MarkerScanner(spec.terminal);
    let settled = false;
    const settle = (sample: Sample): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(sample);
    };
    const fail = (error: string): void => settle({ ok: false, status, ttfbMs: ttfb, totalMs: performance.now() - started, bytes, error });
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: spec.method ?? "POST",
        path: spec.path,
        agent,
        headers: spec.body ? { ...spec.headers, "content-length": Buffer.byteLength(spec.body) } : spec.headers,
      },
      (response) => {
        status = response.statusCode ?? 0;
        response.on("data", (chunk: Buffer) => {
          if (ttfb < 0) ttfb = performance.now() - started;
          bytes += chunk.length;
          tail = (tail + chunk.toString("latin1", Math.max(0, chunk.length - 256))).slice(-256);
          terminal.push(chunk);
          watch.onChunk?.(chunk);
        });
        response.on("end", () => {
          const totalMs = performance.now() - started;
          if (status !== (spec.status ?? 200)) return fail(`HTTP ${status}: ${tail.slice(-200)}`);
          if (!terminal.found) return fail(`stream ended without ${spec.terminal}: …${tail.slice(-120)}`);
          settle({ ok: true, status, ttfbMs: ttfb, totalMs, bytes });
        });
        response.on("error", (error) => fail(String(error)));
        response.on("aborted", () => fail("response aborted (connection closed mid-body)"));
      },
    );
    const timer = setTimeout(() => {
      fail(`timed out after ${timeoutMs} ms`);
      request.destroy(new Error("timeout"));
    }, timeoutMs);
    request.on("error", (error) => fail(String(error)));
    if (spec.body) request.end(spec.body);
    else request.end();
  });
}

export interface CellResult {
  runtime: RuntimeName;
  target: string;
  kind: TargetKind;
  workload: "long" | "short";
  concurrency: number;
  requests: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  rps: number;
  /** Native events per second delivered (long workload). */
  eventsPerSec: number;
  ttfbP50: number;
  ttfbP99: number;
  totalP50: number;
  totalP99: number;
  bytesPerRequest: number;
  /** CPU milliseconds per request spent by the worker's workerd / wrangler's proxy workerd / the emulator / this driver. */
  cpuPerRequest: { workerd: number | null; proxy: number | null; emulator: number | null; driver: number };
}

export interface CellOptions {
  concurrency: number;
  requests: number;
  timeoutMs: number;
  emulatorPid: number;
  workload: "long" | "short";
  eventsPerRequest: number;
}

/** One batch of a cell: its samples, wall time and the CPU each process spent on it. */
export interface CellBatch {
  samples: Sample[];
  wallMs: number;
  cpuMs: { workerd: number | null; proxy: number | null; emulator: number | null; driver: number };
}

/** `requests` requests, `concurrency` at a time. */
export async function runBatch(target: Target, spec: RequestSpec, options: CellOptions): Promise<CellBatch> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const samples: Sample[] = [];
  let issued = 0;
  const cpuOf = (pid: number | null): number | null => (pid ? cpuMs(pid) : null);
  const cpu0 = { workerd: cpuOf(target.workerdPid), proxy: cpuOf(target.proxyPid), emulator: cpuMs(options.emulatorPid), driver: process.cpuUsage() };
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < options.requests) {
      issued++;
      samples.push(await oneRequest(agent, target.origin, spec, options.timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.requests) }, worker));
  const wallMs = performance.now() - started;
  const driverCpu = process.cpuUsage(cpu0.driver);
  const spent = (pid: number | null, before: number | null): number | null => (pid && before !== null ? (cpuMs(pid) ?? Number.NaN) - before : null);
  agent.destroy();
  return {
    samples,
    wallMs,
    cpuMs: {
      workerd: spent(target.workerdPid, cpu0.workerd),
      proxy: spent(target.proxyPid, cpu0.proxy),
      emulator: spent(options.emulatorPid, cpu0.emulator),
      driver: (driverCpu.user + driverCpu.system) / 1000,
    },
  };
}

/** A cell's figures from its batches (the rounds it ran in, interleaved with the other targets). */
export function summarizeCell(runtime: RuntimeName, target: Target, options: CellOptions, batches: readonly CellBatch[]): CellResult {
  const samples = batches.flatMap((batch) => batch.samples);
  const wallMs = batches.reduce((sum, batch) => sum + batch.wallMs, 0);
  const total = (pick: (batch: CellBatch) => number | null): number | null =>
    batches.some((batch) => pick(batch) === null) ? null : batches.reduce((sum, batch) => sum + (pick(batch) ?? 0), 0) / samples.length;
  const ok = samples.filter((sample) => sample.ok);
  const n = samples.length;
  return {
    runtime,
    target: target.name,
    kind: target.kind,
    workload: options.workload,
    concurrency: options.concurrency,
    requests: n,
    errors: n - ok.length,
    ...(samples.find((s) => !s.ok)?.error ? { firstError: samples.find((s) => !s.ok)?.error } : {}),
    wallMs,
    rps: (ok.length * 1000) / wallMs,
    eventsPerSec: (ok.length * options.eventsPerRequest * 1000) / wallMs,
    ttfbP50: percentile(ok.map((s) => s.ttfbMs), 50),
    ttfbP99: percentile(ok.map((s) => s.ttfbMs), 99),
    totalP50: percentile(ok.map((s) => s.totalMs), 50),
    totalP99: percentile(ok.map((s) => s.totalMs), 99),
    bytesPerRequest: median(ok.map((s) => s.bytes)),
    cpuPerRequest: {
      workerd: total((batch) => batch.cpuMs.workerd),
      proxy: total((batch) => batch.cpuMs.proxy),
      emulator: total((batch) => batch.cpuMs.emulator),
      driver: total((batch) => batch.cpuMs.driver) ?? 0,
    },
  };
}

/**
 * Rounds a cell's requests are split into, each round running every target in turn, so a change in
 * the machine's load (a shared 2-core VM drifts ±30 % within minutes) hits all targets alike instead of
 * whichever cell ran then. A round keeps at least `concurrency` requests, so c stays what it says.
 */
export function roundsFor(requests: number, concurrency: number): number {
  return Math.max(1, Math.min(4, Math.floor(requests / concurrency)));
}

// ---------------------------------------------------------------------------------------------
// The environment: emulator + pass-through + gateway
// ---------------------------------------------------------------------------------------------

/** A worker under test, however it is run. */
export interface WorkerHandle {
  url: string;
  workerdPid: number;
  /** wrangler dev's proxy workerd (its devtools side channel costs CPU too), null without wrangler dev. */
  proxyPid: number | null;
  stop(): Promise<void>;
}

export type RuntimeName = "wrangler dev" | "workerd, no devtools";

export interface E2eEnvironment {
  runtime: RuntimeName;
  emulator: { url: string; pid: number; stop(): Promise<void> };
  passthrough: WorkerHandle;
  /** bench/translating-floor-worker.ts (workerd only): what any translating worker pays, next to the pass-through. */
  floor: WorkerHandle | null;
  gateway: WorkerHandle;
  persistDir: string;
  /** wrangler dev launch → first 200 (only for the wrangler dev runtime). */
  readyMs: { gateway: number; passthrough: number } | null;
  stop(): Promise<void>;
}

/** Applies the gateway's local D1 migrations into `persistDir` (so Responses can claim ids). */
export function migrateLocalD1(snapshot: GatewaySnapshot, persistDir: string): void {
  const result = wrangler(["d1", "migrations", "apply", "RESPONSE_INDEX", "--local", "--persist-to", persistDir, "--config", snapshot.config]);
  if (result.status !== 0) throw new Error(`D1 migrations failed:\n${result.output}`);
}

/** The gateway snapshot under `wrangler dev`, pointed at the emulator, request log off. */
export async function startGateway(snapshot: GatewaySnapshot, emulatorUrl: string, persistDir: string): Promise<WranglerDev> {
  return startWranglerDev({
    config: snapshot.config,
    vars: { NATIVE_API_BASE_URL: emulatorUrl, LOG_LEVEL: "off" },
    persistTo: persistDir,
    readyPath: "/healthz",
  });
}

export async function startPassthrough(emulatorUrl: string, persistDir: string): Promise<WranglerDev> {
  return startWranglerDev({
    config: path.join(ROOT, "bench", "wrangler.passthrough.toml"),
    vars: { NATIVE_API_BASE_URL: emulatorUrl },
    persistTo: persistDir,
    readyPath: "/__ready",
  });
}

export async function startE2eEnvironment(snapshot: GatewaySnapshot, runtime: RuntimeName = "wrangler dev"): Promise<E2eEnvironment> {
  const persistDir = mkdtempSync(path.join(os.tmpdir(), "bench-wrangler-"));
  const emulator = await startEmulatorProcess();
  const started: Array<{ stop(): Promise<void> }> = [emulator];
  try {
    migrateLocalD1(snapshot, persistDir);
    let passthrough: WorkerHandle;
    let floor: WorkerHandle | null = null;
    let gateway: WorkerHandle;
    let readyMs: E2eEnvironment["readyMs"] = null;
    if (runtime === "wrangler dev") {
      const devPassthrough = await startPassthrough(emulator.url, persistDir);
      started.push(devPassthrough);
      const devGateway = await startGateway(snapshot, emulator.url, persistDir);
      started.push(devGateway);
      passthrough = devPassthrough;
      gateway = devGateway;
      readyMs = { gateway: devGateway.readyMs, passthrough: devPassthrough.readyMs };
    } else {
      const mfPassthrough = await startMiniflarePassthrough(emulator.url);
      started.push(mfPassthrough);
      const mfGateway = await startMiniflareGateway(snapshot, emulator.url, persistDir);
      started.push(mfGateway);
      const mfFloor = await startMiniflarePassthrough(emulator.url, false, "bench/translating-floor-worker.ts");
      started.push(mfFloor);
      passthrough = { ...mfPassthrough, proxyPid: null };
      floor = { ...mfFloor, proxyPid: null };
      gateway = { ...mfGateway, proxyPid: null };
    }
    return {
      runtime,
      emulator,
      passthrough,
      floor,
      gateway,
      persistDir,
      readyMs,
      stop: async () => {
        for (const process of started.reverse()) await process.stop();
      },
    };
  } catch (error) {
    for (const process of started.reverse()) await process.stop();
    throw error;
  }
}

/** Drops the emulator's run records (a long answer is kept per run) between cells. */
export async function resetEmulator(url: string): Promise<void> {
  const response = await fetch(`${url}/__emulator/reset`, { method: "POST", body: "{}", signal: AbortSignal.timeout(10_000) });
  await response.arrayBuffer();
}

export interface E2eOptions {
  concurrencies: number[];
  /** Requests per long-stream cell, by concurrency. */
  longRequests: (concurrency: number) => number;
  shortRequests: (concurrency: number) => number;
  shortConcurrencies: number[];
  shape: WorkloadShape;
  timeoutMs: number;
  log: (line: string) => void;
}

export const DEFAULT_E2E: E2eOptions = {
  concurrencies: [1, 8, 32],
  // c = 32: two rounds (64 requests), not one. With one round a cell was one wave of 32 requests per
  // target in a fixed order, and the cell that missed was a different protocol in every run. c = 1:
  // 24 requests, not 8 — its TTFB p50 is the "94 KB request" budget, and of 8 samples it moved
  // between +1.27 and +2.91 ms for chat in two runs of the same path (bench/FINDINGS.md, session 13).
  longRequests: (c) => (c === 1 ? 24 : c === 8 ? 16 : c * 2),
  shortRequests: (c) => Math.max(200, c * 50),
  shortConcurrencies: [1, 8],
  shape: LONG_STREAM,
  timeoutMs: 300_000,
  log: (line) => console.log(line),
};

export interface E2eResult {
  cells: CellResult[];
  shape: WorkloadShape;
  wranglerReadyMs: { gateway: number; passthrough: number } | null;
}

function withHeaders(spec: RequestSpec, headers: Record<string, string> | undefined): RequestSpec {
  return headers ? { ...spec, headers: { ...spec.headers, ...headers } } : spec;
}

export async function runE2E(env: E2eEnvironment, options: E2eOptions = DEFAULT_E2E): Promise<E2eResult> {
  const longPrompt = emulatorDirective(options.shape);
  const shortPrompt = "Hello!";
  const targets: Target[] = [
    { name: "emulator direct", kind: "native", origin: env.emulator.url, workerdPid: null, proxyPid: null },
    { name: "pass-through worker", kind: "native", origin: env.passthrough.url, workerdPid: env.passthrough.workerdPid, proxyPid: env.passthrough.proxyPid },
    // The least any translating worker pays (translating-floor-worker.ts), in the chat/Messages shape
    // and in the Responses shape (first event before the Response): what the TTFB budgets sit on.
    ...(env.floor
      ? (["translate", "translate-first"] as const).map((mode): Target => ({
          name: mode === "translate" ? TRANSLATING_FLOOR : TRANSLATING_FLOOR_FIRST,
          kind: "native",
          origin: env.floor?.url ?? "",
          workerdPid: env.floor?.workerdPid ?? null,
          proxyPid: null,
          headers: { "x-bench-mode": mode },
        }))
      : []),
    { name: "gateway · responses", kind: "responses", origin: env.gateway.url, workerdPid: env.gateway.workerdPid, proxyPid: env.gateway.proxyPid },
    { name: "gateway · chat", kind: "chat", origin: env.gateway.url, workerdPid: env.gateway.workerdPid, proxyPid: env.gateway.proxyPid },
    { name: "gateway · anthropic", kind: "anthropic", origin: env.gateway.url, workerdPid: env.gateway.workerdPid, proxyPid: env.gateway.proxyPid },
  ];
  const cells: CellResult[] = [];
  const events = nativeEventCount(options.shape);

  // Warm-up: JIT, connection pools, the D1 database file.
  for (const target of targets) {
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 3; i++) await oneRequest(agent, target.origin, withHeaders(requestFor(target.kind, shortPrompt), target.headers), 30_000);
    const warm = await oneRequest(agent, target.origin, withHeaders(requestFor(target.kind, longPrompt), target.headers), options.timeoutMs);
    if (!warm.ok) throw new Error(`warm-up of ${target.name} failed: ${warm.error ?? "unknown"}`);
    agent.destroy();
  }
  await resetEmulator(env.emulator.url);

  /** One (workload, concurrency) cell for every target, in interleaved rounds. */
  const runInterleaved = async (workload: "long" | "short", concurrency: number, requests: number): Promise<void> => {
    const rounds = roundsFor(requests, concurrency);
    const cellOptions = (n: number): CellOptions => ({
      concurrency,
      requests: n,
      timeoutMs: options.timeoutMs,
      emulatorPid: env.emulator.pid,
      workload,
      eventsPerRequest: workload === "long" ? events : 0,
    });
    const batches = new Map<Target, CellBatch[]>(targets.map((target) => [target, []]));
    for (let round = 0; round < rounds; round++) {
      // The last round takes the remainder, so every cell runs exactly `requests`.
      const n = round < rounds - 1 ? Math.floor(requests / rounds) : requests - Math.floor(requests / rounds) * (rounds - 1);
      // Every other round in reverse (A B C D E, E D C B A, …): a load that drifts through the cell
      // falls on every target alike instead of on the last ones of a fixed order.
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const spec = withHeaders(requestFor(target.kind, workload === "long" ? longPrompt : shortPrompt), target.headers);
        batches.get(target)?.push(await runBatch(target, spec, cellOptions(n)));
        await resetEmulator(env.emulator.url);
        await sleep(workload === "long" ? 300 : 100);
      }
    }
    for (const target of targets) {
      const cell = summarizeCell(env.runtime, target, cellOptions(requests), batches.get(target) ?? []);
      cells.push(cell);
      options.log(
        `  [${env.runtime}] ${workload} c=${concurrency} ${target.name.padEnd(20)} ${cell.rps.toFixed(2)} req/s  ttfb p50 ${cell.ttfbP50.toFixed(2)} ms  total p50 ${cell.totalP50.toFixed(1)} ms` +
          (cell.errors ? `  ERRORS ${cell.errors}: ${cell.firstError ?? ""}` : ""),
      );
    }
  };

  for (const concurrency of options.concurrencies) await runInterleaved("long", concurrency, options.longRequests(concurrency));
  for (const concurrency of options.shortConcurrencies) await runInterleaved("short", concurrency, options.shortRequests(concurrency));
  return { cells, shape: options.shape, wranglerReadyMs: env.readyMs };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `--runtime=workerd` measures only the runtime without devtools (half the time).
  const runtimeArg = process.argv.find((a) => a.startsWith("--runtime="))?.split("=")[1];
  const runtime: RuntimeName = runtimeArg === "workerd" ? "workerd, no devtools" : "wrangler dev";
  const env = await startE2eEnvironment(buildGatewaySnapshot(), runtime);
  try {
    const result = await runE2E(env);
    console.table(result.cells.map((c) => ({ ...c, cpuPerRequest: JSON.stringify(c.cpuPerRequest) })));
  } finally {
    await env.stop();
  }
}
