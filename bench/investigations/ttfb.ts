/**
 * Time to first byte (p50, p90) and to the body's end (p50), one request at a time, interleaved request by request across
 * targets (c = 1): the pass-through worker, each protocol, and Responses with `store: false` (which
 * claims nothing in D1, so a stored create's D1 share shows as the difference of the two Responses
 * rows). With `--base=REV` every gateway row is taken twice in the same rounds — the working tree and
 * `src/` at REV — so an optimisation of the request path is measured against the same machine load.
 *
 * Both gateways are esbuild bundles of src/index.ts (not wrangler's minified snapshot, so a base tree
 * and the working tree are built the same way), in workerd through Miniflare without devtools, with
 * the gateway's D1 migrations applied; the emulator is the e2e phase's.
 *
 * `--floors` adds bench/investigations/js-pipe-worker.ts's rows: native's body read by JS and written to
 * the response (js-copy), and decoded + re-encoded as strings on the way (js-decode) — the first byte
 * of a worker that touches the stream from JS at all, before any gateway work — and the `translate`
 * modes: the least any translating gateway does (the request parsed and re-serialised, each answer
 * item decoded and re-encoded). `--floor-modes=a,b` picks the modes (default: all of them).
 *
 * `--workload=long` sends the e2e phase's long stream instead (its ≈ 94 KB emulator script as the
 * prompt, 100k native deltas, read to the end): the "94 KB request" cell of `npm run bench`.
 * `--prompt-bytes=N` pads the short prompt to N characters (a large request with a short answer).
 *
 * `--back-to-back=K`: each row sends K requests in a row before the next row's turn (the e2e phase's
 * shape: a cell's requests follow each other on one target), instead of one (request by request).
 * `--probe`: a timing proxy in front of the emulator (bench/lib/native-probe.ts) prints, per row, when
 * each native request reached native and when native's first byte came back, from the client's start.
 * `--native-rtt=N`: native N ms away (the probe delays every native request by N ms, native-probe.ts).
 * `--only=responses,responses:nostore,chat,anthropic`: only these gateway rows (default all four).
 * `--idle-ms=N`: the machine waits N ms after every round of rows (31000: every request finds the
 * model catalog past its 30 s, the first request of an idle agent).
 *
 *   npx tsx bench/investigations/ttfb.ts [--n=400] [--base=HEAD] [--workload=short|long] [--prompt-bytes=0] [--floors [--floor-modes=translate,…]] [--back-to-back=1] [--only=responses,chat] [--probe] [--idle-ms=0] [--native-rtt=0]
 */
import http from "node:http";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { oneRequest, requestFor, resetEmulator, migrateLocalD1, type RequestSpec, type TargetKind } from "../e2e";
import { sourceTreeAt } from "../lib/base-tree";
import { startEmulatorProcess } from "../lib/proc";
import { startMiniflareGatewayFromSource, startMiniflarePassthrough, type MiniflareWorker } from "../lib/miniflare-runtime";
import { buildGatewaySnapshot } from "../lib/snapshot";
import { percentile } from "../lib/stats";
import { emulatorDirective, LONG_STREAM } from "../lib/workload";
import { commandLine } from "../lib/cli";
import { startNativeProbe } from "../lib/native-probe";

const { args, option } = commandLine("  npx tsx bench/investigations/ttfb.ts [--n=400] [--base=HEAD] [--workload=short|long] [--prompt-bytes=0] [--floors [--floor-modes=translate,…]] [--back-to-back=1] [--only=responses,chat] [--probe] [--idle-ms=0] [--native-rtt=0]");
const idleMs = Number(option("idle-ms", "0"));
const nativeRttMs = Number(option("native-rtt", "0"));
const backToBack = Math.max(1, Number(option("back-to-back", "1")));
const n = Number(option("n", "400"));
const base = option("base", "");
const promptBytes = Number(option("prompt-bytes", "0"));
const long = option("workload", "short") === "long";
const prompt = long ? emulatorDirective(LONG_STREAM) : promptBytes > 0 ? `Hello! ${"x".repeat(promptBytes)}` : "Hello!";
const timeoutMs = long ? 300_000 : 30_000;


