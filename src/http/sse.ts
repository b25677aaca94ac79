/**
 * The shared streaming pipeline: native stream items → projector → SSE bytes.
 *
 * - One SSE event per write (ARCHITECTURE.md): a frame is never split across chunks, because some
 *   clients' parsers drop an event split across reads. One exception keeps long answers cheap: when
 *   native delivered several events in one chunk (a burst: a fast model, a long answer, ~100k frames),
 *   their frames go out as one chunk of whole frames — a per-frame encode + enqueue + runtime read
 *   costs more than projecting the frame (bench/RESULTS.md), and frames produced in the same tick reach
 *   the socket together anyway. Frames produced before an awaited projector step are sent first.
 * - Keepalive frames while native is idle, at most `keepaliveMs` apart (≤ 15 s; client-protocols.md
 *   §3.1, anchors.md pain point 5).
 * - Closes right after the projector's terminal frame (Codex only completes on EOF; §3.1).
 * - The client going away cancels the native stream, which aborts the upstream fetch.
 * - A projector that throws still ends the stream with its own terminal error frame when it can.
 */
import { NativeError } from "../native/errors";
import { readNativeItemBatches, type NativeStreamItem } from "../native/events";
import type { StreamProjector } from "../protocols/projector";

const encoder = new TextEncoder();

export interface SseOptions {
  keepaliveMs: number;
  /** Called once the stream ends (terminal frame sent, client gone or failure), for logging. */
  onEnd?: (outcome: "completed" | "client_closed" | "error") => void;
}

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
  // Disable proxy buffering (nginx and friends) so deltas reach the client as they happen.
  "x-accel-buffering": "no",
};

/** Streams `items` through `projector` into SSE bytes. `initialFrames` are sent first (already projected). */
export function projectToSse(
  items: ReadableStream<NativeStreamItem>,
  projector: StreamProjector,
  options: SseOptions,
  initialFrames: readonly string[] = [],
): ReadableStream<Uint8Array> {
  // A whole native chunk's worth of items per read when `items` came from readNativeStream, instead
  // of one promise round trip through the runtime per native event (bench/RESULTS.md).
  const reader = readNativeItemBatches(items);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  /** When the last frame was enqueued (keepalives are due `keepaliveMs` after it). */
  let lastWriteAt = 0;

  const finish = (controller: ReadableStreamDefaultController<Uint8Array>, outcome: "completed" | "error") => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    try {
      controller.close();
    } catch {
      // already closed by a cancel
    }
    void reader.cancel().catch(() => undefined);
    options.onEnd?.(outcome);
  };

  // One timer per idle period, not a clearTimeout + setTimeout per frame (timers are not cheap in
  // workerd and a long answer has ~100k frames; bench/RESULTS.md): a write only records its time, and
  // a timer that fires before the connection has been idle for `keepaliveMs` re-arms for the rest.
  const scheduleKeepalive = (controller: ReadableStreamDefaultController<Uint8Array>, delayMs: number) => {
    timer = setTimeout(() => {
      timer = undefined;
      if (closed || projector.done) return;
      const idleMs = Date.now() - lastWriteAt;
      if (idleMs < options.keepaliveMs) {
        scheduleKeepalive(controller, options.keepaliveMs - idleMs);
        return;
      }
      controller.enqueue(encoder.encode(projector.keepalive()));
      lastWriteAt = Date.now();
      scheduleKeepalive(controller, options.keepaliveMs);
    }, delayMs);
  };

  /** Enqueues whole frames (one or more) as one chunk. */
  const write = (controller: ReadableStreamDefaultController<Uint8Array>, frames: string) => {
    controller.enqueue(encoder.encode(frames));
    lastWriteAt = Date.now();
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (initialFrames.length > 0) write(controller, initialFrames.join(""));
      else lastWriteAt = Date.now();
      if (projector.done) {
        finish(controller, "completed");
        return;
      }
      scheduleKeepalive(controller, options.keepaliveMs);
    },
    async pull(controller) {
      if (closed) return;
      /** Frames projected from the current batch, not enqueued yet. */
      let out = "";
      try {
        // Loop until at least one frame was produced, so pull() keeps backpressure honest.
        for (;;) {
          const batch = await reader.read();
          if (batch === null) {
            // readNativeStream always ends with a terminal event or a fault; reaching here means the
            // projector already finished, or the source was cancelled.
            finish(controller, projector.done ? "completed" : "error");
            return;
          }
          let wrote = false;
          for (const item of batch) {
            // Await only real promises: projectors answer most items synchronously, and an `await` per
            // native event is a microtask per event.
            const pushed = projector.push(item);
            let frames: readonly string[];
            if (isPromiseLike(pushed)) {
              // Nothing already projected waits behind an ownership claim or a usage lookup.
              if (out) {
                write(controller, out);
                out = "";
                wrote = true;
              }
              frames = await pushed;
              if (closed) return;
            } else {
              frames = pushed;
            }
            if (batch.length === 1) {
              // An event that arrived alone: one chunk per frame, exactly.
              for (const frame of frames) write(controller, frame);
              if (frames.length > 0) wrote = true;
            } else {
              for (const frame of frames) out += frame;
            }
            if (projector.done) break;
          }
          if (out) {
            write(controller, out);
            out = "";
            wrote = true;
          }
          if (projector.done) {
            finish(controller, "completed");
            return;
          }
          if (wrote) return;
        }
      } catch (error) {
        // A projector bug must not leave the client hanging: end with whatever terminal frame the
        // projector can still produce for a fault, then close. Frames it produced before stay.
        if (out && !closed) write(controller, out);
        if (!projector.done) {
          try {
            const frames = await projector.push({
              event: "fault",
              error: new NativeError({ kind: "protocol", status: 500, code: "gateway_stream_error", message: "the gateway failed while streaming" }),
            });
            if (frames.length > 0) write(controller, frames.join(""));
          } catch {
            // nothing more we can say
          }
        }
        console.error(JSON.stringify({ level: "error", msg: "stream projector failed", error: String(error) }));
        finish(controller, "error");
      }
    },
    cancel() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      void reader.cancel().catch(() => undefined);
      options.onEnd?.("client_closed");
    },
  });
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** A `Response` carrying an SSE body with the standard headers plus `extraHeaders`. */
export function sseResponse(body: ReadableStream<Uint8Array>, extraHeaders: Record<string, string> = {}): Response {
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...extraHeaders } });
}
