/**
 * Documentation schemas: what the gateway *answers*, as zod, so the OpenAPI document can show it and
 * `test/docs/responses.test.ts` can validate real answers against it (the document cannot drift).
 *
 * The protocol modules describe their answers as TypeScript interfaces (they build them, nothing
 * parses them); these schemas restate those shapes for readers. Objects the gateway builds field by
 * field are `z.strictObject`: an undocumented new field fails the test, which is the point. Values the
 * gateway only echoes (a client's `tools`, `text`, `tool_choice`) stay open.
 *
 * Nothing on a request path imports this module; it is reached only from `GET /openapi.json` and
 * `GET /docs`, and the document is built once per isolate (`openapi.ts`).
 */
import * as z from "zod";

const str = z.string();
const int = z.number().int();
const count = z.number().int().min(0);
const nul = z.null();

// ---------------------------------------------------------------------------------------------
// Error envelopes (src/http/errors.ts)
// ---------------------------------------------------------------------------------------------

export const OpenAiErrorObject = z
  .strictObject({
    message: str,
    type: str.describe("`invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error` or `server_error`"),
    param: str.nullable().describe("The request field at fault (`messages[0].content`), when there is one"),
    code: str.nullable().describe("Machine-readable code: `invalid_request`, `unsupported_parameter`, `unsupported_feature`, `missing_api_key`, `model_not_found`, a native 1flowbase error code…"),
  });

export const OpenAiError = z
  .strictObject({ error: OpenAiErrorObject })
  .describe("Every OpenAI-family error (Chat Completions, models, Responses)");

export const AnthropicErrorPayload = z.strictObject({
  type: str.describe(
    "`invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`, `timeout_error` or `overloaded_error`",
  ),
  message: str,
});

export const AnthropicError = z
  .strictObject({
    type: z.literal("error"),
    error: AnthropicErrorPayload,
    request_id: str.nullable().describe("Also sent as the `request-id` header"),
  })
  .describe("Every Anthropic Messages error (`/v1/messages*`)");

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

export const Health = z
  .strictObject({ status: z.literal("ok") })
  .describe("Liveness: the worker runs and its configuration is valid. Calls nothing, reveals nothing about the deployment");

const checkState = (states: readonly [string, ...string[]], text: string) => z.enum(states).describe(text);

export const Readiness = z
  .strictObject({
    status: z.enum(["ready", "not_ready"]),
    checks: z.strictObject({
      index: checkState(["ok", "schema_missing", "unavailable"], "The D1 ownership index: `schema_missing` = the migrations were not applied"),
      native: checkState(["ok", "unhealthy", "unreachable", "timeout"], "1flowbase's `GET /health`: `unhealthy` = it answered, but not 2xx with `status: \"ok\"`"),
    }),
    checked_at: str.describe("When this isolate ran the checks; answers within 5 s reuse them"),
  })
  .describe("Readiness: both checks `ok` → 200 `ready`, else 503 `not_ready`. Details of a failure go to the log, not the answer");

export const HealthProblem = z
  .strictObject({ status: z.literal("misconfigured"), problems: z.array(str).describe("One line per invalid or missing setting") })
  .describe("A setting is missing or malformed; every other route answers a 500 naming it");

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions (src/protocols/openai-chat/schema.ts, response part)
// ---------------------------------------------------------------------------------------------

const finishReason = z.enum(["stop", "length", "tool_calls"]).describe("`length`: the native run ended `incomplete`");

export const ChatUsage = z.strictObject({
  prompt_tokens: count,
  completion_tokens: count,
  total_tokens: count,
  prompt_tokens_details: z.strictObject({ cached_tokens: count }),
  completion_tokens_details: z.strictObject({ reasoning_tokens: count }),
});

const FunctionCall = z.strictObject({ name: str, arguments: str.describe("JSON text") });

export const ChatToolCallOut = z.strictObject({
  id: str.describe("`call_…`: answer it with a `tool` message carrying this `tool_call_id`; it resumes the native run"),
  type: z.literal("function"),
  function: FunctionCall,
});

export const ChatCompletion = z
  .strictObject({
    id: str.describe("`chatcmpl-<native run id>[-<callback task id>]`"),
    object: z.literal("chat.completion"),
    created: int,
    model: str,
    choices: z
      .array(
        z.strictObject({
          index: z.literal(0),
          message: z.strictObject({
            role: z.literal("assistant"),
            content: str.nullable(),
            refusal: nul,
            reasoning_content: str.optional().describe("The run's reasoning (never `<think>` inside `content`)"),
            tool_calls: z.array(ChatToolCallOut).optional(),
          }),
          logprobs: nul,
          finish_reason: finishReason,
        }),
      )
      .length(1),
    usage: ChatUsage,
  })
  .describe("A finished completion: the final snapshot of the stream of the same run");

