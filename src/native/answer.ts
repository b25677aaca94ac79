/**
 * The one native answer reader: native stream items → a small vocabulary of answer parts, read once
 * for every client protocol (ARCHITECTURE.md "The native answer reader exists once").
 *
 * A protocol never re-reads native events: its encoder (SSE / WebSocket frames) and its accumulator
 * (the blocking answer) are both an `AnswerSink`, fed by this reader from a live stream or from a run
 * record (`runToItems`, synthesize.ts) alike. So every native fact is decided here, once:
 *
 * - **Run started** — the first native event that is not a failure; its run id and time (one time
 *   parser, time.ts).
 * - **Text on a channel** (`message` | `reasoning`). Reasoning deltas are reasoning; message deltas
 *   may carry inline `<think>…</think>` (native keeps literal tags, native-api.md §1.5), split here
 *   incrementally across any delta boundary (`ThinkTagSplitter`). If native streamed no text at all
 *   before a completion, the terminal's `answer` is read instead (native synthesizes deltas from it,
 *   §2.3; a server that skips that loses nothing). A failed run's `answer` is its error text (errata
 *   7) and is never read.
 * - **Tool calls of a callback task** — validated once: `submit_tool_outputs` with calls taken from
 *   `payload.tool_calls`, else from the task's `request_payload.tool_calls`; string names; at most
 *   `MAX_CALLS_PER_TASK`; run and task ids that the stateless callback ids can carry; arguments as
 *   JSON text and as an object. Anything else that waits (a human approval: the fork's `{type,
 *   run_id}` fallback, errata 5) is a failure of kind `unsupported_action`.
 * - **Finish** (`completed` | `incomplete` | `tool_calls`) with usage resolved once: the terminal
 *   event's usage, else the last `usage.delta`, else the run record (`lookupRun`) — read leniently
 *   (usage.ts), never a fault.
 * - **Fail** — a failed run with its failure class (the live `run.failed` always says
 *   `runtime_error`; the class is in the record, errata 1, so it is looked up once), a cancelled run,
 *   a stream fault, an unsupported action.
 * - **Nothing after the terminal**: once finished or failed, `push` ignores everything (a delta or
 *   even a completion can still arrive after a cancel, errata 9).
 *
 * The per-token path allocates nothing: a delta becomes one `sink.text(channel, text)` call with the
 * delta's own string (a tag split across deltas costs a slice or two, rarely).
 */
import { canEncodeCallbackRef, MAX_CALLS_PER_TASK } from "./callback-ids";
import { NativeError, needsRunRecordForClass, runFailedError, type RunErrorLike } from "./errors";
import { readNativeItemBatches, type NativeStreamItem } from "./events";
import { parseRequiredAction, type NativeEventData, type NativeRun } from "./schema";
import { runToItems } from "./synthesize";
import { parseNativeTime } from "./time";
import { readUsage, ZERO_USAGE, type Usage } from "./usage";

export type TextChannel = "message" | "reasoning";

export interface RunStarted {
  readonly runId: string;
  /** Unix seconds of the run (the first event's time), or null when native gave none. */
  readonly createdAt: number | null;
}

export interface AnswerToolCall {
  /** Position of the call in its callback task (what the stateless callback id carries). */
  readonly position: number;
  /** Native's own tool call id (what a resume must answer). */
  readonly nativeId: string;
  readonly name: string;
  /** The arguments as JSON text (a string argument is kept as sent). */
  readonly argumentsJson: string;
  /** The arguments as an object (a non-object is wrapped as `{input: value}`; Anthropic needs one). */
  readonly input: Record<string, unknown>;
}

export interface ToolCallTask {
  readonly runId: string;
  readonly callbackTaskId: string;
  readonly calls: readonly AnswerToolCall[];
}

export type FinishStatus = "completed" | "incomplete" | "tool_calls";

