/**
 * Anthropic Messages wire shapes, as zod: what clients send (validated at the trust boundary) and
 * what we answer (`anthropicOutputSchemas`, declared once: the code uses the inferred types, the
 * OpenAPI document and the doc tests the schemas; built on first use, so no request pays for them).
 * Facts: client-protocols.md §5 (ANT `MessageCreateParamsBase`, `Message`, stream events).
 *
 * The request schemas are deliberately lenient where real clients vary (Claude Code sends
 * `cache_control` on system blocks, tools and messages, `anthropic-beta` features, `context_management`,
 * …): objects are `.loose()`, and fields we do not apply are reported by the parameter policy
 * (`policy.ts`), not rejected here. Content blocks are validated by `to-native.ts` one by one so a
 * bad block gets a 400 naming `messages[i].content[j]` instead of a zod union error.
 */
import { lazily, lazySchema } from "../../lazy";
import * as z from "../../zod";
import { errorEnvelopeSchemas } from "../../http/errors";
import { MAX_STOP_CHARS } from "../../http/policy";

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** `system`: a string or text blocks (`{type:"text", text, cache_control?}`). */
export const SystemTextBlock = lazySchema(() => z.looseObject({ type: z.literal("text"), text: z.string() }));
export const SystemParam = lazySchema(() => z.union([z.string(), z.array(SystemTextBlock)]));

/** One content block; its `type` decides the shape, checked in `to-native.ts`. */
export const ContentBlockParam = lazySchema(() => z.looseObject({ type: z.string() }));
export type ContentBlockParam = z.infer<typeof ContentBlockParam>;

export const MessageParam = lazySchema(() => z.looseObject({
    /** `system` exists in 2026 SDKs (`SystemMessageParam`); hoisted into native `system`. */
    role: z.enum(["user", "assistant", "system"]),
    content: z.union([z.string(), z.array(ContentBlockParam)]),
  }));
export type MessageParam = z.infer<typeof MessageParam>;

/**
 * `tools[]`: custom tools `{name, input_schema, description?, type?: "custom"}` and Anthropic-defined
 * versioned tools (`bash_20250124`, `web_search_20250305`, …) which have a `type` and no schema.
 */
// Size bounds: the 8 MiB body cap bounds the total; these give a 400 naming the field for what a real
// client never sends, before native sees it. Anthropic's documented limits (100 000 messages, 128-char
// tool names, 256-char `metadata.user_id`); a model id is a short name.
const MAX_MODEL_CHARS = 256;
const MAX_MESSAGES = 100_000;
const MAX_TOOL_NAME_CHARS = 128;
const MAX_USER_ID_CHARS = 256;
/** Anthropic documents no count; a bound keeps the edge's per-character matching cheap (native/answer.ts). */
const MAX_STOP_SEQUENCES = 64;

export const ToolParam = lazySchema(() => z.looseObject({
    name: z.string().check(z.minLength(1), z.maxLength(MAX_TOOL_NAME_CHARS)),
    type: z.optional(z.nullable(z.string())),
    description: z.optional(z.nullable(z.string())),
    input_schema: z.optional(z.record(z.string(), z.unknown())),
  }));
export type ToolParam = z.infer<typeof ToolParam>;

export const ToolChoiceParam = lazySchema(() => z.looseObject({ type: z.enum(["auto", "any", "tool", "none"]), name: z.optional(z.string()) }).check(z.refine((choice) => choice.type !== "tool" || typeof choice.name === "string", {
    message: "tool_choice of type 'tool' needs a 'name'",
    path: ["name"],
  })));

/** `thinking`: `enabled` (with a budget), `disabled`, `adaptive` (2026); other types are tolerated. */
export const ThinkingParam = lazySchema(() => z.looseObject({
    type: z.string(),
    budget_tokens: z.optional(z.number().check(z.int(), z.gt(0))),
  }).check(z.refine((thinking) => thinking.type !== "enabled" || thinking.budget_tokens !== undefined, {
    message: "thinking of type 'enabled' needs 'budget_tokens' (a positive integer)",
    path: ["budget_tokens"],
  })));
export type ThinkingParam = z.infer<typeof ThinkingParam>;

