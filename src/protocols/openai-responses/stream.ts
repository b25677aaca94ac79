/**
 * Answer parts → OpenAI Responses events.
 *
 * `ResponsesEncoder` is the whole protocol side of every Responses answer — the streamed create,
 * the blocking create, a resumed run, GET and cancel: it receives the parts of a native answer from
 * the one answer reader (`src/native/answer.ts`) and keeps the Response (ids, output items, sequence
 * numbers, the terminal event). It writes typed events to a `ResponsesEventWriter`: the SSE
 * projector below (frames), the WebSocket projector (one message per event), or nothing at all for a blocking answer, whose Response is the very
 * object the terminal event carries — blocking == the final streamed snapshot by construction
 * (invariant 4).
 *
 * What it guarantees (client-protocols.md §3.3 invariants, checked by the strictest consumer,
 * openai-node's `ResponseStream`, and by test/responses' order checker):
 * - `response.created` then `response.in_progress` first (output `[]`, usage null); the route makes
 *   the ownership claim before they are sent (`onStart` names the ids the moment they are known);
 * - `sequence_number` 0, 1, 2… on every event; items strictly sequential, `output_index` appending,
 *   every item id stable from `output_item.added` to the final snapshot;
 * - message: `output_item.added` → `content_part.added` → `output_text.delta`* → `output_text.done`
 *   → `content_part.done` → `output_item.done`; reasoning: the same with `reasoning_summary_part.*`
 *   and `reasoning_summary_text.*`; function calls: `output_item.added` →
 *   `function_call_arguments.delta` → `.done` → `output_item.done`;
 * - exactly one terminal event — `response.completed`, `response.incomplete`, or `error` followed by
 *   `response.failed` — carrying the full output and full usage; nothing after it.
 */
import { fromNativeError, type GatewayError } from "../../http/errors";
import { AnswerSseProjector, DONE_FRAME, KEEPALIVE_COMMENT } from "../../http/sse";
import { NativeAnswerReader, readerOptions, type AnswerSink, type ReaderHooks, type RunFailure, type RunFinished, type RunStarted, type TextChannel, type ToolCallTask } from "../../native/answer";
import type { NativeStreamItem } from "../../native/events";
import type { Usage } from "../../native/usage";
import { functionCallId, isEncodableRunId, outputItemId, responseIdFor } from "./ids";
import { customToolNames } from "./to-native";
import type {
  OutputCustomToolCall,
  OutputFunctionCall,
  OutputItem,
  OutputMessage,
  OutputReasoning,
  ResponseEcho,
  ResponseObject,
  ResponseStatus,
  ResponsesStreamEvent,
  ResponseUsage,
} from "./schema";

export interface ResponsesProjectionContext extends ReaderHooks {
  /** Request parameters every Response of this stream echoes. */
  echo: ResponseEcho;
  /** For an answer produced by resuming this callback task: part of the response id. */
  resumedTaskId?: string | undefined;
  /**
   * The run, when it is known before native says anything (a resume): then even a failure before any
   * native event (the resume call itself failed) is a Response of that run, not an anonymous error.
   */
  knownRunId?: string | undefined;
  /** `store: false`: the response id carries the unstored marker (ids.ts), so it can never resolve. */
  unstored?: boolean | undefined;
  /**
   * Called once, synchronously, as soon as the run id (hence the response id) is known — before the
   * first protocol event is written. The route starts the ownership claim here (README, "The
   * ownership index off the critical path").
   */
  onStart?: ((start: { runId: string; responseId: string }) => void) | undefined;
  /** Clock in unix seconds (tests). */
  now?: (() => number) | undefined;
}

/** An output item whose text is still streaming. */
export interface OpenTextItem {
  readonly kind: TextChannel;
  readonly id: string;
  readonly index: number;
  readonly text: TextBuffer;
}

