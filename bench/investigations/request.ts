/**
 * CPU per short request inside workerd (bench/investigations/request-worker.ts): the gateway's whole request path
 * with native stubbed in-process, so what remains is the worker's own work. Also prints where that
 * time goes (V8 sampling profile of the isolate, self time by function and module).
 *
 *   npx tsx bench/investigations/request.ts [--n=300] [--reps=5] [--profile=chat:1,responses:1] [--top=25] [--prompt-bytes=94000] [--prompt=long]
 *
 * `--prompt=long`: the e2e long stream's own prompt (the 94 KB request cell), instead of padding.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { median } from "../lib/stats";
import { bundleWorker, selfTimes, startWorkerd } from "../lib/workerd";
import { commandLine } from "../lib/cli";

const { option } = commandLine(`  npx tsx bench/investigations/request.ts [--n=300] [--reps=5] [--profile=chat:1,responses:1] [--top=25] [--prompt-bytes=94000] [--prompt=long]`);
const n = Number(option("n", "300"));
const reps = Number(option("reps", "5"));
const top = Number(option("top", "25"));
const profiled = option("profile", "").split(",").filter(Boolean);
const promptBytes = Number(option("prompt-bytes", "0"));
const longPrompt = option("prompt", "") === "long";

interface BenchAnswer {
  usPerRequest: number;
}

const bundle = await bundleWorker("bench/investigations/request-worker.ts");
const session = await startWorkerd(bundle, "request", { d1Databases: ["RESPONSE_INDEX"] });
// The gateway's real schema (it refuses a D1 without it: index_schema_missing), from migrations/.
for (const migration of readdirSync("migrations").sort()) await session.d1Exec("RESPONSE_INDEX", readFileSync(path.join("migrations", migration), "utf8"));
async function once(protocol: string, stream: boolean, count: number): Promise<number> {
  const response = await session.fetch(`/bench?protocol=${protocol}&stream=${stream ? 1 : 0}&n=${count}&promptBytes=${promptBytes}${longPrompt ? "&prompt=long" : ""}`);
  if (response.status !== 200) throw new Error(await response.text());
  return ((await response.json()) as BenchAnswer).usPerRequest;
}
try {
  console.log(`µs of worker time per short request (2 reasoning + 8 message deltas, native stubbed in-process, prompt ${longPrompt ? "the long stream's" : `${promptBytes || 11} B`}), n=${n}, median of ${reps}`);
  for (const protocol of ["chat", "anthropic", "responses", "responses-nostore", "responses-chained"]) {
    for (const stream of [true, false]) {
      await once(protocol, stream, Math.min(n, 100));
      const runs: number[] = [];
      for (let i = 0; i < reps; i++) runs.push(await once(protocol, stream, n));
      console.log(`${protocol.padEnd(10)} ${stream ? "stream  " : "blocking"} ${median(runs).toFixed(0).padStart(6)} µs   (runs ${runs.map((r) => r.toFixed(0)).join(", ")})`);
    }
  }
  for (const spec of profiled) {
    const [protocol = "chat", stream = "1"] = spec.split(":");
    const { profile } = await session.profile(() => once(protocol, stream === "1", n), 50);
    const { rows, totalMs } = selfTimes(profile, bundle, top);
    console.log(`\nprofile ${protocol} ${stream === "1" ? "stream" : "blocking"}: ${totalMs.toFixed(0)} ms busy for ${n} requests`);
    for (const row of rows) console.log(`${row.selfMs.toFixed(1).padStart(8)} ms ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.name}`);
  }
} finally {
  await session.dispose();
}
