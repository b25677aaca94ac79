/**
 * Native run events → Chat Completions chunks (client-protocols.md §4.3; native-api.md §2, §4.5).
 *
 * `ChatChunkMachine` is the whole projection: native stream items in, `chat.completion.chunk`
 * objects (or one protocol error) out. The SSE projector serializes its output; the blocking
 * response (`from-native.ts`) folds the same machine over the same native items — so blocking equals
 * the accumulated stream by construction (invariant 4).
 *
 * Wire rules kept here, and the gaps of the fork's adapter (native-api.md §4.1, §4.5) they fix:
 * - data-only frames, no `event:` lines; the first chunk carries `role:"assistant"`;
 * - reasoning travels as `delta.reasoning_content`, never as `<think>` inside `content` — literal
 *   `<think>…</think>` in message deltas is split out incrementally (tags may straddle deltas);
 * - exactly one finish chunk: `stop`, `length` (native `incomplete`) or `tool_calls`;
 * - usage only with `stream_options.include_usage`, as one extra `choices:[]` chunk after the finish
 *   chunk (the fork always put it on the finish chunk), with cached and reasoning token details,
 *   read from the run record when the terminal event lacks it (native-api.md §2.5);
 * - a failed or cancelled run, a cut stream or a transport fault is an error — never a finish chunk;
 * - tool calls: the first fragment of each call carries `id`, `type` and `function.name`, the second
 *   its arguments (AI SDK and openai-node validate exactly this, client-protocols.md §4.3).
 */
import { fromNativeError, GatewayError, openAiErrorBody } from "../../http/errors";
import { canEncodeCallbackRef, encodeCallbackId, MAX_CALLS_PER_TASK } from "../../native/callback-ids";
import { NativeError } from "../../native/errors";
import type { NativeStreamItem } from "../../native/events";
import type { NativeEventData, NativeRequiredAction, NativeUsage } from "../../native/schema";
import { hasUsage, normalizeUsage } from "../../native/usage";
import { dataFrame, KEEPALIVE_COMMENT, type StreamProjector } from "../projector";
import type { ChatCompletionChunk, ChatDelta, ChatFinishReason, ChatToolCallDelta, ChatUsage } from "./schema";
import { CHAT_TOOL_CALL_PREFIX } from "./to-native";

export interface ChatProjectionOptions {
  /** Echoed in every chunk (`model` is an opaque string to native, native-api.md §4.6). */
  model: string;
  /** `stream_options.include_usage`: add the `choices:[]` usage chunk (and `usage:null` on the others). */
  includeUsage: boolean;
  /** Appended to `chatcmpl-<run>`: the callback task id of a resumed run (one id per response). */
  idSuffix?: string;
  /** Reads the run's usage when the terminal event carries none (`GET /runs/{id}`, §2.5). */
  lookupUsage?: (runId: string) => Promise<NativeUsage | null | undefined>;
  /** Called once with the native run id (request log). */
  onRunId?: (runId: string) => void;
}

export type ChatStreamOutput =
  | { readonly kind: "chunk"; readonly chunk: ChatCompletionChunk }
  | { readonly kind: "error"; readonly error: GatewayError };

/** The delta fields that carry answer text. */
export type ChatTextField = "content" | "reasoning_content";

/**
 * Receives the text of delta events from `ChatChunkMachine.pushText`. Deltas are the hot path (one
 * native event per token or so, ~100k on a long answer): this lets the SSE projector splice the text
 * into a per-stream frame template and the blocking fold append it to a string, with no chunk object
 * per delta.
 */
export interface ChatTextSink {
  /** Stands for one chunk whose delta is exactly `{ [field]: text }`; `text` is never empty. */
  text(field: ChatTextField, text: string): void;
}

/** The frame that ends every Chat stream (client-protocols.md §4.3). */
export const DONE_FRAME = "data: [DONE]\n\n";

/**
 * The projection state machine. `push` returns outputs synchronously, except for a terminal event
 * that lacks usage when usage was asked for and `lookupUsage` is set (then a Promise).
 */
export class ChatChunkMachine {
  private readonly options: ChatProjectionOptions;
  private readonly think = new ThinkTagSplitter();
  private id = "";
  private created = 0;
  private started = false;
  private lastUsage: NativeUsage | null = null;
  private finished = false;

  constructor(options: ChatProjectionOptions) {
    this.options = options;
  }

  get done(): boolean {
    return this.finished;
  }

