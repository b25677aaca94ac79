/**
 * OpenAI Chat Completions wire shapes (client-protocols.md §4) and the parameter policy.
 *
 * Request: zod at the trust boundary. Known fields that the gateway applies are typed precisely;
 * fields a 1flowbase flow decides for itself are `z.unknown()` here and handled by the policy table
 * (accepted-and-reported, or a 400 in strict mode). Unknown top-level fields pass through to the
 * policy (clients add fields constantly), which reports them.
 *
 * Response: declared once, as zod (`chatOutputSchemas`): the code uses the inferred types, the
 * OpenAPI document (`src/docs/openapi.ts`) and the doc tests the schemas. The schemas are built on
 * first use — only the API reference needs them, so no request pays for building them.
 */
import { lazily, lazySchema } from "../../lazy";
import * as z from "../../zod";
import { GatewayError } from "../../http/errors";
import { formatPath, MAX_STOP_CHARS, OUTPUT_LIMIT_TARGET, STOP_TARGET, type ParameterPolicy } from "../../http/policy";

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** Marks a zod issue as "valid OpenAI, but the native API cannot take it" → 400 `unsupported_feature`. */
const UNSUPPORTED = { code: "unsupported_feature" } as const;

function unsupportedPart<const T extends string>(type: T, why: string) {
  return z.looseObject({ type: z.literal(type) }).check(z.superRefine((_value, ctx) => {
      ctx.addIssue({ code: "custom", message: `content part type '${type}' is not supported: ${why}`, params: UNSUPPORTED });
    }));
}

const TextPart = lazySchema(() => z.looseObject({ type: z.literal("text"), text: z.string() }));
/** The fork's adapter also accepts the Responses spellings (native-api.md §4.1). */
const InputTextPart = lazySchema(() => z.looseObject({ type: z.literal("input_text"), text: z.string() }));
const OutputTextPart = lazySchema(() => z.looseObject({ type: z.literal("output_text"), text: z.string() }));
const RefusalPart = lazySchema(() => z.looseObject({ type: z.literal("refusal"), refusal: z.string() }));

export const ChatImageUrl = lazySchema(() => z.looseObject({ url: z.string().check(z.minLength(1)), detail: z.optional(z.enum(["auto", "low", "high"])) }));
const ImageUrlPart = lazySchema(() => z.looseObject({ type: z.literal("image_url"), image_url: ChatImageUrl }));
/** Responses-style image part (`image_url` is a string there). */
const InputImagePart = lazySchema(() => z.looseObject({ type: z.literal("input_image"), image_url: z.string().check(z.minLength(1)), detail: z.optional(z.enum(["auto", "low", "high"])) }));

const NATIVE_TAKES_NO_AUDIO = "the 1flowbase native run API takes text and images only";
const NATIVE_TAKES_NO_FILES = "the 1flowbase native run API takes text and images only (no file parts)";

export const ChatContentPart = lazySchema(() => z.discriminatedUnion("type", [
  TextPart,
  InputTextPart,
  OutputTextPart,
  ImageUrlPart,
  InputImagePart,
  RefusalPart,
  unsupportedPart("input_audio", NATIVE_TAKES_NO_AUDIO),
  unsupportedPart("file", NATIVE_TAKES_NO_FILES),
  unsupportedPart("input_file", NATIVE_TAKES_NO_FILES),
]));
export type ChatContentPart = z.infer<typeof ChatContentPart>;

const Content = lazySchema(() => z.union([z.string(), z.array(ChatContentPart)]));

export const ChatToolCall = lazySchema(() => z.looseObject({
    id: z.string().check(z.minLength(1)),
    type: z.literal("function"),
    function: z.looseObject({ name: z.string(), arguments: z.string() }),
  }));
export type ChatToolCall = z.infer<typeof ChatToolCall>;

