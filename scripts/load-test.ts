/**
 * `npm run test:load`: 200 concurrent streaming requests through the real dev stack (issue 7, "Load").
 *
 *   1. builds the worker once (`wrangler deploy --dry-run`, bench/lib/snapshot.ts: `wrangler dev` on
 *      src/ reloads the worker whenever a file changes, which cuts every in-flight stream), applies the
 *      D1 migrations into a temporary `--persist-to` directory and starts the embedded 1flowbase
 *      emulator in its own process; everything on loopback, on free ports;
 *   2. under `wrangler dev`: first one burst of LOAD_PROXY_REQUESTS (25) through its public port (the
 *      dev proxy `npm run dev` users talk to), with the proxy workerd's and wrangler node's peak open
 *      fds — what local dev holds, far less than the worker (README "Local load", issue 17 item 9);
 *      then LOAD_ROUNDS bursts of LOAD_REQUESTS (default 3 × 200) concurrent streaming requests to the
 *      runtime workerd's own entry socket (the worker, without the proxy), mixed across Responses,
 *      Chat Completions and Anthropic Messages, each a scripted run
 *      of its own length (1–240 deltas) and pace whose answer is a per-request nonce repeated N times;
 *   3. checks every stream with the same strict wire readers as the test suite
 *      (test/reliability/protocols.ts): well-formed frames, exactly one terminal event, a successful
 *      end — and that the accumulated text is exactly that request's own (no cross-talk);
 *   4. samples the VmRSS of the workerd running the worker every 50 ms; the peak must stay within
 *      LOAD_MAX_GROWTH_MB of the idle baseline;
 *   5. repeats the bursts (LOAD_PLATEAU_ROUNDS, default 6) on the same build in plain workerd through
 *      Miniflare — no wrangler devtools side channel — and checks for a leak where a leak lives: the
 *      isolate's live JS heap (the objects of a heap snapshot, taken right after a full GC) after the
 *      first round and after the last may differ by at most LOAD_LIVE_LEAK_MB (1 MB over 1,000 requests:
 *      a 1 KB-per-request leak trips it). RSS is reported too, with its growth per round over the second
 *      half, but it is not the verdict: it counts garbage V8 keeps between major GCs, and how fast the
 *      heap settles moves with the allocation rate (after session 3's write window RSS still rose
 *      ~16 MB per round at rounds 3–6 and ~3 MB per round at 7–12, while the live heap stayed at
 *      4.9–5.0 MB — bench/stream-profile.ts --live-heap-rounds). Under wrangler dev RSS keeps creeping up
 *      by ~30 MB per round, a pure pass-through worker's too (wrangler's devtools connection to the
 *      runtime, bench/FINDINGS.md); no leak verdict there.
 *   6. prints a summary and exits non-zero on any failure. Every request and the whole run have deadlines.
 *
 * Requests go to the worker's own entry socket in wrangler's runtime workerd (`dev.url` of
 * bench/lib/proc.ts), as `npm run bench` does; LOAD_VIA_PROXY=1 sends them through wrangler's public
 * port (its dev proxy) instead. Nothing here attaches a devtools client: while one is attached, wrangler
 * enables the Network domain and workerd reports every fetch body to it, which distorts a load test.
 * Run it on a quiet machine: workerd is single-threaded, and with other heavy processes on the same
 * cores streams queue for CPU and latencies stretch towards the request timeout.
 *
 * Knobs (env): LOAD_REQUESTS (200), LOAD_ROUNDS (3), LOAD_MAX_GROWTH_MB (384), LOAD_PLATEAU_ROUNDS (6),
 * LOAD_LIVE_LEAK_MB (1), LOAD_RUNTIME (both | wrangler | workerd), LOAD_VIA_PROXY (the LOAD_REQUESTS
 * rounds through the dev proxy too: reproduces its limit), LOAD_PROXY_REQUESTS (25; 0 skips that
 * round), WRANGLER_BIN (another wrangler's bin/wrangler.js). Linux only (/proc).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { cpuMs, rssBytes, sleep, startEmulatorProcess, startWranglerDev, wrangler, type WranglerDev } from "../bench/lib/proc";
import { startMiniflareGateway } from "../bench/lib/miniflare-runtime";
import { liveHeapBytes, openInspector } from "../bench/lib/workerd";
import { buildGatewaySnapshot } from "../bench/lib/snapshot";
import { EMULATOR_KEYS, emu } from "../emulator/script";
import { PROTOCOLS, type ProtocolCase } from "../test/reliability/protocols";

const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 200);
const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 3);
const MAX_GROWTH_MB = Number(process.env.LOAD_MAX_GROWTH_MB ?? 384);
/** The leak check: rounds against plain workerd, and how much its live heap may grow after the first. */
const PLATEAU_ROUNDS = Number(process.env.LOAD_PLATEAU_ROUNDS ?? 6);
const LIVE_LEAK_MB = Number(process.env.LOAD_LIVE_LEAK_MB ?? 1);
/** One request may take this long; the whole script this long (setup included). */
const REQUEST_TIMEOUT_MS = 60_000;
const SCRIPT_DEADLINE_MS = 10 * 60_000;
const MB = 1024 * 1024;
/**
 * Concurrent streams sent through wrangler dev's public port (its dev proxy, what `npm run dev` serves).
 * Measured (issue 17 item 9, wrangler 4.86.0, ulimit -n 20000): 50 held with the dev proxy's workerd
 * at ~10,600 open fds and wrangler's node at ~10,200; 200 did not (the proxy's workerd reached the
 * 20,000-fd limit: 9/100 and 2/200 streams ended). The default is half the largest count that held;
 * the worker itself is proven at LOAD_REQUESTS by the other rounds.
 */
