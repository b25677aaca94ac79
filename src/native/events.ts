/**
 * Native SSE decoding: the bytes of a `response_mode: "streaming"` native run become `NativeEvent`s.
 *
 * Wire facts this module relies on (`shared/reference/native-api.md`):
 * - §2.1: axum `Sse` frames are `id: <run>:<seq>` / `event: <name>` / `data: <one-line JSON>` / blank
 *   line; keepalives are bare comments (`:`) after 15 s of silence; ids are neither unique nor monotonic
 *   and there is no reconnect, so an id is reported per frame and never used for resumption.
 * - §2.2: every `data` is one `NativeSsePayload` object; event names outside the documented list (and
 *   0.3's `run.incomplete`, §7) may appear in future versions and are skipped, not errors.
 * - §2.3: after exactly one terminal event (`run.completed|run.incomplete|run.failed|run.cancelled|
 *   required_action`) native closes the stream. A stream that ends before one is *cut* — a distinct
 *   outcome the projectors must surface as an error, never as a normal completion.
 *
 * Every stream produced here ends with exactly one terminal event or exactly one `fault` item, and
 * nothing follows it. `readNativeStream` adds the transport guarantees (never errors, idle timeout,
 * prompt upstream cancel) on top of the same synchronous parser.
 */
import { NativeError } from "./errors";
import { NATIVE_TERMINAL_EVENTS, NativeEventData } from "./schema";
import type { NativeEvent } from "./schema";

/** The stream ended abnormally; `error.kind` says how (protocol, cut, network, timeout). Always last. */
export interface NativeStreamFault {
  readonly event: "fault";
  readonly error: NativeError;
}

/** What a decoded native stream yields: native events, then possibly one fault as the last item. */
export type NativeStreamItem = NativeEvent | NativeStreamFault;

/**
 * The event name `text[start, end)`. The two delta names — nearly every event of an answer — are the
 * literals themselves, not a fresh slice each: no allocation, and `EVENT_CLASS.get` finds a literal by
 * its cached hash instead of hashing a new string per event.
 */
function eventNameAt(text: string, start: number, end: number): string {
  const length = end - start;
  if (length === 13 && text.startsWith("message.delta", start)) return "message.delta";
  if (length === 15 && text.startsWith("reasoning.delta", start)) return "reasoning.delta";
  return text.slice(start, end);
}

/** Receives decoded items in order. */
export type NativeStreamSink = (item: NativeStreamItem) => void;

// How each known event name is validated (§2.2). Deltas are the hot path (one per token or so), so
// they get a typeof check instead of zod; everything else is rare and fully parsed.
const DELTA = 0;
const OTHER = 1;
const TERMINAL = 2;
type EventClass = typeof DELTA | typeof OTHER | typeof TERMINAL;

const EVENT_CLASS: ReadonlyMap<string, EventClass> = new Map<string, EventClass>([
  ["reasoning.delta", DELTA],
  ["message.delta", DELTA],
  ["run.started", OTHER],
  ["usage.delta", OTHER],
  ["workflow.event", OTHER],
  ...[...NATIVE_TERMINAL_EVENTS].map((name): [string, EventClass] => [name, TERMINAL]),
]);

/**
 * Upper bound on one unterminated line / one frame's data, in UTF-16 code units. A `run.completed`
 * carries the whole answer on one line, so this is generous; it only stops a misbehaving upstream
 * that never sends a line break from exhausting the isolate's 128 MB.
 */
const MAX_FRAME_CHARS = 16 * 1024 * 1024;

const LF = 10;
const SPACE = 32;
const COLON = 58;
const BOM = 0xfeff;

function invalidSse(message: string): NativeError {
  return new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_sse", message });
}

/** The fault used when native's stream errors mid-way (socket reset, aborted body). */
export function upstreamResetError(cause?: unknown): NativeError {
  const detail = cause instanceof Error && cause.message ? `: ${cause.message}` : "";
  return new NativeError({
    kind: "network",
    status: 502,
    code: "upstream_connection_reset",
    message: `the connection to 1flowbase was reset while streaming${detail}`,
  });
}