const SystemMessage = lazySchema(() => z.looseObject({ role: z.literal("system"), content: Content, name: z.optional(z.string()) }));
const DeveloperMessage = lazySchema(() => z.looseObject({ role: z.literal("developer"), content: Content, name: z.optional(z.string()) }));
const UserMessage = lazySchema(() => z.looseObject({ role: z.literal("user"), content: Content, name: z.optional(z.string()) }));
const AssistantMessage = lazySchema(() => z.looseObject({
    role: z.literal("assistant"),
    content: z.optional(z.nullable(Content)),
    refusal: z.optional(z.nullable(z.string())),
    name: z.optional(z.string()),
    tool_calls: z.optional(z.nullable(z.array(ChatToolCall))),
    audio: z.optional(z.unknown()),
    function_call: z.optional(z.unknown()),
  }).check(z.superRefine((message, ctx) => {
    if (message.audio !== undefined && message.audio !== null) {
      ctx.addIssue({ code: "custom", path: ["audio"], message: `assistant audio is not supported: ${NATIVE_TAKES_NO_AUDIO}`, params: UNSUPPORTED });
    }
    if (message.function_call !== undefined && message.function_call !== null) {
      ctx.addIssue({
        code: "custom",
        path: ["function_call"],
        message: "the deprecated 'function_call' message field is not supported; send 'tool_calls'",
        params: UNSUPPORTED,
      });
    }
  })));
const ToolMessage = lazySchema(() => z.looseObject({ role: z.literal("tool"), content: Content, tool_call_id: z.string().check(z.minLength(1)) }));
const FunctionMessage = lazySchema(() => z.looseObject({ role: z.literal("function") }).check(z.superRefine((_message, ctx) => {
    ctx.addIssue({ code: "custom", message: "the deprecated 'function' role is not supported; use 'tool' messages", params: UNSUPPORTED });
  })));

export const ChatMessage = lazySchema(() => z.discriminatedUnion("role", [
  SystemMessage,
  DeveloperMessage,
  UserMessage,
  AssistantMessage,
  ToolMessage,
  FunctionMessage,
]));
export type ChatMessage = z.infer<typeof ChatMessage>;

// Size bounds: the 8 MiB body cap bounds the total; these give a 400 naming the field for what a real
// client never sends, before native sees it. OpenAI's own limits where it documents them (128 tools,
// 64-character function names); a model id is a short name; 100 000 messages is Anthropic's bound.
const MAX_MODEL_CHARS = 256;
const MAX_MESSAGES = 100_000;
const MAX_TOOLS = 128;
const MAX_FUNCTION_NAME_CHARS = 64;

/** Function tool, nested (the Chat form) or flat (the Responses form, which the fork also accepts). */
const FunctionDefinition = lazySchema(() => z.looseObject({
    name: z.string().check(z.minLength(1), z.maxLength(MAX_FUNCTION_NAME_CHARS)),
    description: z.optional(z.nullable(z.string())),
    parameters: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
    strict: z.optional(z.nullable(z.boolean())),
  }));
const NestedFunctionTool = lazySchema(() => z.looseObject({ type: z.literal("function"), function: FunctionDefinition }));
const FlatFunctionTool = lazySchema(() => z.extend(FunctionDefinition, { type: z.literal("function") }));
const CustomTool = lazySchema(() => z.looseObject({ type: z.literal("custom") }).check(z.superRefine((_tool, ctx) => {
    ctx.addIssue({
      code: "custom",
      message: "custom (free-form grammar) tools are not supported: 1flowbase tool calls carry JSON arguments",
      params: UNSUPPORTED,
    });
  })));
/** Parsed to one shape: the function definition, whichever form the client sent. */
export const ChatTool = lazySchema(() => z.pipe(z.union([NestedFunctionTool, FlatFunctionTool, CustomTool]), z.transform((tool): ChatFunctionDefinition => {
  const fn = (tool as { function?: unknown }).function;
  const definition = (typeof fn === "object" && fn !== null ? fn : tool) as ChatFunctionDefinition;
  return { name: definition.name, description: definition.description ?? null, parameters: definition.parameters ?? null };
})));
export interface ChatFunctionDefinition {
  name: string;
  description?: string | null | undefined;
  parameters?: Record<string, unknown> | null | undefined;
}
export type ChatTool = z.output<typeof ChatTool>;

export const ChatToolChoice = lazySchema(() => z.union([
  z.enum(["none", "auto", "required"]),
  z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string() }) }),
  z.looseObject({ type: z.literal("allowed_tools") }),
]));

export const ChatReasoningEffort = lazySchema(() => z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]));