export interface RunFinished {
  readonly status: FinishStatus;
  /** Null when native reported no token counts anywhere. */
  readonly usage: Usage | null;
  /** The client's stop sequence the edge ended the answer on (status `completed`), else absent. */
  readonly stopSequence?: string | null | undefined;
}

export interface RunFailure {
  /** The run's id when any native event named it (a fault before the first event has none). */
  readonly runId: string | null;
  readonly createdAt: number | null;
  /** Kind `run_failed` (with its class as code), `run_cancelled`, `unsupported_action`, or a stream fault. */
  readonly error: NativeError;
  readonly usage: Usage | null;
}

/** Where answer text goes: a protocol's sink, or the output limiter in front of it. */
export interface TextSink {
  /** `text` is never empty. The hot path: one call per native delta, or per burst of them read together (`coalesceText`). */
  text(channel: TextChannel, text: string): void;
}

/**
 * What a protocol implements to receive an answer. Calls come in this order: `start` (unless the
 * first thing native said was a failure), any number of `text`, then either `toolCalls` + `finish`,
 * `finish`, or `fail` — and nothing after that.
 */
export interface AnswerSink extends TextSink {
  start(run: RunStarted): void;
  toolCalls(task: ToolCallTask): void;
  finish(end: RunFinished): void;
  fail(failure: RunFailure): void;
}

export interface AnswerReaderOptions {
  /**
   * `GET /runs/{id}` of this run: the usage of a terminal event that carries none (native-api.md
   * §2.5) and the failure class of a live `run.failed` (errata 1). At most one call per reader.
   * Without it, usage stays what the stream said and a live failure keeps the generic class.
   */
  lookupRun?: ((runId: string) => Promise<NativeRun>) | undefined;
  /** False when the protocol will not show usage (a Chat stream without `include_usage`): no lookup for it. */
  wantsUsage?: boolean | undefined;
  /** Hears how the answer ended, right after the sink did (the request log line, src/http/log.ts). */
  onEnd?: ((end: AnswerEnd) => void) | undefined;
  /** The client's stop sequences and output-token limit, enforced on the text (`OutputLimiter`). */
  limits?: OutputLimits | undefined;
  /** Called once when the limits ended the answer before native did: the run is cancelled there. */
  onLimitReached?: (() => void) | undefined;
  /** Hears the tool-call task the answer ends with, the calls exactly as the client is shown them. */
  onToolCalls?: ((task: ToolCallTask) => void) | undefined;
  /**
   * Streams only: consecutive text of one channel reaches the sink as one call when the reader's
   * `flushText` is called (a projector's `take`, once per native read) or before anything else
   * reaches the sink — so a burst of native deltas that arrived together becomes one client delta
   * instead of one frame each. See `TextCoalescer`.
   */
  coalesceText?: boolean | undefined;
}

/**
 * What a route hands a protocol's encoder or accumulator for its answer reader: the record lookup
 * and the end listener (protocol contexts extend this; `readerOptions` turns it into the reader's).
 */
export interface ReaderHooks {
  /** `GET /runs/{id}`: usage of a terminal event without any, and the class of a failed run. */
  lookupRun?: ((runId: string) => Promise<NativeRun>) | undefined;
  /** Hears how the answer ended (the request log line). */
  onAnswerEnd?: ((end: AnswerEnd) => void) | undefined;
  /** What the client asked the output to stop at (stop sequences, an output-token limit). */
  outputLimits?: OutputLimits | undefined;
  /** The limits ended the answer before native did: cancel the run (run-steps.ts). */
  onOutputLimit?: (() => void) | undefined;
  /** The answer ends asking for these tool calls (run-steps.ts remembers them for the resume). */
  onToolCalls?: ((task: ToolCallTask) => void) | undefined;
}

/** The reader options of `hooks`. */
export function readerOptions(hooks: ReaderHooks, wantsUsage?: boolean): AnswerReaderOptions {
  return { lookupRun: hooks.lookupRun, onEnd: hooks.onAnswerEnd, wantsUsage, limits: hooks.outputLimits, onLimitReached: hooks.onOutputLimit, onToolCalls: hooks.onToolCalls };
}