export const MetadataParam = lazySchema(() => z.looseObject({ user_id: z.optional(z.nullable(z.string().check(z.maxLength(MAX_USER_ID_CHARS)))) }));

/** `POST /v1/messages`. `model`, `max_tokens` and `messages` are required by the protocol. */
export const MessagesRequest = lazySchema(() => z.looseObject({
    model: z.string().check(z.minLength(1), z.maxLength(MAX_MODEL_CHARS)),
    max_tokens: z.number().check(z.int(), z.gt(0)),
    messages: z.array(MessageParam).check(z.minLength(1), z.maxLength(MAX_MESSAGES)),
    system: z.optional(z.nullable(SystemParam)),
    stream: z.optional(z.nullable(z.boolean())),
    metadata: z.optional(z.nullable(MetadataParam)),
    tools: z.optional(z.nullable(z.array(ToolParam))),
    tool_choice: z.optional(z.nullable(ToolChoiceParam)),
    thinking: z.optional(z.nullable(ThinkingParam)),
    temperature: z.optional(z.nullable(z.number())),
    top_p: z.optional(z.nullable(z.number())),
    top_k: z.optional(z.nullable(z.number())),
    stop_sequences: z.optional(z.nullable(z.array(z.string().check(z.maxLength(MAX_STOP_CHARS))).check(z.maxLength(MAX_STOP_SEQUENCES)))),
    // Newer or beta fields real clients send; accepted and reported, never applied (policy.ts).
    service_tier: z.optional(z.nullable(z.string())),
    inference_geo: z.optional(z.nullable(z.string())),
    container: z.optional(z.unknown()),
    context_management: z.optional(z.unknown()),
    mcp_servers: z.optional(z.nullable(z.array(z.unknown()))),
    output_config: z.optional(z.unknown()),
    output_format: z.optional(z.unknown()),
    cache_control: z.optional(z.unknown()),
  }));
export type MessagesRequest = z.infer<typeof MessagesRequest>;

/** `POST /v1/messages/count_tokens` (no `max_tokens`). */
export const CountTokensRequest = lazySchema(() => z.looseObject({
    model: z.string().check(z.minLength(1), z.maxLength(MAX_MODEL_CHARS)),
    messages: z.array(MessageParam).check(z.minLength(1), z.maxLength(MAX_MESSAGES)),
    system: z.optional(z.nullable(SystemParam)),
    tools: z.optional(z.nullable(z.array(ToolParam))),
    tool_choice: z.optional(z.unknown()),
    thinking: z.optional(z.unknown()),
  }));
export type CountTokensRequest = z.infer<typeof CountTokensRequest>;

// ---------------------------------------------------------------------------------------------
// Response (what we emit; client-protocols.md §5.2, §5.3)
// ---------------------------------------------------------------------------------------------

