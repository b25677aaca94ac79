/**
 * Responses request → native run request. Pure: every lookup it needs (the previous response's run,
 * referenced items) is resolved by the route (src/routes/responses-continuation.ts) and passed in;
 * `reasoning.effort` is applied by the route against the catalog (src/native/catalog.ts).
 *
 * Mapping (client-protocols.md §1, native-api.md §1.4, §3.4, §4.2 — where the fork's own adapter
 * loses context we do better):
 * - `instructions` and `system`/`developer` messages → native `system` (hoisted, joined with a blank
 *   line). Hoisting, rather than sending `role:"system"` history items, keeps `history` empty for a
 *   chained turn so native rehydrates the conversation (§3.4), and treats Codex's developer messages
 *   as instructions (the fork would treat `developer` as a user turn, §4.1).
 * - The last user message → `query`; everything before it → `history` (assistant messages, function
 *   calls merged into the preceding assistant turn, function call outputs as `tool` turns).
 * - Trailing `function_call_output` items → a resume of the native callback task (no new run) when
 *   they answer calls we issued; outputs for calls issued elsewhere (a transcript begun at another
 *   provider, few-shot examples) → a new run with the whole input as history and an empty query.
 * - `reasoning` items are skipped: native has no reasoning input, and a chained turn's reasoning is
 *   already in the native run. `item_reference`s are resolved beforehand (continuation.ts); any left
 *   here are skipped.
 */
import * as z from "../../zod";
import { lazySchema } from "../../lazy";
import { GatewayError } from "../../http/errors";
import type { PolicyMode } from "../../http/policy";
import { answersForeignToolCalls, type ToolResultInput } from "../../native/resume";
import { nativeRunBody, utf8Length } from "../../native/client";
import type { NativeHistoryItem, NativeRunRequest, NativeToolDefinition } from "../../native/schema";
import { parseFunctionCallId } from "./ids";
import { ignoreOrReject } from "../../http/policy";
import { SAMPLING_DEFAULTS } from "./schema";
import type {
  ContentPart,
  CreateResponseRequest,
  CustomToolCallOutputItem,
  FunctionCallOutputItem,
  FunctionTool,
  InputItem,
  MessageItem,
  ResponseEcho,
} from "./schema";

/** `conversation.user` when the request names none: every response stays chainable (§3.4). */
export const DEFAULT_CONVERSATION_USER = "openai-responses";

/** What the new input asks for. */
export type InputPlan =
  | { kind: "resume"; results: ToolResultInput[] }
  | { kind: "run"; systemParts: string[]; query: string; history: NativeHistoryItem[] };

/** The previous response's native side, as continuation.ts read it from the run record. */
export interface PreviousTurn {
  responseId: string;
  runId: string;
  /** The run's native conversation (`metadata.external_user` / `external_conversation_id`). */
  conversation: { user: string; id: string } | null;
  /** Every turn of that run as native history: its frozen history, its query, its answer. */
  turns: NativeHistoryItem[];
}

type ContentBlock = Record<string, unknown>;

function unsupportedPart(param: string, what: string): GatewayError {
  return GatewayError.unsupported(`${what} cannot be passed to a 1flowbase run`, param);
}

/** Text and image blocks of a message's content. */
function readContent(content: string | readonly ContentPart[], param: string, allowImages: boolean): { text: string; blocks: ContentBlock[] } {
  if (typeof content === "string") return { text: content, blocks: [] };
  const texts: string[] = [];
  const blocks: ContentBlock[] = [];
  content.forEach((part, index) => {
    const at = `${param}[${index}]`;
    switch (part.type) {
      case "input_text":
      case "output_text":
        texts.push(part.text);
        break;
      case "refusal":
        texts.push(part.refusal);
        break;
      case "input_image":
        if (!allowImages) throw unsupportedPart(at, "an image in an instruction message");
        if (!part.image_url) throw unsupportedPart(`${at}.file_id`, "an image by file_id (send image_url: a URL or a data: URL)");
        // The fork's content block shape for images (native-api.md §4.1).
        blocks.push({ type: "image_url", image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } });
        break;
      case "input_file":
        throw unsupportedPart(at, "a file content part");
      case "input_audio":
        throw unsupportedPart(at, "an audio content part");
    }
  });
  return { text: texts.join("\n"), blocks };
}