/** How an answer ended, in one shape for observers: a finish (`error` null) or a failure. */
export interface AnswerEnd {
  readonly status: FinishStatus | "failed";
  readonly error: NativeError | null;
  readonly usage: Usage | null;
  readonly runId: string | null;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

const OPEN_THINK = "<think>";
const CLOSE_THINK = "</think>";

/** Length of the longest suffix of `text` that is a proper prefix of `tag` (a tag split across deltas). */
function partialTagLength(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}

/**
 * Splits message text on `<think>…</think>` as it arrives: text inside the tags is reasoning, an
 * unclosed `<think>` makes the rest reasoning, a stray `</think>` is text. A possible partial tag at
 * the end of a delta is held back until the next delta (or `flush`) decides it; a delta without `<`
 * outside a think block is passed through as is.
 */
export class ThinkTagSplitter {
  private inThink = false;
  private held = "";

  push(delta: string, sink: TextSink): void {
    if (!this.inThink && this.held === "" && delta.indexOf("<") === -1) {
      if (delta) sink.text("message", delta);
      return;
    }
    let buffer = this.held + delta;
    this.held = "";
    for (;;) {
      const tag = this.inThink ? CLOSE_THINK : OPEN_THINK;
      const channel: TextChannel = this.inThink ? "reasoning" : "message";
      const at = buffer.indexOf(tag);
      if (at !== -1) {
        if (at > 0) sink.text(channel, buffer.slice(0, at));
        buffer = buffer.slice(at + tag.length);
        this.inThink = !this.inThink;
        continue;
      }
      const hold = partialTagLength(buffer, tag);
      if (buffer.length > hold) sink.text(channel, hold > 0 ? buffer.slice(0, buffer.length - hold) : buffer);
      this.held = hold > 0 ? buffer.slice(buffer.length - hold) : "";
      return;
    }
  }

  /** The held-back text at the end of the answer (it was not a tag after all). */
  flush(sink: TextSink): void {
    const text = this.held;
    this.held = "";
    if (text) sink.text(this.inThink ? "reasoning" : "message", text);
  }
}

/**
 * The client's output contract, enforced at the edge on the answer's text, where native cannot:
 * 1flowbase runs have no stop sequences at all, and the 0.2.6 fork refuses
 * `execution.model_parameters.max_output_tokens` (fork `run_service/run_input.rs` 94-99: any key but
 * `reasoning` is 400 `invalid_model_parameters`).
 */
export interface OutputLimits {
  /**
   * The most output tokens, counted at the edge as ceil(UTF-16 characters / 4) over the message and
   * reasoning text — the estimate 1flowbase's own adapter and `count_tokens` use (native-api.md
   * §4.3): the edge has no tokenizer of the application's model. Null: no limit at the edge (none
   * asked, or native applies it).
   */
  readonly maxOutputTokens: number | null;
  /** Message text ends before the first of these (not reasoning text: the spec's stop applies to the output). */
  readonly stopSequences: readonly string[];
}

/** Characters per counted output token (see `OutputLimits.maxOutputTokens`). */
export const CHARS_PER_TOKEN = 4;

/** The counted output tokens of `characters` characters of text. */
export function countedTokens(characters: number): number {
  return Math.ceil(characters / CHARS_PER_TOKEN);
}

/** How the limits ended an answer: at the token limit, or on a stop sequence. */
export type LimitHit = { readonly kind: "length" } | { readonly kind: "stop"; readonly sequence: string };

/**
 * One stop sequence, matched incrementally (Knuth–Morris–Pratt): `matched` is the length of the
 * longest prefix of the sequence that ends the text seen so far, kept across deltas, so each
 * character costs O(1) amortised whatever the sequence's length.
 */
class StopSequenceMatcher {
  readonly sequence: string;
  private readonly failure: Int32Array;
  matched = 0;

