/**
 * Cold start the way the edge has it (issue 19): the *first* request on a fresh isolate, time to
 * first byte, for a Chat stream, a Responses stream and an Anthropic `/v1/messages` stream through
 * the deployable bundle (`wrangler deploy --dry-run`), side by side with the pass-through worker.
 *
 * workerd evaluates a worker's main module when it loads the worker, before any request, so each
 * subject is loaded behind a two-line entry that imports the bundle on its first request: that
 * request pays the module evaluation (zod schemas, Hono routes, everything at top level) plus its
 * own first-time work (cold code, first use of lazily built things), as the first request of a new
 * isolate does at the edge. The pass-through worker sits behind the same entry, so the entry's own
 * cost falls on both sides. Not in the figure: compiling the script and creating the isolate, which
 * Cloudflare does before the request reaches any JS (and partly during the TLS handshake).
 *
 * Each round is one fresh workerd process (Miniflare) with one isolate per subject, each on its
 * own socket: a warm-up worker first opens the process's connections to the emulator and wakes the
 * local D1 (so neither is charged to whichever subject goes first), then every subject gets its
 * first request on a new connection, in an order rotated per round, then three more (the warm
 * TTFB, for contrast). Beside each TTFB: the CPU workerd's main thread spent across that request
 * (schedstat), which a loaded machine does not stretch the way it stretches wall time.
 *
 *   npx tsx bench/coldstart.ts [--rounds=21] [--native-rtt=0]        (the bundle is built with wrangler first)
 *
 * `--native-rtt=N`: native N ms away (a delaying proxy in front of the emulator, bench/lib/native-probe.ts):
 * what the first request's serial native round trips cost when native is across the internet.
 */
