/**
 * The OpenAI Responses wire format: the create request (zod, the trust boundary) and the Response /
 * item / list / stream event shapes the gateway emits (`responsesOutputSchemas`, declared once: the
 * code uses the inferred types, the OpenAPI document and the doc tests the schemas; built on first
 * use, so no request pays for them).
 *
 * Sources: client-protocols.md §1 (request, input items), §2 (Response object), §3 (stream), §3.7
 * (lifecycle routes). The request schema is lenient where real clients are (unknown top-level fields
 * pass, `strict` may be missing on function tools, `type` may be missing on messages and item
 * references) and strict where a wrong value would silently change meaning (types, ranges, metadata
 * limits). Unknown *input item* types are tolerated (Codex and the Agents SDK send hosted-tool and
 * custom-tool items); unknown *content part* types are not, because dropping content is lossy.
 */
import { lazily, lazySchema } from "../../lazy";
import * as z from "../../zod";
import { formatPath } from "../../http/policy";
import { GatewayError } from "../../http/errors";

// ---------------------------------------------------------------------------------------------
// Request: content parts and input items (§1.3)
// ---------------------------------------------------------------------------------------------

export const InputTextPart = lazySchema(() => z.looseObject({ type: z.literal("input_text"), text: z.string() }));
export const OutputTextPart = lazySchema(() => z.looseObject({ type: z.literal("output_text"), text: z.string() }));
export const RefusalPart = lazySchema(() => z.looseObject({ type: z.literal("refusal"), refusal: z.string() }));
export const InputImagePart = lazySchema(() => z.looseObject({
    type: z.literal("input_image"),
    image_url: z.nullish(z.string()),
    file_id: z.nullish(z.string()),
    detail: z.nullish(z.string()),
  }));
/** Parsed so the error can name them precisely; to-native rejects them (native cannot carry them). */
export const InputFilePart = lazySchema(() => z.looseObject({ type: z.literal("input_file") }));
export const InputAudioPart = lazySchema(() => z.looseObject({ type: z.literal("input_audio") }));

export const ContentPart = lazySchema(() => z.discriminatedUnion("type", [
  InputTextPart,
  OutputTextPart,
  RefusalPart,
  InputImagePart,
  InputFilePart,
  InputAudioPart,
]));
export type ContentPart = z.infer<typeof ContentPart>;

export const MessageItem = lazySchema(() => z.looseObject({
    type: z.literal("message"),
    id: z.nullish(z.string()),
    role: z.enum(["user", "assistant", "system", "developer"]),
    content: z.union([z.string(), z.array(ContentPart)]),
    status: z.nullish(z.string()),
  }));
export type MessageItem = z.infer<typeof MessageItem>;

export const FunctionCallItem = lazySchema(() => z.looseObject({
    type: z.literal("function_call"),
    id: z.nullish(z.string()),
    call_id: z.string().check(z.minLength(1)),
    name: z.string(),
    arguments: z.string(),
    status: z.nullish(z.string()),
  }));
export type FunctionCallItem = z.infer<typeof FunctionCallItem>;

/** `output` is a string, or content parts (Codex sends `input_text`/`input_image` arrays). */
export const FunctionCallOutputItem = lazySchema(() => z.looseObject({
    type: z.literal("function_call_output"),
    id: z.nullish(z.string()),
    call_id: z.string().check(z.minLength(1), z.maxLength(64)),
    output: z.union([z.string(), z.array(ContentPart)]),
    status: z.nullish(z.string()),
  }));
export type FunctionCallOutputItem = z.infer<typeof FunctionCallOutputItem>;

/** A Codex custom tool call replayed as input (`apply_patch`…): `input` is the tool's free-form text. */
export const CustomToolCallItem = lazySchema(() => z.looseObject({
    type: z.literal("custom_tool_call"),
    id: z.nullish(z.string()),
    call_id: z.string().check(z.minLength(1)),
    name: z.string(),
    input: z.string(),
    status: z.nullish(z.string()),
  }));
export type CustomToolCallItem = z.infer<typeof CustomToolCallItem>;

