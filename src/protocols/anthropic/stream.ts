/**
 * Answer parts → Anthropic Messages stream events (client-protocols.md §5.3).
 *
 * `AnthropicEncoder` is the whole protocol side: it receives the parts of a native answer from the
 * one answer reader (`src/native/answer.ts`) and writes typed Anthropic events to an
 * `AnthropicEventWriter`. `AnthropicStreamProjector` (below) writes them as SSE frames; the blocking
 * `MessageAccumulator` (`from-native.ts`) folds the very same events into the `Message` — so
 * blocking equals `MessageStream.finalMessage()` by construction (invariant 4).
 *
 * Wire rules kept here (what the real clients validate):
 * - every frame has an `event:` line equal to its JSON `type` (ANT `Stream` drops frames without one);
 * - `message_start` comes first, exactly once, with `content: []` and numeric usage;
 * - content blocks are sequential, never interleaved, `index` = position in `content` (MessageStream
 *   writes listener snapshots at `content.at(-1)`);
 * - a thinking block ends with one `signature_delta` before its `content_block_stop`;
 * - `message_delta` carries the stop reason and *cumulative* usage, then `message_stop`, then close;
 * - a failure after the headers is one `event: error` frame `{type:"error",error:{type,message}}`,
 *   then close; `ping` frames keep the connection alive while native is idle.
 *
 * Fixes over 1flowbase's own adapter (native-api.md §4.5): it has no `signature_delta`, no `ping`,
 * no `stop_sequence`, and reports a cancelled run as a normal end; see `fail()` for our choice.
 */
import type { GatewayError } from "../../http/errors";
import { AnswerSseProjector, namedFrame } from "../../http/sse";
import { NativeAnswerReader, readerOptions, type AnswerSink, type ReaderHooks, type RunFailure, type RunFinished, type RunStarted, type TextChannel, type ToolCallTask } from "../../native/answer";
import { encodeCallbackId } from "../../native/callback-ids";
import type { Usage } from "../../native/usage";
import { streamErrorPayload, toAnthropicError } from "./errors";
import type { AnthropicStreamEvent, ContentBlock, MessageDeltaUsage, StopReason } from "./schema";

/** Prefix of the tool_use ids we mint (`toolu_<44 chars>`, matches `^[A-Za-z0-9_-]{1,64}$`). */
export const TOOL_USE_ID_PREFIX = "toolu";

/**
 * The `signature` we put on thinking blocks.
 *
 * Anthropic clients require a `signature` string on every thinking block (the SDK types, AISDK's
 * schema, and Claude Code, which replays thinking blocks verbatim in the next request's history).
 * 1flowbase reasoning is not signed by anyone, so there is nothing real to send. We send one constant,
 * non-secret marker — base64 of `1flowbase-reasoning-unsigned` — rather than a fake digest, so it is
 * obvious on inspection what it is. It is never verified: when a client replays a thinking block we
 * drop it (`to-native.ts`), like 1flowbase's adapter does (native-api.md §4.3).
 */
export const THINKING_SIGNATURE = "MWZsb3diYXNlLXJlYXNvbmluZy11bnNpZ25lZA==";

/** What the projection needs to know about the request. */
export interface AnthropicProjectionContext extends ReaderHooks {
  /** Echoed as `message.model` (the platform does not route by it, native-api.md §4.6). */
  model: string;
  /**
   * Distinguishes the message of a resumed run from the run's first message (a native run resumed by
   * tool results keeps its id, ARCHITECTURE.md "Ids"): `msg_<run hex>_<suffix>`.
   */
  messageIdSuffix?: string | undefined;
  /** Called once with the native run id (request log). */
  onRunId?: ((runId: string) => void) | undefined;
}

/** `msg_<run uuid without hyphens>[_<suffix>]`. */
export function messageIdFor(runId: string, suffix?: string): string {
  const base = `msg_${runId.replace(/-/g, "")}`;
  return suffix ? `${base}_${suffix.replace(/-/g, "")}` : base;
}

/** The native run id inside a message id made by `messageIdFor` (undefined for anything else). */
export function runIdOfMessage(messageId: string): string | undefined {
  const hex = /^msg_([0-9a-f]{32})(?:_|$)/.exec(messageId)?.[1];
  return hex ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : undefined;
}