/** Tool output content: text parts joined; anything richer is sent as JSON (native takes either, §1.6). */
function toolResultContent(output: FunctionCallOutputItem["output"]): unknown {
  if (typeof output === "string") return output;
  if (output.every((part) => part.type === "input_text" || part.type === "output_text")) {
    return output.map((part) => (part as { text: string }).text).join("\n");
  }
  return output;
}

/**
 * A Codex custom tool (`type:"custom"`, e.g. `apply_patch` with a Lark grammar) reaches native as a
 * function tool taking one string, `input`: native tools are JSON-schema functions (native-api.md
 * §1.4), and a custom tool's call is one free-form string (OpenAI `ResponseCustomToolCall.input`).
 * The call's `arguments.input` is the `custom_tool_call`'s `input`, both ways.
 */
export const CUSTOM_TOOL_INPUT_SCHEMA = {
  type: "object",
  properties: { input: { type: "string" } },
  required: ["input"],
} as const;

/** The native arguments of a custom tool call replayed as input. */
export function customToolArguments(input: string): { input: string } {
  return { input };
}

/** True for the items that answer a tool call (function or custom). */
export function isToolOutputItem(item: InputItem | undefined): item is FunctionCallOutputItem | CustomToolCallOutputItem {
  return item?.type === "function_call_output" || item?.type === "custom_tool_call_output";
}

/** Native keeps tool call arguments as objects; a string that is not JSON is kept as is. */
function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isSkipped(item: InputItem): boolean {
  // A compaction item never reaches planning: the route cuts the input at it (compaction.ts).
  return item.type === "reasoning" || item.type === "item_reference" || item.type === "compaction" || item.type === "other";
}

/**
 * Drops the partial output of an interrupted response from the end of the input: assistant messages
 * marked `incomplete` (and reasoning items among them). Codex keeps every `output_item.done` it
 * received and, when it retries a failed or cut stream, sends the same input again with that partial
 * output appended. Read as a prefill it would make every such retry a 400; without it the retry is
 * the request that failed, answered afresh (a new run, or the same resume). Reported as ignored.
 */
function withoutInterruptedOutput(items: readonly InputItem[], ignored: string[], mode: PolicyMode): readonly InputItem[] {
  let end = items.length;
  let interrupted = false;
  for (let item = items[end - 1]; item && (item.type === "reasoning" || isInterruptedMessage(item)); item = items[end - 1]) {
    interrupted ||= item.type === "message";
    end--;
  }
  if (!interrupted) return items;
  ignoreOrReject(ignored, "input.incomplete_message", `input[${end}]`, "the partial output of an interrupted response is not replayed", mode);
  return items.slice(0, end);
}

function isInterruptedMessage(item: InputItem): boolean {
  return item.type === "message" && item.role === "assistant" && item.status === "incomplete";
}

/**
 * Splits the input into a resume (trailing tool outputs) or a new run's system/query/history.
 * `ignored` collects item types that carry nothing native can use (reported, strict → 400).
 * `window`: the input is a conversation to record, not a turn to answer (`/v1/responses/compact`):
 * every item goes to history, the query stays empty and trailing tool outputs resume nothing.
 */
