/**
 * `ResponsesStreamProjector`: native run events → OpenAI Responses SSE events.
 *
 * The one state machine behind every Responses answer: the streamed create, the blocking create and
 * a resumed run (folded over `runToEvents`, so blocking == the final streamed snapshot by
 * construction, invariant 4), GET and cancel (the same fold over the run record).
 *
 * What it guarantees (client-protocols.md §3.3 invariants, checked by the strictest consumer,
 * openai-node's `ResponseStream`, and by test/responses' order checker):
 * - `response.created` then `response.in_progress` first (output `[]`, usage null), produced only
 *   once the native run id is known and `onStart` (the ownership claim) has finished, so no protocol
 *   event reaches the client before a chained request could resolve its id;
 * - `sequence_number` 0, 1, 2… on every event; items strictly sequential, `output_index` appending,
 *   every item id stable from `output_item.added` to the final snapshot;
 * - message: `output_item.added` → `content_part.added` → `output_text.delta`* → `output_text.done`
 *   → `content_part.done` → `output_item.done`; reasoning: the same with `reasoning_summary_part.*`
 *   and `reasoning_summary_text.*`; function calls: `output_item.added` →
 *   `function_call_arguments.delta` → `.done` → `output_item.done`;
 * - message text never contains `<think>` (native may stream it inside message deltas; native-api.md
 *   §1.5 keeps literal tags in answers) — tags are split into reasoning items across delta boundaries;
 * - exactly one terminal event — `response.completed`, `response.incomplete`, or `error` followed by
 *   `response.failed` — carrying the full output and full usage; nothing after it.
 */
import { GatewayError, fromNativeError } from "../../http/errors";
import { canEncodeCallbackRef } from "../../native/callback-ids";
import { NativeError } from "../../native/errors";
import type { NativeStreamItem } from "../../native/events";
import type { NativeEventData, NativeRequiredAction, NativeUsage } from "../../native/schema";
import { splitThinkTags } from "../../native/synthesize";
import { hasUsage, normalizeUsage } from "../../native/usage";
import { KEEPALIVE_COMMENT, namedFrame, type StreamProjector } from "../projector";
import { functionCallId, isEncodableRunId, outputItemId, responseIdFor } from "./ids";
import type {
  OutputFunctionCall,
  OutputItem,
  OutputMessage,
  OutputReasoning,
  ResponseEcho,
  ResponseObject,
  ResponseStatus,
  ResponseUsage,
} from "./schema";

export interface ResponsesProjectionContext {
  /** Request parameters every Response of this stream echoes. */
  echo: ResponseEcho;
  /** For an answer produced by resuming this callback task: part of the response id. */
  resumedTaskId?: string | undefined;
  /**
   * Awaited once the run id is known, before the first protocol event is produced (the ownership
   * claim, ARCHITECTURE.md "D1"). A throw propagates out of `push` with nothing emitted.
   */
  onStart?: ((start: { runId: string; responseId: string }) => Promise<void> | void) | undefined;
  /** Usage for a terminal event that carries none (native-api.md §2.5: the run record has it). */
  lookupUsage?: ((runId: string) => Promise<NativeUsage | null | undefined>) | undefined;
  /** Clock in unix seconds (tests). */
  now?: (() => number) | undefined;
}

type TextKind = "message" | "reasoning";

/** Stands in for an item's text while the frames around it are serialised (see `splicedFrame`). */
const TEXT_MARKER = "__1flowbase_item_text__";
const TEXT_MARKER_JSON = JSON.stringify(TEXT_MARKER);

/** Pending deltas are joined into one flat block once they hold this many UTF-16 units. */
const TEXT_BLOCK_UNITS = 8192;

/**
 * An item's streamed text, kept as flat blocks of a few KiB rather than `text += delta`: a long answer
 * is ~1M deltas, and a 1M-node rope of cons strings (plus every small delta string it keeps alive) was
 * the largest answer-proportional allocation of the stream (bench/FINDINGS.md, Memory).
 */
class TextBuffer {
  private readonly blocks: string[] = [];
  private readonly pending: string[] = [];
  private pendingUnits = 0;