  constructor(sequence: string) {
    this.sequence = sequence;
    this.failure = new Int32Array(sequence.length);
    for (let i = 1, k = 0; i < sequence.length; i++) {
      while (k > 0 && sequence.charCodeAt(i) !== sequence.charCodeAt(k)) k = this.failure[k - 1] ?? 0;
      if (sequence.charCodeAt(i) === sequence.charCodeAt(k)) k++;
      this.failure[i] = k;
    }
  }

  /** Advances by one character; true when the whole sequence now ends the text. */
  step(code: number): boolean {
    let k = this.matched;
    while (k > 0 && code !== this.sequence.charCodeAt(k)) k = this.failure[k - 1] ?? 0;
    if (code === this.sequence.charCodeAt(k)) k++;
    if (k === this.sequence.length) {
      this.matched = 0;
      return true;
    }
    this.matched = k;
    return false;
  }
}

/**
 * Sits between the think-tag splitter and the protocol's sink. Message text is held back while its
 * end could be the start of a stop sequence (so a sequence split across deltas is still found, and
 * no character of it reaches the client); the first sequence to be completed ends the text before
 * it — what a model server checking after each token does. Text past the character budget is cut
 * (never inside a UTF-16 surrogate pair). After a hit nothing more passes; the reader ends the answer.
 */
export class OutputLimiter implements TextSink {
  private readonly sink: TextSink;
  private readonly stops: readonly StopSequenceMatcher[];
  private remaining: number;
  /** Message text not yet passed on: the longest partial stop sequence at the end of the text. */
  private held = "";
  private emitted = 0;
  hit: LimitHit | null = null;

  constructor(sink: TextSink, limits: OutputLimits) {
    this.sink = sink;
    // An empty sequence would match before any text: it cannot be what a client means.
    this.stops = limits.stopSequences.filter((sequence) => sequence !== "").map((sequence) => new StopSequenceMatcher(sequence));
    this.remaining = limits.maxOutputTokens === null ? Infinity : limits.maxOutputTokens * CHARS_PER_TOKEN;
  }

  /** The characters that reached the sink. */
  get emittedCharacters(): number {
    return this.emitted;
  }

  text(channel: TextChannel, text: string): void {
    if (this.hit) return;
    if (channel !== "message" || this.stops.length === 0) {
      // Reasoning interrupts the message: what was held cannot continue into a sequence in order.
      if (channel !== "message" && this.held) this.flush();
      this.emit(channel, text);
      return;
    }
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      for (const stop of this.stops) {
        if (!stop.step(code)) continue;
        const through = this.held + text.slice(0, i + 1);
        this.held = "";
        this.emit("message", through.slice(0, through.length - stop.sequence.length));
        this.hit ??= { kind: "stop", sequence: stop.sequence };
        return;
      }
    }
    let hold = 0;
    for (const stop of this.stops) hold = Math.max(hold, stop.matched);
    const buffer = this.held + text;
    this.held = hold > 0 ? buffer.slice(buffer.length - hold) : "";
    this.emit("message", hold > 0 ? buffer.slice(0, buffer.length - hold) : buffer);
  }

  /** The held-back text at the end of the message (no stop sequence after all). */
  flush(): void {
    const text = this.held;
    this.held = "";
    for (const stop of this.stops) stop.matched = 0;
    this.emit("message", text);
  }

  private emit(channel: TextChannel, text: string): void {
    if (text === "" || this.hit) return;
    if (text.length <= this.remaining) {
      this.remaining -= text.length;
      this.emitted += text.length;
      this.sink.text(channel, text);
      return;
    }
    let cut = this.remaining;
    const code = text.charCodeAt(cut - 1);
    if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut -= 1;
    if (cut > 0) {
      this.emitted += cut;
      this.sink.text(channel, text.slice(0, cut));
    }
    this.remaining = 0;
    this.hit = { kind: "length" };
  }
}