/** Where a `ResponsesEncoder` writes its events. */
export interface ResponsesEventWriter {
  /** False for a blocking answer: no event is serialized, only the Response is kept. */
  readonly wantsEvents: boolean;
  event(event: ResponsesStreamEvent): void;
  /**
   * Stands for the `response.output_text.delta` / `response.reasoning_summary_text.delta` event of
   * `item` with `sequence` — the hot path, one per native delta (or burst, `TextCoalescer`), with no event object built.
   */
  textDelta(item: OpenTextItem, sequence: number, text: string): void;
  /** After the terminal event (the SSE transport writes `data: [DONE]`). */
  end?(): void;
  /**
   * An event carrying long texts (the `.done` events, the terminal Response): `marked` holds
   * `TEXT_MARKER` where each text goes and `quoted` the texts' JSON in document order, so a long answer
   * is serialised once, not four times; `real` is the event itself, for a writer that cannot splice.
   */
  textEvent(marked: ResponsesStreamEvent, quoted: readonly string[], real: () => ResponsesStreamEvent): void;
}

/** Stands in for an item's text while the events around it are serialised (see `textEvent`). */
export const TEXT_MARKER = "__1flowbase_item_text__";
const TEXT_MARKER_JSON = JSON.stringify(TEXT_MARKER);

/** Pending deltas are joined into one flat block once they hold this many UTF-16 units. */
const TEXT_BLOCK_UNITS = 8192;

/** A character V8 cannot keep in a one-byte string: a block holding one is stored two bytes per unit. */
const BEYOND_LATIN1 = /[^\u0000-\u00ff]/;
/** A surrogate without its partner: UTF-8 cannot carry it (TextEncoder writes U+FFFD instead). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const BLOCK_ENCODER = new TextEncoder();
// ignoreBOM: a block that starts with U+FEFF must come back with it (the default strips it).
const BLOCK_DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * An item's streamed text, kept as flat blocks of a few KiB rather than `text += delta`: a long answer
 * is ~1M deltas, and a 1M-node rope of cons strings (plus every small delta string it keeps alive) was
 * the largest answer-proportional allocation of the stream (bench/FINDINGS.md, Memory).
 *
 * A finished block with a character above U+00FF is a two-byte V8 string; when its UTF-8 is smaller
 * (mostly-ASCII text with some "über 世界") it is kept as UTF-8 and decoded once, at the terminal —
 * Responses must hold the whole answer for its `.done` events and `response.completed`, and this was
 * most of its live heap on a long stream (bench/FINDINGS.md, Memory). A block with a lone surrogate
 * stays a string: UTF-8 would turn it into U+FFFD, and the done events would then differ from the
 * deltas that were already sent. Blocks end on delta boundaries, so the two halves of a pair split
 * across deltas are each lone, stay strings and join back into the pair.
 */
export class TextBuffer {
  private readonly blocks: (string | Uint8Array)[] = [];
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
    if (this.blocks.length === 1 && typeof this.blocks[0] === "string") return this.blocks[0];
    const text = this.blocks.map((block) => (typeof block === "string" ? block : BLOCK_DECODER.decode(block))).join("");
    this.blocks.splice(0, this.blocks.length, text);
    return text;
  }

  private flatten(): void {
    if (this.pending.length === 0) return;
    const block = this.pending.join("");
    this.pending.length = 0;
    this.pendingUnits = 0;
    this.blocks.push(compactBlock(block));
  }
}

/** `block` as UTF-8 when that is exact and smaller than its two-byte string; else `block` itself. */
function compactBlock(block: string): string | Uint8Array {
  if (!BEYOND_LATIN1.test(block) || LONE_SURROGATE.test(block)) return block;
  const utf8 = BLOCK_ENCODER.encode(block);
  return utf8.byteLength < block.length * 2 ? utf8 : block;
}

function responseUsage(usage: Usage | null): ResponseUsage {
  return {
    input_tokens: usage?.inputTokens ?? 0,
    input_tokens_details: { cached_tokens: usage?.cachedInputTokens ?? 0, cache_write_tokens: usage?.cacheWriteTokens ?? 0 },
    output_tokens: usage?.outputTokens ?? 0,
    output_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 },
    total_tokens: usage?.totalTokens ?? 0,
  };
}

/** A writer that keeps nothing: the blocking answer needs only the encoder's Response. */
export const NO_EVENTS: ResponsesEventWriter = {
  wantsEvents: false,
  event: () => undefined,
  textDelta: () => undefined,
  textEvent: () => undefined,
};

