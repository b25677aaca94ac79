/**
 * What a large request's first byte pays for being buffered (issue 18: "a 94 KB request's TTFB within
 * +1 ms of pass-through"): the long stream's request (≈ 94 KB, bench/lib/workload.ts) sent, in
 * interleaved rounds at c = 1 over keep-alive, to the streaming pass-through worker, to the same worker
 * reading the whole body first (buffered-passthrough-worker.ts: what any JSON-parsing gateway must do),
 * and to the gateway's chat route. TTFB p50 of each.
 *
 *   npx tsx bench/investigations/buffered-passthrough.ts [--rounds=15]
 */
import http from "node:http";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { migrateLocalD1, oneRequest, requestFor, type TargetKind } from "../e2e";
import { startMiniflareGateway, startMiniflarePassthrough } from "../lib/miniflare-runtime";
import { startEmulatorProcess } from "../lib/proc";
import { buildGatewaySnapshot } from "../lib/snapshot";
import { median } from "../lib/stats";
import { emulatorDirective, LONG_STREAM, MESSAGE_TOKENS } from "../lib/workload";

const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.split("=")[1] ?? "15");
const snapshot = buildGatewaySnapshot();
const emulator = await startEmulatorProcess();
const persistDir = mkdtempSync(path.join(os.tmpdir(), "bench-buffered-"));
migrateLocalD1(snapshot, persistDir);
const streaming = await startMiniflarePassthrough(emulator.url);
const buffered = await startMiniflarePassthrough(emulator.url, false, "bench/investigations/buffered-passthrough-worker.ts");
const gateway = await startMiniflareGateway(snapshot, emulator.url, persistDir);
const prompt = emulatorDirective(LONG_STREAM);
// The same request size with a short answer: what the size costs apart from the long stream behind it.
const shortAnswer = `${"filler ".repeat(Math.ceil((prompt.length - 60) / 7))}${emulatorDirective({ reasoningDeltas: 0, messageDeltas: MESSAGE_TOKENS.length })}`;
const subjects: Array<{ name: string; url: string; kind: TargetKind; prompt: string }> = [
  { name: "pass-through, body streamed", url: streaming.url, kind: "native", prompt },
  { name: "pass-through, body buffered", url: buffered.url, kind: "native", prompt },
  { name: "gateway · chat", url: gateway.url, kind: "chat", prompt },
  { name: "short answer: pass-through", url: streaming.url, kind: "native", prompt: shortAnswer },
  { name: "short answer: gateway · chat", url: gateway.url, kind: "chat", prompt: shortAnswer },
];
try {
  const ttfb = new Map(subjects.map((s) => [s.name, [] as number[]]));
  const agents = new Map(subjects.map((s) => [s.name, new http.Agent({ keepAlive: true, maxSockets: 1 })]));
  const spec = (kind: TargetKind, text = prompt) => requestFor(kind, text);
  console.log(`request body: ${Buffer.byteLength(spec("native").body)} B (native), ${Buffer.byteLength(spec("chat").body)} B (chat), short answer ${Buffer.byteLength(spec("chat", shortAnswer).body)} B`);
  for (let round = -2; round < rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const subject = subjects[(Math.max(round, 0) + k) % subjects.length]!;
      const sample = await oneRequest(agents.get(subject.name)!, subject.url, spec(subject.kind, subject.prompt), 120_000);
      if (!sample.ok) throw new Error(`${subject.name}: ${sample.error}`);
      if (round >= 0) ttfb.get(subject.name)!.push(sample.ttfbMs);
      await fetch(`${emulator.url}/__emulator/reset`, { method: "POST", body: "{}" }).then((r) => r.arrayBuffer());
    }
  }
  for (const subject of subjects) {
    const reference = median(ttfb.get(subject.name.startsWith("short answer") ? "short answer: pass-through" : subjects[0]!.name)!);
    const p50 = median(ttfb.get(subject.name)!);
    console.log(`${subject.name.padEnd(30)} TTFB p50 ${p50.toFixed(2)} ms  (${p50 - reference >= 0 ? "+" : ""}${(p50 - reference).toFixed(2)} vs streamed)`);
  }
} finally {
  await Promise.all([streaming.stop(), buffered.stop(), gateway.stop(), emulator.stop()]);
}
process.exit(0);