/**
 * Joins consecutive text of one channel until `flush`. Only text that has already arrived together is
 * joined (the stream pump flushes after every native read, and after the first item of a response),
 * so no delta waits for a later one: at token pace every native delta is still its own client delta.
 * A burst — native catching up, a long answer over a fast link — becomes one delta per native read
 * instead of one frame per native event. Native itself coalesces deltas before it sends them
 * (native-api.md §2.3, `runtime_observability.rs` 380–420); the text is the same either way, and a
 * frame per event cost the worker more than reading the event (bench/FINDINGS.md, session 11: the
 * frame's serialisation and UTF-8 encoding, `sse.ts` `flush`).
 */
export class TextCoalescer implements TextSink {
  private readonly sink: TextSink;
  private channel: TextChannel = "message";
  private pending = "";

  constructor(sink: TextSink) {
    this.sink = sink;
  }

  text(channel: TextChannel, text: string): void {
    if (this.pending === "") {
      this.channel = channel;
      this.pending = text;
      return;
    }
    if (channel !== this.channel) {
      this.flush();
      this.channel = channel;
      this.pending = text;
      return;
    }
    this.pending += text;
  }

  /** Hands the joined text on (nothing when none waits). */
  flush(): void {
    const text = this.pending;
    if (text === "") return;
    this.pending = "";
    this.sink.text(this.channel, text);
  }
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A native tool call's arguments → an object (Anthropic `input` must be one). */
function argumentsObject(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  const object = record(args);
  if (object) return object;
  if (typeof args === "string") {
    if (args.trim() === "") return {};
    try {
      const parsed = record(JSON.parse(args));
      if (parsed) return parsed;
    } catch {
      // not JSON: wrapped below
    }
  }
  return { input: args };
}

function argumentsText(args: unknown): string {
  return typeof args === "string" ? args : JSON.stringify(args ?? {});
}

/**
 * A `required_action` payload → the validated tool call task, or the failure it means. Exported for
 * the resume checks, which read the same task from the waiting run's record.
 */
export function readToolCallTask(runId: string, value: unknown): ToolCallTask | NativeError {
  const action = parseRequiredAction(value);
  if (!action || action.action_type !== "submit_tool_outputs") {
    const kind = action?.action_type ?? (typeof record(value)?.["type"] === "string" ? String(record(value)?.["type"]) : "an approval");
    return NativeError.unsupportedAction(
      `the 1flowbase application is waiting for ${kind === "waiting_human" || kind === "an approval" ? "a human approval" : `a '${kind}' action`}, which this API cannot express; only function tool calls can be answered here`,
    );
  }
  const payload = action.payload;
  const listed: unknown[] = payload.tool_calls ?? [];
  const requested = record(payload.request_payload)?.["tool_calls"];
  const raw: unknown[] = listed.length > 0 ? listed : Array.isArray(requested) ? requested : [];
  if (raw.length === 0) {
    return NativeError.unsupportedAction("the 1flowbase application is waiting for a callback without tool calls, which this API cannot express");
  }
  if (raw.length > MAX_CALLS_PER_TASK) {
    return NativeError.invalidToolCalls(`1flowbase asked for ${raw.length} tool calls in one turn; at most ${MAX_CALLS_PER_TASK} can be handed to a client`);
  }
  if (!canEncodeCallbackRef(runId, payload.callback_task_id)) {
    return NativeError.invalidToolCalls("1flowbase sent a tool callback whose run or task id is not a UUID");
  }
  const calls: AnswerToolCall[] = [];
  for (let position = 0; position < raw.length; position++) {
    const call = record(raw[position]);
    const name = call?.["name"];
    const id = call?.["id"];
    if (typeof name !== "string" || name === "" || typeof id !== "string") {
      return NativeError.invalidToolCalls(`1flowbase sent tool call ${position} without a string id and name`);
    }
    const args = call?.["arguments"];
    calls.push({ position, nativeId: id, name, argumentsJson: argumentsText(args), input: argumentsObject(args) });
  }
  return { runId, callbackTaskId: payload.callback_task_id, calls };
}

/**
 * @example
 * const reader = new NativeAnswerReader(encoder, { lookupRun: (id) => native.getRun(id) });
 * for await (const item of items) { const pending = reader.push(item); if (pending) await pending; }
 */
export class NativeAnswerReader {
  private readonly sink: AnswerSink;
  private readonly options: AnswerReaderOptions;
  private readonly think = new ThinkTagSplitter();
  /** Where text goes: the sink, or the output limiter in front of it when the client set limits. */
  private readonly out: TextSink;
  private readonly limiter: OutputLimiter | null;
  /** With `coalesceText`: joins text in front of the sink until `flushText` or the next other call. */
  private readonly coalescer: TextCoalescer | null;
  private started = false;
  private finished = false;
  private sawText = false;
  private runIdValue: string | null = null;
  private createdAt: number | null = null;
  private lastUsage: Usage | null = null;
  private record: Promise<NativeRun | null> | null = null;