  push(item: NativeStreamItem): ChatStreamOutput[] | Promise<ChatStreamOutput[]> {
    if (this.finished) return [];
    switch (item.event) {
      case "message.delta":
      case "reasoning.delta": {
        const out = this.begin(item.data);
        this.pushText(item, this.collect(out));
        return out;
      }
      case "run.started":
        return this.begin(item.data);
      case "usage.delta":
        if (hasUsage(item.data.usage)) this.lastUsage = item.data.usage;
        return [];
      case "workflow.event":
        return [];
      case "run.completed":
        return this.finish(item.data, "stop");
      case "run.incomplete":
        return this.finish(item.data, "length");
      case "required_action":
        return this.toolCalls(item.data, item.data.required_action);
      case "run.failed":
        return this.fail(item.data, fromNativeError(NativeError.fromRunError(item.data.error)));
      case "run.cancelled":
        return this.fail(item.data, fromNativeError(NativeError.cancelled()));
      case "fault":
        return this.fail(null, fromNativeError(item.error));
      default:
        return [];
    }
  }

  /**
   * The delta fast path. Once the role chunk is out and until the completion ends, a delta event
   * yields nothing but text chunks, so this hands their text to `sink` instead — the same pieces in
   * the same order as `push` would put in chunks. Returns false, having done nothing, when `item`
   * must go through `push` (not a delta, the completion not started yet, or already over).
   */
  pushText(item: NativeStreamItem, sink: ChatTextSink): boolean {
    if (!this.started || this.finished) return false;
    if (item.event === "message.delta") {
      this.think.push(item.data.delta, sink);
    } else if (item.event === "reasoning.delta") {
      if (item.data.delta) sink.text("reasoning_content", item.data.delta);
    } else {
      return false;
    }
    return true;
  }

  /**
   * The chunk a `ChatTextSink.text(field, text)` call stands for. The SSE projector serializes it once
   * per stream (with a marker for `text`) to get its frame template; only valid once the completion
   * has started, since `id` and `created` are fixed from then on.
   */
  textChunk(field: ChatTextField, text: string): ChatCompletionChunk {
    return this.payload(field === "content" ? { content: text } : { reasoning_content: text });
  }

  /** A sink that turns text into chunk outputs appended to `out` (the generic path). */
  private collect(out: ChatStreamOutput[]): ChatTextSink {
    return { text: (field, text) => out.push({ kind: "chunk", chunk: this.textChunk(field, text) }) };
  }

  /** Output list for one item; starts the completion (role chunk) on the first event of the run. */
  private begin(data: { run_id: string; created_at?: string | undefined }): ChatStreamOutput[] {
    if (this.started) return [];
    this.started = true;
    const runId = data.run_id;
    this.id = `chatcmpl-${runId}${this.options.idSuffix ? `-${this.options.idSuffix}` : ""}`;
    this.created = unixSeconds(data.created_at);
    this.options.onRunId?.(runId);
    return [this.chunk({ role: "assistant" })];
  }

  private chunk(delta: ChatDelta, finishReason: ChatFinishReason | null = null): ChatStreamOutput {
    return { kind: "chunk", chunk: this.payload(delta, finishReason) };
  }

  private payload(delta: ChatDelta, finishReason: ChatFinishReason | null = null): ChatCompletionChunk {
    const chunk: ChatCompletionChunk = {
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.options.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    };
    if (this.options.includeUsage) chunk.usage = null;
    return chunk;
  }

  private finish(data: NativeEventData, reason: ChatFinishReason): ChatStreamOutput[] | Promise<ChatStreamOutput[]> {
    const out = this.begin(data);
    this.think.flush(this.collect(out));
    // An empty answer is `content: ""`, not a missing content (client-protocols.md §4.2).
    out.push(this.chunk(this.think.sentContent ? {} : { content: "" }, reason));
    return this.close(data, out);
  }