/** The fault used when native sent no byte (not even a keepalive comment, §2.1) for `idleMs`. */
export function upstreamIdleTimeoutError(idleMs: number): NativeError {
  return new NativeError({
    kind: "timeout",
    status: 504,
    code: "upstream_idle_timeout",
    message: `1flowbase sent nothing for ${idleMs} ms while streaming`,
  });
}

/** `NativeError.code` of the four ways a native exchange runs out of time (all kind `timeout`, 504). */
export const UPSTREAM_FIRST_EVENT_TIMEOUT = "upstream_first_event_timeout";
export const UPSTREAM_PROGRESS_TIMEOUT = "upstream_progress_timeout";
/** The request's own deadline: retrying the same run would only hit it again (not retryable). */
export const UPSTREAM_DEADLINE_EXCEEDED = "upstream_deadline_exceeded";

/** Native answered the streaming create (headers) but sent no event for `ms` (§2.2: `run.started` comes first). */
export function upstreamFirstEventTimeoutError(ms: number): NativeError {
  return new NativeError({
    kind: "timeout",
    status: 504,
    code: UPSTREAM_FIRST_EVENT_TIMEOUT,
    message: `1flowbase accepted the run but sent no event for ${ms} ms (keepalives and unknown events do not count; NATIVE_FIRST_EVENT_TIMEOUT_MS)`,
  });
}

/** Native sent no run event for `ms` while the gateway waited for one (keepalives, unknown events, partial lines do not count). */
export function upstreamProgressTimeoutError(ms: number): NativeError {
  return new NativeError({
    kind: "timeout",
    status: 504,
    code: UPSTREAM_PROGRESS_TIMEOUT,
    message: `1flowbase made no progress for ${ms} ms: no run event arrived (keepalives and unknown events do not count; NATIVE_PROGRESS_TIMEOUT_MS)`,
  });
}

/** The gateway request reached its deadline (`REQUEST_DEADLINE_MS`) before native finished. */
export function upstreamDeadlineError(ms: number): NativeError {
  return new NativeError({
    kind: "timeout",
    status: 504,
    code: UPSTREAM_DEADLINE_EXCEEDED,
    message: `the request reached its ${ms} ms deadline before 1flowbase finished the run (REQUEST_DEADLINE_MS)`,
  });
}

/**
 * The error used when the *caller's* signal aborted (the gateway's client disconnected). Nobody is
 * usually left to read it; it exists so that "every stream ends with a terminal or a fault" and
 * "every failed call throws a NativeError" hold without exception. 499 is the de-facto
 * "client closed request" status, so it is never mistaken for an upstream failure in logs.
 */
export function clientDisconnectedError(): NativeError {
  return new NativeError({
    kind: "network",
    status: 499,
    code: "client_disconnected",
    message: "the client disconnected; the 1flowbase request was abandoned",
  });
}

/**
 * The synchronous SSE parser behind `readNativeStream`.
 *
 * Follows the WHATWG `text/event-stream` parsing rules (CRLF / LF / lone CR line ends, `:` comments,
 * one optional space after the colon, multi-line `data` joined with "\n", unknown fields ignored,
 * frames without `data` not dispatched) with three deliberate differences:
 * - `id` is the id of *this* frame (`null` when it has none), not the sticky "last event id": native
 *   puts an id on every frame and has no reconnect (§2.1), so stickiness would only invent ids.
 * - A frame still pending at end of input is dispatched (a server that omits the final blank line
 *   loses nothing); if its data is not JSON there, the input was truncated: that is a cut, not a
 *   protocol error.
 * - Decoding stops for good after a terminal event or a fault; later bytes are ignored (§2.3).
 *
 * @example
 * const items: NativeStreamItem[] = [];
 * const parser = new NativeSseParser((item) => items.push(item));
 * parser.push(new TextEncoder().encode("event: message.delta\ndata: {...}\n\n"));
 * parser.end(); // flushes a final frame, emits a `cut` fault if no terminal event was seen
 */