export const ChatCompletionChunk = z
  .strictObject({
    id: str,
    object: z.literal("chat.completion.chunk"),
    created: int,
    model: str,
    choices: z
      .array(
        z.strictObject({
          index: z.literal(0),
          delta: z.strictObject({
            role: z.literal("assistant").optional(),
            content: str.optional(),
            reasoning_content: str.optional(),
            tool_calls: z
              .array(
                z.strictObject({
                  index: count,
                  id: str.optional(),
                  type: z.literal("function").optional(),
                  function: z.strictObject({ name: str.optional(), arguments: str }),
                }),
              )
              .optional()
              .describe("First fragment of a call: `id`, `type`, `function.name`; the next one: its `arguments`"),
          }),
          logprobs: nul,
          finish_reason: finishReason.nullable(),
        }),
      )
      .max(1)
      .describe("Empty only on the usage chunk"),
    usage: ChatUsage.nullable().optional().describe("With `stream_options.include_usage`: `null`, then the totals on a last `choices: []` chunk"),
  })
  .describe("`data:` of one Chat Completions SSE frame");

export const ChatStreamDone = z.literal("[DONE]").describe("The last frame of every Chat stream: `data: [DONE]`");

// ---------------------------------------------------------------------------------------------
// Models (src/protocols/models/openai-models.ts)
// ---------------------------------------------------------------------------------------------

export const Model = z
  .strictObject({
    id: str,
    object: z.literal("model"),
    created: int.describe("Always 0: native publishes no per-model time"),
    owned_by: str,
    name: str.optional(),
    context_window: z.number().optional(),
    max_context_window: z.number().optional(),
    max_output_tokens: z.number().optional(),
    auto_compact_token_limit: z.number().optional(),
    capabilities: z
      .strictObject({ reasoning: z.boolean().optional(), tool_call: z.boolean().optional(), multimodal: z.boolean().optional(), structured_output: z.boolean().optional() })
      .optional(),
    reasoning: z.strictObject({ default_effort: str.nullable().optional(), supported_efforts: z.array(str).optional() }).optional(),
  })
  .describe("A published model of the 1flowbase application, with the catalog metadata native exposes");

export const ModelList = z.strictObject({ object: z.literal("list"), data: z.array(Model) });

// ---------------------------------------------------------------------------------------------
// OpenAI Responses (src/protocols/openai-responses/schema.ts, emitted part)
// ---------------------------------------------------------------------------------------------

const itemStatus = z.enum(["in_progress", "completed", "incomplete"]);

export const OutputTextPart = z.strictObject({
  type: z.literal("output_text"),
  text: str,
  annotations: z.array(z.never()),
  logprobs: z.array(z.never()),
});

export const SummaryTextPart = z.strictObject({ type: z.literal("summary_text"), text: str });

export const OutputMessage = z.strictObject({
  id: str,
  type: z.literal("message"),
  status: itemStatus,
  role: z.literal("assistant"),
  content: z.array(OutputTextPart),
});

export const OutputReasoning = z.strictObject({
  id: str,
  type: z.literal("reasoning"),
  summary: z.array(SummaryTextPart),
  status: itemStatus.optional(),
});

export const OutputFunctionCall = z.strictObject({
  id: str,
  type: z.literal("function_call"),
  status: itemStatus,
  arguments: str,
  call_id: str.describe("Answer it with a `function_call_output` item carrying this `call_id`; it resumes the native run"),
  name: str,
});

export const OutputItem = z.discriminatedUnion("type", [OutputMessage, OutputReasoning, OutputFunctionCall]);

export const ResponseUsage = z.strictObject({
  input_tokens: count,
  input_tokens_details: z.strictObject({ cached_tokens: count }),
  output_tokens: count,
  output_tokens_details: z.strictObject({ reasoning_tokens: count }),
  total_tokens: count,
});

const nullableStr = str.nullable();
const nullableInt = int.nullable();