const PROXY_REQUESTS = Number(process.env.LOAD_PROXY_REQUESTS ?? 25);

/** Open file descriptors of `pid` (null once it is gone). */
function openFds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** This process's soft limit on open files (what wrangler and its workerds inherit). */
function openFilesLimit(): string {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((row) => row.startsWith("Max open files"));
  return line?.trim().split(/\s{2,}/)[1] ?? "unknown";
}

/** Parent pid of `pid`, from /proc/<pid>/stat (field 4, after the parenthesised command name). */
function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

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

interface Worker {
  label: string;
  url: string;
  workerdPid: number;
  /** The worker isolate's inspector, for the live-heap leak check (plain workerd only). */
  inspectorUrl?: string | null;
  stop(): Promise<void>;
}

/**
 * ROUNDS bursts against one running worker. Returns the problems found (empty = passed).
 * `leakMb`: when set (and the worker has an inspector), the live heap after the last round may exceed
 * the live heap after the first by at most this much.
 */
async function phase(
  worker: Worker,
  emulatorPid: number,
  rounds: number,
  leakMb: number | null,
  requests = REQUESTS,
  watchFds: ReadonlyArray<{ label: string; pid: number }> = [],
  /** Requests go through wrangler's dev proxy: a failure is reported as the proxy's limit. */
  throughDevProxy = false,
): Promise<string[]> {
  const target = worker.url;
  const workerPid = worker.workerdPid;
  console.log(`\n[load] ${worker.label}: ${target} (workerd pid ${workerPid})`);
  // Warm-up: one request per protocol, so the baseline is a worker that has served traffic.
  for (const [index, protocol] of PROTOCOLS.entries()) {
    const warm = await run(target, job(0, index));
    if (!warm.ok) return [`warm-up ${protocol.name} failed: ${warm.error}`];
  }
  const baseline = await restingRss(workerPid);
  console.log(`[load] worker RSS at rest: ${mb(baseline)}`);

  const failures: Result[] = [];
  const done: Array<{ peak: number; after: number }> = [];
  const inspector = leakMb !== null && worker.inspectorUrl ? await openInspector(worker.inspectorUrl) : null;
  const liveAfterRound: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const jobs = Array.from({ length: requests }, (_, index) => job(round, index));
    let peak = rssBytes(workerPid) ?? 0;
    const fdPeaks = watchFds.map(() => 0);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, rssBytes(workerPid) ?? 0);
        watchFds.forEach((watched, i) => (fdPeaks[i] = Math.max(fdPeaks[i] ?? 0, openFds(watched.pid) ?? 0)));
        await sleep(50);
      }
    })();
    const started = performance.now();
    const cpuBefore = [cpuMs(workerPid) ?? 0, cpuMs(emulatorPid) ?? 0];
    const results = await Promise.all(jobs.map((item) => run(target, item)));
    const ms = performance.now() - started;
    const cpu = [(cpuMs(workerPid) ?? 0) - (cpuBefore[0] ?? 0), (cpuMs(emulatorPid) ?? 0) - (cpuBefore[1] ?? 0)];
    sampling = false;
    await sampler;
    const after = await restingRss(workerPid);
    done.push({ peak, after });
    // Live heap after the first round (code compiled, caches warm) and after the last one.
    if (inspector && (round === 1 || round === rounds)) liveAfterRound.push(await liveHeapBytes(inspector));
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
        `CPU worker ${(cpu[0] ?? 0).toFixed(0)} ms, emulator ${(cpu[1] ?? 0).toFixed(0)} ms` +
        (watchFds.length > 0 ? ` · open fds peak ${watchFds.map((watched, i) => `${watched.label} ${fdPeaks[i]}`).join(", ")} (limit ${openFilesLimit()})` : ""),
    );
  }

  const problems: string[] = [];
  for (const failure of failures.slice(0, 20)) problems.push(`${worker.label}: request ${failure.job.index} (${failure.job.protocol.name}): ${failure.error}`);
  if (failures.length > 20) problems.push(`${worker.label}: … and ${failures.length - 20} more failed requests`);
  if (failures.length > 0 && throughDevProxy) {
    problems.push(`${worker.label}: wrangler's dev proxy did not hold ${requests} concurrent streams (its inspector proxy makes one loopback request to wrangler's node process per devtools event of the worker; see README "Local load")`);
  }
  const worstPeak = Math.max(...done.map((round) => round.peak));
  if (worstPeak - baseline > MAX_GROWTH_MB * MB) problems.push(`${worker.label}: RSS grew ${mb(worstPeak - baseline)} under load (limit ${MAX_GROWTH_MB} MB)`);
  let plateau = "";
  if (done.length >= 4) {
    const half = done.slice(Math.floor(done.length / 2) - 1);
    const perRound = ((half.at(-1)?.after ?? 0) - (half[0]?.after ?? 0)) / (half.length - 1);
    plateau = `, RSS growth over the second half ${perRound >= 0 ? "+" : ""}${mb(perRound)} per round (garbage included; not the verdict)`;
  }
  inspector?.close();
  if (leakMb !== null) {
    const [first, last] = [liveAfterRound[0], liveAfterRound.at(-1)];
    if (first === undefined || last === undefined || liveAfterRound.length < 2) {
      problems.push(`${worker.label}: no live-heap reading for the leak check (needs an inspector and ≥ 2 rounds)`);
    } else {
      const growth = last - first;
      plateau += ` · live JS heap after round 1 ${mb(first)}, after round ${rounds} ${mb(last)} (${growth >= 0 ? "+" : ""}${(growth / MB).toFixed(2)} MB, limit ${leakMb} MB)`;
      if (growth > leakMb * MB) problems.push(`${worker.label}: the live JS heap grew ${(growth / MB).toFixed(2)} MB over ${(rounds - 1) * requests} requests (limit ${leakMb} MB): a leak`);
    }
  }
  console.log(
    `[load] ${worker.label}: ${rounds} × ${requests} concurrent streams, ${rounds * requests - failures.length} ok, ${failures.length} failed · ` +
      `RSS ${mb(baseline)} idle, worst peak ${mb(worstPeak)} (+${mb(worstPeak - baseline)}), after each round ${done.map((round) => mb(round.after)).join(" / ")}${plateau}`,
  );
  return problems;
}