export class NativeSseParser {
  private readonly sink: NativeStreamSink;
  // One decoder for the whole stream: `stream: true` keeps a multi-byte character split across
  // chunks intact. The leading BOM is stripped by hand (`bomChecked`), not by the decoder: workerd's
  // streaming TextDecoder strips a U+FEFF at the start of *every* chunk until it has stripped one,
  // which would eat a BOM character of a delta that happens to start a chunk.
  private readonly utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  /** The first decoded character has been seen (and dropped if it was a BOM, as SSE requires). */
  private bomChecked = false;
  /** Start of a line whose terminator has not arrived yet; never contains CR or LF. */
  private pending = "";
  /** The previous text ended in CR: a LF starting the next text belongs to the same CRLF. */
  private skipLeadingLf = false;
  private eventName = "";
  /** `null` = no `data` field in the current frame (such frames are not dispatched). */
  private data: string | null = null;
  private id: string | null = null;
  private finished = false;
  private terminal = false;

  constructor(sink: NativeStreamSink) {
    this.sink = sink;
  }

  /** True once a terminal event or a fault has been emitted; nothing is emitted after that. */
  get done(): boolean {
    return this.finished;
  }

  /** True when decoding ended with a terminal event (not a fault): the rest of the body is the server's clean end. */
  get endedByTerminal(): boolean {
    return this.terminal;
  }

  /** Feeds one chunk of bytes, emitting every complete event in it. Returns `done`. */
  push(chunk: Uint8Array): boolean {
    if (this.finished) return true;
    const text = this.utf8.decode(chunk, { stream: true });
    if (text.length > 0) this.consume(text);
    return this.finished;
  }

  /**
   * Input is over: flushes the decoder, dispatches a frame still pending, and emits the `cut` fault
   * when no terminal event was seen (§2.3). Idempotent.
   */
  end(): void {
    if (this.finished) return;
    const tail = this.utf8.decode();
    if (tail.length > 0) this.consume(tail);
    if (this.finished) return;
    if (this.pending.length > 0) {
      const line = this.pending;
      this.pending = "";
      this.line(line, 0, line.length);
      if (this.finished) return;
    }
    if (this.data !== null) this.dispatch(true);
    if (!this.finished) this.fail(NativeError.cut());
  }

  /** Stops decoding with a fault (used by transports for resets and timeouts). No-op once done. */
  fault(error: NativeError): void {
    if (!this.finished) this.fail(error);
  }