export function planInput(input: readonly InputItem[], ignored: string[], mode: PolicyMode, options: { window?: boolean; continues?: boolean } = {}): InputPlan {
  const items = withoutInterruptedOutput(input, ignored, mode);
  items.forEach((item) => {
    if (item.type === "other") {
      ignoreOrReject(ignored, `input.${item.originalType}`, "input", "a 1flowbase run cannot replay this item type", mode);
    }
  });

  // Trailing contiguous function_call_output items resume the callback task they answer (§4.2).
  let start = items.length;
  while (start > 0 && isToolOutputItem(items[start - 1])) start--;
  if (start < items.length && !options.window) {
    const results = items.slice(start).map((item): ToolResultInput => {
      const output = item as FunctionCallOutputItem | CustomToolCallOutputItem;
      return { ref: parseFunctionCallId(output.call_id), clientId: output.call_id, content: toolResultContent(output.output) };
    });
    // Outputs for calls we never issued: a stateless transcript, the whole input as history and an
    // empty query (native's runtime drops the empty user turn, resume.ts says why this is faithful).
    if (!answersForeignToolCalls(results)) return { kind: "resume", results };
    // …but not on a continuation: there the previous response is ours, and an output must answer one
    // of its calls or a call replayed in this input — OpenAI's "No tool call found for function call
    // output with call_id …" (Open Responses' websocket-failed-continuation test relies on it).
    if (options.continues) {
      const replayed = new Set(items.flatMap((item) => (item.type === "function_call" || item.type === "custom_tool_call" ? [item.call_id] : [])));
      const unanswerable = results.find((result) => !replayed.has(result.clientId));
      if (unanswerable) {
        throw GatewayError.invalidRequest(`No tool call found for function call output with call_id ${unanswerable.clientId.slice(0, 64)}.`, "input", "invalid_tool_call_id");
      }
    }
  }
  const stateless = options.window === true || start < items.length;

  let queryIndex = -1;
  if (!stateless) {
    items.forEach((item, index) => {
      if (item.type === "message" && item.role === "user") queryIndex = index;
    });
  }
  if (queryIndex === -1 && !stateless) {
    throw GatewayError.invalidRequest("input must contain a user message (or end with function_call_output items)", "input");
  }
  items.forEach((item, index) => {
    if (!stateless && index > queryIndex && !isSkipped(item) && !(item.type === "message" && (item.role === "system" || item.role === "developer"))) {
      throw GatewayError.invalidRequest(
        `input[${index}] follows the last user message; the input must end with a user message or with function_call_output items`,
        `input[${index}]`,
      );
    }
  });

  const systemParts: string[] = [];
  const history: NativeHistoryItem[] = [];
  let query = "";
  items.forEach((item, index) => {
    const param = `input[${index}]`;
    switch (item.type) {
      case "message":
        if (item.role === "system" || item.role === "developer") {
          const { text } = readContent(item.content, `${param}.content`, false);
          if (text.trim()) systemParts.push(text.trim());
        } else if (index === queryIndex) {
          const { text, blocks } = readContent(item.content, `${param}.content`, true);
          query = text;
          // Images of the current turn ride on an extra user history entry, as the fork's adapter
          // does (native-api.md §4.1): native's `query` is text only.
          if (blocks.length > 0) history.push({ role: "user", content: text, content_blocks: blocks });
        } else {
          history.push(messageTurn(item, `${param}.content`));
        }
        break;
      case "function_call":
      case "custom_tool_call": {
        const args = item.type === "function_call" ? parseArguments(item.arguments) : customToolArguments(item.input);
        const call = { id: item.call_id, name: item.name, arguments: args };
        const previous = history[history.length - 1];
        // Consecutive calls (and the assistant text before them) are one assistant turn.
        if (previous?.role === "assistant") previous.tool_calls = [...(previous.tool_calls ?? []), call];
        else history.push({ role: "assistant", content: "", tool_calls: [call] });
        break;
      }
      case "function_call_output":
      case "custom_tool_call_output": {
        const content = toolResultContent(item.output);
        history.push({ role: "tool", tool_call_id: item.call_id, content: typeof content === "string" ? content : JSON.stringify(content) });
        break;
      }
      default:
        break;
    }
  });
  return { kind: "run", systemParts, query, history };
}

function messageTurn(item: MessageItem, param: string): NativeHistoryItem {
  const role = item.role === "assistant" ? "assistant" : "user";
  const { text, blocks } = readContent(item.content, param, role === "user");
  const turn: NativeHistoryItem = { role, content: text };
  if (blocks.length > 0) turn.content_blocks = blocks;
  return turn;
}

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

export interface ToolMapping {
  tools?: NativeToolDefinition[];
  toolChoice?: unknown;
}

function isFunctionTool(tool: { type: string }): tool is FunctionTool {
  return tool.type === "function";
}

/** A `type:"custom"` tool as the schema lets it through (only `type` is checked there). */
const CustomTool = lazySchema(() => z.looseObject({
    type: z.literal("custom"),
    name: z.string().check(z.minLength(1)),
    description: z.nullish(z.string()),
    format: z.nullish(z.union([z.looseObject({ type: z.literal("text") }), z.looseObject({ type: z.literal("grammar"), syntax: z.string(), definition: z.string() })])),
  }));

