/**
 * Answer parts → Chat Completions chunks (client-protocols.md §4.3; native-api.md §2, §4.5).
 *
 * `ChatEncoder` is the whole protocol side: it receives the parts of a native answer from the one
 * answer reader (`src/native/answer.ts`) and writes `chat.completion.chunk`s (or one protocol error)
 * to a `ChatChunkWriter`. Two writers exist: `ChatStreamProjector` (SSE frames, below) and the
 * blocking accumulator (`from-native.ts`) — so the blocking response equals the accumulated stream
 * by construction (invariant 4).
 *
 * Wire rules kept here, and the gaps of the fork's adapter (native-api.md §4.1, §4.5) they fix:
 * - data-only frames, no `event:` lines; the first chunk carries `role:"assistant"`;
 * - reasoning travels as `delta.reasoning_content`, never as `<think>` inside `content` (the reader
 *   splits inline tags);
 * - exactly one finish chunk: `stop`, `length` (native `incomplete`) or `tool_calls`;
 * - usage only with `stream_options.include_usage`, as one extra `choices:[]` chunk after the finish
 *   chunk (the fork always put it on the finish chunk), with cached and reasoning token details;
 * - a failed or cancelled run, a cut stream or a transport fault is an error — never a finish chunk;
 * - tool calls: the first fragment of each call carries `id`, `type` and `function.name`, the second
 *   its arguments (AI SDK and openai-node validate exactly this, client-protocols.md §4.3).
 */
import { fromNativeError, openAiErrorBody, type GatewayError } from "../../http/errors";
import { AnswerSseProjector, dataFrame, DONE_FRAME, KEEPALIVE_COMMENT } from "../../http/sse";
import { NativeAnswerReader, readerOptions, type AnswerSink, type ReaderHooks, type RunFailure, type RunFinished, type RunStarted, type TextChannel, type ToolCallTask } from "../../native/answer";
import { encodeCallbackId } from "../../native/callback-ids";
import type { Usage } from "../../native/usage";
import type { ChatCompletionChunk, ChatDelta, ChatFinishReason, ChatUsage } from "./schema";
import { CHAT_TOOL_CALL_PREFIX } from "./to-native";

export interface ChatProjectionOptions extends ReaderHooks {
  /** Echoed in every chunk (`model` is an opaque string to native, native-api.md §4.6). */
  model: string;
  /** `stream_options.include_usage`: add the `choices:[]` usage chunk (and `usage:null` on the others). */
  includeUsage: boolean;
  /** Appended to `chatcmpl-<run>`: the callback task id of a resumed run (one id per response). */
  idSuffix?: string | undefined;
  /** Called once with the native run id (request log). */
  onRunId?: ((runId: string) => void) | undefined;
  /** Clock in unix seconds when native gave no time (tests). */
  now?: (() => number) | undefined;
}

/** The delta fields that carry answer text. */
export type ChatTextField = "content" | "reasoning_content";

/** Where a `ChatEncoder` writes: the SSE projector, or the blocking accumulator. */
export interface ChatChunkWriter {
  chunk(chunk: ChatCompletionChunk): void;
  /**
   * Stands for one chunk whose delta is exactly `{ [field]: text }` (`text` never empty). The hot
   * path: one call per native delta (or burst, `TextCoalescer`), so no chunk object is built for it (`ChatEncoder.textChunk`
   * gives the chunk when a writer needs it).
   */
  text(field: ChatTextField, text: string): void;
  /** The completion failed: the one error that ends it. */
  error(error: GatewayError): void;
  /** The completion is over (after its last chunk or its error). */
  end(): void;
}

/** The frame that ends every Chat stream (client-protocols.md §4.3). */
export { DONE_FRAME };

/** Native usage → Chat `usage` with the cached and reasoning details (client-protocols.md §4.2). */
export function chatUsage(usage: Usage | null): ChatUsage {
  return {
    prompt_tokens: usage?.inputTokens ?? 0,
    completion_tokens: usage?.outputTokens ?? 0,
    total_tokens: usage?.totalTokens ?? 0,
    prompt_tokens_details: { cached_tokens: usage?.cachedInputTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 },
  };
}

const FINISH_REASON: Readonly<Record<RunFinished["status"], ChatFinishReason>> = {
  completed: "stop",
  incomplete: "length",
  tool_calls: "tool_calls",
};

/** The Chat encoding of one answer: ids, chunk shapes, the finish and usage chunks. */
export class ChatEncoder implements AnswerSink {
  private readonly options: ChatProjectionOptions;
  private readonly writer: ChatChunkWriter;
  private id = "";
  private created = 0;
  private sentContent = false;

  constructor(options: ChatProjectionOptions, writer: ChatChunkWriter) {
    this.options = options;
    this.writer = writer;
  }

  start(run: RunStarted): void {
    this.id = `chatcmpl-${run.runId}${this.options.idSuffix ? `-${this.options.idSuffix}` : ""}`;
    this.created = run.createdAt ?? this.now();
    this.options.onRunId?.(run.runId);
    this.writer.chunk(this.payload({ role: "assistant" }));
  }