export const CustomToolCallOutputItem = lazySchema(() => z.looseObject({
    type: z.literal("custom_tool_call_output"),
    id: z.nullish(z.string()),
    call_id: z.string().check(z.minLength(1), z.maxLength(64)),
    output: z.union([z.string(), z.array(ContentPart)]),
    status: z.nullish(z.string()),
  }));
export type CustomToolCallOutputItem = z.infer<typeof CustomToolCallOutputItem>;

export const ReasoningItem = lazySchema(() => z.looseObject({ type: z.literal("reasoning") }));
export const ItemReference = lazySchema(() => z.looseObject({ type: z.literal("item_reference"), id: z.string() }));
/**
 * A compaction item from `POST /v1/responses/compact` passed back (OpenAI `ResponseCompactionItemParam`,
 * Open Responses `CompactionSummaryItemParam`: `encrypted_content` up to 10 MiB). Its content is
 * checked by the route (compaction.ts), not here: an unusable one is one 400 whatever is wrong with it.
 */
export const CompactionItem = lazySchema(() => z.looseObject({ type: z.literal("compaction"), id: z.nullish(z.string()), encrypted_content: z.string().check(z.maxLength(10_485_760)) }));

/** An item type this gateway does not interpret (hosted tool calls, local shell calls…). */
export interface OtherItem {
  type: "other";
  originalType: string;
}

export type InputItem =
  | MessageItem
  | FunctionCallItem
  | FunctionCallOutputItem
  | CustomToolCallItem
  | CustomToolCallOutputItem
  | z.infer<typeof ReasoningItem>
  | z.infer<typeof ItemReference>
  | z.infer<typeof CompactionItem>
  | OtherItem;

const ITEM_SCHEMAS: Readonly<Record<string, z.ZodMiniType>> = {
  message: MessageItem,
  function_call: FunctionCallItem,
  function_call_output: FunctionCallOutputItem,
  custom_tool_call: CustomToolCallItem,
  custom_tool_call_output: CustomToolCallOutputItem,
  reasoning: ReasoningItem,
  item_reference: ItemReference,
  compaction: CompactionItem,
};

interface Issue {
  path: PropertyKey[];
  message: string;
  code?: string;
  errors?: Issue[][];
}

/**
 * The most specific issue behind a union failure: zod reports `invalid_union` at the union's own
 * path ("Invalid input"); the branch that got furthest names the real culprit (`tools[0].name`).
 */
function mostSpecific(issue: Issue): Issue {
  if (issue.code !== "invalid_union" || !issue.errors || issue.errors.length === 0) return issue;
  let best: Issue | null = null;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (!first) continue;
    const candidate = mostSpecific(first);
    if (!best || candidate.path.length > best.path.length) best = candidate;
  }
  return best ? { ...best, path: [...issue.path, ...best.path] } : issue;
}

function issueError(error: z.core.$ZodError, prefix: readonly PropertyKey[]): GatewayError {
  const first = error.issues[0] as Issue | undefined;
  const issue = first ? mostSpecific(first) : undefined;
  const param = formatPath([...prefix, ...(issue?.path ?? [])]);
  const message = issue?.message ?? "invalid value";
  return GatewayError.invalidRequest(param ? `'${param}': ${message}` : message, param || null, "invalid_request");
}

/**
 * `input` (string or item list) → typed items, each validated by the schema its `type` selects so an
 * error names the exact field (`input[2].content[0].type`). A missing `type` means a message when
 * `role` is present (EasyInputMessage) and an item reference otherwise (ItemReferenceParam).
 */
export function parseInputItems(input: string | readonly Record<string, unknown>[]): InputItem[] {
  if (typeof input === "string") return [{ type: "message", role: "user", content: input }];
  return input.map((raw, index) => {
    const declared = raw.type;
    const type = declared === undefined || declared === null ? ("role" in raw ? "message" : "item_reference") : declared;
    if (typeof type !== "string") {
      throw GatewayError.invalidRequest(`'input[${index}].type' must be a string`, `input[${index}].type`);
    }
    const schema = ITEM_SCHEMAS[type];
    if (!schema) return { type: "other", originalType: type } satisfies OtherItem;
    const parsed = schema.safeParse({ ...raw, type });
    if (!parsed.success) throw issueError(parsed.error, ["input", index]);
    return parsed.data as InputItem;
  });
}