const snapshot = buildGatewaySnapshot(); // only for the D1 migrations' config
const persistDir = mkdtempSync(path.join(os.tmpdir(), "bench-ttfb-"));
migrateLocalD1(snapshot, persistDir);
const emulator = await startEmulatorProcess();
const probe = args.includes("--probe") || nativeRttMs > 0 ? await startNativeProbe(emulator.url, { roundTripMs: nativeRttMs }) : null;
const nativeUrl = probe?.url ?? emulator.url;
const workers: MiniflareWorker[] = [];
try {
  const gateways: Array<{ label: string; worker: MiniflareWorker }> = [];
  const start = async (label: string, root: string): Promise<void> => {
    const worker = await startMiniflareGatewayFromSource(root, nativeUrl, persistDir);
    workers.push(worker);
    gateways.push({ label, worker });
  };
  await start("tree", ".");
  if (base) await start(base, sourceTreeAt(base));
  const passthrough = await startMiniflarePassthrough(nativeUrl);
  workers.push(passthrough);

  const rows: Array<{ name: string; origin: string; spec: RequestSpec; agent: http.Agent; ttfb: number[]; total: number[] }> = [];
  const add = (name: string, origin: string, kind: TargetKind, store?: boolean): void => {
    rows.push({ name, origin, spec: requestFor(kind, prompt, store === undefined ? {} : { store }), agent: new http.Agent({ keepAlive: true }), ttfb: [], total: [] });
  };
  add("pass-through", passthrough.url, "native");
  if (args.includes("--floors")) {
    const pipe = await startMiniflarePassthrough(nativeUrl, false, "bench/investigations/js-pipe-worker.ts");
    workers.push(pipe);
    const modes = option("floor-modes", "js-copy,js-decode,js-first,js-first-stream,js-first-parse,js-first-native,js-first-native-idle,js-first-batch,translate,translate-first").split(",");
    for (const mode of modes) {
      add(`floor: ${mode}`, pipe.url, "native");
      const row = rows[rows.length - 1];
      if (row) row.spec = { ...row.spec, headers: { ...row.spec.headers, "x-bench-mode": mode } };
    }
  }
  const only = option("only", "").split(",").filter(Boolean);
  for (const [kind, store] of [["responses", undefined], ["responses", false], ["chat", undefined], ["anthropic", undefined]] as const) {
    if (only.length > 0 && !only.includes(`${kind}${store === false ? ":nostore" : ""}`)) continue;
    for (const { label, worker } of gateways) add(`${kind}${store === false ? " store:false" : ""}${base ? ` [${label}]` : ""}`, worker.url, kind, store);
  }
  // Warm-up: JIT, connection pools, the D1 file.
  for (let i = 0; i < (long ? 2 : 20); i++) for (const row of rows) await oneRequest(row.agent, row.origin, row.spec, timeoutMs);
  for (let i = 0; i < n; i += backToBack) {
    for (const row of rows) {
      for (let k = 0; k < backToBack && i + k < n; k++) {
        probe?.startCase(row.name);
        const sample = await oneRequest(row.agent, row.origin, row.spec, timeoutMs);
        if (!sample.ok) throw new Error(`${row.name}: ${sample.error ?? "failed"}`);
        row.ttfb.push(sample.ttfbMs);
        row.total.push(sample.totalMs);
      }
    }
    if (idleMs > 0) await new Promise((resolve) => setTimeout(resolve, idleMs));
    // The emulator keeps every run's record; drop them now and then, as the e2e phase does between cells.
    if (Math.floor((i + backToBack) / (long ? 5 : 100)) > Math.floor(i / (long ? 5 : 100))) await resetEmulator(emulator.url);
  }
  const reference = percentile(rows[0]?.ttfb ?? [], 50);
  console.log(`${long ? "long stream" : "short answer"}: TTFB, c = 1, ${n} requests per row, interleaved ${backToBack === 1 ? "request by request" : `${backToBack} requests at a time`} (prompt ${prompt.length} chars)`);
  for (const row of rows) {
    const p50 = percentile(row.ttfb, 50);
    const delta = row === rows[0] ? "" : `  (${p50 >= reference ? "+" : ""}${(p50 - reference).toFixed(2)} ms over pass-through)`;
    console.log(`${row.name.padEnd(32)} TTFB p50 ${p50.toFixed(2)} ms  p90 ${percentile(row.ttfb, 90).toFixed(2)} ms  total p50 ${percentile(row.total, 50).toFixed(2)} ms${delta}`);
  }
  if (probe) {
    console.log("\nnative requests (probe), p50 ms from the client's request: reaches native → native's first byte");
    for (const entry of probe.rows().filter((entry) => entry.ordinal > 0)) {
      console.log(`  ${entry.label.padEnd(32)} ${`${entry.request} #${entry.ordinal}`.padEnd(28)} ${entry.arriveP50.toFixed(2)} → ${entry.firstByteP50.toFixed(2)}  (n=${entry.count})`);
    }
    console.log("TCP connections opened to native (probe), per row:");
    for (const [label, count] of probe.connections()) console.log(`  ${label.padEnd(32)} ${count}`);
  }
  for (const row of rows) row.agent.destroy();
} finally {
  await probe?.stop();
  for (const worker of workers.reverse()) await worker.stop();
  await emulator.stop();
}