  private toolCalls(data: NativeEventData, action: NativeRequiredAction): ChatStreamOutput[] | Promise<ChatStreamOutput[]> {
    const payload = action.payload;
    const calls = payload.tool_calls ?? [];
    const runId = data.run_id;
    if (action.action_type !== "submit_tool_outputs" || calls.length === 0) {
      // Human approval and generic callbacks have no Chat Completions shape (native-api.md §4.5).
      return this.fail(
        data,
        new GatewayError({
          status: 409,
          code: "required_action_not_supported",
          message: `the 1flowbase run is waiting for a '${action.action_type}' action that Chat Completions cannot carry`,
          headers: { "x-should-retry": "false" },
        }),
      );
    }
    if (!canEncodeCallbackRef(runId, payload.callback_task_id) || calls.length > MAX_CALLS_PER_TASK) {
      return this.fail(
        data,
        new GatewayError({ status: 502, code: "upstream_invalid_response", message: "1flowbase returned a tool callback the gateway cannot address" }),
      );
    }
    const out = this.begin(data);
    this.think.flush(this.collect(out));
    calls.forEach((call, index) => {
      const id = encodeCallbackId(CHAT_TOOL_CALL_PREFIX, { runId, callbackTaskId: payload.callback_task_id, index });
      const args = typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {});
      const opening: ChatToolCallDelta = { index, id, type: "function", function: { name: call.name, arguments: "" } };
      out.push(this.chunk({ tool_calls: [opening] }));
      if (args) out.push(this.chunk({ tool_calls: [{ index, function: { arguments: args } }] }));
    });
    out.push(this.chunk({}, "tool_calls"));
    return this.close(data, out);
  }

  /** Ends a successful completion: the usage chunk when asked for. */
  private close(data: NativeEventData, out: ChatStreamOutput[]): ChatStreamOutput[] | Promise<ChatStreamOutput[]> {
    this.finished = true;
    if (!this.options.includeUsage) return out;
    const usage = hasUsage(data.usage) ? data.usage : this.lastUsage;
    if (usage || !this.options.lookupUsage) {
      out.push(this.usageChunk(usage));
      return out;
    }
    return this.options
      .lookupUsage(data.run_id)
      .catch(() => null) // usage is best effort; the answer itself is complete
      .then((looked) => {
        out.push(this.usageChunk(looked));
        return out;
      });
  }

  private usageChunk(usage: NativeUsage | null | undefined): ChatStreamOutput {
    return {
      kind: "chunk",
      chunk: { id: this.id, object: "chat.completion.chunk", created: this.created, model: this.options.model, choices: [], usage: chatUsage(usage) },
    };
  }

  private fail(data: { run_id: string; created_at?: string | undefined } | null, error: GatewayError): ChatStreamOutput[] {
    if (data) this.begin(data);
    this.finished = true;
    return [{ kind: "error", error }];
  }
}

/** Native usage → Chat `usage` with the cached and reasoning details (client-protocols.md §4.2). */
export function chatUsage(usage: NativeUsage | null | undefined): ChatUsage {
  const normalized = normalizeUsage(usage);
  return {
    prompt_tokens: normalized.inputTokens,
    completion_tokens: normalized.outputTokens,
    total_tokens: normalized.totalTokens,
    prompt_tokens_details: { cached_tokens: normalized.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: normalized.reasoningTokens },
  };
}

/**
 * Splits literal `<think>…</think>` out of message deltas as they arrive. Semantics match
 * `splitThinkTags` (what a blocking answer goes through): an unclosed `<think>` makes the rest
 * reasoning. A tag split across deltas is held back until it is complete; text without `<` costs one
 * `indexOf`.
 */
export class ThinkTagSplitter {
  private inside = false;
  private pending = "";
  private content = false;

  /** Whether any text outside think tags was emitted (an empty answer finishes with `content: ""`). */
  get sentContent(): boolean {
    return this.content;
  }

  push(delta: string, sink: ChatTextSink): void {
    let text = this.pending + delta;
    this.pending = "";
    if (!this.inside && text.indexOf("<") === -1) {
      this.emit("content", text, sink);
      return;
    }
    for (;;) {
      const tag = this.inside ? CLOSE : OPEN;
      const at = text.indexOf(tag);
      if (at !== -1) {
        this.emit(this.inside ? "reasoning_content" : "content", text.slice(0, at), sink);
        this.inside = !this.inside;
        text = text.slice(at + tag.length);
        continue;
      }
      const hold = partialTagSuffix(text, tag);
      this.emit(this.inside ? "reasoning_content" : "content", text.slice(0, text.length - hold), sink);
      this.pending = text.slice(text.length - hold);
      return;
    }
  }

  flush(sink: ChatTextSink): void {
    if (this.pending) this.emit(this.inside ? "reasoning_content" : "content", this.pending, sink);
    this.pending = "";
  }

  private emit(field: ChatTextField, text: string, sink: ChatTextSink): void {
    if (!text) return;
    if (field === "content") this.content = true;
    sink.text(field, text);
  }
}

const OPEN = "<think>";
const CLOSE = "</think>";

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
function partialTagSuffix(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}

/**
 * Native timestamps → unix seconds. SSE events carry RFC 3339; the blocking run record carries the
 * `time` crate's Display form `2026-06-26 6:52:53.123456 +00:00:00` (native-api.md §1.5, §6).
 */