function buildAnthropicOutputSchemas() {
  const str = z.string();
  const count = z.number().check(z.int(), z.gte(0));

  const { AnthropicErrorPayload } = errorEnvelopeSchemas();
  const TextBlock = z.strictObject({ type: z.literal("text"), text: str });
  const ThinkingBlock = z.strictObject({
    type: z.literal("thinking"),
    thinking: str,
    signature: str.check(z.describe("A constant marker: 1flowbase reasoning is not signed. Replayed blocks are dropped")),
  });
  const ToolUseBlock = z.strictObject({
    type: z.literal("tool_use"),
    id: str.check(z.describe("`toolu_…`: answer it with a `tool_result` block; it resumes the native run")),
    name: str,
    input: z.record(str, z.unknown()),
  });
  const ContentBlock = z.discriminatedUnion("type", [TextBlock, ThinkingBlock, ToolUseBlock]);
  const StopReason = z.enum(["end_turn", "max_tokens", "stop_sequence", "tool_use"]);
  const MessageUsage = z.strictObject({ input_tokens: count, output_tokens: count, cache_creation_input_tokens: count, cache_read_input_tokens: count });

  const AnthropicMessage = z
    .strictObject({
      id: str.check(z.describe("`msg_<native run id hex>[_<callback task id hex>]`")),
      type: z.literal("message"),
      role: z.literal("assistant"),
      model: str,
      content: z.array(ContentBlock),
      stop_reason: z.nullable(StopReason),
      stop_sequence: z.nullable(str),
      stop_details: z.null(),
      usage: MessageUsage,
    }).check(z.describe("A finished message: what `MessageStream.finalMessage()` accumulates from the stream of the same run"));

  /** `message_delta.usage`: cumulative counts; cache counts only when native reported them. */
  const MessageDeltaUsage = z
    .strictObject({ input_tokens: count, output_tokens: count, cache_creation_input_tokens: z.optional(count), cache_read_input_tokens: z.optional(count) }).check(z.describe("Cumulative"));

  const ContentBlockDelta = z.discriminatedUnion("type", [
    z.strictObject({ type: z.literal("text_delta"), text: str }),
    z.strictObject({ type: z.literal("thinking_delta"), thinking: str }),
    z.strictObject({ type: z.literal("signature_delta"), signature: str }),
    z.strictObject({ type: z.literal("input_json_delta"), partial_json: str }),
  ]);

  const TokenCount = z.strictObject({ input_tokens: z.number().check(z.int(), z.gte(1), z.describe("An estimate: Σ ceil(characters / 4), images 1,600, +500 with tools")) });

  /** Each Anthropic stream event, keyed by its SSE `event:` name (equal to its `type`). */
  const STREAM_EVENTS = {
    message_start: z.strictObject({ type: z.literal("message_start"), message: AnthropicMessage.check(z.describe("`content: []`, zero usage")) }),
    content_block_start: z.strictObject({ type: z.literal("content_block_start"), index: count, content_block: ContentBlock }),
    content_block_delta: z.strictObject({ type: z.literal("content_block_delta"), index: count, delta: ContentBlockDelta }),
    content_block_stop: z.strictObject({ type: z.literal("content_block_stop"), index: count }),
    message_delta: z.strictObject({
      type: z.literal("message_delta"),
      delta: z.strictObject({ stop_reason: StopReason, stop_sequence: z.nullable(str), stop_details: z.null() }),
      usage: MessageDeltaUsage,
    }),
    message_stop: z.strictObject({ type: z.literal("message_stop") }),
    ping: z.strictObject({ type: z.literal("ping") }).check(z.describe("Keepalive while native is idle")),
    error: z.strictObject({ type: z.literal("error"), error: AnthropicErrorPayload }).check(z.describe("A failure after the headers; the stream ends")),
  } as const;

  return { TextBlock, ThinkingBlock, ToolUseBlock, ContentBlock, StopReason, AnthropicMessage, MessageDeltaUsage, ContentBlockDelta, TokenCount, STREAM_EVENTS };
}

/** The Anthropic Messages response shapes, built on first use (`lazily`). */
export const anthropicOutputSchemas = lazily(buildAnthropicOutputSchemas);

type AnthropicOutputs = ReturnType<typeof buildAnthropicOutputSchemas>;
type StreamEvents = AnthropicOutputs["STREAM_EVENTS"];
export type TextBlock = z.infer<AnthropicOutputs["TextBlock"]>;
export type ThinkingBlock = z.infer<AnthropicOutputs["ThinkingBlock"]>;
export type ToolUseBlock = z.infer<AnthropicOutputs["ToolUseBlock"]>;
export type ContentBlock = z.infer<AnthropicOutputs["ContentBlock"]>;
export type StopReason = z.infer<AnthropicOutputs["StopReason"]>;
export type AnthropicMessage = z.infer<AnthropicOutputs["AnthropicMessage"]>;
export type MessageDeltaUsage = z.infer<AnthropicOutputs["MessageDeltaUsage"]>;
export type ContentBlockDelta = z.infer<AnthropicOutputs["ContentBlockDelta"]>;
export type TokenCount = z.infer<AnthropicOutputs["TokenCount"]>;
/** Every event our stream emits but `ping` (client-protocols.md §5.3). */
export type AnthropicStreamEvent = { [K in Exclude<keyof StreamEvents, "ping">]: z.infer<StreamEvents[K]> }[Exclude<keyof StreamEvents, "ping">];