  constructor(sink: AnswerSink, options: AnswerReaderOptions = {}) {
    this.sink = sink;
    this.options = options;
    const limits = options.limits;
    this.coalescer = options.coalesceText ? new TextCoalescer(sink) : null;
    const text: TextSink = this.coalescer ?? sink;
    this.limiter = limits && (limits.maxOutputTokens !== null || limits.stopSequences.some((stop) => stop !== "")) ? new OutputLimiter(text, limits) : null;
    this.out = this.limiter ?? text;
  }

  /** Hands text joined by `coalesceText` to the sink (a no-op without it). */
  flushText(): void {
    this.coalescer?.flush();
  }

  /** True once the answer finished or failed; nothing is read after that. */
  get done(): boolean {
    return this.finished;
  }

  /** The native run id, once any native event named it. */
  get runId(): string | null {
    return this.runIdValue;
  }

  /** Reads one item. Returns a promise only while a terminal event waits for the run record. */
  push(item: NativeStreamItem): void | Promise<void> {
    if (this.finished) return;
    switch (item.event) {
      case "message.delta":
        if (!this.started && !this.begin(item.data)) return;
        if (item.data.delta === "") return;
        this.sawText = true;
        this.think.push(item.data.delta, this.out);
        if (this.limiter?.hit) this.limitReached(true);
        return;
      case "reasoning.delta":
        if (!this.started && !this.begin(item.data)) return;
        if (item.data.delta) {
          this.sawText = true;
          this.out.text("reasoning", item.data.delta);
          if (this.limiter?.hit) this.limitReached(true);
        }
        return;
      case "usage.delta":
        if (!this.started && !this.begin(item.data)) return;
        this.lastUsage = readUsage(item.data.usage) ?? this.lastUsage;
        return;
      case "run.started":
      case "workflow.event":
        if (!this.started) this.begin(item.data);
        return;
      case "run.completed":
        return this.complete(item.data, "completed");
      case "run.incomplete":
        return this.complete(item.data, "incomplete");
      case "required_action":
        return this.requiredAction(item.data);
      case "run.failed":
        return this.runFailed(item.data);
      case "run.cancelled":
        if (!this.note(item.data)) return;
        // Upstream 0.3 says why on the event (`run_cancelled`, "published run cancelled", §7); the fork says nothing (errata 9).
        return this.failed(NativeError.cancelled(item.data.error?.message ?? undefined), item.data, false);
      case "fault":
        return this.failWith(item.error, null);
      default:
        return;
    }
  }

  /** Records the run the first native event names. False when that id cannot be a run id. */
  private note(data: { run_id: string; created_at?: string | undefined }): boolean {
    if (this.runIdValue !== null) return true;
    if (!UUID.test(data.run_id)) {
      // Every id the gateway hands out is derived from the run id (native run ids are UUIDv7, §6);
      // anything else would be echoed verbatim into client-visible ids.
      this.failWith(
        new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_response", message: "1flowbase sent a run id that is not a UUID", retryable: false }),
        null,
      );
      return false;
    }
    this.runIdValue = data.run_id;
    this.createdAt = parseNativeTime(data.created_at);
    return true;
  }