  private consume(input: string): void {
    let text = input;
    if (!this.bomChecked) {
      this.bomChecked = true;
      if (text.charCodeAt(0) === BOM) {
        text = text.slice(1);
        if (text.length === 0) return;
      }
    }
    if (this.skipLeadingLf) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(0) === LF) {
        text = text.slice(1);
        if (text.length === 0) return;
      }
    }
    const length = text.length;
    // indexOf per break kind, re-searched only once passed: native sends LF only, so the CR search
    // runs once per chunk and finds nothing.
    let lf = text.indexOf("\n");
    let cr = text.indexOf("\r");
    let pos = 0;
    while (true) {
      if (lf !== -1 && lf < pos) lf = text.indexOf("\n", pos);
      if (cr !== -1 && cr < pos) cr = text.indexOf("\r", pos);
      let end: number;
      let next: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        if (lf === -1) break;
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        if (cr + 1 < length) {
          next = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
        } else {
          next = cr + 1;
          this.skipLeadingLf = true;
        }
      }
      if (this.pending.length > 0) {
        // Only the first line of a chunk can continue a previous one; joining here (not by
        // prefixing every chunk) keeps a long line arriving in tiny chunks linear.
        const line = this.pending + text.slice(pos, end);
        this.pending = "";
        this.line(line, 0, line.length);
      } else {
        this.line(text, pos, end);
      }
      pos = next;
      if (this.finished) return;
    }
    if (pos < length) {
      this.pending = pos === 0 && this.pending.length === 0 ? text : this.pending + text.slice(pos);
      if (this.pending.length > MAX_FRAME_CHARS) {
        this.fail(invalidSse(`an SSE line exceeded ${MAX_FRAME_CHARS} characters`));
      }
    }
  }

  /** One line `text[start, end)` without its terminator. */
  private line(text: string, start: number, end: number): void {
    if (start === end) {
      this.dispatch(false);
      return;
    }
    // Comments, including axum's `:` keepalive (§2.1).
    if (text.charCodeAt(start) === COLON) return;
    let colon = text.indexOf(":", start);
    if (colon === -1 || colon > end) colon = end;
    const nameLength = colon - start;
    let valueStart = colon + 1;
    if (valueStart < end && text.charCodeAt(valueStart) === SPACE) valueStart++;
    if (nameLength === 4 && text.startsWith("data", start)) {
      const value = valueStart < end ? text.slice(valueStart, end) : "";
      if (this.data === null) {
        this.data = value;
      } else {
        this.data = `${this.data}\n${value}`;
        if (this.data.length > MAX_FRAME_CHARS) this.fail(invalidSse(`an SSE frame exceeded ${MAX_FRAME_CHARS} characters`));
      }
    } else if (nameLength === 5 && text.startsWith("event", start)) {
      this.eventName = valueStart < end ? eventNameAt(text, valueStart, end) : "";
    } else if (nameLength === 2 && text.startsWith("id", start)) {
      const value = valueStart < end ? text.slice(valueStart, end) : "";
      // SSE: an id containing NUL is ignored.
      if (!value.includes("\0")) this.id = value;
    }
    // `retry` and unknown fields: ignored (SSE; native never sends `retry`).
  }

  /** End of a frame. `atEnd`: the frame was not closed by a blank line (input ended). */
  private dispatch(atEnd: boolean): void {
    const data = this.data;
    const name = this.eventName;
    const id = this.id;
    this.data = null;
    this.eventName = "";
    this.id = null;
    if (data === null) return;
    // Unknown names (a future native event, or an unnamed frame = SSE type "message") are skipped
    // without parsing: forward compatible, and no cost for events nobody projects.
    const eventClass = EVENT_CLASS.get(name);
    if (eventClass === undefined) return;
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      // At end of input an unclosed frame with broken JSON is a truncated stream, not bad SSE.
      this.fail(atEnd ? NativeError.cut() : invalidSse(`native event ${name} carried data that is not JSON`));
      return;
    }
    if (eventClass === DELTA) {
      if (
        typeof payload === "object" &&
        payload !== null &&
        typeof (payload as { delta?: unknown }).delta === "string" &&
        typeof (payload as { run_id?: unknown }).run_id === "string"
      ) {
        const delta = payload as { status?: unknown };
        // `status` is always "running" on deltas (§2.2); tolerate its absence rather than fault.
        if (typeof delta.status !== "string") delta.status = "running";
        this.sink({ event: name, id, data: payload } as NativeEvent);
        return;
      }
      this.fail(invalidSse(`native event ${name} needs string run_id and delta`));
      return;
    }
    const parsed = NativeEventData.safeParse(payload);
    if (!parsed.success) {
      this.fail(invalidSse(`native event ${name} does not match the contract: ${parsed.error.issues[0]?.message ?? "invalid"}`));
      return;
    }
    // `required_action` is not checked here: the fork's human-approval fallback `{type, run_id}`
    // (`sse.rs` ~311–325) is a valid terminal event; the answer reader decides what it means.
    this.sink({ event: name, id, data: parsed.data } as NativeEvent);
    if (eventClass === TERMINAL) {
      this.finished = true;
      this.terminal = true;
    }
  }

  private fail(error: NativeError): void {
    this.finished = true;
    this.sink({ event: "fault", error });
  }
}