/**
 * Anthropic usage from native usage (native-api.md §4.4, the same mapping as 1flowbase's adapter).
 * `input_tokens` = native prompt tokens: Anthropic's own `input_tokens` excludes cache reads, but
 * native's `prompt_tokens` may be either (it is normalized from OpenAI- and Anthropic-style provider
 * usage alike), so subtracting would double-count for Anthropic-backed flows; we keep native's number.
 * Cache counts only when native reported them (`message_start` carries 0 for both).
 */
export function anthropicUsage(usage: Usage | null): MessageDeltaUsage {
  const out: MessageDeltaUsage = { input_tokens: usage?.inputTokens ?? 0, output_tokens: usage?.outputTokens ?? 0 };
  if (usage?.reportedCacheWrite) out.cache_creation_input_tokens = usage.cacheWriteTokens;
  if (usage?.reportedCacheRead) out.cache_read_input_tokens = usage.cachedInputTokens;
  return out;
}

/** Where an `AnthropicEncoder` writes: the SSE projector, or the blocking accumulator. */
export interface AnthropicEventWriter {
  event(event: AnthropicStreamEvent): void;
  /**
   * Stands for `{type:"content_block_delta", index, delta: text_delta|thinking_delta}` of the open
   * block at `index` — the hot path, one call per native delta (or burst, `TextCoalescer`), with no event object built.
   */
  delta(index: number, kind: "text" | "thinking", text: string): void;
}

type BlockKind = "text" | "thinking";

const STOP_REASON: Readonly<Record<RunFinished["status"], StopReason>> = {
  completed: "end_turn",
  // Upstream 0.3 ends a run `incomplete` when the model stopped at its output limit (§7).
  incomplete: "max_tokens",
  tool_calls: "tool_use",
};

/** The Anthropic encoding of one answer: message id, content blocks and their indexes, the end. */
export class AnthropicEncoder implements AnswerSink {
  private readonly context: AnthropicProjectionContext;
  private readonly writer: AnthropicEventWriter;
  /** Number of content blocks opened so far; the next block's index. */
  private blockCount = 0;
  private open: BlockKind | null = null;
  private started = false;
  /** Set when the answer ended with an error event: what a blocking request answers as HTTP. */
  failure: GatewayError | null = null;

  constructor(context: AnthropicProjectionContext, writer: AnthropicEventWriter) {
    this.context = context;
    this.writer = writer;
  }

  start(run: RunStarted): void {
    this.started = true;
    this.context.onRunId?.(run.runId);
    this.writer.event({
      type: "message_start",
      message: {
        id: messageIdFor(run.runId, this.context.messageIdSuffix),
        type: "message",
        role: "assistant",
        model: this.context.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        // Native reports usage only when the run ends; `message_delta` carries the real counts.
        usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    });
  }

  text(channel: TextChannel, text: string): void {
    const kind: BlockKind = channel === "message" ? "text" : "thinking";
    if (this.open !== kind) this.openBlock(kind);
    this.writer.delta(this.blockCount - 1, kind, text);
  }

  toolCalls(task: ToolCallTask): void {
    this.closeBlock();
    for (const call of task.calls) {
      const index = this.blockCount++;
      const id = encodeCallbackId(TOOL_USE_ID_PREFIX, { runId: task.runId, callbackTaskId: task.callbackTaskId, index: call.position });
      this.writer.event({ type: "content_block_start", index, content_block: { type: "tool_use", id, name: call.name, input: {} } });
      const json = JSON.stringify(call.input);
      // The whole input in one fragment (native has no argument deltas, §2.2); `{}` needs none.
      if (json !== "{}") this.writer.event({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: json } });
      this.writer.event({ type: "content_block_stop", index });
    }
  }