export const ChatCompletionRequest = lazySchema(() => z.looseObject({
    model: z.string().check(z.minLength(1), z.maxLength(MAX_MODEL_CHARS)),
    messages: z.array(ChatMessage).check(z.minLength(1), z.maxLength(MAX_MESSAGES)),
    stream: z.optional(z.nullable(z.boolean())),
    stream_options: z.optional(z.nullable(z.looseObject({ include_usage: z.optional(z.nullable(z.boolean())), include_obfuscation: z.optional(z.nullable(z.boolean())) }))),
    tools: z.optional(z.nullable(z.array(ChatTool).check(z.maxLength(MAX_TOOLS)))),
    tool_choice: z.optional(z.nullable(ChatToolChoice)),
    reasoning_effort: z.optional(z.nullable(ChatReasoningEffort)),
    user: z.optional(z.nullable(z.string())),
    n: z.optional(z.nullable(z.number().check(z.int(), z.gte(1)))),
    modalities: z.optional(z.nullable(z.array(z.string()))),
    // Accepted-and-reported or rejected by the policy table; their values are not used.
    audio: z.optional(z.unknown()),
    functions: z.optional(z.unknown()),
    function_call: z.optional(z.unknown()),
    temperature: z.optional(z.unknown()),
    top_p: z.optional(z.unknown()),
    max_tokens: z.optional(z.nullable(z.number().check(z.int(), z.gt(0)))),
    max_completion_tokens: z.optional(z.nullable(z.number().check(z.int(), z.gt(0)))),
    // OpenAI: "Up to 4 sequences where the API will stop generating further tokens."
    stop: z.optional(z.nullable(z.union([z.string().check(z.maxLength(MAX_STOP_CHARS)), z.array(z.string().check(z.maxLength(MAX_STOP_CHARS))).check(z.maxLength(4))]))),
    presence_penalty: z.optional(z.unknown()),
    frequency_penalty: z.optional(z.unknown()),
    logit_bias: z.optional(z.unknown()),
    logprobs: z.optional(z.unknown()),
    top_logprobs: z.optional(z.unknown()),
    seed: z.optional(z.unknown()),
    response_format: z.optional(z.unknown()),
    parallel_tool_calls: z.optional(z.unknown()),
    verbosity: z.optional(z.unknown()),
    metadata: z.optional(z.unknown()),
    store: z.optional(z.unknown()),
    service_tier: z.optional(z.unknown()),
    safety_identifier: z.optional(z.unknown()),
    prompt_cache_key: z.optional(z.unknown()),
    prompt_cache_retention: z.optional(z.unknown()),
    prediction: z.optional(z.unknown()),
    web_search_options: z.optional(z.unknown()),
  }));
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

const WHY_FLOW = "the published 1flowbase flow decides it";

/**
 * The declarative parameter policy for `POST /v1/chat/completions` (ARCHITECTURE.md "Parameter
 * policy is data"). Every field of `ChatCompletionRequest` has a rule (a test checks it).
 *
 * Two rows are conditional and say so: `n` applies only as `1` (a native run yields one answer; `n > 1`
 * is a 400), and `reasoning_effort` reaches native only when the requested model supports reasoning at
 * that effort (native-api.md §1.4.1) — otherwise it is reported as ignored (lenient) or a 400 (strict).
 */