async function main(): Promise<number> {
  if (process.platform !== "linux") {
    console.error("test:load samples RSS from /proc: Linux only");
    return 2;
  }
  const persistDir = mkdtempSync(path.join(os.tmpdir(), "gateway-load-"));
  let emulator: Awaited<ReturnType<typeof startEmulatorProcess>> | undefined;
  let snapshotDir: string | undefined;
  const running: Worker[] = [];
  try {
    // A fixed build, as `npm run bench` does: wrangler dev on src/ reloads the worker whenever a file
    // changes, which cuts every in-flight stream (on a shared checkout others edit src/ meanwhile).
    console.log("[load] building the worker (wrangler deploy --dry-run)…");
    const snapshot = buildGatewaySnapshot();
    snapshotDir = snapshot.dir;
    const migrate = wrangler(["d1", "migrations", "apply", "RESPONSE_INDEX", "--local", "--persist-to", persistDir, "--config", snapshot.config]);
    if (migrate.status !== 0) throw new Error(`D1 migrations failed:\n${migrate.output}`);
    emulator = await startEmulatorProcess();
    console.log(`[load] emulator ${emulator.url}`);
    const problems: string[] = [];
    const which = process.env.LOAD_RUNTIME ?? "both";

    if (which !== "workerd") {
      const dev: WranglerDev = await startWranglerDev({
        config: snapshot.config,
        vars: { NATIVE_API_BASE_URL: emulator.url, LOG_LEVEL: "off" },
        persistTo: persistDir,
        readyPath: "/healthz",
      });
      const viaProxy = process.env.LOAD_VIA_PROXY === "1";
      // wrangler's node process: the dev proxy workerd's parent (bin/wrangler.js re-spawns its CLI).
      const wranglerNodePid = parentPid(dev.proxyPid);
      const proxyFds = [
        { label: "dev proxy workerd", pid: dev.proxyPid },
        ...(wranglerNodePid === null ? [] : [{ label: "wrangler node", pid: wranglerNodePid }]),
      ];
      const worker: Worker = {
        label: viaProxy ? "wrangler dev (through its dev proxy)" : "wrangler dev's runtime workerd (its entry socket, not the dev proxy)",
        url: viaProxy ? dev.proxyUrl : dev.url,
        workerdPid: dev.workerdPid,
        stop: () => dev.stop(),
      };
      running.push(worker);
      // What `npm run dev` users get: wrangler's public port. Its InspectorProxyWorker (same workerd as
      // the dev proxy) turns every devtools message from the runtime into a `debug-log` fetch to
      // wrangler's node — one loopback connection each, whatever the log level — and it always enables
      // the Network domain, so the messages grow with the streamed traffic: it holds far fewer streams
      // than the worker does (README "Local load"). First, on a fresh wrangler: the 200-stream rounds
      // below flood the same proxy (the devtools messages flow whichever socket a request came in on),
      // and right after them its warm-up request was reset.
      if (!viaProxy && PROXY_REQUESTS > 0) {
        const proxied: Worker = { ...worker, label: "wrangler dev through its dev proxy (npm run dev's port)", url: dev.proxyUrl };
        problems.push(...(await phase(proxied, emulator.pid, 1, null, PROXY_REQUESTS, proxyFds, true)));
      }
      problems.push(...(await phase(worker, emulator.pid, ROUNDS, null, REQUESTS, proxyFds, viaProxy)));
      await worker.stop();
      running.pop();
    }
    if (which !== "wrangler") {
      const plain = await startMiniflareGateway(snapshot, emulator.url, persistDir, true);
      const worker: Worker = { label: "workerd without devtools", ...plain };
      running.push(worker);
      problems.push(...(await phase(worker, emulator.pid, PLATEAU_ROUNDS, LIVE_LEAK_MB)));
    }

    if (problems.length > 0) {
      console.error(`\n[load] FAILED:\n  ${problems.join("\n  ")}`);
      return 1;
    }
    console.log("\n[load] PASSED: every stream well-formed, one terminal each, its own content only; memory bounded");
    return 0;
  } finally {
    for (const worker of running) await worker.stop();
    await emulator?.stop();
    rmSync(persistDir, { recursive: true, force: true });
    if (snapshotDir) rmSync(snapshotDir, { recursive: true, force: true });
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
