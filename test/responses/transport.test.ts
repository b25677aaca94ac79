/**
 * Transport behaviour of a Responses stream: keepalives while native is idle, and a client that goes
 * away aborting the upstream native fetch (client-protocols.md §3.1, anchors.md pain points 1 and 5).
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { createApp } from "../../src/app";
import { checkEventOrder, EMULATOR_KEYS, MODEL, nativeRequests, parseSse } from "./helpers";

const post = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
  body: JSON.stringify(body),
});

describe("Responses stream transport", () => {
  it("sends SSE comment keepalives while native is idle, and the events stay intact", async () => {
    const app = createApp();
    // A 20 ms keepalive cadence against a 400 ms native stall: several keepalives must appear.
    const response = await app.fetch(
      new Request("http://gw/v1/responses", post({ model: MODEL, input: emu({ text: ["before", "after"], stall_ms: 400 }, "q"), stream: true })),
      { ...env, KEEPALIVE_INTERVAL_MS: "20" },
    );
    const text = await response.text();
    const beforeStall = text.indexOf('"delta":"before"');
    const afterStall = text.indexOf('"delta":"after"');
    const keepalives = text.slice(beforeStall, afterStall).split(": keepalive\n\n").length - 1;
    expect(keepalives).toBeGreaterThanOrEqual(2);
    checkEventOrder(parseSse(text));
  });

  it.each([
    // Through the runtime: workerd tears the request down when the client goes away.
    ["through the runtime", (init: RequestInit) => SELF.fetch("http://gw/v1/responses", init)],
    // In-process: only the gateway's own cancel path (the body's next write fails → native body
    // cancelled) can close it; the cancel is seen at the next write, a keepalive at the latest.
    ["through the gateway's own cancel path", (init: RequestInit) => createApp().fetch(new Request("http://gw/v1/responses", init), { ...env, KEEPALIVE_INTERVAL_MS: "100" })],
  ])("a client that disconnects mid-stream aborts the native request (%s)", async (_how, send) => {
    const response = await send(post({ model: MODEL, input: emu({ text: ["never"], wait_ms: 15_000 }, "abandon me"), stream: true }));
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("response.in_progress")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("stream ended early");
      text += decoder.decode(value, { stream: true });
    }
    const responseId = (parseSse(text.slice(0, text.lastIndexOf("\n\n") + 2))[0]?.data.response as { id: string }).id;
    const hex = responseId.slice(5);
    const runId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    await reader.cancel();

    // The native run would hold its streaming request open for 15 s; the abort closes it at once.
    // (Polled: the close travels through workerd's socket to the emulator asynchronously.)
    let closed = false;
    for (let attempt = 0; attempt < 100 && !closed; attempt++) {
      const create = (await nativeRequests({ runId })).find((request) => request.method === "POST" && request.path === "/api/agent/v1/runs");
      closed = (create as { status?: number | null } | undefined)?.status != null;
      if (!closed) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(closed).toBe(true);
  });
});