export const CHAT_PARAMETER_POLICY: ParameterPolicy = {
  model: { kind: "mapped", to: "model" },
  messages: { kind: "mapped", to: "query (last user message) · history (earlier turns) · system (system/developer messages)" },
  stream: { kind: "mapped", to: "projection: SSE chunks or one chat.completion (native response_mode is always streaming)" },
  stream_options: { kind: "mapped", to: "gateway: include_usage adds the usage chunk" },
  tools: { kind: "mapped", to: "inputs.tools" },
  tool_choice: { kind: "mapped", to: "inputs.tool_choice" },
  reasoning_effort: { kind: "mapped", to: "execution.model_parameters.reasoning.effort (when the model supports it)" },
  user: { kind: "mapped", to: "conversation.user" },
  n: { kind: "mapped", to: "one choice (n = 1 only; a native run yields one answer)" },
  modalities: { kind: "accepted", why: "text output is the only modality; ['text'] is the default" },
  audio: { kind: "rejected", why: "the 1flowbase native run API has no audio output" },
  functions: { kind: "rejected", why: "deprecated; send 'tools'" },
  function_call: { kind: "rejected", why: "deprecated; send 'tool_choice'" },
  temperature: { kind: "accepted", why: WHY_FLOW },
  top_p: { kind: "accepted", why: WHY_FLOW },
  max_tokens: { kind: "mapped", to: OUTPUT_LIMIT_TARGET },
  max_completion_tokens: { kind: "mapped", to: OUTPUT_LIMIT_TARGET },
  stop: { kind: "mapped", to: STOP_TARGET },
  presence_penalty: { kind: "accepted", why: WHY_FLOW },
  frequency_penalty: { kind: "accepted", why: WHY_FLOW },
  logit_bias: { kind: "accepted", why: WHY_FLOW },
  // Contract-changing parameters that can never be honoured are refused, not dropped (issue 14).
  logprobs: { kind: "rejected", why: "native runs report no token log probabilities (only false is accepted)" },
  top_logprobs: { kind: "rejected", why: "native runs report no token log probabilities (only 0 is accepted)" },
  seed: { kind: "accepted", why: WHY_FLOW },
  response_format: {
    kind: "rejected",
    why: "a 1flowbase application decides its own output format and cannot be made to return JSON per request (only {type: 'text'} is accepted); JSON mode is never claimed while prose comes back",
  },
  parallel_tool_calls: { kind: "accepted", why: WHY_FLOW },
  verbosity: { kind: "accepted", why: WHY_FLOW },
  metadata: { kind: "accepted", why: "native run metadata carries only the gateway's trace id" },
  store: { kind: "accepted", why: "every native run is stored by 1flowbase; the gateway stores nothing" },
  service_tier: { kind: "accepted", why: WHY_FLOW },
  safety_identifier: { kind: "accepted", why: "not a native run field" },
  prompt_cache_key: { kind: "accepted", why: WHY_FLOW },
  prompt_cache_retention: { kind: "accepted", why: WHY_FLOW },
  prediction: { kind: "accepted", why: WHY_FLOW },
  web_search_options: { kind: "accepted", why: WHY_FLOW },
};

/** Values that equal the protocol's default apply trivially and are not reported as ignored. */
export function isChatDefault(field: string, value: unknown): boolean {
  switch (field) {
    case "modalities":
      return Array.isArray(value) && value.every((modality) => modality === "text");
    case "logprobs":
    case "store":
      return value === false;
    case "top_logprobs":
      return value === 0;
    case "parallel_tool_calls":
      return value === true;
    case "response_format":
      return typeof value === "object" && value !== null && (value as { type?: unknown }).type === "text";
    case "metadata":
      return typeof value === "object" && value !== null && Object.keys(value).length === 0;
    default:
      return false;
  }
}

/**
 * Parses a request body. A zod failure becomes a 400 naming the deepest failing path as `param`;
 * content the native API cannot take (audio, files, custom tools, deprecated shapes) is a 400
 * `unsupported_feature`, distinct from a malformed request.
 */
export function parseChatRequest(body: unknown): ChatCompletionRequest {
  const result = ChatCompletionRequest.safeParse(body);
  if (result.success) return result.data;
  throw chatValidationError(result.error);
}

interface LocatedIssue {
  issue: z.core.$ZodIssue;
  path: PropertyKey[];
}

/** Descends into union failures to the branch that got furthest (the one the client meant). */
function deepestIssue(issue: z.core.$ZodIssue, base: PropertyKey[]): LocatedIssue {
  const here: LocatedIssue = { issue, path: [...base, ...issue.path] };
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return here;
  let best: LocatedIssue | undefined;
  for (const branch of issue.errors) {
    for (const sub of branch) {
      const candidate = deepestIssue(sub, here.path);
      // A custom "unsupported" verdict is the most specific answer there is.
      if (isUnsupported(candidate.issue)) return candidate;
      if (!best || candidate.path.length > best.path.length) best = candidate;
    }
  }
  return best && best.path.length > here.path.length ? best : here;
}

function isUnsupported(issue: z.core.$ZodIssue): boolean {
  return issue.code === "custom" && (issue.params as { code?: unknown } | undefined)?.code === UNSUPPORTED.code;
}

export function chatValidationError(error: z.core.$ZodError): GatewayError {
  const first = error.issues.find(isUnsupported) ?? error.issues[0];
  if (!first) return GatewayError.invalidRequest("invalid request");
  const { issue, path } = deepestIssue(first, []);
  const param = formatPath(path) || null;
  if (isUnsupported(issue)) return GatewayError.unsupported(issue.message, param);
  if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator" && path[path.length - 1] === "type") {
    const value = typeof issue.input === "string" ? `'${issue.input}'` : "this";
    return GatewayError.unsupported(`'${param}': ${value} is not a supported type (expected ${"options" in issue && issue.options ? issue.options.map(String).join(", ") : "a documented type"})`, param);
  }
  return GatewayError.invalidRequest(`${param ? `'${param}': ` : ""}${issue.message}`, param, "invalid_request");
}