/**
 * @example
 * const encoder = new ResponsesEncoder({ echo, onStart: ({ responseId }) => claim(responseId) }, writer);
 * const reader = new NativeAnswerReader(encoder, { lookupRun });
 */
export class ResponsesEncoder implements AnswerSink {
  private readonly context: ResponsesProjectionContext;
  private readonly writer: ResponsesEventWriter;
  private sequence = 0;
  private announced = false;
  private finished = false;
  private responseIdValue = "";
  private createdAt = 0;
  private readonly output: OutputItem[] = [];
  /** `output` for splicing: text items with TEXT_MARKER as their text, and that text serialised. */
  private readonly splicedOutput: Array<{ marked: OutputItem; quoted: string | null }> = [];
  private open: OpenTextItem | null = null;
  private final: ResponseObject | null = null;
  private failureValue: GatewayError | null = null;

  /** Names of the request's `type:"custom"` tools: their calls are `custom_tool_call` items. */
  private readonly customTools: ReadonlySet<string>;

  constructor(context: ResponsesProjectionContext, writer: ResponsesEventWriter) {
    this.context = context;
    this.writer = writer;
    this.customTools = customToolNames(context.echo.tools as Array<{ type: string; name?: unknown }>);
  }

  /** True once the terminal event has been produced. */
  get done(): boolean {
    return this.finished;
  }

  /** The response id (empty until the run id is known). */
  get responseId(): string {
    return this.responseIdValue;
  }

