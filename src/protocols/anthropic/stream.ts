/**
 * Native run events → Anthropic Messages stream events (client-protocols.md §5.3).
 *
 * `AnthropicStreamState` is the whole projection: a per-request state machine that turns native
 * stream items into typed Anthropic events. `AnthropicStreamProjector` serialises them as SSE frames
 * for the shared pipeline; `from-native.ts` folds the very same events into the blocking `Message`,
 * so blocking equals `MessageStream.finalMessage()` by construction (invariant 4).
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
import { canEncodeCallbackRef, encodeCallbackId } from "../../native/callback-ids";
import { NativeError } from "../../native/errors";
import type { NativeStreamItem } from "../../native/events";
import type { NativeEventData, NativeRequiredAction, NativeUsage } from "../../native/schema";
import { hasUsage, normalizeUsage } from "../../native/usage";
import { GatewayError } from "../../http/errors";
import { namedFrame, type StreamProjector } from "../projector";
import { streamErrorPayload, toAnthropicError } from "./errors";
import type {
  AnthropicMessage,
  AnthropicStreamEvent,
  ContentBlock,
  MessageDeltaUsage,
  StopReason,
} from "./schema";

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
export interface AnthropicProjectionContext {
  /** Echoed as `message.model` (the platform does not route by it, native-api.md §4.6). */
  model: string;
  /**
   * Distinguishes the message of a resumed run from the run's first message (a native run resumed by
   * tool results keeps its id, ARCHITECTURE.md "Ids"): `msg_<run hex>_<suffix>`.
   */
  messageIdSuffix?: string;
  /**
   * Reads usage from the run record when the terminal event carries none: native's `run.completed`
   * usually has no usage; `GET /runs/{id}` aggregates it over nodes (native-api.md §2.5).
   */
  lookupUsage?: (runId: string) => Promise<NativeUsage | null | undefined>;
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

/** Anthropic usage from native usage (native-api.md §4.4, the same mapping as 1flowbase's adapter). */
export function anthropicUsage(usage: NativeUsage | null | undefined): MessageDeltaUsage {
  const normalized = normalizeUsage(usage);
  // `input_tokens` = native prompt tokens, as 1flowbase's adapter does. Anthropic's own
  // `input_tokens` excludes cache reads, but native's `prompt_tokens` may be either (it is normalized
  // from OpenAI- and Anthropic-style provider usage alike), so subtracting would double-count for
  // Anthropic-backed flows; we keep native's number.
  const out: MessageDeltaUsage = { input_tokens: normalized.inputTokens, output_tokens: normalized.outputTokens };
  if (!usage) return out;
  // Cache counts only when native reported them; `message_start` carries 0 for both.
  if ([usage.cache_write_tokens, usage.cache_creation_input_tokens].some((v) => typeof v === "number")) {
    out.cache_creation_input_tokens = normalized.cacheWriteTokens;
  }
  if ([usage.cache_read_tokens, usage.input_cache_hit_tokens, usage.cache_read_input_tokens].some((v) => typeof v === "number")) {
    out.cache_read_input_tokens = normalized.cachedInputTokens;
  }
  return out;
}

/**
 * A native tool call's `arguments` → an Anthropic `input` object. Native records carry an object;
 * a JSON string that parses to an object is accepted too. Anything else (a non-JSON string from a
 * free-form tool, an array, a scalar) is wrapped as `{"input": value}` rather than dropped, because
 * Anthropic requires `input` to be an object.
 */
export function toolInput(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  if (typeof args === "object" && !Array.isArray(args)) return args as Record<string, unknown>;
  if (typeof args === "string") {
    if (args.trim() === "") return {};
    try {
      const parsed: unknown = JSON.parse(args);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // not JSON: wrapped below
    }
  }
  return { input: args };
}

type OpenBlock = "text" | "thinking" | null;

/**
 * The projection state machine. `step` returns the Anthropic events for one native stream item; it
 * returns a promise only for a terminal event whose usage must be read from the run record.
 */
export class AnthropicStreamState {
  private readonly context: AnthropicProjectionContext;
  private started = false;
  private finished = false;
  private runId: string | null = null;
  /** Number of content blocks opened so far; the next block's index. */
  private blockCount = 0;
  private open: OpenBlock = null;
  /** Last usage seen on a `usage.delta` (native 0.2 never sends one; harmless when absent). */
  private lastUsage: NativeUsage | null = null;
  /** Set when the stream ended with an error event: the blocking answer is this HTTP error. */
  failure: GatewayError | null = null;

  constructor(context: AnthropicProjectionContext) {
    this.context = context;
  }

  get done(): boolean {
    return this.finished;
  }

