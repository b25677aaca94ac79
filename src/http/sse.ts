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
 * - The client going away cancels the native stream, which aborts the upstream fetch: at once through
 *   the request's abort signal (`enable_request_signal`, readNativeStream), and in any case at the
 *   body's next write (a frame or a keepalive), where the runtime's byte stream reports the cancel.
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
  // The body is the runtime's own byte stream, written from a pump, not a JS `ReadableStream` with a
  // `pull`: workerd (1.20260426) keeps ~76 bytes of JS heap per chunk enqueued into a JS stream that
  // backs a Response until the response ends — 76 MB live after 1M chunks, against a 128 MB isolate
  // limit — while an IdentityTransformStream stays flat (bench/FINDINGS.md "Memory").
  // Backpressure: a write resolves once the runtime has read it and the pump awaits every write, so a
  // slow client slows the native read down instead of filling the isolate (test/foundation/sse.test.ts).
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  // A whole native chunk's worth of items per read when `items` came from readNativeStream, instead
  // of one promise round trip through the runtime per native event (bench/RESULTS.md).
  const reader = readNativeItemBatches(items);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  /** When the last frame was written (keepalives are due `keepaliveMs` after it). */
  let lastWriteAt = Date.now();

  /** Ends the response: closes the body (or leaves it to the client that went away) and stops native. */
  const finish = (outcome: "completed" | "error" | "client_closed") => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (outcome !== "client_closed") writer.close().catch(() => undefined);
    void reader.cancel().catch(() => undefined);
    options.onEnd?.(outcome);
  };

  // The client going away errors the body's writable side; stop native at once, even while the pump
  // is waiting for native's next chunk.
  writer.closed.catch(() => finish("client_closed"));

  /**
   * Writes whole frames (one or more) as one chunk; resolves once the runtime has taken them, which
   * paces the pump (backpressure). The pump awaits every write: un-awaited writes paced by
   * `writer.ready` kept ~27 B of heap per write alive (bench/stream-retention.ts).
   */
  const write = async (frames: string): Promise<void> => {
    if (closed) return;
    lastWriteAt = Date.now();
    try {
      await writer.write(encoder.encode(frames));
    } catch {
      finish("client_closed");
    }
  };

  // One timer per idle period, not a clearTimeout + setTimeout per frame (timers are not cheap in
  // workerd and a long answer has ~100k frames; bench/RESULTS.md): a write only records its time, and
  // a timer that fires before the connection has been idle for `keepaliveMs` re-arms for the rest.
  const scheduleKeepalive = (delayMs: number) => {
    timer = setTimeout(() => {
      timer = undefined;
      if (closed || projector.done) return;
      const idleMs = Date.now() - lastWriteAt;
      if (idleMs < options.keepaliveMs) {
        scheduleKeepalive(options.keepaliveMs - idleMs);
        return;
      }
      void write(projector.keepalive());
      scheduleKeepalive(options.keepaliveMs);
    }, delayMs);
  };

  const pump = async (): Promise<void> => {
    /** Frames projected from the current batch, not written yet. */
    let out = "";
    try {
      for (;;) {
        const batch = await reader.read();
        if (closed) return;
        if (batch === null) {
          // readNativeStream always ends with a terminal event or a fault; reaching here means the
          // projector already finished, or the source was cancelled.
          finish(projector.done ? "completed" : "error");
          return;
        }
        for (const item of batch) {
          // Await only real promises: projectors answer most items synchronously, and an `await` per
          // native event is a microtask per event.
          const pushed = projector.push(item);
          let frames: readonly string[];
          if (isPromiseLike(pushed)) {
            // Nothing already projected waits behind an ownership claim or a usage lookup.
            if (out) {
              await write(out);
              out = "";
            }
            frames = await pushed;
            if (closed) return;
          } else {
            frames = pushed;
          }
          if (batch.length === 1) {
            // An event that arrived alone: one chunk per frame, exactly.
            for (const frame of frames) await write(frame);
          } else {
            for (const frame of frames) out += frame;
          }
          if (projector.done) break;
        }
        if (out) {
          await write(out);
          out = "";
        }
        if (closed) return;
        if (projector.done) {
          finish("completed");
          return;
        }
      }
    } catch (error) {
      if (closed) return;
      // A projector bug must not leave the client hanging: end with whatever terminal frame the
      // projector can still produce for a fault, then close. Frames it produced before stay.
      if (out) await write(out);
      if (!projector.done) {
        try {
          const frames = await projector.push({
            event: "fault",
            error: new NativeError({ kind: "protocol", status: 500, code: "gateway_stream_error", message: "the gateway failed while streaming" }),
          });
          if (frames.length > 0) await write(frames.join(""));
        } catch {
          // nothing more we can say
        }
      }
      console.error(JSON.stringify({ level: "error", msg: "stream projector failed", error: String(error) }));
      finish("error");
    }
  };

  void (async () => {
    if (initialFrames.length > 0) await write(initialFrames.join(""));
    if (projector.done) finish("completed");
    else {
      scheduleKeepalive(options.keepaliveMs);
      await pump();
    }
  })();
  return readable;
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** A `Response` carrying an SSE body with the standard headers plus `extraHeaders`. */
export function sseResponse(body: ReadableStream<Uint8Array>, extraHeaders: Record<string, string> = {}): Response {
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...extraHeaders } });
}