// ---------------------------------------------------------------------------------------------
// Request: top level (§1.1, §1.2)
// ---------------------------------------------------------------------------------------------

/** Function tools are flat in Responses (§1.2); `strict` is often omitted by clients. */
export const FunctionTool = lazySchema(() => z.looseObject({
    type: z.literal("function"),
    name: z.string().check(z.minLength(1), z.maxLength(64)),
    description: z.nullish(z.string()),
    parameters: z.nullish(z.record(z.string(), z.unknown())),
    strict: z.nullish(z.boolean()),
  }));
export type FunctionTool = z.infer<typeof FunctionTool>;

/** `{type}` of any other kind (hosted, custom, mcp…): only the type is checked. */
const otherType = (...taken: string[]) =>
  z.looseObject({ type: z.string().check(z.refine((type) => !taken.includes(type), "this type needs its own fields")) });

/** Any tool: validated as a function tool when it says `function`, otherwise only `type` is checked. */
export const Tool = lazySchema(() => z.union([FunctionTool, otherType("function")]));
export type Tool = z.infer<typeof Tool>;

export const ToolChoice = lazySchema(() => z.union([
  z.enum(["none", "auto", "required"]),
  z.looseObject({ type: z.literal("function"), name: z.string().check(z.minLength(1)) }),
  z.looseObject({
      type: z.literal("allowed_tools"),
      mode: z.enum(["auto", "required"]),
      tools: z.array(z.looseObject({ type: z.string(), name: z.optional(z.string()) })),
    }),
  otherType("function", "allowed_tools"),
]));
export type ToolChoice = z.infer<typeof ToolChoice>;

/** OpenAI metadata: ≤16 pairs, keys ≤64 chars, values ≤512 chars (§1.1). */
export const Metadata = lazySchema(() => z
  .record(z.string().check(z.maxLength(64, "metadata keys are at most 64 characters")), z.string().check(z.maxLength(512, "metadata values are at most 512 characters"))).check(z.refine((value) => Object.keys(value).length <= 16, "metadata has at most 16 key-value pairs")));

/** Bounds in the spirit of OpenAI's own (128 tools, 64-char names/identifiers) and upstream 1flowbase's
 *  4096 input items (native-api.md §7): a client mistake is a 400 naming the field, never a 5xx. */
const MAX_INPUT_ITEMS = 4096;
const MAX_TOOLS = 128;
const MAX_ID_CHARS = 256;