  /** Why the response failed (`run.failed`, `run.cancelled`, a fault), as the HTTP error blocking answers with. */
  get failure(): GatewayError | null {
    return this.failureValue;
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
  // Answer parts
  // -------------------------------------------------------------------------------------------

  start(run: RunStarted): void {
    this.announce(run.runId, run.createdAt);
  }

  text(channel: TextChannel, text: string): void {
    let open = this.open;
    if (open === null || open.kind !== channel) {
      if (open !== null) this.closeText("completed");
      open = this.openText(channel);
    }
    open.text.push(text);
    this.writer.textDelta(open, this.sequence++, text);
  }

  toolCalls(task: ToolCallTask): void {
    this.closeText("completed");
    for (const call of task.calls) {
      const index = this.output.length;
      // Keyed by the call's position in the task, not the output index: native records no text for a
      // waiting run (native-api.md §1.5, §7), so text streamed before the calls shifts the output
      // index between the stream and a blocking/GET rebuild, but never the call item's id.
      const callId = functionCallId({ runId: task.runId, callbackTaskId: task.callbackTaskId, index: call.position });
      const customInput = this.customTools.has(call.name) ? customToolInput(call.argumentsJson) : null;
      if (customInput !== null) {
        // A call of a Codex custom tool (to-native.ts `CUSTOM_TOOL_INPUT_SCHEMA`): OpenAI's
        // `custom_tool_call` item and `response.custom_tool_call_input.*` events (openai-node 7.57).
        const customId = outputItemId(this.responseIdValue, "custom_tool_call", call.position);
        const custom: OutputCustomToolCall = { id: customId, type: "custom_tool_call", status: "completed", call_id: callId, name: call.name, input: customInput };
        if (this.writer.wantsEvents) {
          this.event({ type: "response.output_item.added", sequence_number: 0, output_index: index, item: { ...custom, status: "in_progress", input: "" } });
          this.event({ type: "response.custom_tool_call_input.delta", sequence_number: 0, item_id: customId, output_index: index, delta: customInput });
          this.event({ type: "response.custom_tool_call_input.done", sequence_number: 0, item_id: customId, output_index: index, input: customInput });
          this.event({ type: "response.output_item.done", sequence_number: 0, output_index: index, item: custom });
        } else {
          this.sequence += 4;
        }
        this.output.push(custom);
        this.splicedOutput.push({ marked: custom, quoted: null });
        continue;
      }
      const id = outputItemId(this.responseIdValue, "function_call", call.position);
      const args = call.argumentsJson;
      const done: OutputFunctionCall = { id, type: "function_call", status: "completed", arguments: args, call_id: callId, name: call.name };
      if (this.writer.wantsEvents) {
        this.event({ type: "response.output_item.added", sequence_number: 0, output_index: index, item: { ...done, status: "in_progress", arguments: "" } });
        this.event({ type: "response.function_call_arguments.delta", sequence_number: 0, item_id: id, output_index: index, delta: args });
        this.event({ type: "response.function_call_arguments.done", sequence_number: 0, item_id: id, output_index: index, name: call.name, arguments: args });
        this.event({ type: "response.output_item.done", sequence_number: 0, output_index: index, item: done });
      } else {
        this.sequence += 4;
      }
      this.output.push(done);
      this.splicedOutput.push({ marked: done, quoted: null });
    }
  }

  finish(end: RunFinished): void {
    const status: "completed" | "incomplete" = end.status === "incomplete" ? "incomplete" : "completed";
    this.closeText(status);
    this.terminate(status, end.usage, null);
  }

  fail(failure: RunFailure): void {
    if (!this.announced) {
      const runId = failure.runId ?? this.context.knownRunId ?? null;
      if (runId === null || !isEncodableRunId(runId)) {
        // No native event named the run, so there is no response id: nothing can be announced.
        // Routes answer such a stream with an HTTP error before any header; this is the last resort.
        this.finished = true;
        this.failureValue = fromNativeError(failure.error);
        this.errorEvent(this.failureValue);
        this.writer.end?.();
        return;
      }
      this.announce(runId, failure.createdAt);
    }
    this.closeText("incomplete");
    const error = fromNativeError(failure.error);
    this.failureValue = error;
    this.errorEvent(error);
    const status: ResponseStatus = failure.error.kind === "run_cancelled" ? "cancelled" : "failed";
    this.terminate(status, failure.usage, { code: error.code ?? "server_error", message: error.message });
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  private announce(runId: string, createdAt: number | null): void {
    if (!isEncodableRunId(runId)) {
      // Response and call ids are derived from the run id (ids.ts); native run ids are UUIDs (§6).
      throw new TypeError("1flowbase sent a run id that is not a UUID");
    }
    this.announced = true;
    this.responseIdValue = responseIdFor({ runId, callbackTaskId: this.context.resumedTaskId, unstored: this.context.unstored === true });
    this.createdAt = createdAt ?? this.now();
    this.context.onStart?.({ runId, responseId: this.responseIdValue });
    if (!this.writer.wantsEvents) {
      this.sequence += 2;
      return;
    }
    this.event({ type: "response.created", sequence_number: 0, response: this.response("in_progress", [], null) });
    this.event({ type: "response.in_progress", sequence_number: 0, response: this.response("in_progress", [], null) });
  }

  private openText(kind: TextChannel): OpenTextItem {
    const index = this.output.length;
    const id = outputItemId(this.responseIdValue, kind, index);
    const open: OpenTextItem = { kind, id, index, text: new TextBuffer() };
    this.open = open;
    if (!this.writer.wantsEvents) {
      this.sequence += 2;
    } else if (kind === "message") {
      this.event({ type: "response.output_item.added", sequence_number: 0, output_index: index, item: { id, type: "message", status: "in_progress", role: "assistant", content: [] } });
      this.event({
        type: "response.content_part.added",
        sequence_number: 0,
        item_id: id,
        output_index: index,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [], logprobs: [] },
      });
    } else {
      this.event({ type: "response.output_item.added", sequence_number: 0, output_index: index, item: { id, type: "reasoning", summary: [] } });
      this.event({ type: "response.reasoning_summary_part.added", sequence_number: 0, item_id: id, output_index: index, summary_index: 0, part: { type: "summary_text", text: "" } });
    }
    return open;
  }

  /** The item `open` stands for, with `text` as its text (the real one, or TEXT_MARKER for splicing). */
  private textItem(open: OpenTextItem, status: "in_progress" | "completed" | "incomplete", text: string = open.text.toString()): OutputMessage | OutputReasoning {
    if (open.kind === "message") {
      return { id: open.id, type: "message", status, role: "assistant", content: [{ type: "output_text", text, annotations: [], logprobs: [] }] };
    }
    const item: OutputReasoning = { id: open.id, type: "reasoning", summary: [{ type: "summary_text", text }] };
    if (status !== "completed") item.status = status;
    return item;
  }

  /**
   * Closes the open item. Its text is serialised once and spliced into the three `.done` events here
   * and into the terminal Response (`splicedOutput`): re-stringifying a long answer four times was a
   * quarter of the projector's time and grows with the answer (bench/FINDINGS.md, recommendation 3).
   */
  private closeText(status: "completed" | "incomplete"): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    const text = open.text.toString();
    const item = this.textItem(open, status, text);
    this.output.push(item);
    if (!this.writer.wantsEvents) {
      this.sequence += 3;
      this.splicedOutput.push({ marked: item, quoted: null });
      return;
    }
    const quotedText = JSON.stringify(text);
    const quoted = [quotedText];
    const marked = this.textItem(open, status, TEXT_MARKER);
    const at = { item_id: open.id, output_index: open.index };
    if (open.kind === "message") {
      this.spliced({ type: "response.output_text.done", sequence_number: 0, ...at, content_index: 0, text: TEXT_MARKER, logprobs: [] }, quoted, (sequence_number) => ({
        type: "response.output_text.done",
        sequence_number,
        ...at,
        content_index: 0,
        text,
        logprobs: [],
      }));
      this.spliced(
        { type: "response.content_part.done", sequence_number: 0, ...at, content_index: 0, part: { type: "output_text", text: TEXT_MARKER, annotations: [], logprobs: [] } },
        quoted,
        (sequence_number) => ({ type: "response.content_part.done", sequence_number, ...at, content_index: 0, part: { type: "output_text", text, annotations: [], logprobs: [] } }),
      );
    } else {
      this.spliced({ type: "response.reasoning_summary_text.done", sequence_number: 0, ...at, summary_index: 0, text: TEXT_MARKER }, quoted, (sequence_number) => ({
        type: "response.reasoning_summary_text.done",
        sequence_number,
        ...at,
        summary_index: 0,
        text,
      }));
      this.spliced(
        { type: "response.reasoning_summary_part.done", sequence_number: 0, ...at, summary_index: 0, part: { type: "summary_text", text: TEXT_MARKER } },
        quoted,
        (sequence_number) => ({ type: "response.reasoning_summary_part.done", sequence_number, ...at, summary_index: 0, part: { type: "summary_text", text } }),
      );
    }
    this.spliced({ type: "response.output_item.done", sequence_number: 0, output_index: open.index, item: marked }, quoted, (sequence_number) => ({
      type: "response.output_item.done",
      sequence_number,
      output_index: open.index,
      item,
    }));
    this.splicedOutput.push({ marked, quoted: quotedText });
  }