export function unixSeconds(createdAt: string | undefined | null, now: () => number = Date.now): number {
  if (createdAt) {
    const display = /^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)? ([+-])(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(createdAt.trim());
    if (display) {
      const [, y, mo, d, h, mi, s, sign, oh, om, os] = display;
      const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
      const offset = (Number(oh) * 3600 + Number(om) * 60 + Number(os ?? 0)) * (sign === "-" ? -1 : 1);
      return Math.floor(utc / 1000) - offset;
    }
    const parsed = Date.parse(createdAt);
    if (Number.isFinite(parsed)) return Math.floor(parsed / 1000);
  }
  return Math.floor(now() / 1000);
}

/**
 * The Chat Completions SSE projector: the machine's output as `data:` frames, then `data: [DONE]`.
 * A failure after the headers is `data: {"error":{…}}` then `[DONE]` — openai-node and openai-python
 * raise `APIError` on a chunk with an `error` key (client-protocols.md §4.3).
 *
 * @example
 * const projector = new ChatStreamProjector({ model: "1flowbase", includeUsage: true });
 * return sseResponse(projectToSse(await native.streamRun(request), projector, { keepaliveMs }));
 */
export class ChatStreamProjector implements StreamProjector, ChatTextSink {
  private readonly machine: ChatChunkMachine;
  /** Frames of the delta being pushed (filled by `text`; null while it has produced none). */
  private deltaFrames: string[] | null = null;
  /** Per-stream delta frame templates, [before the text's JSON, after it]; built on first use. */
  private contentTemplate: FrameTemplate | null = null;
  private reasoningTemplate: FrameTemplate | null = null;

  constructor(options: ChatProjectionOptions) {
    this.machine = new ChatChunkMachine(options);
  }

  get done(): boolean {
    return this.machine.done;
  }

  keepalive(): string {
    return KEEPALIVE_COMMENT;
  }

  push(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    if (this.machine.done) return [];
    // Deltas are nearly every event of a stream: their frames are spliced from a template instead of
    // building a chunk object and stringifying it whole (bench/FINDINGS.md: ~6× less projector time).
    this.deltaFrames = null;
    if (this.machine.pushText(item, this)) return this.deltaFrames ?? NO_FRAMES;
    const outputs = this.machine.push(item);
    return Array.isArray(outputs) ? this.frames(outputs) : outputs.then((resolved) => this.frames(resolved));
  }

  /** `ChatTextSink`: one delta chunk's frame. */
  text(field: ChatTextField, text: string): void {
    const template =
      field === "content"
        ? (this.contentTemplate ??= this.frameTemplate(field))
        : (this.reasoningTemplate ??= this.frameTemplate(field));
    const frame = template[0] + JSON.stringify(text) + template[1];
    // Nearly always one frame per delta: an exact one-element array, not an empty one grown by push.
    if (this.deltaFrames) this.deltaFrames.push(frame);
    else this.deltaFrames = [frame];
  }

  /**
   * Splits the frame of a `field` delta chunk around its text, so that
   * `before + JSON.stringify(text) + after` is byte for byte the frame `frames()` would build for that
   * chunk: it is that very serialization, with a marker for the text. The text is the last string of
   * the chunk (only fixed fields follow it), so the marker's last occurrence is the text's even if the
   * model name happens to contain it.
   */
  private frameTemplate(field: ChatTextField): FrameTemplate {
    const frame = dataFrame(JSON.stringify(this.machine.textChunk(field, TEXT_MARK)));
    const at = frame.lastIndexOf(TEXT_MARK_JSON);
    return [frame.slice(0, at), frame.slice(at + TEXT_MARK_JSON.length)];
  }

  /** Serializes one push's outputs; the push that ended the completion also ends the stream. */
  private frames(outputs: readonly ChatStreamOutput[]): string[] {
    const frames = outputs.map((output) =>
      dataFrame(JSON.stringify(output.kind === "chunk" ? output.chunk : openAiErrorBody(output.error))),
    );
    if (this.machine.done) frames.push(DONE_FRAME);
    return frames;
  }
}

type FrameTemplate = readonly [before: string, after: string];

const TEXT_MARK = "\u0000text\u0000";
const TEXT_MARK_JSON = JSON.stringify(TEXT_MARK);

/** What a delta that produced no frame (empty, or a held-back partial tag) returns; never mutated. */
const NO_FRAMES: readonly string[] = Object.freeze([]);