/** Options of `readNativeStream`. The optional limits are off when absent. */
export interface ReadNativeStreamOptions {
  /** Longest silence tolerated from native (§2.1 keepalives arrive every 15 s, so > 15 000). */
  idleMs: number;
  /**
   * Longest time from the call (native's headers are in) to native's first event. Keepalives, unknown
   * events and partial lines do not count. Shorter than `progressMs`: `run.started` comes at once.
   */
  firstEventMs?: number | undefined;
  /**
   * Longest wait for the next native event once one arrived, counted only while the consumer is
   * waiting (a slow consumer is not a stuck upstream). Keepalives, unknown events and partial lines do
   * not reset it, so a native that only keeps the connection warm or trickles bytes still ends.
   */
  progressMs?: number | undefined;
  /** Time left until the request's deadline; the stream ends then, whatever native does. */
  deadlineMs?: number | undefined;
  /** The deadline's configured length, for the fault's message (default `deadlineMs`). */
  deadlineTotalMs?: number | undefined;
  /** The gateway client's disconnect: aborting cancels native's body at once. */
  signal?: AbortSignal | undefined;
  /**
   * Hears the read of native's body past its terminal event (`releaseBody`), to keep it alive after
   * the response (`ctx.waitUntil`); without it the read runs on its own.
   */
  background?: ((release: Promise<void>) => void) | undefined;
  /** How long the body may take to end after the terminal event before it is cancelled (default `RELEASE_MS`). */
  releaseMs?: number | undefined;
}

/**
 * After a terminal event, native's body normally ends within the same millisecond (the chunked
 * body's last-chunk marker). Waited for at most this long, then cancelled.
 */
const RELEASE_MS = 1000;

/**
 * Decodes a native SSE body into a stream that never errors.
 *
 * The result yields native events and ends with exactly one terminal event or one fault:
 * - malformed SSE → `protocol` fault (`upstream_invalid_sse`);
 * - clean end without a terminal event → `cut` fault (§2.3);
 * - body read error (reset mid-stream) → `network` fault (`upstream_connection_reset`);
 * - no byte for `idleMs` while the consumer is waiting → `timeout` fault (`upstream_idle_timeout`);
 * - no event within `firstEventMs` of the call → `timeout` fault (`upstream_first_event_timeout`);
 * - no event for `progressMs` while the consumer is waiting → `timeout` fault (`upstream_progress_timeout`);
 * - `deadlineMs` elapsed → `timeout` fault (`upstream_deadline_exceeded`);
 * - `signal` aborted → `network` fault (`client_disconnected`, status 499).
 *
 * After the last item the body is cancelled (no draining of trailing bytes). Cancelling the returned
 * stream cancels the body immediately. The idle and progress clocks only run while the consumer waits
 * for native, so a slow consumer (backpressure) is never mistaken for a silent or stuck upstream.
 * "An event" is an item the parser emits: keepalive comments, events of unknown names and the bytes
 * of an unfinished line are not one, so they keep the idle clock quiet but not the other two.
 *
 * @example
 * const items = readNativeStream(response.body!, { idleMs: 120_000, signal: c.req.raw.signal });
 */