/**
 * The native description of a custom tool: its own description, then the input format the model
 * must follow. Native has no grammar-constrained decoding, so a grammar is stated in words (the
 * definition verbatim) and the flow's model is trusted to follow it, as for any prompt.
 */
const CUSTOM_TOOL_NOTE = "Call it with one argument, `input`: the tool's input as free-form text.";
const GRAMMAR_NOTE = /^The input must follow this (\S+) grammar:\n([\s\S]*)$/;

function customToolDescription(tool: z.infer<typeof CustomTool>): string {
  const parts: string[] = [];
  if (tool.description) parts.push(tool.description);
  parts.push(CUSTOM_TOOL_NOTE);
  if (tool.format?.type === "grammar") {
    parts.push(`The input must follow this ${tool.format.syntax} grammar:\n${tool.format.definition}`);
  }
  return parts.join("\n\n");
}

/**
 * The custom tool a native tool definition was made from (the inverse of the mapping above), or null
 * for any other tool. A run record keeps only native tool definitions, so a Response rebuilt from it
 * (GET) recognises our own deterministic encoding: the one-string schema plus the note we wrote.
 */
export function customToolFromNative(tool: { name?: unknown; description?: unknown; input_schema?: unknown }): { type: "custom"; name: string; description: string | null; format: Record<string, unknown> } | null {
  if (typeof tool.name !== "string" || typeof tool.description !== "string") return null;
  if (JSON.stringify(tool.input_schema) !== JSON.stringify(CUSTOM_TOOL_INPUT_SCHEMA)) return null;
  const at = tool.description.indexOf(CUSTOM_TOOL_NOTE);
  if (at === -1 || (at > 0 && tool.description.slice(at - 2, at) !== "\n\n")) return null;
  const description = at > 0 ? tool.description.slice(0, at - 2) : null;
  const rest = tool.description.slice(at + CUSTOM_TOOL_NOTE.length);
  if (rest === "") return { type: "custom", name: tool.name, description, format: { type: "text" } };
  const grammar = rest.startsWith("\n\n") ? GRAMMAR_NOTE.exec(rest.slice(2)) : null;
  if (!grammar?.[1] || grammar[2] === undefined) return null;
  return { type: "custom", name: tool.name, description, format: { type: "grammar", syntax: grammar[1], definition: grammar[2] } };
}

/** The names of the request's custom tools (their calls project as `custom_tool_call` items). */
export function customToolNames(tools: readonly { type: string; name?: unknown }[] | null | undefined): Set<string> {
  const names = new Set<string>();
  for (const tool of tools ?? []) if (tool.type === "custom" && typeof tool.name === "string") names.add(tool.name);
  return names;
}

/**
 * Function tools → `inputs.tools` (the runtime's `{name, source, description, input_schema}`,
 * native-api.md §1.4); custom tools → a native function with one string input (`CUSTOM_TOOL_INPUT_SCHEMA`).
 * Hosted tools cannot be called by a native run: Codex always sends them, so they are accepted and
 * reported, but forcing one through `tool_choice` is a 400.
 */