// ---------------------------------------------------------------------------------------------
// Response (client-protocols.md §4.2, §4.3)
// ---------------------------------------------------------------------------------------------

function buildChatOutputSchemas() {
  const str = z.string();
  const count = z.number().check(z.int(), z.gte(0));
  const finishReason = z.enum(["stop", "length", "tool_calls"]).check(z.describe("`length`: the native run ended `incomplete`"));

  const ChatUsage = z.strictObject({
    prompt_tokens: count,
    completion_tokens: count,
    total_tokens: count,
    prompt_tokens_details: z.strictObject({ cached_tokens: count }),
    completion_tokens_details: z.strictObject({ reasoning_tokens: count }),
  });

  const ChatToolCallOut = z.strictObject({
    id: str.check(z.describe("`call_…`: answer it with a `tool` message carrying this `tool_call_id`; it resumes the native run")),
    type: z.literal("function"),
    function: z.strictObject({ name: str, arguments: str.check(z.describe("JSON text")) }),
  });

  const ChatCompletionMessage = z.strictObject({
    role: z.literal("assistant"),
    content: z.nullable(str),
    refusal: z.null(),
    reasoning_content: z.optional(str).check(z.describe("The run's reasoning (never `<think>` inside `content`)")),
    tool_calls: z.optional(z.array(ChatToolCallOut)),
  });

  const ChatCompletion = z
    .strictObject({
      id: str.check(z.describe("`chatcmpl-<native run id>[-<callback task id>]`")),
      object: z.literal("chat.completion"),
      created: z.number().check(z.int()),
      model: str,
      choices: z
        .array(z.strictObject({ index: z.literal(0), message: ChatCompletionMessage, logprobs: z.null(), finish_reason: finishReason })).check(z.length(1)),
      usage: ChatUsage,
    }).check(z.describe("A finished completion: the final snapshot of the stream of the same run"));

  const ChatToolCallDelta = z.strictObject({
    index: count,
    id: z.optional(str),
    type: z.optional(z.literal("function")),
    function: z.strictObject({ name: z.optional(str), arguments: str }),
  });

  const ChatDelta = z.strictObject({
    role: z.optional(z.literal("assistant")),
    content: z.optional(str),
    reasoning_content: z.optional(str),
    tool_calls: z.optional(z
      .array(ChatToolCallDelta)).check(z.describe("First fragment of a call: `id`, `type`, `function.name`; the next one: its `arguments`")),
  });

  const ChatCompletionChunk = z
    .strictObject({
      id: str,
      object: z.literal("chat.completion.chunk"),
      created: z.number().check(z.int()),
      model: str,
      choices: z
        .array(z.strictObject({ index: z.literal(0), delta: ChatDelta, logprobs: z.null(), finish_reason: z.nullable(finishReason) })).check(z.maxLength(1), z.describe("Empty only on the usage chunk")),
      usage: z.optional(z.nullable(ChatUsage)).check(z.describe("With `stream_options.include_usage`: `null`, then the totals on a last `choices: []` chunk")),
    }).check(z.describe("`data:` of one Chat Completions SSE frame"));

  const ChatStreamDone = z.literal("[DONE]").check(z.describe("The last frame of every Chat stream: `data: [DONE]`"));

  return { ChatUsage, ChatToolCallOut, ChatCompletionMessage, ChatCompletion, ChatToolCallDelta, ChatDelta, ChatCompletionChunk, ChatStreamDone, finishReason };
}

/** The Chat Completions response shapes, built on first use (`lazily`). */
export const chatOutputSchemas = lazily(buildChatOutputSchemas);

type ChatOutputs = ReturnType<typeof buildChatOutputSchemas>;
export type ChatUsage = z.infer<ChatOutputs["ChatUsage"]>;
export type ChatFinishReason = z.infer<ChatOutputs["finishReason"]>;
export type ChatToolCallDelta = z.infer<ChatOutputs["ChatToolCallDelta"]>;
export type ChatDelta = z.infer<ChatOutputs["ChatDelta"]>;
export type ChatCompletionChunk = z.infer<ChatOutputs["ChatCompletionChunk"]>;
export type ChatCompletionMessage = z.infer<ChatOutputs["ChatCompletionMessage"]>;
export type ChatCompletion = z.infer<ChatOutputs["ChatCompletion"]>;
