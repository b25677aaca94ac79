/**
 * The shared streaming pipeline: native stream items → projector → SSE bytes.
 *
 * - Whole frames per write (ARCHITECTURE.md "One SSE event per write"): a frame is never split across
 *   writes, because some clients' parsers drop an event split across reads. Frames are not one write
 *   each, though (Nagle-like): the first frame after a quiet `WRITE_WINDOW_MS` goes out at once; frames
 *   that follow within the window (a burst: native sends one event per chunk, and a fast model or a
 *   long answer sends them back to back) wait at most that long and go out together, never while a
 *   write is still in flight. A write per event cost the worker more than projecting the event
 *   (bench/stream-profile.ts). The terminal frame goes out at once, with whatever waits before it. At
 *   most `COALESCE_LIMIT` characters wait before the pump stops reading native (backpressure).
 * - The first frames go out before the rest of a batch is projected: the pump waits for the runtime
 *   to read them (their write's promise), since a fast native's first chunk holds a whole short
 *   answer and the runtime writes nothing until JS yields to the event loop (bench/FINDINGS.md,
 *   session 8).
 * - Keepalive frames while native is idle, at most `keepaliveMs` apart (≤ 15 s; client-protocols.md
 *   §3.1, anchors.md pain point 5).
 * - Closes right after the projector's terminal frame (Codex only completes on EOF; §3.1).
 * - The client going away cancels the native stream, which aborts the upstream fetch: at once through
 *   the request's abort signal (`enable_request_signal`, readNativeStream), and in any case at the
 *   body's next write (a frame or a keepalive), where the runtime's byte stream reports the cancel.
 * - A projector that throws still ends the stream with its own terminal error frame when it can.
 */
import type { NativeAnswerReader } from "../native/answer";
import { NativeError } from "../native/errors";
import { readNativeItemBatches, type NativeStreamItem } from "../native/events";

/**
 * What the pump drives: one response's answer reader and protocol encoder, producing whole SSE frames.
 * Every projector keeps these rules: exactly one terminal frame (protocol success or protocol error),
 * after which `done` is true and nothing more is produced; a fault and a failed or cancelled run
 * become the protocol's terminal error frames — never a silent close.
 */
export interface SseProjector {
  /** Reads one native item; its frames accumulate until `take`. A promise while the item needs the run record. */
  push(item: NativeStreamItem): void | PromiseLike<void>;
  /** The frames produced since the last call, concatenated ("" when none). */
  take(): string;
  /** A frame that keeps the connection alive while native is idle (an SSE comment or Anthropic's `ping`). */
  keepalive(): string;
  /** True once the terminal frame has been produced (or is being produced after a record lookup). */
  readonly done: boolean;
}

/**
 * The common part of every protocol's SSE projector: the native answer reader feeds the protocol's
 * encoder, whose writer appends frames to `out`.
 */
export abstract class AnswerSseProjector implements SseProjector {
  protected out = "";
  protected abstract readonly reader: NativeAnswerReader;

  push(item: NativeStreamItem): void | Promise<void> {
    return this.reader.push(item);
  }

  take(): string {
    // Text the reader joined (a burst of native deltas) becomes frames now: one delta per native read.
    this.reader.flushText();
    const out = this.out;
    this.out = "";
    return out;
  }

  get done(): boolean {
    return this.reader.done;
  }

  abstract keepalive(): string;
}

/** Formats one SSE frame with an event name (`event: x\ndata: {...}\n\n`). */
export function namedFrame(event: string, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}

/** Formats one data-only SSE frame (`data: {...}\n\n`), as Chat Completions requires. */
export function dataFrame(json: string): string {
  return `data: ${json}\n\n`;
}

/**
 * The OpenAI stream sentinel after the last frame: Chat Completions always ends with it, and the Open
 * Responses specification requires it after a Responses stream's terminal event too. openai-node's
 * `Stream` and the AI SDK's event-stream parser both skip a `[DONE]` data line on any stream.
 */
export const DONE_FRAME = "data: [DONE]\n\n";

/** SSE comment used as keepalive by the OpenAI protocols (ignored by every SSE parser). */
export const KEEPALIVE_COMMENT = ": keepalive\n\n";

const encoder = new TextEncoder();

/**
 * Characters of projected frames that may wait behind the write in flight before the pump stops
 * reading native: enough to batch a burst of deltas, small enough that a client that stops reading
 * holds native back after a few native chunks (test/foundation/sse.test.ts).
 */
const COALESCE_LIMIT = 16 * 1024;

/**
 * At most one write per this many ms while frames keep coming faster: a burst of native events (one
 * per native chunk) goes out in a few writes instead of one per event; the first frame after a quiet
 * window goes out at once, so at token pace (events ≥ a few ms apart) nothing waits.
 */
const WRITE_WINDOW_MS = 1;