  /** Kind of the content block open now (null between blocks and once finished). */
  get openKind(): OpenBlock {
    return this.open;
  }

  /** Index of the open content block (meaningful while `openKind` is not null). */
  get openIndex(): number {
    return this.blockCount - 1;
  }

  /**
   * The delta text when `item` only continues the open block — a non-empty delta of the open block's
   * kind — and undefined otherwise. Then `step(item)` would return exactly one `content_block_delta`
   * at `openIndex` and change nothing else, so a caller may emit or fold that delta itself without
   * calling `step` (one per token on a long answer; the projector and the blocking fold do). A block
   * is only open between `message_start` and the end, so no other condition applies.
   */
  continuedText(item: NativeStreamItem): string | undefined {
    const open = this.open;
    if (open === null) return undefined;
    if (item.event === (open === "text" ? "message.delta" : "reasoning.delta")) return item.data.delta || undefined;
    return undefined;
  }

  step(item: NativeStreamItem): AnthropicStreamEvent[] | Promise<AnthropicStreamEvent[]> {
    if (this.finished) return [];
    if (item.event === "fault") return this.fail(item.error);

    const out: AnthropicStreamEvent[] = [];
    // A run can fail before it started (native sends only `run.failed`, §2.3): then the error event
    // is the whole stream, without a `message_start` announcing a message that never existed.
    const failsFirst = item.event === "run.failed" || item.event === "run.cancelled";
    if (!this.started && !failsFirst) this.start(item.data.run_id, out);

    switch (item.event) {
      case "reasoning.delta":
        if (item.data.delta) {
          this.openBlock("thinking", out);
          out.push({ type: "content_block_delta", index: this.blockCount - 1, delta: { type: "thinking_delta", thinking: item.data.delta } });
        }
        return out;
      case "message.delta":
        if (item.data.delta) {
          this.openBlock("text", out);
          out.push({ type: "content_block_delta", index: this.blockCount - 1, delta: { type: "text_delta", text: item.data.delta } });
        }
        return out;
      case "usage.delta":
        if (hasUsage(item.data.usage)) this.lastUsage = item.data.usage;
        return out;
      case "run.started":
      case "workflow.event":
        return out;
      case "run.completed":
        return this.finish("end_turn", item.data, out);
      case "run.incomplete":
        // Upstream 0.3 ends a run `incomplete` when the model stopped at its output limit (§7).
        return this.finish("max_tokens", item.data, out);
      case "required_action":
        return this.requiredAction(item.data.required_action, item.data, out);
      case "run.failed":
        return [...out, ...this.fail(NativeError.fromRunError(item.data.error))];
      case "run.cancelled":
        // Anthropic has no "cancelled" stop reason; ending with `end_turn` (1flowbase's choice) would
        // tell the client a truncated answer is complete. Someone stopped the run: say so.
        return [...out, ...this.fail(NativeError.cancelled())];
      default:
        return out;
    }
  }