  /** The one terminal event, with the full output and usage. */
  private terminate(status: Exclude<ResponseStatus, "in_progress">, usage: Usage | null, error: { code: string; message: string } | null): void {
    this.finished = true;
    const response = this.response(status, [...this.output], responseUsage(usage), error);
    if (status === "completed") response.completed_at = this.now();
    if (status === "incomplete") response.incomplete_details = { reason: "max_output_tokens" };
    this.final = response;
    const type = status === "completed" ? "response.completed" : status === "incomplete" ? "response.incomplete" : "response.failed";
    if (this.writer.wantsEvents) {
      // The same Response with the marked items (spread keeps the key order), texts spliced back in.
      const marked: ResponseObject = { ...response, output: this.splicedOutput.map((entry) => entry.marked) };
      const quoted = this.splicedOutput.flatMap((entry) => (entry.quoted === null ? [] : [entry.quoted]));
      this.spliced({ type, sequence_number: 0, response: marked }, quoted, (sequence_number) => ({ type, sequence_number, response }));
    } else {
      this.sequence++;
    }
    // The serialised texts live on in the frame alone; do not keep a second copy of the answer alive.
    this.splicedOutput.length = 0;
    this.writer.end?.();
  }

  // -------------------------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------------------------

  private now(): number {
    return this.context.now?.() ?? Math.floor(Date.now() / 1000);
  }

