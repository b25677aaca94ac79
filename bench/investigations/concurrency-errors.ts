/**
 * Bursts of concurrent short requests (8 at a time, chat / anthropic / responses mixed, each burst on
 * fresh connections) for a while, against the working tree and src/ at a revision in alternation,
 * counting every request that did not succeed. It runs across several expiries of the isolate's
 * 30 s catalog cache: before 6ff9001 requests that missed it together awaited the first one's native
 * read, and workerd cancelled them ("A promise was resolved or rejected from a different request
 * context…") into its 500 "…would never generate a response" (bench/FINDINGS.md, session 8).
 *
 *   npx tsx bench/investigations/concurrency-errors.ts [--seconds=95] [--base=44acd58]
 */
import http from "node:http";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { migrateLocalD1, oneRequest, requestFor, resetEmulator } from "../e2e";
import { sourceTreeAt } from "../lib/base-tree";
import { startMiniflareGatewayFromSource, type MiniflareWorker } from "../lib/miniflare-runtime";
import { startEmulatorProcess } from "../lib/proc";
import { buildGatewaySnapshot } from "../lib/snapshot";
import { commandLine } from "../lib/cli";

const { option } = commandLine("  npx tsx bench/investigations/concurrency-errors.ts [--seconds=95] [--base=44acd58]");
const seconds = Number(option("seconds", "95"));
const base = option("base", "44acd58");
const CONCURRENCY = 8;
const PROTOCOLS = ["chat", "anthropic", "responses"] as const;

const snapshot = buildGatewaySnapshot(); // only for the D1 migrations' config
const persistDir = mkdtempSync(path.join(os.tmpdir(), "bench-concurrency-"));
migrateLocalD1(snapshot, persistDir);
const emulator = await startEmulatorProcess();
const workers: MiniflareWorker[] = [];

async function gateway(root: string): Promise<MiniflareWorker> {
  const worker = await startMiniflareGatewayFromSource(root, emulator.url, persistDir);
  workers.push(worker);
  return worker;
}

try {
  const targets = [
    { label: "tree", worker: await gateway(".") },
    { label: base, worker: await gateway(sourceTreeAt(base)) },
  ].map((target) => ({ ...target, ok: 0, failed: 0, firstFailure: "" }));
  const deadline = Date.now() + seconds * 1000;
  for (let burst = 1; Date.now() < deadline; burst++) {
    for (const target of targets) {
      const agent = new http.Agent({ keepAlive: true });
      const samples = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => oneRequest(agent, target.worker.url, requestFor(PROTOCOLS[i % PROTOCOLS.length] ?? "chat", "Hello!"), 20_000)));
      agent.destroy();
      for (const sample of samples) {
        if (sample.ok) target.ok++;
        else {
          target.failed++;
          target.firstFailure ||= `${sample.status} ${(sample.error ?? "").split("\n")[0] ?? ""}`;
        }
      }
    }
    // The emulator keeps every run's record.
    if (burst % 200 === 0) await resetEmulator(emulator.url);
  }
  console.log(`${seconds} s of bursts of ${CONCURRENCY} concurrent short requests (${PROTOCOLS.join(" / ")}), alternating:`);
  for (const target of targets) console.log(`${target.label.padEnd(10)} ${target.ok} ok, ${target.failed} failed${target.firstFailure ? ` (first: ${target.firstFailure})` : ""}`);
} finally {
  for (const worker of workers.reverse()) await worker.stop();
  await emulator.stop();
}