export const CreateResponseRequest = lazySchema(() => z.looseObject({
    model: z.string({ error: "'model' is required (a model id of the 1flowbase application)" }).check(z.minLength(1), z.maxLength(MAX_ID_CHARS)),
    input: z.union([z.string(), z.array(z.record(z.string(), z.unknown())).check(z.maxLength(MAX_INPUT_ITEMS))], {
      error: "'input' is required: a string or a list of input items",
    }),
    instructions: z.nullish(z.string()),
    previous_response_id: z.nullish(z.string()),
    tools: z.nullish(z.array(Tool).check(z.maxLength(MAX_TOOLS))),
    tool_choice: z.nullish(ToolChoice),
    parallel_tool_calls: z.nullish(z.boolean()),
    stream: z.nullish(z.boolean()),
    store: z.nullish(z.boolean()),
    user: z.nullish(z.string().check(z.maxLength(MAX_ID_CHARS))),
    reasoning: z.nullish(z.looseObject({ effort: z.nullish(z.string()), summary: z.nullish(z.string()), generate_summary: z.nullish(z.string()) })),
    metadata: z.nullish(Metadata),
    temperature: z.nullish(z.number().check(z.gte(0), z.lte(2))),
    top_p: z.nullish(z.number().check(z.gte(0), z.lte(1))),
    top_logprobs: z.nullish(z.number().check(z.int(), z.gte(0), z.lte(20))),
    presence_penalty: z.nullish(z.number().check(z.gte(-2), z.lte(2))),
    frequency_penalty: z.nullish(z.number().check(z.gte(-2), z.lte(2))),
    max_output_tokens: z.nullish(z.number().check(z.int(), z.gt(0))),
    max_tool_calls: z.nullish(z.number().check(z.int(), z.gt(0))),
    text: z.nullish(z.record(z.string(), z.unknown())),
    truncation: z.nullish(z.enum(["auto", "disabled"])),
    include: z.nullish(z.array(z.string()).check(z.maxLength(64))),
    service_tier: z.nullish(z.string()),
    prompt_cache_key: z.nullish(z.string().check(z.maxLength(MAX_ID_CHARS))),
    prompt_cache_retention: z.nullish(z.string()),
    safety_identifier: z.nullish(z.string().check(z.maxLength(64))),
    background: z.nullish(z.boolean()),
    /** Declared so the policy table can reject them by name (OpenAI conversations, stored prompts). */
    conversation: z.nullish(z.union([z.string(), z.looseObject({ id: z.string() })])),
    prompt: z.nullish(z.looseObject({ id: z.string() })),
    /** Moderated completions (openai-node 7.57 `ResponseCreateParams.moderation`): refused by the policy table. */
    moderation: z.nullish(z.looseObject({ model: z.string() })),
    stream_options: z.nullish(z.record(z.string(), z.unknown())),
    /** Declared so the policy table can refuse it by name (server-side compaction; use /v1/responses/compact). */
    context_management: z.nullish(z.array(z.looseObject({ type: z.string(), compact_threshold: z.nullish(z.number()) }))),
  }));
export type CreateResponseRequest = z.infer<typeof CreateResponseRequest>;

/**
 * OpenAI's defaults for the sampling echoes, which a Response carries as numbers even when the request
 * sent none (OpenAI's `Response` and Open Responses' `ResponseResource` both require them).
 */
export const SAMPLING_DEFAULTS = { temperature: 1, top_p: 1, presence_penalty: 0, frequency_penalty: 0, top_logprobs: 0 } as const;

/** Parses the create body; a 400 names the most specific field at fault. */
export function parseCreateRequest(body: unknown): CreateResponseRequest {
  const parsed = CreateResponseRequest.safeParse(body);
  if (!parsed.success) throw issueError(parsed.error, []);
  return parsed.data;
}

/** `GET /v1/responses/{id}/input_items` query (§3.7). */
export const InputItemsQuery = lazySchema(() => z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 20),
  order: z._default(z.enum(["asc", "desc"]), "desc"),
  after: z.optional(z.string().check(z.minLength(1))),
}));
export type InputItemsQuery = z.infer<typeof InputItemsQuery>;

// ---------------------------------------------------------------------------------------------
// Emitted shapes (§2, §2.1, §3, §3.7)
// ---------------------------------------------------------------------------------------------