  finish(end: RunFinished): void {
    this.closeBlock();
    if (this.blockCount === 0 && end.status !== "tool_calls") {
      // An answer-less run still gets a text block: `MessageStream.finalText()` and clients that read
      // `content[0].text` require one (1flowbase's adapter does the same).
      this.writer.event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
      this.writer.event({ type: "content_block_stop", index: 0 });
      this.blockCount = 1;
    }
    this.writer.event({
      type: "message_delta",
      // A client stop sequence the edge ended the text on (native/answer.ts OutputLimiter).
      delta: end.stopSequence ? { stop_reason: "stop_sequence", stop_sequence: end.stopSequence, stop_details: null } : { stop_reason: STOP_REASON[end.status], stop_sequence: null, stop_details: null },
      usage: anthropicUsage(end.usage),
    });
    this.writer.event({ type: "message_stop" });
  }

  /**
   * A failure is one `error` event. A cancelled run too: Anthropic has no "cancelled" stop reason,
   * and ending with `end_turn` (1flowbase's choice) would tell the client a truncated answer is
   * complete. A run that failed before it started gets no `message_start` for a message that never
   * existed (native may send only `run.failed`, §2.3).
   */
  fail(failure: RunFailure): void {
    if (!this.started && failure.runId !== null) this.context.onRunId?.(failure.runId);
    this.open = null;
    this.failure = toAnthropicError(failure.error);
    this.writer.event({ type: "error", error: streamErrorPayload(this.failure) });
  }

  private openBlock(kind: BlockKind): void {
    this.closeBlock();
    const block: ContentBlock = kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
    this.writer.event({ type: "content_block_start", index: this.blockCount, content_block: block });
    this.blockCount += 1;
    this.open = kind;
  }

  private closeBlock(): void {
    if (this.open === null) return;
    const index = this.blockCount - 1;
    if (this.open === "thinking") {
      this.writer.event({ type: "content_block_delta", index, delta: { type: "signature_delta", signature: THINKING_SIGNATURE } });
    }
    this.writer.event({ type: "content_block_stop", index });
    this.open = null;
  }
}

/** The SSE frame of one event: `event: <type>` + `data: <json>`. */
export function frameOf(event: AnthropicStreamEvent): string {
  return namedFrame(event.type, JSON.stringify(event));
}

/** Anthropic's keepalive: a `ping` event (client-protocols.md §5.3; SDKs skip it). */
export const PING_FRAME = namedFrame("ping", '{"type":"ping"}');

/**
 * The `content_block_delta` frame of a `kind` block at `index`, cut around its text:
 * `prefix + JSON.stringify(text) + suffix` is exactly `frameOf` of that event. Derived from `frameOf`
 * itself (the frame of an empty delta, split at its `""`), so the two cannot drift apart.
 */
function deltaTemplate(kind: BlockKind, index: number): { index: number; kind: BlockKind; prefix: string; suffix: string } {
  const frame = frameOf({
    type: "content_block_delta",
    index,
    delta: kind === "text" ? { type: "text_delta", text: "" } : { type: "thinking_delta", thinking: "" },
  });
  // The delta's text is the last field of the frame: its `""` is the last one.
  const at = frame.lastIndexOf('""');
  return { index, kind, prefix: frame.slice(0, at), suffix: frame.slice(at + 2) };
}

/** The SSE projector for `/v1/messages` with `stream: true`. */
export class AnthropicStreamProjector extends AnswerSseProjector implements AnthropicEventWriter {
  protected readonly reader: NativeAnswerReader;
  /**
   * The delta frame template of the open block, built when its first delta arrives: per token only
   * the text is serialised, no event object and no whole-event `JSON.stringify`. Keyed by the block's
   * index, which no two blocks share, so a stale template is never used.
   */
  private template: { index: number; kind: BlockKind; prefix: string; suffix: string } | null = null;

  constructor(context: AnthropicProjectionContext) {
    super();
    this.reader = new NativeAnswerReader(new AnthropicEncoder(context, this), { ...readerOptions(context), coalesceText: true });
  }

  keepalive(): string {
    return PING_FRAME;
  }

  event(event: AnthropicStreamEvent): void {
    this.out += frameOf(event);
  }

  delta(index: number, kind: BlockKind, text: string): void {
    let template = this.template;
    if (template?.index !== index || template.kind !== kind) this.template = template = deltaTemplate(kind, index);
    this.out += template.prefix + JSON.stringify(text) + template.suffix;
  }
}
