/**
 * The OpenAI Responses wire format: the create request (zod, the trust boundary) and the Response /
 * item / list shapes the gateway emits (plain types: the gateway builds them, nothing parses them).
 *
 * Sources: client-protocols.md §1 (request, input items), §2 (Response object), §3 (stream), §3.7
 * (lifecycle routes). The request schema is lenient where real clients are (unknown top-level fields
 * pass, `strict` may be missing on function tools, `type` may be missing on messages and item
 * references) and strict where a wrong value would silently change meaning (types, ranges, metadata
 * limits). Unknown *input item* types are tolerated (Codex and the Agents SDK send hosted-tool and
 * custom-tool items); unknown *content part* types are not, because dropping content is lossy.
 */
import * as z from "zod";
import { formatPath } from "../../http/policy";
import { GatewayError } from "../../http/errors";

// ---------------------------------------------------------------------------------------------
// Request: content parts and input items (§1.3)
// ---------------------------------------------------------------------------------------------

export const InputTextPart = z.object({ type: z.literal("input_text"), text: z.string() }).loose();
export const OutputTextPart = z.object({ type: z.literal("output_text"), text: z.string() }).loose();
export const RefusalPart = z.object({ type: z.literal("refusal"), refusal: z.string() }).loose();
export const InputImagePart = z
  .object({
    type: z.literal("input_image"),
    image_url: z.string().nullish(),
    file_id: z.string().nullish(),
    detail: z.string().nullish(),
  })
  .loose();
/** Parsed so the error can name them precisely; to-native rejects them (native cannot carry them). */
export const InputFilePart = z.object({ type: z.literal("input_file") }).loose();
export const InputAudioPart = z.object({ type: z.literal("input_audio") }).loose();

export const ContentPart = z.discriminatedUnion("type", [
  InputTextPart,
  OutputTextPart,
  RefusalPart,
  InputImagePart,
  InputFilePart,
  InputAudioPart,
]);
export type ContentPart = z.infer<typeof ContentPart>;

export const MessageItem = z
  .object({
    type: z.literal("message"),
    id: z.string().nullish(),
    role: z.enum(["user", "assistant", "system", "developer"]),
    content: z.union([z.string(), z.array(ContentPart)]),
    status: z.string().nullish(),
  })
  .loose();
export type MessageItem = z.infer<typeof MessageItem>;

export const FunctionCallItem = z
  .object({
    type: z.literal("function_call"),
    id: z.string().nullish(),
    call_id: z.string().min(1),
    name: z.string(),
    arguments: z.string(),
    status: z.string().nullish(),
  })
  .loose();
export type FunctionCallItem = z.infer<typeof FunctionCallItem>;

/** `output` is a string, or content parts (Codex sends `input_text`/`input_image` arrays). */
export const FunctionCallOutputItem = z
  .object({
    type: z.literal("function_call_output"),
    id: z.string().nullish(),
    call_id: z.string().min(1).max(64),
    output: z.union([z.string(), z.array(ContentPart)]),
    status: z.string().nullish(),
  })
  .loose();
export type FunctionCallOutputItem = z.infer<typeof FunctionCallOutputItem>;

export const ReasoningItem = z.object({ type: z.literal("reasoning") }).loose();
export const ItemReference = z.object({ type: z.literal("item_reference"), id: z.string() }).loose();

/** An item type this gateway does not interpret (hosted tool calls, custom tools, compaction…). */
export interface OtherItem {
  type: "other";
  originalType: string;
}

export type InputItem =
  | MessageItem
  | FunctionCallItem
  | FunctionCallOutputItem
  | z.infer<typeof ReasoningItem>
  | z.infer<typeof ItemReference>
  | OtherItem;

const ITEM_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  message: MessageItem,
  function_call: FunctionCallItem,
  function_call_output: FunctionCallOutputItem,
  reasoning: ReasoningItem,
  item_reference: ItemReference,
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

function issueError(error: z.ZodError, prefix: readonly PropertyKey[]): GatewayError {
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
export const FunctionTool = z
  .object({
    type: z.literal("function"),
    name: z.string().min(1).max(64),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  })
  .loose();
export type FunctionTool = z.infer<typeof FunctionTool>;

/** `{type}` of any other kind (hosted, custom, mcp…): only the type is checked. */
const otherType = (...taken: string[]) =>
  z.object({ type: z.string().refine((type) => !taken.includes(type), "this type needs its own fields") }).loose();

/** Any tool: validated as a function tool when it says `function`, otherwise only `type` is checked. */
export const Tool = z.union([FunctionTool, otherType("function")]);
export type Tool = z.infer<typeof Tool>;

export const ToolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), name: z.string().min(1) }).loose(),
  z
    .object({
      type: z.literal("allowed_tools"),
      mode: z.enum(["auto", "required"]),
      tools: z.array(z.object({ type: z.string(), name: z.string().optional() }).loose()),
    })
    .loose(),
  otherType("function", "allowed_tools"),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

/** OpenAI metadata: ≤16 pairs, keys ≤64 chars, values ≤512 chars (§1.1). */
export const Metadata = z
  .record(z.string().max(64, "metadata keys are at most 64 characters"), z.string().max(512, "metadata values are at most 512 characters"))
  .refine((value) => Object.keys(value).length <= 16, "metadata has at most 16 key-value pairs");