  push(text: string): void {
    this.pending.push(text);
    this.pendingUnits += text.length;
    if (this.pendingUnits >= TEXT_BLOCK_UNITS) this.flatten();
  }

  /** The whole text so far (joined once; later calls reuse it). */
  toString(): string {
    this.flatten();
    if (this.blocks.length > 1) this.blocks.splice(0, this.blocks.length, this.blocks.join(""));
    return this.blocks[0] ?? "";
  }

  private flatten(): void {
    if (this.pending.length === 0) return;
    this.blocks.push(this.pending.join(""));
    this.pending.length = 0;
    this.pendingUnits = 0;
  }
}

interface OpenTextItem {
  kind: TextKind;
  id: string;
  index: number;
  text: TextBuffer;
  /** The delta frame up to its sequence number: built once per item, not per token. */
  deltaPrefix: string;
}

const OPEN_THINK = "<think>";
const CLOSE_THINK = "</think>";

/** Length of the longest suffix of `text` that is a proper prefix of `tag` (a tag split across deltas). */
function partialTagLength(text: string, tag: string): number {
  const max = Math.min(tag.length - 1, text.length);
  for (let length = max; length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}

/**
 * Splits streamed message text on `<think>…</think>`, across delta boundaries: a possible partial
 * tag at the end of a delta is held back until the next delta (or the end) decides it.
 */
export class ThinkTagSplitter {
  private inThink = false;
  private pending = "";

  /**
   * The kind all of `delta` is when it cannot start or finish a tag (no `<`, nothing held back), else
   * null and the caller uses `push`. The per-delta hot path, without allocating pieces; such a delta
   * needs no `push` (it changes no state).
   */
  plainKind(delta: string): TextKind | null {
    if (this.pending !== "" || delta.includes("<")) return null;
    return this.inThink ? "reasoning" : "message";
  }

  push(delta: string): Array<{ kind: TextKind; text: string }> {
    const plain = this.plainKind(delta);
    if (plain) return delta ? [{ kind: plain, text: delta }] : [];
    let buffer = this.pending + delta;
    this.pending = "";
    const pieces: Array<{ kind: TextKind; text: string }> = [];
    for (;;) {
      const tag = this.inThink ? CLOSE_THINK : OPEN_THINK;
      const kind: TextKind = this.inThink ? "reasoning" : "message";
      const at = buffer.indexOf(tag);
      if (at !== -1) {
        if (at > 0) pieces.push({ kind, text: buffer.slice(0, at) });
        buffer = buffer.slice(at + tag.length);
        this.inThink = !this.inThink;
        continue;
      }
      const held = partialTagLength(buffer, tag);
      const emit = buffer.slice(0, buffer.length - held);
      if (emit) pieces.push({ kind, text: emit });
      this.pending = buffer.slice(buffer.length - held);
      return pieces;
    }
  }

  /** The held-back text at the end of the answer (it was not a tag after all). */
  flush(): Array<{ kind: TextKind; text: string }> {
    const text = this.pending;
    this.pending = "";
    return text ? [{ kind: this.inThink ? "reasoning" : "message", text }] : [];
  }
}

/** Native timestamps: RFC 3339 on SSE, `time` Display (`2026-06-26 6:52:53.123 +00:00:00`) in JSON (§1.5). */
const TIME_DISPLAY = /^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)? ([+-])(\d{2}):(\d{2})(?::(\d{2}))?$/;

export function parseNativeTime(text: string | null | undefined): number | null {
  if (!text) return null;
  const display = TIME_DISPLAY.exec(text.trim());
  if (display) {
    const [, y, mo, d, h, mi, s, sign, oh, om, os] = display;
    const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
    const offset = (Number(oh) * 3600 + Number(om) * 60 + Number(os ?? 0)) * (sign === "-" ? -1 : 1);
    return Math.floor(utc - offset);
  }
  const parsed = Date.parse(text);
  return Number.isFinite(parsed) ? Math.floor(parsed / 1000) : null;
}