export function mapTools(request: CreateResponseRequest, ignored: string[], mode: PolicyMode): ToolMapping {
  const functions: NativeToolDefinition[] = [];
  const customNames = new Set<string>();
  (request.tools ?? []).forEach((tool, index) => {
    if (tool.type !== "custom") return;
    const parsed = CustomTool.safeParse(tool);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw GatewayError.invalidRequest(`tools[${index}]: ${issue?.message ?? "invalid custom tool"}`, `tools[${index}].${(issue?.path ?? []).join(".")}`.replace(/\.$/, ""));
    }
  });
  for (const tool of request.tools ?? []) {
    const custom = CustomTool.safeParse(tool);
    if (custom.success) {
      customNames.add(custom.data.name);
      functions.push({ name: custom.data.name, source: "openai_compatible", description: customToolDescription(custom.data), input_schema: { ...CUSTOM_TOOL_INPUT_SCHEMA } });
    } else if (isFunctionTool(tool)) {
      const definition: NativeToolDefinition = {
        name: tool.name,
        source: "openai_compatible",
        input_schema: tool.parameters ?? { type: "object", properties: {} },
      };
      if (tool.description) definition.description = tool.description;
      functions.push(definition);
    } else {
      ignoreOrReject(ignored, `tools.${tool.type}`, "tools", "only function and custom tools can be called by a 1flowbase run", mode);
    }
  }
  const mapping: ToolMapping = {};
  if (functions.length > 0) mapping.tools = functions;

  const choice = request.tool_choice;
  if (choice === undefined || choice === null) return mapping;
  if (typeof choice === "string") {
    mapping.toolChoice = choice;
    return mapping;
  }
  const names = new Set(functions.map((tool) => tool.name));
  if (choice.type === "function") {
    const name = (choice as { name: string }).name;
    if (!names.has(name)) throw GatewayError.invalidRequest(`tool_choice names function '${name}', which is not in tools`, "tool_choice");
    mapping.toolChoice = { type: "function", name };
    return mapping;
  }
  if (choice.type === "custom") {
    // OpenAI's `ToolChoiceCustom {type:"custom", name}`: the custom tool's native function.
    const name = (choice as { name?: unknown }).name;
    if (typeof name !== "string" || !customNames.has(name)) throw GatewayError.invalidRequest(`tool_choice names custom tool '${String(name)}', which is not in tools`, "tool_choice");
    mapping.toolChoice = { type: "function", name };
    return mapping;
  }
  if (choice.type === "allowed_tools") {
    const allowed = choice as { mode: "auto" | "required"; tools: Array<{ type: string; name?: string }> };
    const allowedNames = new Set<string>();
    for (const tool of allowed.tools) {
      if ((tool.type !== "function" && tool.type !== "custom") || !tool.name) {
        throw GatewayError.unsupported(`tool_choice.allowed_tools may only list function tools here (got '${tool.type}')`, "tool_choice");
      }
      allowedNames.add(tool.name);
    }
    // Narrowing the tool list *is* the allowed_tools semantics; the mode maps to a plain choice.
    mapping.tools = functions.filter((tool) => allowedNames.has(tool.name));
    mapping.toolChoice = allowed.mode;
    return mapping;
  }
  throw GatewayError.unsupported(`tool_choice forces a '${choice.type}' tool, which a 1flowbase run cannot call`, "tool_choice");
}

// ---------------------------------------------------------------------------------------------
// The native request
// ---------------------------------------------------------------------------------------------

export interface NativeRequestContext {
  plan: Extract<InputPlan, { kind: "run" }>;
  tools: ToolMapping;
  previous: PreviousTurn | null;
  traceId: string;
}

/**
 * Builds the native run request.
 *
 * Chaining (`previous`): native's conversation memory keeps only each run's own query and answer —
 * never the explicit `history` a run was sent — and rehydrates only when `history` is empty (fork
 * `application_run_log_methods.rs` ~611–658, `run_service.rs` ~524–539; native-api.md errata 4).
 * Relying on it would lose every earlier turn that arrived as explicit input. So the whole chain is
 * always sent as explicit history: the previous run's turns as its record holds them (its own
 * explicit history — which, built the same way, is the chain before it — its query, its answer),
 * then the new items. The run still joins the previous run's native conversation, so 1flowbase
 * shows one conversation. The edge stores no content: the chain lives in the native run records.
 */
export function toNativeRunRequest(request: CreateResponseRequest, context: NativeRequestContext): NativeRunRequest {
  const { plan, previous } = context;
  const native: NativeRunRequest = { query: plan.query, model: request.model, metadata: { trace_id: context.traceId } };

  const system = [request.instructions?.trim() ?? "", ...plan.systemParts].filter((part) => part.length > 0).join("\n\n");
  if (system) native.system = system;

  if (previous) {
    const history = [...previous.turns, ...plan.history];
    if (history.length > 0) native.history = history;
    native.conversation = previous.conversation ? { user: previous.conversation.user, id: previous.conversation.id } : { user: request.user ?? DEFAULT_CONVERSATION_USER };
  } else {
    if (plan.history.length > 0) native.history = plan.history;
    // store:false responses can never be chained, so they need no native conversation.
    if (request.store !== false) native.conversation = { user: request.user ?? DEFAULT_CONVERSATION_USER };
  }

  const inputs: Record<string, unknown> = {};
  if (context.tools.tools) inputs.tools = context.tools.tools;
  if (context.tools.toolChoice !== undefined) inputs.tool_choice = context.tools.toolChoice;
  if (Object.keys(inputs).length > 0) native.inputs = inputs;
  return native;
}