export const ResponseObject = z
  .strictObject({
    id: str.describe("`resp_<native run id hex>[<callback task id hex>]`: a resumed run answers with a new id"),
    object: z.literal("response"),
    created_at: int,
    status: z.enum(["in_progress", "completed", "incomplete", "failed", "cancelled"]),
    background: z.literal(false),
    completed_at: nullableInt,
    error: z.strictObject({ code: str, message: str }).nullable(),
    incomplete_details: z.strictObject({ reason: str }).nullable(),
    instructions: nullableStr,
    max_output_tokens: nullableInt,
    max_tool_calls: nullableInt,
    model: str,
    output: z.array(OutputItem),
    parallel_tool_calls: z.boolean(),
    previous_response_id: nullableStr,
    prompt_cache_key: nullableStr,
    reasoning: z.strictObject({ effort: nullableStr, summary: nullableStr }),
    safety_identifier: nullableStr,
    service_tier: str,
    store: z.boolean(),
    temperature: z.number().nullable(),
    text: z.record(str, z.unknown()),
    tool_choice: z.unknown(),
    tools: z.array(z.unknown()),
    top_logprobs: nullableInt,
    top_p: z.number().nullable(),
    truncation: z.enum(["auto", "disabled"]),
    usage: ResponseUsage.nullable(),
    user: nullableStr,
    metadata: z.record(str, str),
  })
  .describe("The Response object, rebuilt from the native run (the worker stores no content)");

export const DeletedResponse = z.strictObject({ id: str, object: z.literal("response"), deleted: z.literal(true) });

export const InputItemResource = z.discriminatedUnion("type", [
  z.strictObject({
    id: str,
    type: z.literal("message"),
    role: z.enum(["user", "assistant"]),
    status: z.literal("completed"),
    content: z.array(
      z.union([
        z.strictObject({ type: z.enum(["input_text", "output_text"]), text: str }),
        z.strictObject({ type: z.literal("input_image"), image_url: nullableStr, detail: str }),
      ]),
    ),
  }),
  z.strictObject({ id: str, type: z.literal("function_call"), status: z.literal("completed"), call_id: str, name: str, arguments: str }),
  z.strictObject({ id: str, type: z.literal("function_call_output"), status: z.literal("completed"), call_id: str, output: str }),
]);

export const InputItemList = z
  .strictObject({ object: z.literal("list"), data: z.array(InputItemResource), first_id: nullableStr, last_id: nullableStr, has_more: z.boolean() })
  .describe("The run's recorded input, as items");

/** Fields every Responses stream event carries. */
const seq = { sequence_number: count.describe("0, 1, 2… across the whole stream") };
const at = { item_id: str, output_index: count };

function lifecycle<const T extends string>(type: T) {
  return z.strictObject({ type: z.literal(type), ...seq, response: ResponseObject });
}

/** Each Responses stream event, keyed by its SSE `event:` name (equal to its `type`). */
export const RESPONSES_STREAM_EVENTS = {
  "response.created": lifecycle("response.created"),
  "response.in_progress": lifecycle("response.in_progress"),
  "response.output_item.added": z.strictObject({ type: z.literal("response.output_item.added"), ...seq, output_index: count, item: OutputItem }),
  "response.content_part.added": z.strictObject({ type: z.literal("response.content_part.added"), ...seq, ...at, content_index: count, part: OutputTextPart }),
  "response.output_text.delta": z.strictObject({
    type: z.literal("response.output_text.delta"),
    ...seq,
    ...at,
    content_index: count,
    logprobs: z.array(z.never()),
    delta: str,
  }),
  "response.output_text.done": z.strictObject({
    type: z.literal("response.output_text.done"),
    ...seq,
    ...at,
    content_index: count,
    text: str,
    logprobs: z.array(z.never()),
  }),
  "response.content_part.done": z.strictObject({ type: z.literal("response.content_part.done"), ...seq, ...at, content_index: count, part: OutputTextPart }),
  "response.reasoning_summary_part.added": z.strictObject({
    type: z.literal("response.reasoning_summary_part.added"),
    ...seq,
    ...at,
    summary_index: count,
    part: SummaryTextPart,
  }),
  "response.reasoning_summary_text.delta": z.strictObject({
    type: z.literal("response.reasoning_summary_text.delta"),
    ...seq,
    ...at,
    summary_index: count,
    delta: str,
  }),
  "response.reasoning_summary_text.done": z.strictObject({
    type: z.literal("response.reasoning_summary_text.done"),
    ...seq,
    ...at,
    summary_index: count,
    text: str,
  }),
  "response.reasoning_summary_part.done": z.strictObject({
    type: z.literal("response.reasoning_summary_part.done"),
    ...seq,
    ...at,
    summary_index: count,
    part: SummaryTextPart,
  }),
  "response.function_call_arguments.delta": z.strictObject({ type: z.literal("response.function_call_arguments.delta"), ...seq, ...at, delta: str }),
  "response.function_call_arguments.done": z.strictObject({
    type: z.literal("response.function_call_arguments.done"),
    ...seq,
    ...at,
    name: str,
    arguments: str,
  }),
  "response.output_item.done": z.strictObject({ type: z.literal("response.output_item.done"), ...seq, output_index: count, item: OutputItem }),
  "response.completed": lifecycle("response.completed"),
  "response.incomplete": lifecycle("response.incomplete"),
  error: z
    .strictObject({
      type: z.literal("error"),
      ...seq,
      code: str,
      message: str,
      param: nul,
      error: z.strictObject({ type: str, code: str, message: str, param: nul }),
    })
    .describe("A failure after the headers; followed by `response.failed`"),
  "response.failed": lifecycle("response.failed"),
} as const;