  private response(status: ResponseStatus, output: OutputItem[], usage: ResponseUsage | null, error: { code: string; message: string } | null = null): ResponseObject {
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
      presence_penalty: echo.presence_penalty,
      frequency_penalty: echo.frequency_penalty,
      text: echo.text,
      tool_choice: echo.tool_choice,
      tools: echo.tools,
      top_logprobs: echo.top_logprobs,
      top_p: echo.top_p,
      truncation: echo.truncation,
      usage,
      // OpenAI's spec types `user` as a string, not nullable (openai-openapi `ModelResponseProperties`):
      // echoed when sent, absent otherwise.
      ...(typeof echo.user === "string" ? { user: echo.user } : {}),
      metadata: echo.metadata,
    };
  }

  /** Writes `event` with the next sequence number (the `sequence_number` given is a placeholder). */
  private event(event: ResponsesStreamEvent): void {
    event.sequence_number = this.sequence++;
    this.writer.event(event);
  }

  private spliced(marked: ResponsesStreamEvent, quoted: readonly string[], real: (sequence: number) => ResponsesStreamEvent): void {
    const sequence = this.sequence++;
    marked.sequence_number = sequence;
    this.writer.textEvent(marked, quoted, () => real(sequence));
  }

  /**
   * The `error` event: flat SPEC fields plus the nested object real OpenAI streams carry, with a
   * string `code` (the AI SDK's nested schema requires it; client-protocols.md §3.5).
   */
  private errorEvent(failure: GatewayError): void {
    const code = failure.code ?? "server_error";
    this.event({ type: "error", sequence_number: 0, code, message: failure.message, param: null, error: { type: failure.type, code, message: failure.message, param: null } });
  }
}

/**
 * How a transport wraps one event's JSON: an SSE frame (`event:` + `data:` lines, blank line), or
 * nothing at all — a WebSocket message is the event's JSON itself.
 */
export interface EventFraming {
  before(type: string): string;
  readonly after: string;
}

export const SSE_FRAMING: EventFraming = { before: (type) => `event: ${type}\ndata: `, after: "\n\n" };
export const MESSAGE_FRAMING: EventFraming = { before: () => "", after: "" };

/**
 * Serialises the encoder's events for one transport: the same JSON for SSE and WebSocket, with the
 * two costs of a long answer kept flat — the delta prefix is built once per item, not per token, and
 * the long texts of the `.done` events and the terminal Response are spliced in, not re-serialised.
 */
export class ResponsesEventFrames {
  /** The delta frame of the open item up to its sequence number. */
  private deltaPrefix: { id: string; prefix: string } | null = null;

  constructor(private readonly framing: EventFraming) {}

  event(event: ResponsesStreamEvent): string {
    return `${this.framing.before(event.type)}${JSON.stringify(event)}${this.framing.after}`;
  }

  textDelta(item: OpenTextItem, sequence: number, text: string): string {
    let cached = this.deltaPrefix;
    if (cached?.id !== item.id) {
      const type = item.kind === "message" ? "response.output_text.delta" : "response.reasoning_summary_text.delta";
      const position = item.kind === "message" ? `"content_index":0,"logprobs":[]` : `"summary_index":0`;
      cached = { id: item.id, prefix: `${this.framing.before(type)}{"type":"${type}","item_id":"${item.id}","output_index":${item.index},${position},"sequence_number":` };
      this.deltaPrefix = cached;
    }
    return `${cached.prefix}${sequence},"delta":${JSON.stringify(text)}}${this.framing.after}`;
  }

  /**
   * `event(real())` without serialising the long texts again: each marker's JSON in `marked`'s
   * serialisation is replaced by the matching `quoted` — exactly what `JSON.stringify` writes for that
   * string. Should the marker's JSON occur anywhere else (inside a model-written string, say), the
   * count tells and the event is serialised from `real()` instead. An occurrence overlapping one of
   * ours would share its opening or closing quote and so need a `_` where ours has the `:` before it
   * or the `,`/`}` after it: a count of exactly `quoted.length` means every occurrence is one of ours.
   */
  textEvent(marked: ResponsesStreamEvent, quoted: readonly string[], real: () => ResponsesStreamEvent): string {
    const parts = JSON.stringify(marked).split(TEXT_MARKER_JSON);
    if (parts.length !== quoted.length + 1) return this.event(real());
    let data = parts[0] ?? "";
    for (let i = 0; i < quoted.length; i++) data += `${quoted[i] ?? ""}${parts[i + 1] ?? ""}`;
    return `${this.framing.before(marked.type)}${data}${this.framing.after}`;
  }
}