  /** Starts the answer on the first native event that is not a failure; false when it failed instead. */
  private begin(data: { run_id: string; created_at?: string | undefined }): boolean {
    if (!this.note(data)) return false;
    this.started = true;
    this.sink.start({ runId: data.run_id, createdAt: this.createdAt });
    return true;
  }

  /** Ends the text: held-back partial tags, and (if native streamed none) the terminal's answer. */
  private drainText(answer: string | null | undefined): void {
    this.think.flush(this.out);
    if (!this.sawText && answer) {
      this.sawText = true;
      this.think.push(answer, this.out);
      this.think.flush(this.out);
    }
    this.limiter?.flush();
  }

  private complete(data: NativeEventData, status: "completed" | "incomplete"): void | Promise<void> {
    if (!this.started && !this.begin(data)) return;
    this.drainText(data.answer);
    // The run is over: nothing to cancel, but the client's limit still decides how the answer ends.
    if (this.limiter?.hit) return this.limitReached(false, readUsage(data.usage));
    return this.finishWith(status, data);
  }

  private requiredAction(data: NativeEventData): void | Promise<void> {
    if (!this.started && !this.begin(data)) return;
    this.think.flush(this.out);
    this.limiter?.flush();
    // The limit fell in the text before the calls: the answer ends there, without them (a model
    // stopped at its limit never gets to call a tool), and the waiting run is cancelled.
    if (this.limiter?.hit) return this.limitReached(true, readUsage(data.usage));
    const task = readToolCallTask(this.runIdValue ?? data.run_id, data.required_action);
    if (task instanceof NativeError) return this.failWith(task, readUsage(data.usage));
    this.coalescer?.flush();
    this.sink.toolCalls(task);
    this.options.onToolCalls?.(task);
    return this.finishWith("tool_calls", data);
  }

  private finishWith(status: FinishStatus, data: NativeEventData): void | Promise<void> {
    this.finished = true;
    const usage = readUsage(data.usage) ?? this.lastUsage;
    if (usage || this.options.wantsUsage === false || !this.options.lookupRun) {
      this.emitFinish(status, usage);
      return;
    }
    return this.runRecord(data.run_id).then((run) => this.emitFinish(status, run ? readUsage(run.usage) : null));
  }

  private emitFinish(status: FinishStatus, usage: Usage | null, stopSequence: string | null = null): void {
    this.coalescer?.flush();
    this.sink.finish(stopSequence === null ? { status, usage } : { status, usage, stopSequence });
    this.options.onEnd?.({ status, error: null, usage, runId: this.runIdValue });
  }

  /**
   * The client's limits ended the answer: `incomplete` at the token limit (finish_reason `length`,
   * stop_reason `max_tokens`), `completed` with the sequence on a stop sequence. Usage: what native
   * reported so far, with the output counted at the edge (native's own count of a run cut short is
   * not final). `cancel` when native is still running the turn.
   */
  private limitReached(cancel: boolean, reported: Usage | null = null): void {
    const hit = this.limiter?.hit;
    if (!hit || this.finished) return;
    this.finished = true;
    if (cancel) this.options.onLimitReached?.();
    const base = reported ?? this.lastUsage ?? ZERO_USAGE;
    const outputTokens = countedTokens(this.limiter?.emittedCharacters ?? 0);
    const usage: Usage = { ...base, outputTokens, totalTokens: base.inputTokens + outputTokens, reasoningTokens: Math.min(base.reasoningTokens, outputTokens) };
    if (hit.kind === "length") this.emitFinish("incomplete", usage);
    else this.emitFinish("completed", usage, hit.sequence);
  }