// ---------------------------------------------------------------------------------------------
// Anthropic Messages (src/protocols/anthropic/schema.ts, response part)
// ---------------------------------------------------------------------------------------------

export const AnthropicTextBlock = z.strictObject({ type: z.literal("text"), text: str });
export const AnthropicThinkingBlock = z.strictObject({
  type: z.literal("thinking"),
  thinking: str,
  signature: str.describe("A constant marker: 1flowbase reasoning is not signed. Replayed blocks are dropped"),
});
export const AnthropicToolUseBlock = z.strictObject({
  type: z.literal("tool_use"),
  id: str.describe("`toolu_…`: answer it with a `tool_result` block; it resumes the native run"),
  name: str,
  input: z.record(str, z.unknown()),
});
export const AnthropicContentBlock = z.discriminatedUnion("type", [AnthropicTextBlock, AnthropicThinkingBlock, AnthropicToolUseBlock]);

const stopReason = z.enum(["end_turn", "max_tokens", "stop_sequence", "tool_use"]);

export const AnthropicMessage = z
  .strictObject({
    id: str.describe("`msg_<native run id hex>[_<callback task id hex>]`"),
    type: z.literal("message"),
    role: z.literal("assistant"),
    model: str,
    content: z.array(AnthropicContentBlock),
    stop_reason: stopReason.nullable(),
    stop_sequence: nullableStr,
    stop_details: nul,
    usage: z.strictObject({ input_tokens: count, output_tokens: count, cache_creation_input_tokens: count, cache_read_input_tokens: count }),
  })
  .describe("A finished message: what `MessageStream.finalMessage()` accumulates from the stream of the same run");

export const TokenCount = z.strictObject({ input_tokens: z.number().int().min(1).describe("An estimate: Σ ceil(characters / 4), images 1,600, +500 with tools") });

/** Each Anthropic stream event, keyed by its SSE `event:` name (equal to its `type`). */
export const ANTHROPIC_STREAM_EVENTS = {
  message_start: z.strictObject({ type: z.literal("message_start"), message: AnthropicMessage.describe("`content: []`, zero usage") }),
  content_block_start: z.strictObject({ type: z.literal("content_block_start"), index: count, content_block: AnthropicContentBlock }),
  content_block_delta: z.strictObject({
    type: z.literal("content_block_delta"),
    index: count,
    delta: z.discriminatedUnion("type", [
      z.strictObject({ type: z.literal("text_delta"), text: str }),
      z.strictObject({ type: z.literal("thinking_delta"), thinking: str }),
      z.strictObject({ type: z.literal("signature_delta"), signature: str }),
      z.strictObject({ type: z.literal("input_json_delta"), partial_json: str }),
    ]),
  }),
  content_block_stop: z.strictObject({ type: z.literal("content_block_stop"), index: count }),
  message_delta: z.strictObject({
    type: z.literal("message_delta"),
    delta: z.strictObject({ stop_reason: stopReason, stop_sequence: nullableStr, stop_details: nul }),
    usage: z
      .strictObject({ input_tokens: count, output_tokens: count, cache_creation_input_tokens: count.optional(), cache_read_input_tokens: count.optional() })
      .describe("Cumulative"),
  }),
  message_stop: z.strictObject({ type: z.literal("message_stop") }),
  ping: z.strictObject({ type: z.literal("ping") }).describe("Keepalive while native is idle"),
  error: z.strictObject({ type: z.literal("error"), error: AnthropicErrorPayload }).describe("A failure after the headers; the stream ends"),
} as const;

export type StreamEventTable = Readonly<Record<string, z.ZodType>>;