/**
 * The Responses SSE projector: `event: <type>` + `data: <json>` frames, one terminal event, then the
 * stream ends (client-protocols.md §3.1).
 *
 * @example
 * const projector = new ResponsesStreamProjector({ echo, onStart, lookupRun });
 * const body = projectToSse(nativeItems, projector, { keepaliveMs: 10_000 });
 */
export class ResponsesStreamProjector extends AnswerSseProjector implements ResponsesEventWriter {
  readonly wantsEvents = true;
  protected readonly reader: NativeAnswerReader;
  readonly encoder: ResponsesEncoder;
  private readonly frames = new ResponsesEventFrames(SSE_FRAMING);

  constructor(context: ResponsesProjectionContext) {
    super();
    this.encoder = new ResponsesEncoder(context, this);
    this.reader = new NativeAnswerReader(this.encoder, { ...readerOptions(context), coalesceText: true });
  }

  keepalive(): string {
    return KEEPALIVE_COMMENT;
  }

  /** SSE only: the Open Responses `[DONE]` sentinel after the terminal frame. */
  end(): void {
    this.out += DONE_FRAME;
  }

  event(event: ResponsesStreamEvent): void {
    this.out += this.frames.event(event);
  }

  textDelta(item: OpenTextItem, sequence: number, text: string): void {
    this.out += this.frames.textDelta(item, sequence, text);
  }

  textEvent(marked: ResponsesStreamEvent, quoted: readonly string[], real: () => ResponsesStreamEvent): void {
    this.out += this.frames.textEvent(marked, quoted, real);
  }
}

/**
 * The Responses WebSocket projector: the very events of the SSE stream (same encoder, same ids,
 * `sequence_number`s and one terminal event), each its own JSON message, and no `[DONE]` — a socket
 * carries many responses, and the terminal event is what ends one (OpenAI's WebSocket mode).
 *
 * @example
 * const projector = new ResponsesMessageProjector({ echo, onStart, lookupRun });
 * await projector.push(item);
 * for (const message of projector.take()) socket.send(message);
 */
export class ResponsesMessageProjector implements ResponsesEventWriter {
  readonly wantsEvents = true;
  readonly encoder: ResponsesEncoder;
  private readonly reader: NativeAnswerReader;
  private readonly frames = new ResponsesEventFrames(MESSAGE_FRAMING);
  private messages: string[] = [];

  constructor(context: ResponsesProjectionContext) {
    this.encoder = new ResponsesEncoder(context, this);
    this.reader = new NativeAnswerReader(this.encoder, { ...readerOptions(context), coalesceText: true });
  }

  /** Reads one native item; its messages wait until `take`. A promise while the item needs the run record. */
  push(item: NativeStreamItem): void | Promise<void> {
    return this.reader.push(item);
  }

  /** The messages produced since the last call. */
  take(): string[] {
    this.reader.flushText();
    const messages = this.messages;
    this.messages = [];
    return messages;
  }

  /** True once the terminal event has been produced. */
  get done(): boolean {
    return this.reader.done;
  }

  event(event: ResponsesStreamEvent): void {
    this.messages.push(this.frames.event(event));
  }

  textDelta(item: OpenTextItem, sequence: number, text: string): void {
    this.messages.push(this.frames.textDelta(item, sequence, text));
  }

  textEvent(marked: ResponsesStreamEvent, quoted: readonly string[], real: () => ResponsesStreamEvent): void {
    this.messages.push(this.frames.textEvent(marked, quoted, real));
  }
}

/**
 * The `input` of a custom tool call from the native call's arguments (`{input: string}`, to-native.ts
 * `CUSTOM_TOOL_INPUT_SCHEMA`). A model that ignored the schema and sent other JSON still gets its
 * call through: the arguments' JSON text becomes the input, never a dropped call.
 */
function customToolInput(argumentsJson: string): string {
  try {
    const parsed: unknown = JSON.parse(argumentsJson);
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { input?: unknown }).input === "string") return (parsed as { input: string }).input;
    if (typeof parsed === "string") return parsed;
  } catch {
    // not JSON: the raw text is the input
  }
  return argumentsJson;
}
