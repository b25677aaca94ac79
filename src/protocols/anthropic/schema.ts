/**
 * Anthropic Messages wire shapes: zod schemas for what clients send, TypeScript types for what we
 * answer. Facts: client-protocols.md §5 (ANT `MessageCreateParamsBase`, `Message`, stream events).
 *
 * The request schemas are deliberately lenient where real clients vary (Claude Code sends
 * `cache_control` on system blocks, tools and messages, `anthropic-beta` features, `context_management`,
 * …): objects are `.loose()`, and fields we do not apply are reported by the parameter policy
 * (`policy.ts`), not rejected here. Content blocks are validated by `to-native.ts` one by one so a
 * bad block gets a 400 naming `messages[i].content[j]` instead of a zod union error.
 */
import * as z from "zod";

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** `system`: a string or text blocks (`{type:"text", text, cache_control?}`). */
export const SystemTextBlock = z.object({ type: z.literal("text"), text: z.string() }).loose();
export const SystemParam = z.union([z.string(), z.array(SystemTextBlock)]);

/** One content block; its `type` decides the shape, checked in `to-native.ts`. */
export const ContentBlockParam = z.object({ type: z.string() }).loose();
export type ContentBlockParam = z.infer<typeof ContentBlockParam>;

export const MessageParam = z
  .object({
    /** `system` exists in 2026 SDKs (`SystemMessageParam`); hoisted into native `system`. */
    role: z.enum(["user", "assistant", "system"]),
    content: z.union([z.string(), z.array(ContentBlockParam)]),
  })
  .loose();
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

export const ToolParam = z
  .object({
    name: z.string().min(1).max(MAX_TOOL_NAME_CHARS),
    type: z.string().nullable().optional(),
    description: z.string().nullable().optional(),
    input_schema: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
export type ToolParam = z.infer<typeof ToolParam>;

export const ToolChoiceParam = z
  .object({ type: z.enum(["auto", "any", "tool", "none"]), name: z.string().optional() })
  .loose()
  .refine((choice) => choice.type !== "tool" || typeof choice.name === "string", {
    message: "tool_choice of type 'tool' needs a 'name'",
    path: ["name"],
  });

/** `thinking`: `enabled` (with a budget), `disabled`, `adaptive` (2026); other types are tolerated. */
export const ThinkingParam = z
  .object({
    type: z.string(),
    budget_tokens: z.number().int().positive().optional(),
  })
  .loose()
  .refine((thinking) => thinking.type !== "enabled" || thinking.budget_tokens !== undefined, {
    message: "thinking of type 'enabled' needs 'budget_tokens' (a positive integer)",
    path: ["budget_tokens"],
  });
export type ThinkingParam = z.infer<typeof ThinkingParam>;

export const MetadataParam = z.object({ user_id: z.string().max(MAX_USER_ID_CHARS).nullable().optional() }).loose();

/** `POST /v1/messages`. `model`, `max_tokens` and `messages` are required by the protocol. */
export const MessagesRequest = z
  .object({
    model: z.string().min(1).max(MAX_MODEL_CHARS),
    max_tokens: z.number().int().positive(),
    messages: z.array(MessageParam).min(1).max(MAX_MESSAGES),
    system: SystemParam.nullable().optional(),
    stream: z.boolean().nullable().optional(),
    metadata: MetadataParam.nullable().optional(),
    tools: z.array(ToolParam).nullable().optional(),
    tool_choice: ToolChoiceParam.nullable().optional(),
    thinking: ThinkingParam.nullable().optional(),
    temperature: z.number().nullable().optional(),
    top_p: z.number().nullable().optional(),
    top_k: z.number().nullable().optional(),
    stop_sequences: z.array(z.string()).nullable().optional(),
    // Newer or beta fields real clients send; accepted and reported, never applied (policy.ts).
    service_tier: z.string().nullable().optional(),
    inference_geo: z.string().nullable().optional(),
    container: z.unknown().optional(),
    context_management: z.unknown().optional(),
    mcp_servers: z.array(z.unknown()).nullable().optional(),
    output_config: z.unknown().optional(),
    output_format: z.unknown().optional(),
    cache_control: z.unknown().optional(),
  })
  .loose();
export type MessagesRequest = z.infer<typeof MessagesRequest>;

/** `POST /v1/messages/count_tokens` (no `max_tokens`). */
export const CountTokensRequest = z
  .object({
    model: z.string().min(1).max(MAX_MODEL_CHARS),
    messages: z.array(MessageParam).min(1).max(MAX_MESSAGES),
    system: SystemParam.nullable().optional(),
    tools: z.array(ToolParam).nullable().optional(),
    tool_choice: z.unknown().optional(),
    thinking: z.unknown().optional(),
  })
  .loose();
export type CountTokensRequest = z.infer<typeof CountTokensRequest>;

// ---------------------------------------------------------------------------------------------
// Response (what we emit; types only — we build them, clients validate them)
// ---------------------------------------------------------------------------------------------

export interface TextBlock {
  type: "text";
  text: string;
}

export interface ThinkingBlock {
  type: "thinking";
  thinking: string;
  signature: string;
}

export interface ToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type ContentBlock = TextBlock | ThinkingBlock | ToolUseBlock;

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use";

export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** ANT `Message` (client-protocols.md §5.2). */
export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  stop_details: null;
  usage: MessageUsage;
}

/** `message_delta.usage`: cumulative counts; cache counts only when native reported them. */
export interface MessageDeltaUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export type ContentBlockDelta =
  | { type: "text_delta"; text: string }
  | { type: "thinking_delta"; thinking: string }
  | { type: "signature_delta"; signature: string }
  | { type: "input_json_delta"; partial_json: string };

export interface AnthropicErrorPayload {
  type: string;
  message: string;
}

/** Every event our stream emits (client-protocols.md §5.3). */
export type AnthropicStreamEvent =
  | { type: "message_start"; message: AnthropicMessage }
  | { type: "content_block_start"; index: number; content_block: ContentBlock }
  | { type: "content_block_delta"; index: number; delta: ContentBlockDelta }
  | { type: "content_block_stop"; index: number }
  | {
      type: "message_delta";
      delta: { stop_reason: StopReason; stop_sequence: string | null; stop_details: null };
      usage: MessageDeltaUsage;
    }
  | { type: "message_stop" }
  | { type: "error"; error: AnthropicErrorPayload };

/** `count_tokens` answer. */
export interface TokenCount {
  input_tokens: number;
}
