/**
 * `npm run test:load`: 200 concurrent streaming requests through the real dev stack (issue 7, "Load").
 *
 *   1. applies the D1 migrations into a temporary `--persist-to` directory, starts the embedded
 *      1flowbase emulator (its own process) and `wrangler dev` on free loopback ports;
 *   2. fires ROUNDS bursts of LOAD_REQUESTS (default 200) concurrent streaming requests, mixed across
 *      Responses, Chat Completions and Anthropic Messages, each a scripted run of its own length and
 *      pace whose answer is a per-request nonce repeated N times;
 *   3. checks every stream with the same strict wire readers as the test suite
 *      (test/reliability/protocols.ts): well-formed frames, exactly one terminal event, a successful
 *      end — and that the accumulated text is exactly that request's own (no cross-talk);
 *   4. samples the VmRSS of the workerd running the worker every 50 ms: the peak under load must stay
 *      within LOAD_MAX_GROWTH_MB of the idle baseline. (workerd's RSS creeps up per burst and is not
 *      returned to the OS — a pure pass-through worker shows ~20 MB per 200-stream round as well — so
 *      the per-round level is reported, and bounded through the peak, not required to shrink.);
 *   5. prints a summary and exits non-zero on any failure. Everything has a deadline; loopback only.
 *
 * Run it on a quiet machine: workerd is single-threaded, and with other heavy processes on the same
 * cores (a benchmark, a test suite) streams wait for CPU and latencies stretch to the request timeout.
 *
 * Requests go to the worker's own entry socket in the runtime workerd (`dev.url` of bench/lib/proc.ts),
 * as `npm run bench` does; LOAD_VIA_PROXY=1 sends them through wrangler's public port (its dev proxy)
 * instead. Nothing here attaches devtools: while a devtools client is attached, wrangler enables the
 * Network domain and workerd reports every fetch body to it, which distorts a load test badly.
 *
 * Knobs (env): LOAD_REQUESTS (200), LOAD_ROUNDS (3), LOAD_MAX_GROWTH_MB (384), LOAD_VIA_PROXY.
 * Linux only (RSS and CPU from /proc).
 */
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { cpuMs, rssBytes, sleep, startEmulatorProcess, startWranglerDev, wrangler, type WranglerDev } from "../bench/lib/proc";
import { ROOT } from "../bench/lib/deps";
import { EMULATOR_KEYS, emu } from "../emulator/script";
import { PROTOCOLS, type ProtocolCase } from "../test/reliability/protocols";

const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 200);
const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 3);
const MAX_GROWTH_MB = Number(process.env.LOAD_MAX_GROWTH_MB ?? 384);
/** One request may take this long; the whole script this long (setup included). */
const REQUEST_TIMEOUT_MS = 60_000;
const SCRIPT_DEADLINE_MS = 10 * 60_000;
const MB = 1024 * 1024;

interface Job {
  index: number;
  protocol: ProtocolCase;
  /** The answer this request must get back, and nothing else. */
  expected: string;
  body: Record<string, unknown>;
}

interface Result {
  job: Job;
  ok: boolean;
  error?: string;
  ms: number;
  ttfbMs: number;
  bytes: number;
  frames: number;
}

/**
 * Request `index` of a round: protocol by index, a unique nonce, a length between 1 and 240 deltas
 * and a pace between 0 and 6 ms per delta, so streams of very different lengths overlap.
 */
function job(round: number, index: number): Job {
  const protocol = PROTOCOLS[index % PROTOCOLS.length] as ProtocolCase;
  const nonce = `r${round}i${index}x${Math.random().toString(36).slice(2, 8)}`;
  const repeat = 1 + ((index * 37) % 240);
  const piece = `${nonce};`;
  const script = { text: [piece], repeat, delta_delay_ms: index % 7, ...(index % 5 === 0 ? { reasoning: [`thinking about ${nonce}`] } : {}) };
  return { index, protocol, expected: piece.repeat(repeat), body: protocol.body(emu(script, `load ${nonce}`), true) };
}