export function readNativeStream(
  body: ReadableStream<Uint8Array>,
  options: ReadNativeStreamOptions,
): ReadableStream<NativeStreamItem> {
  const { idleMs, signal } = options;
  const firstEventMs = limit(options.firstEventMs);
  const progressMs = limit(options.progressMs);
  const deadlineMs = options.deadlineMs === undefined ? undefined : Math.max(0, options.deadlineMs);
  const bodyReader = openBodyReader(body);
  const reader = bodyReader.reader;
  let controller: ReadableStreamDefaultController<NativeStreamItem> | undefined;
  // Items decoded but not yet handed to the stream (or to `readNativeItemBatches`).
  let queue: NativeStreamItem[] = [];
  /** The parser emitted something: the first-event limit is met, the progress limit takes over. */
  let sawEvent = false;
  const parser = new NativeSseParser((item) => {
    queue.push(item);
    if (!sawEvent) {
      sawEvent = true;
      if (firstEventTimer !== undefined) clearTimeout(firstEventTimer);
      firstEventTimer = undefined;
    }
  });

  /** Input side over: a terminal event or fault was decoded, or the consumer cancelled. */
  let finished = false;
  let closed = false;
  // Idle detection with one timer per idle period rather than one per read (reads can be 100k/s):
  // the timer is armed when a read starts and none is armed; when it fires it times out only if the
  // very read it was armed for is still outstanding, otherwise it re-arms for what is left of the
  // current read's budget. `readSeq` makes this correct even if the clock does not advance.
  let reading = false;
  let readStartedAt = 0;
  let readSeq = 0;
  let armedSeq = -1;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The progress clock works like the idle one, per wait for an item (`fill`) instead of per read:
  // keepalive-only reads finish, but the wait they belong to goes on.
  let filling = false;
  let fillStartedAt = 0;
  let fillSeq = 0;
  let progressArmedSeq = -1;
  let progressTimer: ReturnType<typeof setTimeout> | undefined;
  // One-shot timers: the first event (cleared by it) and the request's deadline.
  let firstEventTimer: ReturnType<typeof setTimeout> | undefined;
  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;

  const cleanup = (): void => {
    for (const pending of [timer, progressTimer, firstEventTimer, deadlineTimer]) if (pending !== undefined) clearTimeout(pending);
    timer = undefined;
    progressTimer = undefined;
    firstEventTimer = undefined;
    deadlineTimer = undefined;
    signal?.removeEventListener("abort", onAbort);
  };

  /**
   * Queues `fault` (unless the parser already ended) and cancels native's body. The consumer still
   * receives everything queued before it, then the end.
   */
  const finish = (fault?: NativeError): void => {
    if (finished) return;
    finished = true;
    cleanup();
    if (fault) parser.fault(fault);
    reader.cancel().catch(() => undefined);
  };

  /**
   * The terminal event is in: decoding is over, but native's body is read on to its end instead of
   * cancelled. The fork's SSE task returns right after a terminal event, so its body ends there
   * (`sse.rs` ~341–446, native-api.md §2.3). A fetch body cancelled before its end closes the
   * connection under it (HTTP/1.1 cannot reuse a connection with an unread body), and the terminal
   * event usually arrives a read before the body's end — so every run cost the next request to
   * native a new connection (and, to a real 1flowbase across the internet, a TLS handshake):
   * `bench/investigations/ttfb.ts --probe` counted one new connection per gateway request, none for
   * the pass-through worker (bench/FINDINGS.md, session 12). Bytes after the terminal are not read
   * (§2.3: nothing after it counts): the body is cancelled at the first of them, or when it has not
   * ended within `releaseMs`.
   */
  const releaseBody = (): void => {
    finished = true;
    cleanup();
    const release = (async (): Promise<void> => {
      let timedOut = false;
      const timeout = setTimeout(() => {
        timedOut = true;
        reader.cancel().catch(() => undefined);
      }, options.releaseMs ?? RELEASE_MS);
      try {
        const rest = await bodyReader.read();
        if (!rest.done && !timedOut) await reader.cancel();
      } catch {
        // A reset after the terminal event loses nothing.
      } finally {
        clearTimeout(timeout);
      }
    })();
    // Never rejects (every failure is caught above), so it may run unobserved when nobody keeps it alive.
    options.background?.(release);
  };

  const arm = (ms: number): void => {
    armedSeq = readSeq;
    timer = setTimeout(onTimer, ms);
  };

  function onTimer(): void {
    timer = undefined;
    if (finished || !reading) return;
    if (readSeq === armedSeq) {
      finish(upstreamIdleTimeoutError(idleMs));
      return;
    }
    arm(Math.max(1, idleMs - (Date.now() - readStartedAt)));
  }

  const armProgress = (ms: number): void => {
    progressArmedSeq = fillSeq;
    progressTimer = setTimeout(onProgressTimer, ms);
  };

  function onProgressTimer(): void {
    progressTimer = undefined;
    if (finished || !filling || progressMs === undefined) return;
    // Same rule as the idle timer: the very wait it was armed for is still on → no event came.
    if (fillSeq === progressArmedSeq) {
      finish(upstreamProgressTimeoutError(progressMs));
      return;
    }
    armProgress(Math.max(1, progressMs - (Date.now() - fillStartedAt)));
  }

  function onAbort(): void {
    finish(clientDisconnectedError());
  }

  /**
   * Reads native's body until an item is queued or the input is over. Keepalive-only chunks queue
   * nothing, so this may take several reads.
   */
  const fill = async (): Promise<void> => {
    if (finished || queue.length > 0) return;
    filling = true;
    fillStartedAt = Date.now();
    fillSeq++;
    if (sawEvent && progressMs !== undefined && progressTimer === undefined) armProgress(progressMs);
    try {
      await readUntilItem();
    } finally {
      filling = false;
    }
  };

  const readUntilItem = async (): Promise<void> => {
    while (!finished && queue.length === 0) {
      let result: ReadableStreamReadResult<Uint8Array>;
      reading = true;
      readStartedAt = Date.now();
      readSeq++;
      if (timer === undefined) arm(idleMs);
      try {
        result = await bodyReader.read();
      } catch (error) {
        reading = false;
        finish(upstreamResetError(error));
        return;
      }
      reading = false;
      // Timed out, aborted or cancelled while the read was outstanding: already finished.
      if (finished) return;
      if (result.done) {
        parser.end();
        finish();
        return;
      }
      // The parser decodes the bytes before returning, so the buffer can take the next read.
      if (parser.push(result.value)) {
        if (parser.endedByTerminal) {
          bodyReader.recycle(result.value);
          releaseBody();
        } else finish();
        return;
      }
      bodyReader.recycle(result.value);
    }
  };

  /** Decoded items not handed out yet, waiting for native's body if there are none; null at the end. */
  const nextDecoded = async (): Promise<NativeStreamItem[] | null> => {
    if (queue.length === 0) await fill();
    if (queue.length === 0) return null;
    const items = queue;
    queue = [];
    return items;
  };

  const stream = new ReadableStream<NativeStreamItem>(
    {
      start(started) {
        controller = started;
        if (signal?.aborted) {
          finish(clientDisconnectedError());
          return;
        }
        signal?.addEventListener("abort", onAbort);
        if (deadlineMs !== undefined) {
          const total = options.deadlineTotalMs ?? deadlineMs;
          if (deadlineMs === 0) {
            finish(upstreamDeadlineError(total));
            return;
          }
          deadlineTimer = setTimeout(() => finish(upstreamDeadlineError(total)), deadlineMs);
        }
        if (firstEventMs !== undefined) {
          firstEventTimer = setTimeout(() => {
            firstEventTimer = undefined;
            if (!sawEvent) finish(upstreamFirstEventTimeoutError(firstEventMs));
          }, firstEventMs);
        }
      },
      async pull(pulled) {
        // One pull per native chunk: everything it decoded is enqueued at once. The stream is closed
        // by the pull after the last items were read, not with them: while close is pending workerd
        // reports desiredSize 0, and `readNativeItemBatches` counts queued items through it.
        const items = await nextDecoded();
        if (items) {
          for (const item of items) pulled.enqueue(item);
          return;
        }
        if (!closed) {
          closed = true;
          try {
            pulled.close();
          } catch {
            // Cancelled while the read was outstanding: nothing left to tell anyone.
          }
        }
      },
      cancel() {
        // The consumer (client) is gone: stop native's body now; do not wait for it.
        closed = true;
        queue = [];
        if (finished) return;
        finished = true;
        cleanup();
        reader.cancel().catch(() => undefined);
      },
    },
    // Pull only when a read is waiting; then -desiredSize is exactly the number of items sitting in
    // the stream's queue, which `readNativeItemBatches` drains before taking decoded ones.
    { highWaterMark: 0 },
  );
  INTERNALS.set(stream, { queuedInStream: () => Math.max(0, -(controller?.desiredSize ?? 0)), nextDecoded });
  return stream;
}