/**
 * Fits the native request under native's body limit (`NATIVE_MAX_REQUEST_BYTES`, the fork's axum
 * 2 MiB, errata 3) by Responses' own `truncation` rule: `auto` drops the oldest turns of the history
 * (a whole turn at a time: a user message with the assistant messages, tool calls and outputs that
 * follow it, so no tool output loses its call) until it fits; `disabled` (OpenAI's default) refuses
 * with 400 `context_length_exceeded`, as OpenAI does for an input over the context window. What
 * still does not fit with no history left is the client's own input: the same 400.
 *
 * @example
 * const fitted = fitToNativeLimit(native, request.truncation ?? "disabled", 2 * 1024 * 1024);
 */
export function fitToNativeLimit(native: NativeRunRequest, truncation: "auto" | "disabled", limitBytes: number): NativeRunRequest {
  const body = nativeRunBody(native);
  if (body.fits(limitBytes)) return native;
  let bytes = body.bytes;
  const history = [...(native.history ?? [])];
  if (truncation === "auto") {
    while (bytes > limitBytes && history.length > 0) {
      // One turn: the first item and everything up to the next user message.
      let end = 1;
      while (end < history.length && history[end]?.role !== "user") end++;
      for (const item of history.splice(0, end)) bytes -= utf8Length(JSON.stringify(item)) + 1;
    }
    if (bytes <= limitBytes) {
      const fitted: NativeRunRequest = { ...native };
      if (history.length > 0) fitted.history = history;
      else delete fitted.history;
      // Exact size of what will be sent (the running count skipped commas at the array's ends).
      if (nativeRunBody(fitted).fits(limitBytes)) return fitted;
    }
  }
  throw new GatewayError({
    status: 400,
    code: "context_length_exceeded",
    param: "input",
    message:
      `the conversation is ${bytes} bytes as a 1flowbase run request, over the ${limitBytes}-byte limit of the 1flowbase api-server` +
      (truncation === "auto"
        ? ", even with every earlier turn dropped: shorten the input itself"
        : `: send truncation: "auto" to drop the oldest turns, shorten the input, or raise NATIVE_MAX_REQUEST_BYTES together with the api-server's own limit`),
    headers: { "x-should-retry": "false" },
  });
}

type SamplingEcho = { -readonly [K in keyof typeof SAMPLING_DEFAULTS]?: number };

/** The sampling fields the client set (null and absent fall back to the defaults). */
function definedSampling(request: CreateResponseRequest): SamplingEcho {
  const sampling: SamplingEcho = {};
  for (const field of Object.keys(SAMPLING_DEFAULTS) as Array<keyof typeof SAMPLING_DEFAULTS>) {
    const value = request[field];
    if (typeof value === "number") sampling[field] = value;
  }
  return sampling;
}

/**
 * A tool as OpenAI echoes it: function tools always carry `description` (null when absent),
 * `parameters` and `strict` (required by OpenAI's `FunctionTool` and Open Responses' schema).
 * An absent `strict` echoes false: the gateway does not enforce schema adherence of arguments.
 */
function echoTool(tool: NonNullable<CreateResponseRequest["tools"]>[number]): unknown {
  if (!isFunctionTool(tool)) return tool;
  const fn = tool;
  return { ...fn, description: fn.description ?? null, parameters: fn.parameters ?? null, strict: fn.strict ?? false };
}

/** The request parameters every Response of this request echoes (client-protocols.md §2). */
export function echoFromRequest(request: CreateResponseRequest): ResponseEcho {
  return {
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    model: request.model,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: request.reasoning?.summary ?? null },
    safety_identifier: request.safety_identifier ?? null,
    service_tier: request.service_tier ?? "default",
    store: request.store ?? true,
    ...SAMPLING_DEFAULTS,
    ...definedSampling(request),
    text: request.text ?? { format: { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: (request.tools ?? []).map(echoTool),
    truncation: request.truncation ?? "disabled",
    ...(request.user ? { user: request.user } : {}),
    metadata: request.metadata ?? {},
  };
}
