/**
 * The SSE body pump (`src/http/sse.ts`): a slow client slows the native read down (nothing buffers
 * the answer in the isolate), and a reader that cancels the body stops native at the pump's next write.
 */
import { describe, expect, it } from "vitest";
import { projectToSse } from "../../src/http/sse";
import { readNativeStream, type NativeStreamItem } from "../../src/native/events";
import { ChatStreamProjector } from "../../src/protocols/openai-chat/stream";

const RUN = "0197a3c4-0000-7000-8000-000000000001";
const encoder = new TextEncoder();
const frame = (event: string, data: Record<string, unknown>) =>
  encoder.encode(`event: ${event}\ndata: ${JSON.stringify({ run_id: RUN, created_at: "2026-06-26T14:52:53.200Z", ...data })}\n\n`);

/**
 * Native's body: run.started, `deltas` message deltas of `deltaLength` characters (~1 KiB by default),
 * one per chunk, then run.completed unless `stall`.
 */
function nativeBody(deltas: number, options: { stall?: boolean; deltaLength?: number } = {}) {
  const state = { pulls: 0, cancelled: false };
  const text = "x".repeat(options.deltaLength ?? 1000);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulls++;
      if (sent === 0) controller.enqueue(frame("run.started", { status: "running" }));
      else if (sent <= deltas) controller.enqueue(frame("message.delta", { status: "running", delta: text }));
      else if (options.stall) return new Promise<void>(() => undefined);
      else if (sent === deltas + 1) controller.enqueue(frame("run.completed", { status: "succeeded", answer: "", usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      else controller.close();
      sent++;
      return undefined;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("projectToSse", () => {
  it("reads native only as fast as the client reads the body", async () => {
    const native = nativeBody(2_000);
    const body = projectToSse(readNativeStream(native.stream, { idleMs: 5_000 }), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 10_000 });
    await settle(100);
    // ~2 MiB of answer is waiting, nobody reads the body: the pump stops after a few chunks.
    expect(native.state.pulls).toBeGreaterThanOrEqual(1);
    expect(native.state.pulls).toBeLessThan(100);
    const text = await new Response(body).text();
    expect(native.state.pulls).toBeGreaterThanOrEqual(2_002);
    expect(text.split('"content":"x').length - 1).toBe(2_000);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("a burst of native events (one per chunk) goes out in a few writes, not a write per frame", async () => {
    const native = nativeBody(2_000, { deltaLength: 5 });
    const body = projectToSse(readNativeStream(native.stream, { idleMs: 5_000 }), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 10_000 });
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of body) chunks.push(decoder.decode(chunk));
    const text = chunks.join("");
    expect(text.split('"content":"xxxxx"').length - 1).toBe(2_000);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    // 2,003 frames of ~220 B (role, 2,000 deltas, finish, [DONE]) arriving faster than one per write
    // window: a write per frame would be 2,003 reads; batched writes are read in pieces of at most
    // 4 KiB (the runtime's read size, which also splits any bigger write), so ~110 here.
    expect(chunks.length).toBeLessThan(500);
  });

  it("a frame that arrives inside the write window goes out when the window ends, while native says nothing more", async () => {
    const native = nativeBody(1, { stall: true, deltaLength: 5 });
    // A wide window: the role chunk goes out at once, the delta right after it must wait for the
    // window's timer (nothing else will write: native stalls, keepalives are 10 s away).
    const body = projectToSse(readNativeStream(native.stream, { idleMs: 60_000 }), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 10_000, writeWindowMs: 200 });
    const reader = body.getReader();
    let seen = "";
    const deadline = Date.now() + 2_000;
    while (!seen.includes('"content":"xxxxx"') && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), settle(2_000).then(() => null)]);
      if (next === null || next.done) break;
      seen += new TextDecoder().decode(next.value);
    }
    expect(seen).toContain('"content":"xxxxx"');
    expect(seen).not.toContain(": keepalive");
    await reader.cancel();
  });

  it("a reader that cancels the body stops native at the next write (a keepalive at the latest)", async () => {
    const native = nativeBody(1, { stall: true });
    const body = projectToSse(readNativeStream(native.stream, { idleMs: 60_000 }), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 50 });
    const reader = body.getReader();
    let seen = "";
    while (!seen.includes('"content":"x')) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    for (let waited = 0; waited < 2_000 && !native.state.cancelled; waited += 20) await settle(20);
    expect(native.state.cancelled).toBe(true);
  });

  /** The non-empty `delta.content` of each chat chunk in `sse`, in order. */
  const chatContent = (sse: string): string[] =>
    sse
      .split("\n\n")
      .filter((frame) => frame.startsWith("data: {"))
      .map((frame) => (JSON.parse(frame.slice(6)) as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content ?? "")
      .filter((content) => content !== "");

  /** A short answer as native sends it when it is fast (and the emulator always): one chunk. */
  const oneChunkAnswer = () => {
    const whole = new Uint8Array([
      ...frame("run.started", { status: "running" }),
      ...Array.from({ length: 40 }, () => [...frame("message.delta", { status: "running", delta: "x" })]).flat(),
      ...frame("run.completed", { status: "succeeded", answer: "x".repeat(40), usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }),
    ]);
    return readNativeStream(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(whole);
          controller.close();
        },
      }),
      { idleMs: 5_000 },
    );
  };

  it("the first frames go to the runtime before the rest of native's first chunk is projected", async () => {
    // The runtime writes a frame only once JS yields to the event loop: the rest of the batch waits.
    const body = projectToSse(oneChunkAnswer(), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 10_000 });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    const firstText = decoder.decode(first.value);
    expect(firstText).toContain('"role":"assistant"');
    expect(firstText).not.toContain('"content":"x"');
    let rest = "";
    for (let next = await reader.read(); !next.done; next = await reader.read()) rest += decoder.decode(next.value);
    // The rest of the chunk arrived together: its 40 deltas are one (TextCoalescer), the text whole.
    expect(chatContent(rest)).toEqual(["x".repeat(40)]);
    expect(rest.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("frames the route already holds go to the runtime before the rest of native's first chunk is projected", async () => {
    // A route that read the first item before answering (Responses) finds the rest of the chunk
    // already decoded. Projecting it must wait for a macrotask, so the runtime can take the Response
    // and send its headers and the held frames first.
    const items = oneChunkAnswer();
    const chat = new ChatStreamProjector({ model: "m", includeUsage: false });
    let pushed = 0;
    const projector = {
      push: (item: NativeStreamItem) => {
        pushed++;
        return chat.push(item);
      },
      take: () => chat.take(),
      keepalive: () => chat.keepalive(),
      get done() {
        return chat.done;
      },
    };
    const reader = items.getReader();
    const first = await reader.read();
    reader.releaseLock();
    if (first.done) throw new Error("no first item");
    await projector.push(first.value);
    const body = projectToSse(items, projector, { keepaliveMs: 10_000 });
    // Microtasks only: everything a pump started at once would do without the event loop turning.
    for (let turn = 0; turn < 200; turn++) await Promise.resolve();
    expect(pushed).toBe(1);
    const text = await new Response(body).text();
    expect(pushed).toBe(42);
    expect(chatContent(text)).toEqual(["x".repeat(40)]);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("onFirstWrite waits for the runtime to take the first frames, and comes once", async () => {
    let calls = 0;
    const body = projectToSse(oneChunkAnswer(), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 10_000, onFirstWrite: () => calls++ });
    // The first frames are written but nobody has read them: the write is not taken yet.
    await settle(50);
    expect(calls).toBe(0);
    const reader = body.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"');
    await settle(0);
    expect(calls).toBe(1);
    while (!(await reader.read()).done) {
      // the rest of the answer
    }
    expect(calls).toBe(1);
  });

  it("onFirstWrite still comes when the client leaves before taking any frame", async () => {
    let calls = 0;
    const native = nativeBody(10, { stall: true });
    const body = projectToSse(readNativeStream(native.stream, { idleMs: 5_000 }), new ChatStreamProjector({ model: "m", includeUsage: false }), { keepaliveMs: 10_000, onFirstWrite: () => calls++ });
    await settle(20);
    expect(calls).toBe(0);
    await body.cancel();
    await settle(20);
    expect(calls).toBe(1);
    expect(native.state.cancelled).toBe(true);
  });

  it("a projector that throws, in push and then in take, still ends the stream with its terminal frame", async () => {
    // The pump's fault path calls `take` first, which flushes joined text into the encoder: a bug
    // there must not leave the client waiting on a body that never ends.
    let out = "";
    let done = false;
    let broken = false;
    let takeFailed = false;
    const projector = {
      push(item: NativeStreamItem): void {
        if (item.event === "fault") {
          out += "data: terminal error\n\n";
          done = true;
          return;
        }
        if (item.event === "message.delta" && item.data.delta === "boom") {
          broken = true;
          throw new Error("projector bug");
        }
        out += `data: ${item.event}\n\n`;
      },
      take(): string {
        if (broken && !takeFailed) {
          takeFailed = true;
          throw new Error("take bug");
        }
        const frames = out;
        out = "";
        return frames;
      },
      keepalive: () => ":\n\n",
      get done() {
        return done;
      },
    };
    const items = new ReadableStream<NativeStreamItem>({
      start(controller) {
        controller.enqueue({ event: "run.started", id: null, data: { run_id: "r", status: "running" } });
        controller.enqueue({ event: "message.delta", id: null, data: { run_id: "r", status: "running", delta: "boom" } });
      },
    });
    const body = projectToSse(items, projector, { keepaliveMs: 10_000 });
    const text = await new Response(body).text();
    expect(takeFailed).toBe(true);
    expect(text.startsWith("data: run.started\n\n")).toBe(true);
    expect(text.endsWith("data: terminal error\n\n")).toBe(true);
  });
});