export interface SseOptions {
  keepaliveMs: number;
  /** The write window (default `WRITE_WINDOW_MS`); tests widen it to make the window observable. */
  writeWindowMs?: number;
  /**
   * Called once the stream ends (terminal frame sent, client gone or failure), for logging; `fault`
   * is what a projector threw (without `onEnd` it is logged here).
   */
  onEnd?: (outcome: "completed" | "client_closed" | "error", fault?: unknown) => void;
  /** Called once, when the first bytes are handed to the runtime (time to first byte). */
  onFirstBytes?: () => void;
  /**
   * Called once, when the runtime has taken the first write (it is on its way to the client), or when
   * the body ends without one having been taken. Work that must not delay the first byte waits for it
   * (routes/responses.ts: the ownership claim's D1 write).
   */
  onFirstWrite?: () => void;
}

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
  // Disable proxy buffering (nginx and friends) so deltas reach the client as they happen.
  "x-accel-buffering": "no",
};

/**
 * Streams `items` through `projector` into SSE bytes. Frames the projector already holds (a route
 * that read the first item before answering) are sent first.
 */
export function projectToSse(items: ReadableStream<NativeStreamItem>, projector: SseProjector, options: SseOptions): ReadableStream<Uint8Array> {
  // The body is the runtime's own byte stream, written from a pump, not a JS `ReadableStream` with a
  // `pull`: workerd (1.20260426) keeps ~76 bytes of JS heap per chunk enqueued into a JS stream that
  // backs a Response until the response ends — 76 MB live after 1M chunks, against a 128 MB isolate
  // limit — while an IdentityTransformStream stays flat (bench/FINDINGS.md "Memory").
  // Backpressure: a write resolves once the runtime has read it, at most one is in flight, and the
  // pump stops reading native while `COALESCE_LIMIT` characters wait behind it, so a slow client slows
  // the native read down instead of filling the isolate (test/foundation/sse.test.ts).
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  // A whole native chunk's worth of items per read when `items` came from readNativeStream, instead
  // of one promise round trip through the runtime per native event (bench/RESULTS.md).
  const reader = readNativeItemBatches(items);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  /** When frames were last queued (keepalives are due `keepaliveMs` after it). */
  let lastWriteAt = Date.now();
  /** Frames projected and not yet handed to the runtime (they wait for the write window). */
  let pending = "";
  /** The one write in flight; null when the runtime has taken everything. */
  let inFlight: Promise<void> | null = null;
  /** When the last write started, and the timer that starts the next one at the window's end. */
  let lastFlushAt = 0;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const writeWindowMs = options.writeWindowMs ?? WRITE_WINDOW_MS;
  let firstBytes = options.onFirstBytes;
  let firstWritten = options.onFirstWrite;
  const firstWriteTaken = (): void => {
    const taken = firstWritten;
    firstWritten = undefined;
    taken?.();
  };

  /** Ends the response: closes the body (or leaves it to the client that went away) and stops native. */
  const finish = (outcome: "completed" | "error" | "client_closed", fault?: unknown) => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    if (outcome !== "client_closed") {
      // Queued behind the write in flight, in order, then the end of the body.
      if (pending) {
        firstBytes?.();
        firstBytes = undefined;
        writer.write(encoder.encode(pending)).catch(() => undefined);
      }
      writer.close().catch(() => undefined);
    }
    pending = "";
    void reader.cancel().catch(() => undefined);
    firstWriteTaken();
    options.onEnd?.(outcome, fault);
  };

  // The client going away errors the body's writable side; stop native at once, even while the pump
  // is waiting for native's next chunk.
  writer.closed.catch(() => finish("client_closed"));

  /**
   * Hands `pending` to the runtime as one chunk. The write resolves once the runtime has read it.
   * Every write is awaited (by this chain): writes paced only by `writer.ready` kept ~27 B of heap per
   * write alive (bench/stream-retention.ts).
   */
  const flush = (): void => {
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    const chunk = pending;
    pending = "";
    lastFlushAt = Date.now();
    if (firstBytes) {
      firstBytes();
      firstBytes = undefined;
    }
    inFlight = writer.write(encoder.encode(chunk)).then(
      () => {
        inFlight = null;
        firstWriteTaken();
        schedule();
      },
      () => {
        inFlight = null;
        finish("client_closed");
      },
    );
  };

  /**
   * Starts the next write now if the last one started `writeWindowMs` ago (or a full chunk waits),
   * else at the window's end; never while a write is in flight (its end calls this again).
   */
  const schedule = (): void => {
    if (closed || inFlight !== null || flushTimer !== undefined || !pending) return;
    const wait = lastFlushAt + writeWindowMs - Date.now();
    if (wait <= 0 || pending.length >= COALESCE_LIMIT) flush();
    else
      flushTimer = setTimeout(() => {
        flushTimer = undefined;
        // The window is over when its timer fires; not re-checked against the clock, which in workerd
        // only moves with I/O. A write started meanwhile calls `schedule` again when it ends.
        if (!closed && inFlight === null && pending) flush();
      }, wait);
  };

  /** True once any frame has been queued: the response's first bytes are on their way. */
  let sentAny = false;

  /**
   * Resolves once the runtime has read the write in flight (at once when none is): the first frames
   * are then on their way to the client. Waiting for the write, not for a timer: a `setTimeout(0)`
   * here (a macrotask) held everything after the first frame back by ≈ 1 ms in workerd, whose timers
   * count whole milliseconds — a short answer's total time grew by that much (bench/FINDINGS.md).
   */
  const firstWrite = async (): Promise<void> => {
    if (inFlight !== null) await inFlight;
  };

  /** Queues whole frames; the first after a quiet window goes out at once, a burst's in one write. */
  const send = (frames: string): void => {
    if (closed || !frames) return;
    sentAny = true;
    lastWriteAt = Date.now();
    pending += frames;
    schedule();
  };

  /** Resolves once fewer than `COALESCE_LIMIT` characters wait: a slow client slows the native read. */
  const room = async (): Promise<void> => {
    while (!closed && pending.length >= COALESCE_LIMIT) {
      if (inFlight !== null) await inFlight;
      else flush();
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
      send(projector.keepalive());
      scheduleKeepalive(options.keepaliveMs);
    }, delayMs);
  };

  const pump = async (): Promise<void> => {
    try {
      for (;;) {
        await room();
        if (closed) return;
        const batch = await reader.read();
        if (closed) return;
        if (batch === null) {
          // readNativeStream always ends with a terminal event or a fault; reaching here means the
          // projector already finished, or the source was cancelled.
          finish(projector.done ? "completed" : "error");
          return;
        }
        for (const item of batch) {
          // Await only real promises: the reader answers nearly every item synchronously, and an
          // `await` per native event is a microtask per event.
          const pending = projector.push(item);
          if (pending) {
            // Nothing already projected waits behind a run-record lookup.
            send(projector.take());
            await pending;
            if (closed) return;
          }
          if (projector.done) break;
          if (!sentAny) {
            // The response's first frames go to the runtime before the rest of the batch (up to a
            // 16 KiB read of native, ~100 events of a fast answer) is projected: the runtime can
            // only write them once JS yields to the event loop, which a microtask does not.
            const first = projector.take();
            if (first) {
              send(first);
              await firstWrite();
              if (closed) return;
            }
          }
        }
        send(projector.take());
        if (projector.done) {
          finish("completed");
          return;
        }
      }
    } catch (error) {
      if (closed) return;
      // A projector bug must not leave the client hanging: end with whatever terminal frame the
      // projector can still produce for a fault, then close. Frames it produced before stay.
      await endWithGatewayFault(projector, send);
      // A bug: the request's log line says so (onEnd), or this line when nobody listens.
      if (!options.onEnd) console.error(JSON.stringify({ level: "error", msg: "stream projector failed", error: String(error) }));
      finish("error", error);
    }
  };

  const held = projector.take();
  send(held);
  if (projector.done) finish("completed");
  else {
    scheduleKeepalive(options.keepaliveMs);
    // Frames the route already holds (Responses reads native's first item before answering) are the
    // first bytes; the rest of native's first chunk is usually already decoded, so a pump started now
    // would project all of it in microtasks — before the runtime has even taken this Response and sent
    // its headers. The pump starts once the runtime has read those frames (bench/FINDINGS.md, session 8).
    if (held) void firstWrite().then(pump);
    else void pump();
  }
  return readable;
}

/**
 * After a projector threw (a gateway bug): sends what it had produced, then the terminal error it can
 * still produce for a fault, so the client is never left waiting. Shared by the SSE pump and the
 * WebSocket pump (http/websocket.ts).
 */
export async function endWithGatewayFault<Out>(
  projector: { push(item: NativeStreamItem): void | PromiseLike<void>; take(): Out; readonly done: boolean },
  send: (out: Out) => void,
): Promise<void> {
  try {
    send(projector.take());
  } catch {
    // `take` hands joined text to the encoder (TextCoalescer), so the bug may be there too: what
    // it held is lost, the terminal error frame below is still owed.
  }
  if (projector.done) return;
  try {
    await projector.push({
      event: "fault",
      error: new NativeError({ kind: "protocol", status: 500, code: "gateway_stream_error", message: "the gateway failed while streaming" }),
    });
    send(projector.take());
  } catch {
    // nothing more we can say
  }
}

/** A `Response` carrying an SSE body with the standard headers plus `extraHeaders`. */
export function sseResponse(body: ReadableStream<Uint8Array>, extraHeaders: Record<string, string> = {}): Response {
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...extraHeaders } });
}
