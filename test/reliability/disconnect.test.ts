/**
 * A client that goes away cancels its native run (issue 17 item 6): a run nobody reads keeps
 * costing the application its model calls. Streaming (the client stops reading) and blocking (the
 * request is aborted), all three protocols, checked on the emulator's own run status. With an
 * `Idempotency-Key` the run is kept: the client is expected to retry, and the retry attaches to it
 * (src/routes/run-steps.ts).
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { create, nativeCreatesWith, nonce, sleep } from "./helpers";
import { PROTOCOLS } from "./protocols";

async function emulatorStatus(runId: string): Promise<string> {
  const response = await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/runs/${runId}`);
  return ((await response.json()) as { data: { status: string } }).data.status;
}

/** The run this test's nonce created (once native has it). */
async function runOf(marker: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const runId = (await nativeCreatesWith(marker))[0]?.run_id;
    if (runId) return runId;
    await sleep(20);
  }
  throw new Error(`no native run for ${marker}`);
}

async function statusWithin(runId: string, want: string, ms: number): Promise<string> {
  let status = await emulatorStatus(runId);
  for (const started = Date.now(); status !== want && Date.now() - started < ms; status = await emulatorStatus(runId)) await sleep(50);
  return status;
}

describe.concurrent("a client that goes away cancels its native run", () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name} streaming: the client stops reading → the run is cancelled`, async () => {
      const marker = nonce();
      // In-process the gateway sees the client leave at its next write (a keepalive at the latest;
      // through the runtime the request's abort signal says it at once).
      const response = await create(protocol, emu({ text: ["first ", "never"], delta_delay_ms: 400, wait_ms: 5_000 }, `leave ${marker}`), true, {
        overrides: { KEEPALIVE_INTERVAL_MS: "50" },
      });
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
      expect(await statusWithin(await runOf(marker), "cancelled", 5_000)).toBe("cancelled");
    });

    it(`${protocol.name} blocking: the request is aborted → the run is cancelled`, async () => {
      const marker = nonce();
      const controller = new AbortController();
      const pending = create(protocol, emu({ text: ["slow"], wait_ms: 5_000 }, `abort ${marker}`), false, { signal: controller.signal }).catch((error: unknown) => error);
      const runId = await runOf(marker);
      controller.abort();
      await pending;
      expect(await statusWithin(runId, "cancelled", 5_000)).toBe("cancelled");
    });

    it(`${protocol.name}: with an Idempotency-Key the run is kept for the retry, which gets its answer`, async () => {
      const marker = nonce();
      const text = emu({ text: ["kept ", marker], wait_ms: 600 }, `keep ${marker}`);
      const headers = { "idempotency-key": `keep-${marker}` };
      const response = await create(protocol, text, true, { headers });
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
      const runId = await runOf(marker);
      expect(await statusWithin(runId, "succeeded", 5_000)).toBe("succeeded");
      const retried = await create(protocol, text, false, { headers: { ...headers } });
      // A blocking retry of a streamed first attempt is another request body (`stream` differs): 409.
      expect(retried.status).toBe(409);
      const again = await create(protocol, text, true, { headers });
      expect(protocol.readStream(await again.text())).toMatchObject({ kind: "success", text: `kept ${marker}` });
    });
  }
});