import http from "node:http";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { migrateLocalD1, oneRequest, requestFor, type Sample, type TargetKind } from "./e2e";
import { loadMiniflare } from "./lib/deps";
import { descendantsNamed, serverPort, startEmulatorProcess } from "./lib/proc";
import { mainThreadCpuMs } from "./lib/startup";
import { buildGatewaySnapshot, type GatewaySnapshot } from "./lib/snapshot";
import { median, percentile } from "./lib/stats";
import { bundleWorker, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from "./lib/workerd";
import { startNativeProbe } from "./lib/native-probe";

export interface ColdStartSubject {
  /** Row label. */
  name: string;
  kind: TargetKind;
  /**
   * Which bundle the isolate loads: the pass-through worker (the reference), the deployable gateway,
   * or one of bench/floor/ (a chat stream forwarded with only Hono, only zod/mini, or both: what the
   * pinned stack alone costs a first request, a lower bound of the gateway's).
   */
  bundle: "pass-through" | "gateway" | "floor/hono" | "floor/zod" | "floor/hono-zod";
  /** The body marker that ends a complete answer, when it is not the protocol's own (the floors stream native SSE). */
  terminal?: string;
}

export const COLD_START_SUBJECTS: readonly ColdStartSubject[] = [
  { name: "pass-through worker · native stream", kind: "native", bundle: "pass-through" },
  { name: "gateway · chat stream", kind: "chat", bundle: "gateway" },
  { name: "gateway · responses stream", kind: "responses", bundle: "gateway" },
  { name: "gateway · anthropic /v1/messages stream", kind: "anthropic", bundle: "gateway" },
  { name: "floor: Hono + hand check, native SSE as is", kind: "chat", bundle: "floor/hono", terminal: "event: run.completed" },
  { name: "floor: zod/mini 4-field schema, native SSE as is", kind: "chat", bundle: "floor/zod", terminal: "event: run.completed" },
  { name: "floor: Hono + zod/mini, native SSE as is", kind: "chat", bundle: "floor/hono-zod", terminal: "event: run.completed" },
];

export interface ColdStartRow extends ColdStartSubject {
  rounds: number;
  errors: number;
  firstError?: string;
  /** First request on the fresh isolate. */
  coldTtfbP50: number;
  coldTtfbP90: number;
  coldTotalP50: number;
  /** Requests 2–4 on the same isolate. */
  warmTtfbP50: number;
  /**
   * CPU of workerd's main thread across the first request (schedstat): the isolate's work, which
   * other processes competing for the cores do not inflate the way they stretch a TTFB.
   */
  coldCpuMsP50: number;
  warmCpuMsP50: number;
}

export interface ColdStartResult {
  rounds: number;
  rows: ColdStartRow[];
}

/** The entry each subject's isolate runs: imports the real worker on the first request. */
const COLD_ENTRY = `// bench/coldstart.ts: load the worker on the first request, as a fresh edge isolate does.
let worker;
export default {
  async fetch(request, env, ctx) {
    worker ??= (await import("./index.js")).default;
    return worker.fetch(request, env, ctx);
  },
};
`;

/** Opens the process's outbound connections and wakes the local D1 before any subject is timed. */
const WARM_UP_WORKER = `export default {
  async fetch(request, env) {
    const native = await fetch(new URL("/api/agent/v1/models", env.NATIVE_API_BASE_URL), { headers: { authorization: "Bearer " + env.KEY } });
    await native.arrayBuffer();
    await env.RESPONSE_INDEX.prepare("SELECT count(*) AS n FROM response_index").first();
    return new Response("warm");
  },
};
`;

const PROMPT = "Hello!";

function modulesFor(dir: string, bundleFile: string): Array<{ type: "ESModule"; path: string; contents: Uint8Array | string }> {
  return [
    { type: "ESModule", path: path.join(dir, "__cold_entry.js"), contents: COLD_ENTRY },
    { type: "ESModule", path: path.join(dir, "index.js"), contents: readFileSync(bundleFile) },
  ];
}

export interface ColdStartOptions {
  rounds: number;
  /** Native far away (bench/lib/native-probe.ts `roundTripMs`): every native request's first byte this much later. 0: loopback. */
  nativeRoundTripMs?: number;
  snapshot: GatewaySnapshot;
  log: (line: string) => void;
}

export async function runColdStart(options: ColdStartOptions): Promise<ColdStartResult> {
  const { Miniflare } = loadMiniflare();
  const emulator = await startEmulatorProcess();
  const far = options.nativeRoundTripMs ? await startNativeProbe(emulator.url, { roundTripMs: options.nativeRoundTripMs }) : null;
  try {
    const persistDir = mkdtempSync(path.join(os.tmpdir(), "bench-coldstart-"));
    migrateLocalD1(options.snapshot, persistDir);
    const bundles = new Map<ColdStartSubject["bundle"], string>([
      ["gateway", path.join(options.snapshot.dir, "index.js")],
      ["pass-through", await bundleWorker("bench/passthrough-worker.ts")],
    ]);
    for (const floor of ["floor/hono", "floor/zod", "floor/hono-zod"] as const) bundles.set(floor, await bundleWorker(`bench/${floor}.ts`));
    const key = requestFor("responses", PROMPT).headers.authorization?.replace(/^Bearer /, "") ?? "";
    const bindings = { NATIVE_API_BASE_URL: far?.url ?? emulator.url, LOG_LEVEL: "off" };
    const samples = new Map<ColdStartSubject, Array<{ cold: Sample; coldCpuMs: number; warm: Sample[]; warmCpuMs: number[] }>>(COLD_START_SUBJECTS.map((subject) => [subject, []]));
    for (let round = 0; round < options.rounds; round++) {
      const ports = new Map<ColdStartSubject, number>();
      for (const subject of COLD_START_SUBJECTS) ports.set(subject, await serverPort());
      const warmPort = await serverPort();
      const workers = COLD_START_SUBJECTS.map((subject, index) => {
        const bundleFile = bundles.get(subject.bundle) ?? "";
        const dir = path.dirname(bundleFile);
        return {
          name: `subject-${index}`,
          modules: modulesFor(dir, bundleFile),
          modulesRoot: dir,
          compatibilityDate: COMPATIBILITY_DATE,
          compatibilityFlags: COMPATIBILITY_FLAGS,
          bindings,
          ...(subject.bundle === "gateway" ? { d1Databases: { RESPONSE_INDEX: "00000000-0000-0000-0000-000000000000" } } : {}),
          unsafeDirectSockets: [{ host: "127.0.0.1", port: ports.get(subject) ?? 0 }],
        };
      });
      const workerdsBefore = new Set(descendantsNamed(process.pid, "workerd"));
      const mf = new Miniflare({
        host: "127.0.0.1",
        port: await serverPort(),
        d1Persist: path.join(persistDir, "v3", "d1"),
        workers: [
          ...workers,
          {
            name: "warm-up",
            modules: true,
            script: WARM_UP_WORKER,
            compatibilityDate: COMPATIBILITY_DATE,
            compatibilityFlags: COMPATIBILITY_FLAGS,
            bindings: { ...bindings, KEY: key },
            d1Databases: { RESPONSE_INDEX: "00000000-0000-0000-0000-000000000000" },
            unsafeDirectSockets: [{ host: "127.0.0.1", port: warmPort }],
          },
        ],
      });
      try {
        await mf.ready;
        const workerd = descendantsNamed(process.pid, "workerd").filter((pid) => !workerdsBefore.has(pid));
        if (workerd.length !== 1) throw new Error(`expected one new workerd for the cold-start round, found ${workerd.length}`);
        const pid = workerd[0] as number;
        const timed = async (agent: http.Agent, url: string, spec: ReturnType<typeof requestFor>): Promise<{ sample: Sample; cpuMs: number }> => {
          const before = mainThreadCpuMs(pid);
          const sample = await oneRequest(agent, url, spec, 60_000);
          return { sample, cpuMs: mainThreadCpuMs(pid) - before };
        };
        const urlOf = async (name: string): Promise<string> => (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
        const warmAgent = new http.Agent({ keepAlive: false });
        const warm = await oneRequest(warmAgent, await urlOf("warm-up"), { method: "GET", path: "/", headers: {}, body: "", terminal: "warm" }, 30_000);
        if (!warm.ok) throw new Error(`cold start warm-up worker failed: ${warm.error ?? ""}`);
        for (let k = 0; k < COLD_START_SUBJECTS.length; k++) {
          const subject = COLD_START_SUBJECTS[(round + k) % COLD_START_SUBJECTS.length] as ColdStartSubject;
          const url = await urlOf(`subject-${COLD_START_SUBJECTS.indexOf(subject)}`);
          const spec = { ...requestFor(subject.kind, PROMPT), ...(subject.terminal ? { terminal: subject.terminal } : {}) };
          // A new connection for the first request, as a new client of a new isolate opens one.
          const cold = await timed(new http.Agent({ keepAlive: false }), url, spec);
          const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
          const warm: Array<{ sample: Sample; cpuMs: number }> = [];
          for (let i = 0; i < 3; i++) warm.push(await timed(agent, url, spec));
          agent.destroy();
          samples.get(subject)?.push({ cold: cold.sample, coldCpuMs: cold.cpuMs, warm: warm.map((w) => w.sample), warmCpuMs: warm.map((w) => w.cpuMs) });
        }
      } finally {
        await mf.dispose();
      }
      if (round % 5 === 4 || round === options.rounds - 1) options.log(`  coldstart: round ${round + 1}/${options.rounds}`);
    }
    const rows = COLD_START_SUBJECTS.map((subject): ColdStartRow => {
      const list = samples.get(subject) ?? [];
      const cold = list.map((entry) => entry.cold).filter((sample) => sample.ok);
      const warm = list.flatMap((entry) => entry.warm).filter((sample) => sample.ok);
      const failures = list.flatMap((entry) => [entry.cold, ...entry.warm]).filter((sample) => !sample.ok);
      const failed = failures[0];
      return {
        ...subject,
        rounds: list.length,
        errors: failures.length,
        ...(failed?.error ? { firstError: failed.error } : {}),
        coldTtfbP50: median(cold.map((sample) => sample.ttfbMs)),
        coldTtfbP90: percentile(cold.map((sample) => sample.ttfbMs), 90),
        coldTotalP50: median(cold.map((sample) => sample.totalMs)),
        warmTtfbP50: median(warm.map((sample) => sample.ttfbMs)),
        coldCpuMsP50: median(list.map((entry) => entry.coldCpuMs)),
        warmCpuMsP50: median(list.flatMap((entry) => entry.warmCpuMs)),
      };
    });
    for (const row of rows) {
      options.log(
        `  ${row.name.padEnd(40)} first request TTFB p50 ${row.coldTtfbP50.toFixed(1).padStart(6)} ms  p90 ${row.coldTtfbP90.toFixed(1).padStart(6)} ms  CPU ${row.coldCpuMsP50.toFixed(1)} ms   warm ${row.warmTtfbP50.toFixed(1)} ms, CPU ${row.warmCpuMsP50.toFixed(2)} ms` +
          (row.errors ? `  ERRORS ${row.errors}: ${row.firstError ?? ""}` : ""),
      );
    }
    return { rounds: options.rounds, rows };
  } finally {
    await far?.stop();
    await emulator.stop();
  }
}

export interface ColdStartBudgetLine {
  what: string;
  measured: string;
  pass: boolean;
}

/** Issue 19: the first request's TTFB on a fresh isolate within +5 ms of the pass-through worker's, per protocol. */
export const COLD_TTFB_BUDGET_MS = 5;

export function coldStartBudgetLines(result: ColdStartResult): ColdStartBudgetLine[] {
  const reference = result.rows.find((row) => row.bundle === "pass-through");
  if (!reference) return [];
  return result.rows
    .filter((row) => row.bundle === "gateway")
    .map((row) => {
      const delta = row.coldTtfbP50 - reference.coldTtfbP50;
      return {
        what: `${row.name}: first-request TTFB on a fresh isolate within +${COLD_TTFB_BUDGET_MS} ms of the pass-through worker's (p50 of ${row.rounds})`,
        measured: `${delta >= 0 ? "+" : ""}${delta.toFixed(2)} ms`,
        pass: row.errors === 0 && reference.errors === 0 && delta <= COLD_TTFB_BUDGET_MS,
      };
    });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes("--help")) {
    console.log("npx tsx bench/coldstart.ts [--rounds=21] [--native-rtt=0]");
    process.exit(0);
  }
  const rounds = Number(args.find((a) => a.startsWith("--rounds="))?.split("=")[1] ?? "21");
  const nativeRoundTripMs = Number(args.find((a) => a.startsWith("--native-rtt="))?.split("=")[1] ?? "0");
  const result = await runColdStart({ rounds, nativeRoundTripMs, snapshot: buildGatewaySnapshot(), log: (line) => console.log(line) });
  for (const line of coldStartBudgetLines(result)) console.log(`${line.pass ? "PASS" : "FAIL"}  ${line.what}: ${line.measured}`);
  process.exit(0);
}