/** A configured limit, or undefined when off (absent, not finite, or not positive). */
function limit(ms: number | undefined): number | undefined {
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** Bytes per read of native's body when it is a byte stream (a fetch body is). */
const READ_BUFFER_BYTES = 16 * 1024;

/**
 * A reader of native's body. A fetch body is a byte stream: it is read into one reused buffer
 * (BYOB), not into a fresh buffer the runtime allocates per chunk — native sends one event per chunk,
 * so that is an allocation per event (bench/stream-profile.ts). Any other stream (tests build native
 * bodies from JS streams) is read plainly.
 */
function openBodyReader(body: ReadableStream<Uint8Array>): {
  reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  recycle(chunk: Uint8Array): void;
} {
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    byob = null;
  }
  if (byob === null) {
    const reader = body.getReader();
    return { reader, read: () => reader.read(), recycle: () => undefined };
  }
  const reader = byob;
  let buffer: Uint8Array<ArrayBuffer> | null = null;
  return {
    reader,
    read: () => {
      const view = buffer ?? new Uint8Array(READ_BUFFER_BYTES);
      buffer = null;
      return reader.read(view) as Promise<ReadableStreamReadResult<Uint8Array>>;
    },
    recycle: (chunk) => {
      // The read transferred the buffer into `chunk`; take it back whole for the next read.
      buffer = new Uint8Array(chunk.buffer as ArrayBuffer);
    },
  };
}