/** Native error codes with an OpenAI equivalent clients act on (Codex retries `rate_limit_exceeded`, §3.4). */
function openAiErrorCode(code: string): string {
  return code === "rate_limited" ? "rate_limit_exceeded" : code;
}

function toResponseUsage(usage: NativeUsage | null | undefined): ResponseUsage {
  const normalized = normalizeUsage(usage);
  return {
    input_tokens: normalized.inputTokens,
    input_tokens_details: { cached_tokens: normalized.cachedInputTokens },
    output_tokens: normalized.outputTokens,
    output_tokens_details: { reasoning_tokens: normalized.reasoningTokens },
    total_tokens: normalized.totalTokens,
  };
}

interface ToolCall {
  name: string;
  arguments?: unknown;
}

function isToolCall(value: unknown): value is ToolCall {
  return typeof value === "object" && value !== null && typeof (value as { name?: unknown }).name === "string";
}

/** The task's tool calls: `payload.tool_calls`, else the task's `request_payload.tool_calls` (§2.2). */
function toolCallsOf(action: NativeRequiredAction): ToolCall[] {
  if (action.payload.tool_calls) return action.payload.tool_calls;
  const requested = (action.payload.request_payload as { tool_calls?: unknown } | null | undefined)?.tool_calls;
  return Array.isArray(requested) ? requested.filter(isToolCall) : [];
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/**
 * @example
 * const projector = new ResponsesStreamProjector({ echo, onStart: ({ runId, responseId }) => index.claim(responseId, runId, owner) });
 * const body = projectToSse(nativeItems, projector, { keepaliveMs: 10_000 });
 */
export class ResponsesStreamProjector implements StreamProjector {
  private readonly context: ResponsesProjectionContext;
  private readonly splitter = new ThinkTagSplitter();
  private sequence = 0;
  private started = false;
  private finished = false;
  private runId = "";
  private responseIdValue = "";
  private createdAt = 0;
  private readonly output: OutputItem[] = [];
  /** `output` for splicing: text items with TEXT_MARKER as their text, and that text serialised. */
  private readonly splicedOutput: Array<{ marked: OutputItem; quoted: string | null }> = [];
  private open: OpenTextItem | null = null;
  private sawText = false;
  private final: ResponseObject | null = null;
  private failureValue: GatewayError | null = null;

  constructor(context: ResponsesProjectionContext) {
    this.context = context;
  }

  get done(): boolean {
    return this.finished;
  }

  /** The response id (empty until the first native event). */
  get responseId(): string {
    return this.responseIdValue;
  }

  /** The native run id (empty until the first native event). */
  get nativeRunId(): string {
    return this.runId;
  }

  /** Why the response failed (`run.failed`, `run.cancelled`, a fault), as the HTTP error blocking answers with. */
  get failure(): GatewayError | null {
    return this.failureValue;
  }

  keepalive(): string {
    return KEEPALIVE_COMMENT;
  }

  push(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    if (this.finished) return [];
    if (!this.started) return this.start(item);
    return this.handle(item);
  }

  /**
   * The Response as it stands: the terminal event's response once done; before that an
   * `in_progress` response whose open item is `in_progress` (GET of a running run).
   */
  snapshot(): ResponseObject {
    if (this.final) return this.final;
    const output: OutputItem[] = [...this.output];
    if (this.open) output.push(this.textItem(this.open, "in_progress"));
    return this.response("in_progress", output, null);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  private start(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    if (item.event === "fault") {
      // No native event, so no run and no response id: nothing can be announced. Routes answer such
      // a stream with an HTTP error before any header; this is the last-resort frame.
      this.finished = true;
      this.failureValue = fromNativeError(item.error);
      return [this.errorFrame(this.failureValue)];
    }
    if (!isEncodableRunId(item.data.run_id)) {
      // Response and call ids are derived from the run id (ids.ts); native run ids are UUIDs (§6).
      throw new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_response", message: "1flowbase sent a run id that is not a UUID" });
    }
    this.runId = item.data.run_id;
    this.responseIdValue = responseIdFor({ runId: this.runId, callbackTaskId: this.context.resumedTaskId });
    this.createdAt = parseNativeTime(item.data.created_at) ?? this.now();
    const pending = this.context.onStart?.({ runId: this.runId, responseId: this.responseIdValue });
    if (pending && isThenable(pending)) return pending.then(() => this.announce(item));
    return this.announce(item);
  }

  private announce(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    this.started = true;
    const frames = [
      this.lifecycleFrame("response.created", this.response("in_progress", [], null)),
      this.lifecycleFrame("response.in_progress", this.response("in_progress", [], null)),
    ];
    if (item.event === "run.started") return frames;
    const rest = this.handle(item);
    return isThenable(rest) ? rest.then((more) => [...frames, ...more]) : [...frames, ...rest];
  }

  private handle(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    switch (item.event) {
      case "message.delta": {
        const kind = this.splitter.plainKind(item.data.delta);
        const continued = kind && this.continueText(kind, item.data.delta);
        if (continued) return continued;
        const frames: string[] = [];
        if (kind) this.appendText(kind, item.data.delta, frames);
        else for (const piece of this.splitter.push(item.data.delta)) this.appendText(piece.kind, piece.text, frames);
        return frames;
      }
      case "reasoning.delta": {
        const continued = this.continueText("reasoning", item.data.delta);
        if (continued) return continued;
        const frames: string[] = [];
        this.appendText("reasoning", item.data.delta, frames);
        return frames;
      }
      case "run.completed":
        return this.complete(item.data, "completed");
      case "run.incomplete":
        return this.complete(item.data, "incomplete");
      case "required_action":
        return this.requireTools(item.data);
      case "run.failed":
        return this.fail(NativeError.fromRunError(item.data.error), "failed", item.data.usage, true);
      case "run.cancelled":
        return this.fail(NativeError.cancelled(item.data.error?.message ?? undefined), "cancelled", item.data.usage, true);
      case "fault":
        return this.fail(item.error, "failed", null, false);
      default:
        // run.started (again), usage.delta, workflow.event: nothing to project.
        return [];
    }
  }

  // -------------------------------------------------------------------------------------------
  // Text items (message, reasoning)
  // -------------------------------------------------------------------------------------------

  /**
   * The per-token path: `text` continues the open item of its kind, so its one frame is the whole
   * answer, as an exact one-element array (no frame list grown by push). Null when the delta is empty
   * or opens/switches an item (`appendText`).
   */
  private continueText(kind: TextKind, text: string): readonly string[] | null {
    const open = this.open;
    if (!open || open.kind !== kind || text.length === 0) return null;
    open.text.push(text);
    return [this.deltaFrame(open, text)];
  }

  private deltaFrame(open: OpenTextItem, text: string): string {
    return `${open.deltaPrefix}${this.sequence++},"delta":${JSON.stringify(text)}}\n\n`;
  }

  private appendText(kind: TextKind, text: string, frames: string[]): void {
    if (text.length === 0) return;
    this.sawText = true;
    let open = this.open;
    if (open && open.kind !== kind) {
      this.closeText("completed", frames);
      open = null;
    }
    if (!open) open = this.openText(kind, frames);
    open.text.push(text);
    frames.push(this.deltaFrame(open, text));
  }

  private openText(kind: TextKind, frames: string[]): OpenTextItem {
    const index = this.output.length;
    const id = outputItemId(this.responseIdValue, kind, index);
    const deltaType = kind === "message" ? "response.output_text.delta" : "response.reasoning_summary_text.delta";
    const position = kind === "message" ? `"content_index":0,"logprobs":[]` : `"summary_index":0`;
    const open: OpenTextItem = {
      kind,
      id,
      index,
      text: new TextBuffer(),
      deltaPrefix: `event: ${deltaType}\ndata: {"type":"${deltaType}","item_id":"${id}","output_index":${index},${position},"sequence_number":`,
    };
    this.open = open;
    if (kind === "message") {
      frames.push(
        this.frame("response.output_item.added", {
          output_index: index,
          item: { id, type: "message", status: "in_progress", role: "assistant", content: [] },
        }),
        this.frame("response.content_part.added", {
          item_id: id,
          output_index: index,
          content_index: 0,
          part: { type: "output_text", text: "", annotations: [], logprobs: [] },
        }),
      );
    } else {
      frames.push(
        this.frame("response.output_item.added", { output_index: index, item: { id, type: "reasoning", summary: [] } }),
        this.frame("response.reasoning_summary_part.added", {
          item_id: id,
          output_index: index,
          summary_index: 0,
          part: { type: "summary_text", text: "" },
        }),
      );
    }
    return open;
  }

  /** The item `open` stands for, with `text` as its text (the real one, or TEXT_MARKER for splicing). */
  private textItem(open: OpenTextItem, status: "in_progress" | "completed" | "incomplete", text: string = open.text.toString()): OutputMessage | OutputReasoning {
    if (open.kind === "message") {
      return {
        id: open.id,
        type: "message",
        status,
        role: "assistant",
        content: [{ type: "output_text", text, annotations: [], logprobs: [] }],
      };
    }
    const item: OutputReasoning = { id: open.id, type: "reasoning", summary: [{ type: "summary_text", text }] };
    if (status !== "completed") item.status = status;
    return item;
  }

  /**
   * Closes the open item. Its text is serialised once and spliced into the three `.done` frames here
   * and into the terminal Response (`splicedOutput`): re-stringifying a long answer four times was a
   * quarter of the projector's time and grows with the answer (bench/FINDINGS.md, recommendation 3).
   */
  private closeText(status: "completed" | "incomplete", frames: string[]): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    const text = open.text.toString();
    const quotedText = JSON.stringify(text);
    const quoted = [quotedText];
    const item = this.textItem(open, status, text);
    const marked = this.textItem(open, status, TEXT_MARKER);
    const head = { item_id: open.id, output_index: open.index };
    if (open.kind === "message") {
      frames.push(
        this.splicedFrame("response.output_text.done", { ...head, content_index: 0, text: TEXT_MARKER, logprobs: [] }, quoted, () => ({
          ...head,
          content_index: 0,
          text,
          logprobs: [],
        })),
        this.splicedFrame(
          "response.content_part.done",
          { ...head, content_index: 0, part: { type: "output_text", text: TEXT_MARKER, annotations: [], logprobs: [] } },
          quoted,
          () => ({ ...head, content_index: 0, part: { type: "output_text", text, annotations: [], logprobs: [] } }),
        ),
      );
    } else {
      frames.push(
        this.splicedFrame("response.reasoning_summary_text.done", { ...head, summary_index: 0, text: TEXT_MARKER }, quoted, () => ({
          ...head,
          summary_index: 0,
          text,
        })),
        this.splicedFrame(
          "response.reasoning_summary_part.done",
          { ...head, summary_index: 0, part: { type: "summary_text", text: TEXT_MARKER } },
          quoted,
          () => ({ ...head, summary_index: 0, part: { type: "summary_text", text } }),
        ),
      );
    }
    frames.push(
      this.splicedFrame("response.output_item.done", { output_index: open.index, item: marked }, quoted, () => ({ output_index: open.index, item })),
    );
    this.output.push(item);
    this.splicedOutput.push({ marked, quoted: quotedText });
  }

  /** Ends the text: held-back partial tags, and (if native streamed nothing) the terminal's answer. */
  private drainText(answer: string | null | undefined, frames: string[]): void {
    for (const piece of this.splitter.flush()) this.appendText(piece.kind, piece.text, frames);
    // Native synthesizes deltas before a terminal event when none went out (§2.3); should a server
    // skip that, the terminal's answer is still projected rather than lost.
    if (!this.sawText && answer) for (const piece of splitThinkTags(answer)) this.appendText(piece.kind, piece.text, frames);
  }

  // -------------------------------------------------------------------------------------------
  // Terminal events
  // -------------------------------------------------------------------------------------------

  private complete(data: NativeEventData, status: "completed" | "incomplete"): readonly string[] | Promise<readonly string[]> {
    const frames: string[] = [];
    this.drainText(data.answer, frames);
    this.closeText(status, frames);
    return this.terminate(frames, status, data.usage, true);
  }

  private requireTools(data: NativeEventData & { required_action?: NativeRequiredAction | null }): readonly string[] | Promise<readonly string[]> {
    const frames: string[] = [];
    this.drainText(null, frames);
    this.closeText("completed", frames);
    const action = data.required_action;
    const taskId = action?.payload.callback_task_id ?? "";
    const calls = action ? toolCallsOf(action) : [];
    if (!action || action.action_type !== "submit_tool_outputs" || calls.length === 0) {
      // Human input and other callbacks cannot be answered through the Responses API (§4 intro);
      // a run-level condition, so blocking answers 409 like upstream 0.3 (native-api.md §7).
      const error = new NativeError({
        kind: "run_failed",
        status: 409,
        code: "required_action_not_supported",
        message: "the 1flowbase run is waiting for an action the Responses API cannot express (only function tool calls can be answered)",
      });
      return this.fail(error, "failed", data.usage, true, frames);
    }
    if (!canEncodeCallbackRef(this.runId, taskId)) {
      const error = new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_response", message: "1flowbase sent a tool call task whose ids are not UUIDs" });
      return this.fail(error, "failed", data.usage, true, frames);
    }
    calls.forEach((call, position) => {
      const index = this.output.length;
      // Keyed by the call's position in the task, not the output index: native records no text for a
      // waiting run (native-api.md §1.5, §7), so text streamed before the calls shifts the output
      // index between the stream and a blocking/GET rebuild, but never the call item's id.
      const id = outputItemId(this.responseIdValue, "function_call", position);
      const callId = functionCallId({ runId: this.runId, callbackTaskId: taskId, index: position });
      const args = typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {});
      const done: OutputFunctionCall = { id, type: "function_call", status: "completed", arguments: args, call_id: callId, name: call.name };
      frames.push(
        this.frame("response.output_item.added", { output_index: index, item: { ...done, status: "in_progress", arguments: "" } }),
        this.frame("response.function_call_arguments.delta", { item_id: id, output_index: index, delta: args }),
        this.frame("response.function_call_arguments.done", { item_id: id, output_index: index, name: call.name, arguments: args }),
        this.frame("response.output_item.done", { output_index: index, item: done }),
      );
      this.output.push(done);
      this.splicedOutput.push({ marked: done, quoted: null });
    });
    return this.terminate(frames, "completed", data.usage, true);
  }

  private fail(
    error: NativeError,
    status: "failed" | "cancelled",
    usage: NativeUsage | null | undefined,
    lookup: boolean,
    frames: string[] = [],
  ): readonly string[] | Promise<readonly string[]> {
    this.closeText("incomplete", frames);
    const failure = fromNativeError(error);
    this.failureValue = failure;
    frames.push(this.errorFrame(failure));
    // A fault means native is unreachable or gone: no usage lookup that could stall the terminal.
    return this.terminate(frames, status, usage, lookup, { code: openAiErrorCode(error.code), message: error.message });
  }

  /** Resolves usage (from the run record when the event has none), then the one terminal event. */
  private terminate(
    frames: string[],
    status: Exclude<ResponseStatus, "in_progress">,
    usage: NativeUsage | null | undefined,
    lookup: boolean,
    error: { code: string; message: string } | null = null,
  ): readonly string[] | Promise<readonly string[]> {
    // Marked finished now: nothing may be produced after the terminal event, even while usage loads.
    this.finished = true;
    const finish = (resolved: NativeUsage | null | undefined): readonly string[] => {
      const response = this.response(status, [...this.output], toResponseUsage(resolved), error);
      if (status === "completed") response.completed_at = this.now();
      if (status === "incomplete") response.incomplete_details = { reason: "max_output_tokens" };
      this.final = response;
      const type = status === "completed" ? "response.completed" : status === "incomplete" ? "response.incomplete" : "response.failed";
      // The same Response with the marked items (spread keeps the key order), texts spliced back in.
      const marked: ResponseObject = { ...response, output: this.splicedOutput.map((entry) => entry.marked) };
      const quoted = this.splicedOutput.flatMap((entry) => (entry.quoted === null ? [] : [entry.quoted]));
      frames.push(this.splicedFrame(type, { response: marked }, quoted, () => ({ response })));
      // The serialised texts live on in the frame alone; do not keep a second copy of the answer alive.
      this.splicedOutput.length = 0;
      return frames;
    };
    if (hasUsage(usage) || !lookup || !this.context.lookupUsage) return finish(usage);
    return this.context.lookupUsage(this.runId).then(
      (found) => finish(hasUsage(found) ? found : usage),
      // Usage is best effort: a failed lookup must not turn a finished answer into an error.
      () => finish(usage),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Frames
  // -------------------------------------------------------------------------------------------

  private now(): number {
    return this.context.now?.() ?? Math.floor(Date.now() / 1000);
  }

  private response(
    status: ResponseStatus,
    output: OutputItem[],
    usage: ResponseUsage | null,
    error: { code: string; message: string } | null = null,
  ): ResponseObject {
    const echo = this.context.echo;
    return {
      id: this.responseIdValue,
      object: "response",
      created_at: this.createdAt,
      status,
      background: false,
      completed_at: null,
      error,
      incomplete_details: null,
      instructions: echo.instructions,
      max_output_tokens: echo.max_output_tokens,
      max_tool_calls: echo.max_tool_calls,
      model: echo.model,
      output,
      parallel_tool_calls: echo.parallel_tool_calls,
      previous_response_id: echo.previous_response_id,
      prompt_cache_key: echo.prompt_cache_key,
      reasoning: echo.reasoning,
      safety_identifier: echo.safety_identifier,
      service_tier: echo.service_tier,
      store: echo.store,
      temperature: echo.temperature,
      text: echo.text,
      tool_choice: echo.tool_choice,
      tools: echo.tools,
      top_logprobs: echo.top_logprobs,
      top_p: echo.top_p,
      truncation: echo.truncation,
      usage,
      user: echo.user,
      metadata: echo.metadata,
    };
  }

  private frame(type: string, fields: Record<string, unknown>): string {
    return namedFrame(type, JSON.stringify({ type, sequence_number: this.sequence++, ...fields }));
  }

  /**
   * `frame(type, real())` without serialising the long texts again: `fields` holds TEXT_MARKER where
   * `real()` holds the strings whose JSON is `quoted` (in document order), and each marker's JSON is
   * replaced by the matching `quoted` — exactly what `JSON.stringify` writes for that string. Should the
   * marker's JSON occur anywhere else (inside a model-written string, say), the count tells and the
   * frame is serialised from `real()` instead. An occurrence overlapping one of ours would share its
   * opening or closing quote and so need a `_` where ours has the `:` before it or the `,`/`}` after
   * it: a count of exactly `quoted.length` means every occurrence is one of ours.
   */
  private splicedFrame(type: string, fields: Record<string, unknown>, quoted: readonly string[], real: () => Record<string, unknown>): string {
    const sequence_number = this.sequence++;
    const parts = JSON.stringify({ type, sequence_number, ...fields }).split(TEXT_MARKER_JSON);
    if (parts.length !== quoted.length + 1) return namedFrame(type, JSON.stringify({ type, sequence_number, ...real() }));
    let data = parts[0] ?? "";
    for (let i = 0; i < quoted.length; i++) data += `${quoted[i] ?? ""}${parts[i + 1] ?? ""}`;
    return namedFrame(type, data);
  }

  private lifecycleFrame(type: string, response: ResponseObject): string {
    return this.frame(type, { response });
  }

  /**
   * The `error` event: flat SPEC fields plus the nested object real OpenAI streams carry, with a
   * string `code` (the AI SDK's nested schema requires it; client-protocols.md §3.5).
   */
  private errorFrame(failure: GatewayError): string {
    const code = openAiErrorCode(failure.code ?? "server_error");
    return this.frame("error", {
      code,
      message: failure.message,
      param: null,
      error: { type: failure.type, code, message: failure.message, param: null },
    });
  }
}
