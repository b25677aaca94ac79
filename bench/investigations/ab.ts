/**
 * A/B of the in-workerd micro benchmark: the working tree against a git revision, interleaved
 * (A, B, A, B, …) so both sides see the same machine load. How each optimisation of
 * src/native/events.ts and src/http/sse.ts was measured.
 *
 *   npx tsx bench/investigations/ab.ts [--base=HEAD~1] [--stages=pipeline:chat,decode] [--rounds=5] [--chunk=4096]
 *
 * The base side is `git archive <rev> src` plus the current bench worker, so only src/ differs.
 */
import path from "node:path";
import { sourceTreeAt } from "../lib/base-tree";
import { median } from "../lib/stats";
import { bundleWorker, startWorkerd } from "../lib/workerd";
import type { StageResult } from "../projector-worker";
import { commandLine } from "../lib/cli";

const { option } = commandLine(`  npx tsx bench/investigations/ab.ts [--base=HEAD~1] [--stages=pipeline:chat,decode] [--rounds=5] [--chunk=4096]`);
const base = option("base", "HEAD");
const stages = option("stages", "decode,decode+project:responses,decode+project:chat,decode+project:anthropic,pipeline:decode,pipeline:responses,pipeline:chat,pipeline:anthropic").split(",");
const rounds = Number(option("rounds", "5"));
const chunk = option("chunk", "4096");

// Base tree: src/ at the revision, bench worker files from the working tree.
const baseRoot = sourceTreeAt(base, ["bench/projector-worker.ts", "bench/lib/workload.ts"]);

const bundleA = await bundleWorker(path.join(baseRoot, "bench", "projector-worker.ts"));
const bundleB = await bundleWorker("bench/projector-worker.ts");
const a = await startWorkerd(bundleA, "a");
const b = await startWorkerd(bundleB, "b");

async function once(session: typeof a, stage: string): Promise<number> {
  const response = await session.fetch(`/bench?${new URLSearchParams({ stage, chunk, reps: "1", warmup: "0" })}`);
  const body = (await response.json()) as StageResult | { error: string };
  if ("error" in body) throw new Error(body.error);
  return ((body.runsMs[0] ?? Number.NaN) * 1000) / body.events;
}

try {
  console.log(`A = ${base} (src/ from git), B = working tree; ${rounds} interleaved rounds per stage, chunk ${chunk} B; µs per native event (median)`);
  for (const stage of stages) {
    await once(a, stage);
    await once(b, stage);
    const ta: number[] = [];
    const tb: number[] = [];
    for (let i = 0; i < rounds; i++) {
      ta.push(await once(a, stage));
      tb.push(await once(b, stage));
    }
    const ma = median(ta);
    const mb = median(tb);
    console.log(`${stage.padEnd(28)} A ${ma.toFixed(3).padStart(8)}   B ${mb.toFixed(3).padStart(8)}   B/A ${(mb / ma).toFixed(2)}   (${((1 - mb / ma) * 100).toFixed(0)} % less)`);
  }
} finally {
  await a.dispose();
  await b.dispose();
}