interface NativeStreamInternals {
  /** Items already enqueued into the stream and not read yet. */
  queuedInStream(): number;
  nextDecoded(): Promise<NativeStreamItem[] | null>;
}

const INTERNALS = new WeakMap<ReadableStream<NativeStreamItem>, NativeStreamInternals>();

/** Reads a stream of native items in batches (see `readNativeItemBatches`). */
export interface NativeItemBatchReader {
  /** The next items (at least one), in order, or null once the stream has ended. Not concurrently. */
  read(): Promise<readonly NativeStreamItem[] | null>;
  /** Cancels the stream (and so native's body). */
  cancel(): Promise<void>;
}

/**
 * Locks `stream` and reads it a batch at a time: for a `readNativeStream` result, everything decoded
 * so far (typically one native chunk's worth, dozens to hundreds of events); for any other stream,
 * one item per batch. Same items, same order, same end as plain reads — including items an earlier
 * plain reader left in the stream.
 *
 * Why: in workerd every `ReadableStream` read is a promise round trip through the runtime, and a long
 * answer is ~100k native events; the SSE pipeline (`projectToSse`) pays that per native chunk instead
 * of per event this way (bench/RESULTS.md).
 *
 * @example
 * const batches = readNativeItemBatches(items);
 * for (let batch = await batches.read(); batch; batch = await batches.read()) for (const item of batch) …
 */
export function readNativeItemBatches(stream: ReadableStream<NativeStreamItem>): NativeItemBatchReader {
  const reader = stream.getReader();
  const internals = INTERNALS.get(stream);
  const readOne = async (): Promise<NativeStreamItem[] | null> => {
    const { value, done } = await reader.read();
    return done ? null : [value];
  };
  return {
    async read() {
      if (!internals) return readOne();
      // Items a previous plain reader left in the stream's queue come first; reading them does not
      // pull (they are already there).
      const queued = internals.queuedInStream();
      if (queued > 0) {
        const items: NativeStreamItem[] = [];
        for (let i = 0; i < queued; i++) {
          const { value, done } = await reader.read();
          if (done) break;
          items.push(value);
        }
        if (items.length > 0) return items;
      }
      return internals.nextDecoded();
    },
    cancel: () => reader.cancel(),
  };
}

/**
 * Items already in memory as a stream (a finished run's synthesized events, a test's script): the
 * same shape `readNativeStream` returns, so every consumer reads both the same way.
 */
export function itemsToStream<T>(items: readonly T[]): ReadableStream<T> {
  let index = 0;
  return new ReadableStream<T>({
    pull(controller) {
      const next = items[index++];
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

/**
 * The items of a native call that is still running (a resume, whose native reply is JSON only and
 * comes when the rest of the flow has run, native-api.md §1.6): the stream exists at once — the SSE
 * response can start and keep the client alive — and yields `toItems(result)` when the call settles,
 * or one fault when it fails.
 */
export function deferredItems<R>(
  pending: Promise<R>,
  toItems: (result: R) => NativeStreamItem[],
  toFault: (error: unknown) => NativeError,
): ReadableStream<NativeStreamItem> {
  let items: NativeStreamItem[] | null = null;
  let next = 0;
  pending.catch(() => undefined); // consumed by pull; never an unhandled rejection
  return new ReadableStream<NativeStreamItem>({
    async pull(controller) {
      if (items === null) {
        try {
          items = toItems(await pending);
        } catch (error) {
          items = [{ event: "fault", error: toFault(error) }];
        }
      }
      const item = items[next++];
      if (item === undefined) controller.close();
      else controller.enqueue(item);
    },
  });
}