  private start(runId: string, out: AnthropicStreamEvent[]): void {
    this.started = true;
    this.runId = runId;
    out.push({
      type: "message_start",
      message: {
        id: messageIdFor(runId, this.context.messageIdSuffix),
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

  private openBlock(kind: "text" | "thinking", out: AnthropicStreamEvent[]): void {
    if (this.open === kind) return;
    this.closeBlock(out);
    const block: ContentBlock = kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
    out.push({ type: "content_block_start", index: this.blockCount, content_block: block });
    this.blockCount += 1;
    this.open = kind;
  }

  private closeBlock(out: AnthropicStreamEvent[]): void {
    if (this.open === null) return;
    const index = this.blockCount - 1;
    if (this.open === "thinking") {
      out.push({ type: "content_block_delta", index, delta: { type: "signature_delta", signature: THINKING_SIGNATURE } });
    }
    out.push({ type: "content_block_stop", index });
    this.open = null;
  }

  private requiredAction(
    action: NativeRequiredAction | null | undefined,
    data: NativeEventData,
    out: AnthropicStreamEvent[],
  ): AnthropicStreamEvent[] | Promise<AnthropicStreamEvent[]> {
    const payload = action?.payload;
    const calls = payload?.tool_calls ?? [];
    if (!payload || calls.length === 0) {
      // `waiting_human` and non-tool callbacks have no Anthropic form (1flowbase: 409 too).
      return [
        ...out,
        ...this.fail(
          new GatewayError({
            status: 409,
            code: "required_action_not_supported",
            message: `the 1flowbase run is waiting for an action this protocol cannot express (${action?.action_type ?? "unknown"})`,
            headers: { "x-should-retry": "false" },
          }),
        ),
      ];
    }
    const runId = this.runId ?? data.run_id;
    if (!canEncodeCallbackRef(runId, payload.callback_task_id)) {
      return [
        ...out,
        ...this.fail(
          new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_response", message: "1flowbase sent a callback task whose ids are not UUIDs" }),
        ),
      ];
    }
    this.closeBlock(out);
    calls.forEach((call, index) => {
      const blockIndex = this.blockCount;
      this.blockCount += 1;
      out.push({
        type: "content_block_start",
        index: blockIndex,
        content_block: {
          type: "tool_use",
          id: encodeCallbackId(TOOL_USE_ID_PREFIX, { runId, callbackTaskId: payload.callback_task_id, index }),
          name: call.name,
          input: {},
        },
      });
      const json = JSON.stringify(toolInput(call.arguments));
      // The whole input in one fragment (native has no argument deltas, §2.2); `{}` needs none.
      if (json !== "{}") out.push({ type: "content_block_delta", index: blockIndex, delta: { type: "input_json_delta", partial_json: json } });
      out.push({ type: "content_block_stop", index: blockIndex });
    });
    return this.finish("tool_use", data, out);
  }

  private finish(stopReason: StopReason, data: NativeEventData, out: AnthropicStreamEvent[]): AnthropicStreamEvent[] | Promise<AnthropicStreamEvent[]> {
    this.closeBlock(out);
    if (this.blockCount === 0 && stopReason !== "tool_use") {
      // An answer-less run still gets a text block: `MessageStream.finalText()` and clients that read
      // `content[0].text` require one (1flowbase's adapter does the same).
      out.push({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
      out.push({ type: "content_block_stop", index: 0 });
      this.blockCount = 1;
    }
    this.finished = true;
    const end = (usage: NativeUsage | null | undefined): AnthropicStreamEvent[] => {
      out.push({
        type: "message_delta",
        delta: { stop_reason: stopReason, stop_sequence: null, stop_details: null },
        usage: anthropicUsage(usage),
      });
      out.push({ type: "message_stop" });
      return out;
    };
    const usage = hasUsage(data.usage) ? data.usage : this.lastUsage;
    const lookup = this.context.lookupUsage;
    if (usage || !lookup || !this.runId) return end(usage);
    return lookup(this.runId).then(
      (found) => end(found),
      // Usage is not worth failing a finished answer over.
      () => end(null),
    );
  }

  private fail(error: unknown): AnthropicStreamEvent[] {
    this.finished = true;
    this.open = null;
    const gatewayError = toAnthropicError(error);
    this.failure = gatewayError;
    return [{ type: "error", error: streamErrorPayload(gatewayError) }];
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
function deltaTemplate(kind: "text" | "thinking", index: number): { prefix: string; suffix: string } {
  const frame = frameOf({
    type: "content_block_delta",
    index,
    delta: kind === "text" ? { type: "text_delta", text: "" } : { type: "thinking_delta", thinking: "" },
  });
  // The delta's text is the last field of the frame: its `""` is the last one.
  const at = frame.lastIndexOf('""');
  return { prefix: frame.slice(0, at), suffix: frame.slice(at + 2) };
}

/** The `StreamProjector` for `/v1/messages` with `stream: true`. */
export class AnthropicStreamProjector implements StreamProjector {
  readonly state: AnthropicStreamState;
  /**
   * The delta frame template of the open block, built when the first delta of a block arrives. Per
   * token only the text is serialised: no event objects, no whole-event `JSON.stringify` (the block
   * index and kind are fixed while a block is open). Keyed by the block's index, which no two blocks
   * share, so a stale template is never used.
   */
  private template: { index: number; prefix: string; suffix: string } | null = null;

  constructor(context: AnthropicProjectionContext) {
    this.state = new AnthropicStreamState(context);
  }

  get done(): boolean {
    return this.state.done;
  }

  push(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    const state = this.state;
    const text = state.continuedText(item);
    if (text !== undefined) {
      const index = state.openIndex;
      let template = this.template;
      if (template?.index !== index) {
        // Text came back, so a block is open: `openKind` is "text" or "thinking" here.
        template = { index, ...deltaTemplate(state.openKind === "thinking" ? "thinking" : "text", index) };
        this.template = template;
      }
      return [template.prefix + JSON.stringify(text) + template.suffix];
    }
    // Everything else — a block's first delta, block switches, tool use, the end, errors — takes the
    // state machine's typed events.
    const events = state.step(item);
    return Array.isArray(events) ? events.map(frameOf) : events.then((resolved) => resolved.map(frameOf));
  }

  keepalive(): string {
    return PING_FRAME;
  }
}