  text(channel: TextChannel, text: string): void {
    if (channel === "message") {
      this.sentContent = true;
      this.writer.text("content", text);
    } else {
      this.writer.text("reasoning_content", text);
    }
  }

  toolCalls(task: ToolCallTask): void {
    for (const call of task.calls) {
      const index = call.position;
      const id = encodeCallbackId(CHAT_TOOL_CALL_PREFIX, { runId: task.runId, callbackTaskId: task.callbackTaskId, index });
      this.writer.chunk(this.payload({ tool_calls: [{ index, id, type: "function", function: { name: call.name, arguments: "" } }] }));
      if (call.argumentsJson) this.writer.chunk(this.payload({ tool_calls: [{ index, function: { arguments: call.argumentsJson } }] }));
    }
  }

  finish(end: RunFinished): void {
    // An empty answer is `content: ""`, not a missing content (client-protocols.md §4.2).
    const delta: ChatDelta = end.status === "tool_calls" || this.sentContent ? {} : { content: "" };
    this.writer.chunk(this.payload(delta, FINISH_REASON[end.status]));
    if (this.options.includeUsage) {
      this.writer.chunk({ id: this.id, object: "chat.completion.chunk", created: this.created, model: this.options.model, choices: [], usage: chatUsage(end.usage) });
    }
    this.writer.end();
  }

  fail(failure: RunFailure): void {
    if (failure.runId !== null && this.id === "") this.options.onRunId?.(failure.runId);
    this.writer.error(fromNativeError(failure.error));
    this.writer.end();
  }

  /**
   * The chunk a `ChatChunkWriter.text(field, text)` call stands for. Valid once the completion has
   * started (`id` and `created` are fixed from then on): the SSE projector serializes it once per
   * stream, with a marker for `text`, to get its frame template.
   */
  textChunk(field: ChatTextField, text: string): ChatCompletionChunk {
    return this.payload(field === "content" ? { content: text } : { reasoning_content: text });
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

  private now(): number {
    return this.options.now?.() ?? Math.floor(Date.now() / 1000);
  }
}

type FrameTemplate = readonly [before: string, after: string];

const TEXT_MARK = "\u0000text\u0000";
const TEXT_MARK_JSON = JSON.stringify(TEXT_MARK);

/**
 * The Chat Completions SSE projector: the encoder's chunks as `data:` frames, then `data: [DONE]`.
 * A failure after the headers is `data: {"error":{…}}` then `[DONE]` — openai-node and openai-python
 * raise `APIError` on a chunk with an `error` key (client-protocols.md §4.3).
 *
 * @example
 * const projector = new ChatStreamProjector({ model: "1flowbase", includeUsage: true, lookupRun });
 * return sseResponse(projectToSse(await native.streamRun(request), projector, { keepaliveMs }));
 */
export class ChatStreamProjector extends AnswerSseProjector implements ChatChunkWriter {
  protected readonly reader: NativeAnswerReader;
  private readonly encoder: ChatEncoder;
  /** Per-stream delta frame templates, [before the text's JSON, after it]; built on first use. */
  private contentTemplate: FrameTemplate | null = null;
  private reasoningTemplate: FrameTemplate | null = null;

  constructor(options: ChatProjectionOptions) {
    super();
    this.encoder = new ChatEncoder(options, this);
    this.reader = new NativeAnswerReader(this.encoder, { ...readerOptions(options, options.includeUsage), coalesceText: true });
  }

  keepalive(): string {
    return KEEPALIVE_COMMENT;
  }

  chunk(chunk: ChatCompletionChunk): void {
    this.out += dataFrame(JSON.stringify(chunk));
  }

  /**
   * Deltas are nearly every event of a stream: their frames are spliced from a template instead of
   * building a chunk object and stringifying it whole (bench/FINDINGS.md: ~6× less projector time).
   */
  text(field: ChatTextField, text: string): void {
    const template =
      field === "content"
        ? (this.contentTemplate ??= this.frameTemplate(field))
        : (this.reasoningTemplate ??= this.frameTemplate(field));
    this.out += template[0] + JSON.stringify(text) + template[1];
  }

  error(error: GatewayError): void {
    this.out += dataFrame(JSON.stringify(openAiErrorBody(error)));
  }

  end(): void {
    this.out += DONE_FRAME;
  }

  /**
   * Splits the frame of a `field` delta chunk around its text, so that
   * `before + JSON.stringify(text) + after` is byte for byte the frame `chunk()` would write for that
   * chunk: it is that very serialization, with a marker for the text. The text is the last string of
   * the chunk (only fixed fields follow it), so the marker's last occurrence is the text's even if the
   * model name happens to contain it.
   */
  private frameTemplate(field: ChatTextField): FrameTemplate {
    const frame = dataFrame(JSON.stringify(this.encoder.textChunk(field, TEXT_MARK)));
    const at = frame.lastIndexOf(TEXT_MARK_JSON);
    return [frame.slice(0, at), frame.slice(at + TEXT_MARK_JSON.length)];
  }
}