  private runFailed(data: NativeEventData): void | Promise<void> {
    if (!this.note(data)) return;
    const error = data.error as RunErrorLike | null | undefined;
    return this.failed(runFailedError(error), data, needsRunRecordForClass(error));
  }

  /**
   * A failed or cancelled run. The record is read when the failure class is only there (a live
   * `run.failed` always says `runtime_error`, errata 1) or when the event carries no usage (the
   * Responses `response.failed` shows it).
   */
  private failed(error: NativeError, data: NativeEventData, classInRecord: boolean): void | Promise<void> {
    const usage = readUsage(data.usage) ?? this.lastUsage;
    const wantsRecord = classInRecord || (usage === null && this.options.wantsUsage !== false);
    if (!wantsRecord || !this.options.lookupRun) return this.failWith(error, usage);
    this.finished = true;
    return this.runRecord(data.run_id).then((run) => {
      const recorded = classInRecord && run?.status === "failed" && run.error ? runFailedError(run.error as RunErrorLike) : error;
      this.emitFailure(recorded, usage ?? (run ? readUsage(run.usage) : null));
    });
  }

  /** A failure ends the answer as it stands: a partial tag held back by the splitter is dropped. */
  private failWith(error: NativeError, usage: Usage | null): void {
    this.finished = true;
    this.emitFailure(error, usage);
  }

  private emitFailure(error: NativeError, usage: Usage | null): void {
    this.coalescer?.flush();
    this.sink.fail({ runId: this.runIdValue, createdAt: this.createdAt, error, usage });
    this.options.onEnd?.({ status: "failed", error, usage, runId: this.runIdValue });
  }

  /** The run record, read at most once; null when it cannot be read (usage and class are best effort). */
  private runRecord(runId: string): Promise<NativeRun | null> {
    const lookup = this.options.lookupRun;
    if (!lookup) return Promise.resolve(null);
    this.record ??= lookup(runId).catch(() => null);
    return this.record;
  }
}

/**
 * Reads a whole answer: `items` (a native stream, or a record's items) into `reader` until it is
 * done, a batch at a time — one promise round trip per native chunk rather than per event, which in
 * workerd is most of the cost of a long blocking answer (bench/FINDINGS.md). Only a terminal event
 * that waits for the run record is awaited inside a batch. The stream is cancelled once the answer
 * is over (nothing after the terminal is read).
 *
 * @example
 * await readAnswer(await native.streamRun(request), new NativeAnswerReader(encoder, { lookupRun }));
 */
export async function readAnswer(items: ReadableStream<NativeStreamItem> | readonly NativeStreamItem[], reader: NativeAnswerReader): Promise<void> {
  if (!(items instanceof ReadableStream)) {
    for (const item of items) {
      const pending = reader.push(item);
      if (pending) await pending;
      if (reader.done) return;
    }
  } else {
    const batches = readNativeItemBatches(items);
    try {
      read: for (let batch = await batches.read(); batch !== null; batch = await batches.read()) {
        for (const item of batch) {
          const pending = reader.push(item);
          if (pending) await pending;
          if (reader.done) break read;
        }
      }
    } finally {
      void batches.cancel().catch(() => undefined);
    }
  }
  // readNativeStream and runToItems always end with a terminal event or a fault.
  if (!reader.done) reader.push({ event: "fault", error: NativeError.cut() });
}

/**
 * The text of a finished run record, per channel, as the reader reads it (think tags split, a failed
 * run's error text never read): what a chained turn hands back to native as the assistant's answer.
 */
export function recordText(run: NativeRun): { message: string; reasoning: string } {
  const text = { message: "", reasoning: "" };
  const reader = new NativeAnswerReader({
    start: () => undefined,
    text: (channel, piece) => {
      text[channel] += piece;
    },
    toolCalls: () => undefined,
    finish: () => undefined,
    fail: () => undefined,
  });
  for (const item of runToItems(run)) {
    reader.push(item);
    if (reader.done) break;
  }
  return text;
}
