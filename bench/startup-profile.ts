/**
 * Where the worker's startup goes, by module: `await import()` of an *unminified* bundle of
 * src/index.ts (esbuild keeps a `// path` comment per module) profiled in fresh workerd isolates;
 * each sample's self time is charged to the module its code sits in. Minified bundles start slightly
 * faster; the split between modules is what this is for. A second table charges each sample to the
 * innermost src/ module on its stack: which of our modules' top-level code (zod schemas built at
 * import, tables…) the library time is spent for.
 *
 *   npx tsx bench/startup-profile.ts [--runs=5] [--top=20]
 */
import path from "node:path";
import { readFileSync } from "node:fs";
import { startupProfile } from "./size";
import { median } from "./lib/stats";
import { bundleWorker, moduleLineIndex } from "./lib/workerd";

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const runs = Number(option("runs", "5"));
const top = Number(option("top", "20"));

const bundle = await bundleWorker("src/index.ts");
const outdir = path.dirname(bundle);
const file = path.basename(bundle);
// startupProfile imports "./index.js".
const { renameSync } = await import("node:fs");
renameSync(bundle, path.join(outdir, "index.js"));
const moduleAt = moduleLineIndex(readFileSync(path.join(outdir, "index.js"), "utf8"));

const perModule = new Map<string, number[]>();
const perSource = new Map<string, number[]>();
const totals: number[] = [];
for (let run = 0; run < runs; run++) {
  const { profile } = await startupProfile(outdir, ["index.js"]);
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  const source = new Map<string, number>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  let total = 0;
  profile.samples.forEach((nodeId, index) => {
    const node = byNode.get(nodeId);
    const dt = profile.timeDeltas[index + 1] ?? 0;
    if (!node || node.callFrame.functionName === "(idle)") return;
    total += dt;
    const where = node.callFrame.url ? moduleAt(node.callFrame.lineNumber) : `(runtime: ${node.callFrame.functionName || "anonymous"})`;
    self.set(where, (self.get(where) ?? 0) + dt);
    let owner = "(no src/ frame)";
    for (let id: number | undefined = nodeId; id !== undefined; id = parentOf.get(id)) {
      const frame = byNode.get(id)?.callFrame;
      const module = frame?.url ? moduleAt(frame.lineNumber) : "";
      if (module.startsWith("src/")) {
        owner = module;
        break;
      }
    }
    source.set(owner, (source.get(owner) ?? 0) + dt);
  });
  totals.push(total / 1000);
  for (const [where, us] of self) {
    const list = perModule.get(where) ?? [];
    list[run] = us / 1000;
    perModule.set(where, list);
  }
  for (const [where, us] of source) {
    const list = perSource.get(where) ?? [];
    list[run] = us / 1000;
    perSource.set(where, list);
  }
}
const table = (map: Map<string, number[]>) =>
  [...map.entries()]
    .map(([where, list]) => ({ where, ms: median(Array.from({ length: runs }, (_, i) => list[i] ?? 0)) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
console.log(`startup CPU of ${file} (unminified), median of ${runs} fresh isolates: ${median(totals).toFixed(1)} ms (runs ${totals.map((t) => t.toFixed(0)).join(", ")})`);
console.log("self time by module:");
for (const row of table(perModule)) console.log(`${row.ms.toFixed(2).padStart(8)} ms  ${row.where}`);
console.log("charged to the innermost src/ module on the stack:");
for (const row of table(perSource)) console.log(`${row.ms.toFixed(2).padStart(8)} ms  ${row.where}`);
