/**
 * Where a fresh isolate's first request spends its CPU: module evaluation of the gateway plus the
 * first request's own first-time work (lazily built zod schemas, V8 compiling the functions it runs,
 * Hono building its router), native stubbed in-process (bench/investigations/first-request-worker.ts).
 * One fresh workerd per run; the V8 profile of that one request, self time by function and by module
 * (unminified bundle), medians over the runs. bench/coldstart.ts measures the same over real sockets.
 *
 *   npx tsx bench/investigations/first-request.ts [--protocol=chat] [--runs=5] [--top=30]
 */
import { median } from "../lib/stats";
import { bundleWorker, moduleLineIndex, startWorkerd, type CpuProfile } from "../lib/workerd";
import { readFileSync } from "node:fs";
import { commandLine } from "../lib/cli";

const { option } = commandLine("npx tsx bench/investigations/first-request.ts [--protocol=chat|anthropic|responses] [--runs=5] [--top=30]");
const protocol = option("protocol", "chat");
const runs = Number(option("runs", "5"));
const top = Number(option("top", "30"));

const bundle = await bundleWorker("bench/investigations/first-request-worker.ts");
const moduleAt = moduleLineIndex(readFileSync(bundle, "utf8"));

function selfBy(profile: CpuProfile, keyOf: (node: CpuProfile["nodes"][number]) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const out = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === "(idle)") return;
    const key = keyOf(node);
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas[index + 1] ?? 0) / 1000);
  });
  return out;
}
const moduleOf = (node: CpuProfile["nodes"][number]): string => (node.callFrame.url ? (node.callFrame.url.endsWith(".js") && !node.callFrame.url.startsWith("node") ? moduleAt(node.callFrame.lineNumber) : node.callFrame.url) : node.callFrame.functionName || "(native)");
const functionOf = (node: CpuProfile["nodes"][number]): string => `${node.callFrame.functionName || "(anonymous)"} (${moduleOf(node)})`;

/**
 * Inclusive time of src/ functions: each sample is charged once to every distinct src/ function on
 * its stack (callees in zod, Hono or V8's compiler included), so a schema's build closure shows what
 * building that schema cost, and a route handler what the whole request cost.
 */
function inclusiveSrc(profile: CpuProfile): Map<string, number> {
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const out = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const ms = (profile.timeDeltas[index + 1] ?? 0) / 1000;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const node = byId.get(at);
      if (!node || node.callFrame.functionName === "(idle)") break;
      const key = functionOf(node);
      if (!key.includes("(src/") || seen.has(key)) continue;
      seen.add(key);
      out.set(key, (out.get(key) ?? 0) + ms);
    }
  });
  return out;
}

const perInclusive: Array<Map<string, number>> = [];
const perModule: Array<Map<string, number>> = [];
const perFunction: Array<Map<string, number>> = [];
const totals: number[] = [];
const walls: number[] = [];
for (let run = 0; run < runs; run++) {
  const session = await startWorkerd(bundle, "first", { d1Databases: ["RESPONSE_INDEX"] });
  try {
    await session.fetch("/migrate");
    const { result, profile } = await session.profile(async () => (await session.fetch(`/first?protocol=${protocol}`)).json() as Promise<{ status: number; ms: number; head: string }>, 50);
    if (result.status !== 200) throw new Error(`first request answered ${result.status}: ${result.head}`);
    walls.push(result.ms);
    const modules = selfBy(profile, moduleOf);
    perModule.push(modules);
    perFunction.push(selfBy(profile, functionOf));
    perInclusive.push(inclusiveSrc(profile));
    totals.push([...modules.values()].reduce((a, b) => a + b, 0));
  } finally {
    await session.dispose();
  }
}
const medians = (maps: Array<Map<string, number>>): Array<[string, number]> => {
  const keys = new Set(maps.flatMap((map) => [...map.keys()]));
  return [...keys].map((key): [string, number] => [key, median(maps.map((map) => map.get(key) ?? 0))]).sort((a, b) => b[1] - a[1]);
};
console.log(`first ${protocol} request of a fresh isolate (import + request), ${runs} runs: profile ${median(totals).toFixed(1)} ms (${totals.map((t) => t.toFixed(0)).join(", ")}), isolate wall ${median(walls).toFixed(0)} ms`);
console.log("\nself time by module:");
for (const [key, ms] of medians(perModule).slice(0, top)) console.log(`${ms.toFixed(2).padStart(8)} ms  ${key}`);
console.log("\nself time by function:");
for (const [key, ms] of medians(perFunction).slice(0, top)) console.log(`${ms.toFixed(2).padStart(8)} ms  ${key}`);
console.log("\ninclusive time of src/ functions (callees included):");
for (const [key, ms] of medians(perInclusive).slice(0, top)) console.log(`${ms.toFixed(2).padStart(8)} ms  ${key}`);
process.exit(0);