/** Bounds in the spirit of OpenAI's own (128 tools, 64-char names/identifiers) and upstream 1flowbase's
 *  4096 input items (native-api.md §7): a client mistake is a 400 naming the field, never a 5xx. */
const MAX_INPUT_ITEMS = 4096;
const MAX_TOOLS = 128;
const MAX_ID_CHARS = 256;

export const CreateResponseRequest = z
  .object({
    model: z.string({ error: "'model' is required (a model id of the 1flowbase application)" }).min(1).max(MAX_ID_CHARS),
    input: z.union([z.string(), z.array(z.record(z.string(), z.unknown())).max(MAX_INPUT_ITEMS)], {
      error: "'input' is required: a string or a list of input items",
    }),
    instructions: z.string().nullish(),
    previous_response_id: z.string().nullish(),
    tools: z.array(Tool).max(MAX_TOOLS).nullish(),
    tool_choice: ToolChoice.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    stream: z.boolean().nullish(),
    store: z.boolean().nullish(),
    user: z.string().max(MAX_ID_CHARS).nullish(),
    reasoning: z
      .object({ effort: z.string().nullish(), summary: z.string().nullish(), generate_summary: z.string().nullish() })
      .loose()
      .nullish(),
    metadata: Metadata.nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    max_output_tokens: z.number().int().positive().nullish(),
    max_tool_calls: z.number().int().positive().nullish(),
    text: z.record(z.string(), z.unknown()).nullish(),
    truncation: z.enum(["auto", "disabled"]).nullish(),
    include: z.array(z.string()).max(64).nullish(),
    service_tier: z.string().nullish(),
    prompt_cache_key: z.string().max(MAX_ID_CHARS).nullish(),
    prompt_cache_retention: z.string().nullish(),
    safety_identifier: z.string().max(64).nullish(),
    background: z.boolean().nullish(),
    /** Declared so the policy table can reject them by name (OpenAI conversations, stored prompts). */
    conversation: z.union([z.string(), z.object({ id: z.string() }).loose()]).nullish(),
    prompt: z.object({ id: z.string() }).loose().nullish(),
    stream_options: z.record(z.string(), z.unknown()).nullish(),
  })
  .loose();
export type CreateResponseRequest = z.infer<typeof CreateResponseRequest>;

/** Parses the create body; a 400 names the most specific field at fault. */
export function parseCreateRequest(body: unknown): CreateResponseRequest {
  const parsed = CreateResponseRequest.safeParse(body);
  if (!parsed.success) throw issueError(parsed.error, []);
  return parsed.data;
}

/** `GET /v1/responses/{id}/input_items` query (§3.7). */
export const InputItemsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(["asc", "desc"]).default("desc"),
  after: z.string().min(1).optional(),
});
export type InputItemsQuery = z.infer<typeof InputItemsQuery>;

// ---------------------------------------------------------------------------------------------
// Emitted shapes (§2, §2.1, §3.7)
// ---------------------------------------------------------------------------------------------

export interface OutputTextContent {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: never[];
}

export interface OutputMessage {
  id: string;
  type: "message";
  status: "in_progress" | "completed" | "incomplete";
  role: "assistant";
  content: OutputTextContent[];
}

export interface OutputReasoning {
  id: string;
  type: "reasoning";
  summary: Array<{ type: "summary_text"; text: string }>;
  status?: "in_progress" | "completed" | "incomplete";
}

export interface OutputFunctionCall {
  id: string;
  type: "function_call";
  status: "in_progress" | "completed" | "incomplete";
  arguments: string;
  call_id: string;
  name: string;
}

export type OutputItem = OutputMessage | OutputReasoning | OutputFunctionCall;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed" | "cancelled";

/**
 * Request parameters a Response echoes (§2). Built from the request on create, from the native run
 * record on GET/cancel.
 */
export interface ResponseEcho {
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  model: string;
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  prompt_cache_key: string | null;
  reasoning: { effort: string | null; summary: string | null };
  safety_identifier: string | null;
  service_tier: string;
  store: boolean;
  temperature: number | null;
  text: Record<string, unknown>;
  tool_choice: unknown;
  tools: unknown[];
  top_logprobs: number | null;
  top_p: number | null;
  truncation: "auto" | "disabled";
  user: string | null;
  metadata: Record<string, string>;
}

/** The Response object, with every field the SPEC marks required (§2): the echoed request
 *  parameters plus what the run produced. */
export interface ResponseObject extends ResponseEcho {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  background: false;
  completed_at: number | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: string } | null;
  output: OutputItem[];
  usage: ResponseUsage | null;
}

/** Items `input_items` lists (every one has an `id`, §3.7). */
export type InputItemResource =
  | { id: string; type: "message"; role: "user" | "assistant"; status: "completed"; content: Array<{ type: "input_text" | "output_text"; text: string } | { type: "input_image"; image_url: string | null; detail: string }> }
  | { id: string; type: "function_call"; status: "completed"; call_id: string; name: string; arguments: string }
  | { id: string; type: "function_call_output"; status: "completed"; call_id: string; output: string };

export interface InputItemList {
  object: "list";
  data: InputItemResource[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}
