/**
 * Does a streamed Response body keep memory per chunk in workerd? Runs bench/investigations/stream-retention-worker.ts
 * in plain workerd with V8's `--trace-gc` and prints the live JS heap after every Mark-Compact while
 * one response of N chunks streams to a client here. Flat = nothing retained per chunk.
 *
 * Why it exists: the gateway's RSS grew with stream length (bench/RESULTS.md "Memory"); this showed
 * the cause was the runtime keeping ~76 B per chunk of a JS-stream body, which src/http/sse.ts now
 * avoids by writing an IdentityTransformStream.
 *
 *   npx tsx bench/investigations/stream-retention.ts [--chunks=1000000] [--modes=js-stream,byte-stream,identity]
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { bundleWorker, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from "../lib/workerd";
import { ROOT } from "../lib/deps";
import { freePort } from "../lib/proc";
import { commandLine } from "../lib/cli";

const { option } = commandLine(`  npx tsx bench/investigations/stream-retention.ts [--chunks=1000000] [--modes=js-stream,byte-stream,identity]`);
const chunks = Number(option("chunks", "1000000"));
const modes = option("modes", "js-stream,byte-stream,identity").split(",");

const PORT = await freePort();
const bundle = await bundleWorker("bench/investigations/stream-retention-worker.ts");
const dir = mkdtempSync(path.join(os.tmpdir(), "stream-retention-"));
const config = path.join(dir, "config.capnp");
// workerd resolves `embed` relative to the config file.
copyFileSync(bundle, path.join(dir, "probe.js"));
writeFileSync(
  config,
  `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .probe) ],
  sockets = [ (name = "http", address = "127.0.0.1:${PORT}", http = (), service = "main") ],
  v8Flags = ["--trace-gc"],
);
const probe :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "probe.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  compatibilityFlags = [${COMPATIBILITY_FLAGS.map((flag) => JSON.stringify(flag)).join(", ")}],
);
`,
);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
for (const mode of modes) {
  const workerd = spawn(path.join(ROOT, "node_modules", "workerd", "bin", "workerd"), ["serve", "--experimental", config], { stdio: ["ignore", "pipe", "inherit"] });
  let log = "";
  workerd.stdout.on("data", (data: Buffer) => (log += data.toString()));
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await fetch(`http://127.0.0.1:${PORT}/healthz`);
        break;
      } catch {
        await sleep(100);
      }
    }
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${PORT}/?mode=${mode}&chunks=${chunks}`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
    }
    const seconds = (performance.now() - started) / 1000;
    await sleep(200);
    const live = [...log.matchAll(/Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/g)].map((match) => Number(match[1]));
    const summary = live.length === 0 ? "no Mark-Compact happened" : `first ${live[0]} MB, last ${live[live.length - 1]} MB over ${live.length} Mark-Compacts`;
    console.log(`${mode.padEnd(12)} ${chunks} chunks, ${(bytes / 1048576).toFixed(0)} MiB in ${seconds.toFixed(1)} s — live heap after GC: ${summary}`);
  } finally {
    workerd.kill();
  }
}