function buildResponsesOutputSchemas() {
  const str = z.string();
  const int = z.number().check(z.int());
  const count = z.number().check(z.int(), z.gte(0));
  const nullableStr = z.nullable(str);
  const nullableInt = z.nullable(int);
  const itemStatus = z.enum(["in_progress", "completed", "incomplete"]);

  const OutputTextContent = z.strictObject({
    type: z.literal("output_text"),
    text: str,
    annotations: z.array(z.never()),
    logprobs: z.array(z.never()),
  });
  const SummaryTextPart = z.strictObject({ type: z.literal("summary_text"), text: str });
  const OutputMessage = z.strictObject({ id: str, type: z.literal("message"), status: itemStatus, role: z.literal("assistant"), content: z.array(OutputTextContent) });
  const OutputReasoning = z.strictObject({ id: str, type: z.literal("reasoning"), summary: z.array(SummaryTextPart), status: z.optional(itemStatus) });
  const OutputFunctionCall = z.strictObject({
    id: str,
    type: z.literal("function_call"),
    status: itemStatus,
    arguments: str,
    call_id: str.check(z.describe("Answer it with a `function_call_output` item carrying this `call_id`; it resumes the native run")),
    name: str,
  });
  // OpenAI's `ResponseCustomToolCallItem` (openai-node 7.57 responses.d.ts): a call of a `type:"custom"` tool.
  const OutputCustomToolCall = z.strictObject({
    id: str,
    type: z.literal("custom_tool_call"),
    status: itemStatus,
    call_id: str.check(z.describe("Answer it with a `custom_tool_call_output` item carrying this `call_id`; it resumes the native run")),
    name: str,
    input: str,
  });
  const OutputItem = z.discriminatedUnion("type", [OutputMessage, OutputReasoning, OutputFunctionCall, OutputCustomToolCall]);
  const ResponseUsage = z.strictObject({
    input_tokens: count,
    // cache_write_tokens: OpenAI's current OpenAPI `ResponseUsage` requires it beside cached_tokens.
    input_tokens_details: z.strictObject({ cached_tokens: count, cache_write_tokens: count }),
    output_tokens: count,
    output_tokens_details: z.strictObject({ reasoning_tokens: count }),
    total_tokens: count,
  });
  const ResponseStatus = z.enum(["in_progress", "completed", "incomplete", "failed", "cancelled"]);

  /** Request parameters a Response echoes (§2): from the request on create, from the run record on GET/cancel. */
  const ResponseEcho = z.strictObject({
    instructions: nullableStr,
    max_output_tokens: nullableInt,
    max_tool_calls: nullableInt,
    model: str,
    parallel_tool_calls: z.boolean(),
    previous_response_id: nullableStr,
    prompt_cache_key: nullableStr,
    reasoning: z.strictObject({ effort: nullableStr, summary: nullableStr }),
    safety_identifier: nullableStr,
    service_tier: str,
    store: z.boolean(),
    // Sampling echoes are numbers, never null: Open Responses' ResponseResource requires
    // temperature/top_p/presence_penalty/frequency_penalty/top_logprobs as numbers, and OpenAI echoes
    // its defaults (1, 1, 0, 0, 0) when the request sent none.
    temperature: z.number(),
    presence_penalty: z.number(),
    frequency_penalty: z.number(),
    text: z.record(str, z.unknown()),
    tool_choice: z.unknown(),
    tools: z.array(z.unknown()),
    top_logprobs: int,
    top_p: z.number(),
    truncation: z.enum(["auto", "disabled"]),
    user: z.optional(str),
    metadata: z.record(str, str),
  });

  const ResponseObject = z
    .strictObject({
      id: str.check(z.describe("`resp_<native run id hex>[<callback task id hex>]`: a resumed run answers with a new id")),
      object: z.literal("response"),
      created_at: int,
      status: ResponseStatus,
      background: z.literal(false),
      completed_at: nullableInt,
      error: z.nullable(z.strictObject({ code: str, message: str })),
      incomplete_details: z.nullable(z.strictObject({ reason: str })),
      ...ResponseEcho.shape,
      output: z.array(OutputItem),
      usage: z.nullable(ResponseUsage),
    }).check(z.describe("The Response object, rebuilt from the native run (the worker stores no content)"));

  const DeletedResponse = z.strictObject({ id: str, object: z.literal("response"), deleted: z.literal(true) });

  const InputItemResource = z.discriminatedUnion("type", [
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

  const InputItemList = z
    .strictObject({ object: z.literal("list"), data: z.array(InputItemResource), first_id: nullableStr, last_id: nullableStr, has_more: z.boolean() }).check(z.describe("The run's recorded input, as items"));

  /** Fields every Responses stream event carries. */
  const seq = { sequence_number: count.check(z.describe("0, 1, 2… across the whole stream")) };
  const at = { item_id: str, output_index: count };
  const lifecycle = <const T extends string>(type: T) => z.strictObject({ type: z.literal(type), ...seq, response: ResponseObject });

  /** Each Responses stream event, keyed by its SSE `event:` name (equal to its `type`). */
  const STREAM_EVENTS = {
    "response.created": lifecycle("response.created"),
    "response.in_progress": lifecycle("response.in_progress"),
    "response.output_item.added": z.strictObject({ type: z.literal("response.output_item.added"), ...seq, output_index: count, item: OutputItem }),
    "response.content_part.added": z.strictObject({ type: z.literal("response.content_part.added"), ...seq, ...at, content_index: count, part: OutputTextContent }),
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
    "response.content_part.done": z.strictObject({ type: z.literal("response.content_part.done"), ...seq, ...at, content_index: count, part: OutputTextContent }),
    "response.reasoning_summary_part.added": z.strictObject({
      type: z.literal("response.reasoning_summary_part.added"),
      ...seq,
      ...at,
      summary_index: count,
      part: SummaryTextPart,
    }),
    "response.reasoning_summary_text.delta": z.strictObject({ type: z.literal("response.reasoning_summary_text.delta"), ...seq, ...at, summary_index: count, delta: str }),
    "response.reasoning_summary_text.done": z.strictObject({ type: z.literal("response.reasoning_summary_text.done"), ...seq, ...at, summary_index: count, text: str }),
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
    "response.custom_tool_call_input.delta": z.strictObject({ type: z.literal("response.custom_tool_call_input.delta"), ...seq, ...at, delta: str }),
    "response.custom_tool_call_input.done": z.strictObject({ type: z.literal("response.custom_tool_call_input.done"), ...seq, ...at, input: str }),
    "response.output_item.done": z.strictObject({ type: z.literal("response.output_item.done"), ...seq, output_index: count, item: OutputItem }),
    "response.completed": lifecycle("response.completed"),
    "response.incomplete": lifecycle("response.incomplete"),
    error: z
      .strictObject({
        type: z.literal("error"),
        ...seq,
        code: str,
        message: str,
        param: z.null(),
        error: z.strictObject({ type: str, code: str, message: str, param: z.null() }),
      }).check(z.describe("A failure after the headers; followed by `response.failed`")),
    "response.failed": lifecycle("response.failed"),
  } as const;

  return {
    OutputTextContent,
    SummaryTextPart,
    OutputMessage,
    OutputReasoning,
    OutputFunctionCall,
    OutputCustomToolCall,
    OutputItem,
    ResponseUsage,
    ResponseStatus,
    ResponseEcho,
    ResponseObject,
    DeletedResponse,
    InputItemResource,
    InputItemList,
    STREAM_EVENTS,
    StreamDone: z.literal("[DONE]").check(z.describe("After the terminal event, the last frame of every Responses stream: `data: [DONE]` (data only; Open Responses)")),
  };
}

/** The Responses response shapes, built on first use (`lazily`). */
export const responsesOutputSchemas = lazily(buildResponsesOutputSchemas);

type ResponsesOutputs = ReturnType<typeof buildResponsesOutputSchemas>;
type StreamEvents = ResponsesOutputs["STREAM_EVENTS"];
export type OutputTextContent = z.infer<ResponsesOutputs["OutputTextContent"]>;
export type OutputMessage = z.infer<ResponsesOutputs["OutputMessage"]>;
export type OutputReasoning = z.infer<ResponsesOutputs["OutputReasoning"]>;
export type OutputFunctionCall = z.infer<ResponsesOutputs["OutputFunctionCall"]>;
export type OutputCustomToolCall = z.infer<ResponsesOutputs["OutputCustomToolCall"]>;
export type OutputItem = z.infer<ResponsesOutputs["OutputItem"]>;
export type ResponseUsage = z.infer<ResponsesOutputs["ResponseUsage"]>;
export type ResponseStatus = z.infer<ResponsesOutputs["ResponseStatus"]>;
export type ResponseEcho = z.infer<ResponsesOutputs["ResponseEcho"]>;
export type ResponseObject = z.infer<ResponsesOutputs["ResponseObject"]>;
export type InputItemResource = z.infer<ResponsesOutputs["InputItemResource"]>;
export type InputItemList = z.infer<ResponsesOutputs["InputItemList"]>;
export type ResponsesStreamEventType = keyof StreamEvents;
/** Every event a Responses stream carries, typed by its `type` (client-protocols.md §3). */
export type ResponsesStreamEvent = { [K in keyof StreamEvents]: z.infer<StreamEvents[K]> }[keyof StreamEvents];