/**
 * One POST on its own connection (`agent: false` → `Connection: close`): a pooled keep-alive
 * connection that the server closes while the next burst reuses it fails with "socket hang up",
 * a client-pool artefact that would hide what this test is about.
 */
function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string; ttfbMs: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) }, agent: false, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const ttfbMs = performance.now() - started;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), ttfbMs }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on("error", reject);
    request.end(body);
  });
}

async function run(gateway: string, item: Job): Promise<Result> {
  const started = performance.now();
  let ttfbMs = 0;
  const fail = (error: string, bytes = 0, frames = 0): Result => ({ job: item, ok: false, error, ms: performance.now() - started, ttfbMs, bytes, frames });
  try {
    const response = await post(
      `${gateway}${item.protocol.path}`,
      { "content-type": "application/json", ...item.protocol.auth(EMULATOR_KEYS.demo) },
      JSON.stringify(item.body),
    );
    ttfbMs = response.ttfbMs;
    const { text } = response;
    if (response.status !== 200) return fail(`HTTP ${response.status}: ${text.slice(0, 200)}`, text.length);
    const outcome = item.protocol.readStream(text);
    if (outcome.kind !== "success") return fail(`stream ended with error ${outcome.error}`, text.length, outcome.frames);
    if (outcome.text !== item.expected) {
      const foreign = /r\d+i\d+x[0-9a-z]+/.exec(outcome.text.replaceAll(item.expected.split(";")[0] ?? "", ""))?.[0];
      return fail(
        `content mismatch: ${outcome.text.length} chars, expected ${item.expected.length}${foreign ? ` — contains another request's nonce ${foreign}` : ""}`,
        text.length,
        outcome.frames,
      );
    }
    return { job: item, ok: true, ms: performance.now() - started, ttfbMs, bytes: text.length, frames: outcome.frames };
  } catch (error) {
    return fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

/** Median of a few RSS samples (a single sample catches GC mid-flight). */
async function restingRss(pid: number): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < 10; i++) {
    values.push(rssBytes(pid) ?? Number.NaN);
    await sleep(50);
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? Number.NaN;
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

async function main(): Promise<number> {
  if (process.platform !== "linux") {
    console.error("test:load samples RSS from /proc: Linux only");
    return 2;
  }
  const persistDir = mkdtempSync(path.join(os.tmpdir(), "gateway-load-"));
  let emulator: Awaited<ReturnType<typeof startEmulatorProcess>> | undefined;
  let dev: WranglerDev | undefined;
  try {
    console.log(`[load] migrations → ${persistDir}`);
    const migrate = wrangler(["d1", "migrations", "apply", "RESPONSE_INDEX", "--local", "--persist-to", persistDir, "--config", path.join(ROOT, "wrangler.toml")]);
    if (migrate.status !== 0) throw new Error(`D1 migrations failed:\n${migrate.output}`);
    emulator = await startEmulatorProcess();
    console.log(`[load] emulator ${emulator.url}`);
    dev = await startWranglerDev({
      config: path.join(ROOT, "wrangler.toml"),
      vars: { NATIVE_API_BASE_URL: emulator.url, LOG_LEVEL: "off" },
      persistTo: persistDir,
      readyPath: "/healthz",
    });
    const workerPid = dev.workerdPid;
    const target = process.env.LOAD_VIA_PROXY === "1" ? dev.proxyUrl : dev.url;
    console.log(`[load] wrangler dev ${dev.proxyUrl} (ready in ${dev.readyMs} ms); requests go to ${target === dev.url ? "the worker's own entry socket" : "its dev proxy"} ${target} (runtime workerd pid ${workerPid})`);

    // Warm-up: one request per protocol, so the baseline is a worker that has served traffic.
    for (const [index, protocol] of PROTOCOLS.entries()) {
      const warm = await run(target, job(0, index));
      if (!warm.ok) throw new Error(`warm-up ${protocol.name} failed: ${warm.error}`);
    }
    const baseline = await restingRss(workerPid);
    console.log(`[load] worker RSS at rest: ${mb(baseline)}\n`);

    const failures: Result[] = [];
    const rounds: Array<{ peak: number; after: number; ms: number; results: Result[] }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const jobs = Array.from({ length: REQUESTS }, (_, index) => job(round, index));
      let peak = rssBytes(workerPid) ?? 0;
      let sampling = true;
      const pid = workerPid;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, rssBytes(pid) ?? 0);
          await sleep(50);
        }
      })();
      const started = performance.now();
      const cpuBefore = [cpuMs(workerPid) ?? 0, cpuMs(emulator.pid) ?? 0];
      const results = await Promise.all(jobs.map((item) => run(target, item)));
      const ms = performance.now() - started;
      const cpu = [(cpuMs(workerPid) ?? 0) - (cpuBefore[0] ?? 0), (cpuMs(emulator.pid) ?? 0) - (cpuBefore[1] ?? 0)];
      sampling = false;
      await sampler;
      const after = await restingRss(workerPid);
      rounds.push({ peak, after, ms, results });
      failures.push(...results.filter((result) => !result.ok));

      const ok = results.filter((result) => result.ok);
      const byProtocol = PROTOCOLS.map((protocol) => {
        const mine = results.filter((result) => result.job.protocol === protocol);
        return `${protocol.name} ${mine.filter((result) => result.ok).length}/${mine.length}`;
      }).join(", ");
      console.log(
        `[load] round ${round}: ${ok.length}/${results.length} ok (${byProtocol}) in ${(ms / 1000).toFixed(2)} s · ` +
          `latency p50 ${percentile(results.map((r) => r.ms), 50).toFixed(0)} ms, p95 ${percentile(results.map((r) => r.ms), 95).toFixed(0)} ms, max ${Math.max(...results.map((r) => r.ms)).toFixed(0)} ms · ` +
          `TTFB p50 ${percentile(results.map((r) => r.ttfbMs), 50).toFixed(0)} ms · ` +
          `${(results.reduce((n, r) => n + r.bytes, 0) / MB).toFixed(1)} MB SSE, ${results.reduce((n, r) => n + r.frames, 0)} frames · ` +
          `RSS peak ${mb(peak)} (+${mb(peak - baseline)}), after ${mb(after)} · ` +
          `CPU worker ${(cpu[0] ?? 0).toFixed(0)} ms, emulator ${(cpu[1] ?? 0).toFixed(0)} ms`,
      );
    }

    const problems: string[] = [];
    for (const failure of failures.slice(0, 20)) problems.push(`request ${failure.job.index} (${failure.job.protocol.name}): ${failure.error}`);
    if (failures.length > 20) problems.push(`… and ${failures.length - 20} more failed requests`);
    const worstPeak = Math.max(...rounds.map((round) => round.peak));
    if (worstPeak - baseline > MAX_GROWTH_MB * MB) problems.push(`RSS grew ${mb(worstPeak - baseline)} under load (limit ${MAX_GROWTH_MB} MB)`);

    console.log(
      `\n[load] summary: ${ROUNDS} × ${REQUESTS} concurrent streams, ${ROUNDS * REQUESTS - failures.length} ok, ${failures.length} failed · ` +
        `RSS ${mb(baseline)} idle, worst peak ${mb(worstPeak)} (+${mb(worstPeak - baseline)}), after each round ${rounds.map((round) => mb(round.after)).join(" / ")}`,
    );
    if (problems.length > 0) {
      console.error(`\n[load] FAILED:\n  ${problems.join("\n  ")}`);
      return 1;
    }
    console.log("[load] PASSED: every stream well-formed, one terminal each, its own content only; RSS bounded");
    return 0;
  } finally {
    await dev?.stop();
    await emulator?.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
}

const deadline = setTimeout(() => {
  console.error(`[load] FAILED: still running after ${SCRIPT_DEADLINE_MS / 1000} s`);
  process.exit(1);
}, SCRIPT_DEADLINE_MS);
deadline.unref();

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[load] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
