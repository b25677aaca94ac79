/**
 * Anthropic Messages request (already zod-parsed) → one native action: a new run, or the resume of a
 * waiting run's callback task.
 *
 * Mapping (native-api.md §4.3 is 1flowbase's own adapter; we match its semantics and fix its gaps):
 * - `system` (string or text blocks) and `role:"system"` messages → native `system`, joined "\n\n".
 * - The last message must be a user turn. If it carries `tool_result` blocks it answers our tool_use
 *   ids → resume of that callback task (`src/native/resume.ts`); results for ids issued elsewhere →
 *   a new run with those results as history `tool` items (a stateless transcript); otherwise its text → `query`, and its
 *   images/documents → an extra history item `{role:"user", content:"", content_blocks}`.
 * - Earlier turns → `history`: text as `content`, images/documents as `content_blocks`, assistant
 *   `tool_use` → `tool_calls`, user `tool_result` → `{role:"tool", tool_call_id, content, is_error}`,
 *   `thinking`/`redacted_thinking` dropped (1flowbase reasoning is unsigned and the flow re-thinks).
 * - `tools` (custom) → `inputs.tools[{name, source:"anthropic_compatible", description, input_schema}]`,
 *   `tool_choice` → `inputs.tool_choice`, `metadata.user_id` → `conversation.user`, request id →
 *   `metadata.trace_id`. `thinking` and `output_config.effort` → reasoning parameters, resolved
 *   against the catalog by `applyThinking` (the route fetches `GET /models`).
 *
 * Every client mistake is a 400 naming the offending field (`messages[3].content[1].source`).
 */
import { decodeCallbackId } from "../../native/callback-ids";
import { answersForeignToolCalls, type ToolResultInput } from "../../native/resume";
import { decideReasoning } from "../../native/catalog";
import type { NativeHistoryItem, NativeModelList, NativeRunRequest, NativeToolDefinition } from "../../native/schema";
import { GatewayError } from "../../http/errors";
import { enforcePolicy, ignoreOrReject, type PolicyMode } from "../../http/policy";
import { isCustomTool, MESSAGES_POLICY } from "./policy";
import type { ContentBlockParam, MessageParam, MessagesRequest, ThinkingParam } from "./schema";
import { TOOL_USE_ID_PREFIX } from "./stream";

/** `inputs.tools[].source` for tools declared by an Anthropic client (1flowbase's own value). */
export const TOOL_SOURCE = "anthropic_compatible";

/** The request param tool results come from (for 400s raised by the resume checks). */
export const RESUME_PARAM = "messages";

export type MessagesAction =
  | {
      kind: "run";
      request: NativeRunRequest;
      thinking: ThinkingParam | null;
      /** `output_config.effort` (Claude Code's effort), unless thinking is disabled. */
      effort?: string | undefined;
    }
  | { kind: "resume"; results: ToolResultInput[] };

export interface MessagesPlan {
  action: MessagesAction;
  stream: boolean;
  model: string;
  /** Fields accepted but not applied (the ignored-params header). */
  ignored: string[];
}

export interface MappingOptions {
  requestId: string;
  mode: PolicyMode;
}

const invalid = (message: string, param: string): GatewayError => GatewayError.invalidRequest(message, param);
const unsupported = (message: string, param: string): GatewayError => GatewayError.unsupported(message, param);

/** The one strict-policy rule (src/http/policy.ts), with the field as its own param. */
function ignoredOrStrict(field: string, why: string, mode: PolicyMode, ignored: string[]): void {
  ignoreOrReject(ignored, field, field, why, mode);
}

// ---------------------------------------------------------------------------------------------
// Content blocks
// ---------------------------------------------------------------------------------------------

/** Images and documents travel to native as content blocks, minus Anthropic's `cache_control`. */
function mediaBlock(block: ContentBlockParam, path: string): Record<string, unknown> {
  const source = block["source"];
  if (typeof source !== "object" || source === null || Array.isArray(source)) {
    throw invalid(`'${path}.source' must be an object`, `${path}.source`);
  }
  const { cache_control: _cacheControl, ...rest } = block;
  return rest;
}

function textOf(block: ContentBlockParam, path: string): string {
  const text = block["text"];
  if (typeof text !== "string") throw invalid(`'${path}.text' must be a string`, `${path}.text`);
  return text;
}

/** A `tool_result`'s content: the text when it is all text, else the blocks (native takes JSON too). */
function toolResultContent(block: ContentBlockParam, path: string): { text: string; blocks: Record<string, unknown>[] } {
  const content = block["content"];
  if (content === undefined || content === null) return { text: "", blocks: [] };
  if (typeof content === "string") return { text: content, blocks: [] };
  if (!Array.isArray(content)) throw invalid(`'${path}.content' must be a string or an array of blocks`, `${path}.content`);
  const texts: string[] = [];
  const blocks: Record<string, unknown>[] = [];
  content.forEach((part: unknown, index) => {
    const partPath = `${path}.content[${index}]`;
    if (typeof part !== "object" || part === null || typeof (part as { type?: unknown }).type !== "string") {
      throw invalid(`'${partPath}' must be a content block with a 'type'`, partPath);
    }
    const typed = part as ContentBlockParam;
    if (typed.type === "text") texts.push(textOf(typed, partPath));
    else if (typed.type === "image" || typed.type === "document") blocks.push(mediaBlock(typed, partPath));
    else throw unsupported(`'${partPath}': tool results may contain text, image and document blocks, not '${typed.type}'`, partPath);
  });
  return { text: texts.join("\n"), blocks };
}

function toolResultId(block: ContentBlockParam, path: string): string {
  const id = block["tool_use_id"];
  if (typeof id !== "string" || id === "") throw invalid(`'${path}.tool_use_id' must be a non-empty string`, `${path}.tool_use_id`);
  return id;
}

/**
 * The id a tool call carries in native history. Ours (`toolu_<run‖task‖index>`, 50 chars) are
 * shortened to `call_<24 hex of the task>_<index>`: stable across requests (history is append-only,
 * so provider prompt caches keep working), unique per call, and under the 40-character limit some
 * providers put on tool call ids (OpenAI) — the flow's model may be any provider. The native original
 * id cannot be recovered statelessly once the task has been answered (the run record keeps only the
 * pending task's calls), and history only needs each tool result to name its call consistently.
 * Foreign ids (from another provider's session) are kept as sent.
 */
export function historyToolCallId(clientId: string): string {
  const ref = decodeCallbackId(TOOL_USE_ID_PREFIX, clientId);
  if (!ref) return clientId;
  return `call_${ref.callbackTaskId.replace(/-/g, "").slice(-24)}_${ref.index}`;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

interface Turn {
  message: MessageParam;
  index: number;
}

function blocksOf(message: MessageParam): ContentBlockParam[] {
  return typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
}

/** A user turn → history items: its tool results first (they answer the previous assistant turn). */
function userHistory(turn: Turn): NativeHistoryItem[] {
  const items: NativeHistoryItem[] = [];
  const texts: string[] = [];
  const media: Record<string, unknown>[] = [];
  blocksOf(turn.message).forEach((block, j) => {
    const path = `messages[${turn.index}].content[${j}]`;
    switch (block.type) {
      case "text":
        texts.push(textOf(block, path));
        return;
      case "image":
      case "document":
        media.push(mediaBlock(block, path));
        return;
      case "tool_result": {
        const content = toolResultContent(block, path);
        const item: NativeHistoryItem = { role: "tool", tool_call_id: historyToolCallId(toolResultId(block, path)), content: content.text };
        if (content.blocks.length > 0) item.content_blocks = content.blocks;
        if (block["is_error"] === true) item.is_error = true;
        items.push(item);
        return;
      }
      default:
        throw unsupportedBlock(block.type, "user", path);
    }
  });
  if (texts.length > 0 || media.length > 0) {
    const item: NativeHistoryItem = { role: "user", content: texts.join("\n") };
    if (media.length > 0) item.content_blocks = media;
    items.push(item);
  }
  return items;
}

function assistantHistory(turn: Turn): NativeHistoryItem[] {
  const texts: string[] = [];
  const toolCalls: NonNullable<NativeHistoryItem["tool_calls"]> = [];
  blocksOf(turn.message).forEach((block, j) => {
    const path = `messages[${turn.index}].content[${j}]`;
    switch (block.type) {
      case "text":
        texts.push(textOf(block, path));
        return;
      case "thinking":
      case "redacted_thinking":
        // Unsigned 1flowbase reasoning (or another provider's signed one): the flow does not take it.
        return;
      case "tool_use": {
        const id = block["id"];
        const name = block["name"];
        const input = block["input"];
        if (typeof id !== "string" || id === "") throw invalid(`'${path}.id' must be a non-empty string`, `${path}.id`);
        if (typeof name !== "string" || name === "") throw invalid(`'${path}.name' must be a non-empty string`, `${path}.name`);
        if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) {
          throw invalid(`'${path}.input' must be an object`, `${path}.input`);
        }
        toolCalls.push({ id: historyToolCallId(id), name, arguments: input ?? {} });
        return;
      }
      default:
        throw unsupportedBlock(block.type, "assistant", path);
    }
  });
  const content = texts.join("");
  if (content === "" && toolCalls.length === 0) return [];
  const item: NativeHistoryItem = { role: "assistant", content };
  if (toolCalls.length > 0) item.tool_calls = toolCalls;
  return [item];
}

function unsupportedBlock(type: string, role: string, path: string): GatewayError {
  return unsupported(
    `'${path}': content blocks of type '${type}' are not supported in ${role} messages by this gateway ` +
      `(supported: ${role === "user" ? "text, image, document, tool_result" : "text, thinking, redacted_thinking, tool_use"})`,
    `${path}.type`,
  );
}

function systemText(message: MessageParam, index: number): string {
  return blocksOf(message)
    .map((block, j) => {
      const path = `messages[${index}].content[${j}]`;
      if (block.type !== "text") throw unsupported(`'${path}': system messages may only contain text`, `${path}.type`);
      return textOf(block, path);
    })
    .join("\n");
}

/** The trailing user turn's tool results → resume inputs. Extra text rides on the last result. */
function resumeResults(turn: Turn): ToolResultInput[] {
  const results: ToolResultInput[] = [];
  const extraText: string[] = [];
  blocksOf(turn.message).forEach((block, j) => {
    const path = `messages[${turn.index}].content[${j}]`;
    switch (block.type) {
      case "tool_result": {
        const clientId = toolResultId(block, path);
        const content = toolResultContent(block, path);
        results.push({
          ref: decodeCallbackId(TOOL_USE_ID_PREFIX, clientId),
          clientId,
          // Native takes a string or JSON per result (§1.6): text stays text; media stays blocks.
          content: content.blocks.length > 0 ? [...(content.text ? [{ type: "text", text: content.text }] : []), ...content.blocks] : content.text,
        });
        return;
      }
      case "text":
        extraText.push(textOf(block, path));
        return;
      default:
        throw unsupported(
          `'${path}': a message answering tool calls may contain tool_result and text blocks only; put images inside the tool_result`,
          `${path}.type`,
        );
    }
  });
  // Claude Code sends notes next to tool results (interruptions, system reminders). A native resume
  // carries tool results only, so the text is appended to the last result instead of being lost.
  const last = results[results.length - 1];
  if (last && extraText.length > 0) {
    const note = extraText.join("\n");
    last.content = typeof last.content === "string" ? (last.content ? `${last.content}\n\n${note}` : note) : [...(last.content as unknown[]), { type: "text", text: note }];
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/**
 * `metadata.user_id` → the native conversation user. Claude Code sends a JSON string with
 * `account_uuid`/`device_id` (1flowbase's adapter reads the same keys); anything else is used as is.
 * Deliberately *no* `conversation.id`: native rehydrates a bound conversation's history when the
 * request's history is empty (native-api.md §3.4), which would leak earlier turns into a stateless
 * Messages request (Claude Code's single-turn side requests: titles, summaries).
 */
export function conversationUser(userId: string | null | undefined): string | undefined {
  if (!userId) return undefined;
  const trimmed = userId.trim();
  if (trimmed.startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed && typeof parsed === "object") {
        const record = parsed as Record<string, unknown>;
        for (const key of ["account_uuid", "device_id"]) {
          const value = record[key];
          if (typeof value === "string" && value) return value;
        }
      }
    } catch {
      // not JSON: the raw string below
    }
  }
  return trimmed || undefined;
}

function nativeTools(tools: MessagesRequest["tools"], mode: PolicyMode, ignored: string[]): NativeToolDefinition[] {
  const out: NativeToolDefinition[] = [];
  (tools ?? []).forEach((tool, i) => {
    if (!isCustomTool(tool.type)) {
      // Anthropic-defined tools (`web_search_20250305`, `bash_20250124`, …) carry no input schema the
      // flow's model could use, and server tools would have to run at Anthropic.
      ignoredOrStrict(`tools[${i}]`, `'${tool.type}' is an Anthropic-defined tool a 1flowbase flow cannot provide`, mode, ignored);
      return;
    }
    const definition: NativeToolDefinition = { name: tool.name, source: TOOL_SOURCE };
    if (tool.description) definition.description = tool.description;
    if (tool.input_schema) definition.input_schema = tool.input_schema;
    out.push(definition);
  });
  return out;
}

/**
 * Maps a parsed `POST /v1/messages` body. Throws `GatewayError` 400s for client mistakes and, in
 * strict mode, for accepted-but-ignored fields.
 */
export function toNativePlan(body: MessagesRequest, options: MappingOptions): MessagesPlan {
  const ignored = enforcePolicy(MESSAGES_POLICY, body, options.mode);
  const stream = body.stream === true;

  const systemParts: string[] = [];
  if (typeof body.system === "string") {
    if (body.system.trim()) systemParts.push(body.system);
  } else if (Array.isArray(body.system)) {
    const text = body.system.map((block) => block.text).filter((text) => text.trim()).join("\n\n");
    if (text) systemParts.push(text);
  }

  const turns: Turn[] = [];
  body.messages.forEach((message, index) => {
    if (message.role === "system") {
      const text = systemText(message, index);
      if (text.trim()) systemParts.push(text);
    } else {
      turns.push({ message, index });
    }
  });

  const last = turns[turns.length - 1];
  if (!last) throw invalid("'messages' must contain at least one user message", "messages");
  if (last.message.role !== "user") {
    throw unsupported(
      "the last message must be a user turn: assistant prefill (continuing a final assistant message) is not supported by 1flowbase runs",
      `messages[${last.index}]`,
    );
  }

  const lastBlocks = blocksOf(last.message);
  const history: NativeHistoryItem[] = [];
  let queryBlocks = lastBlocks;
  if (lastBlocks.some((block) => block.type === "tool_result")) {
    const claimed: ToolResultInput[] = lastBlocks.flatMap((block, j) => {
      if (block.type !== "tool_result") return [];
      const clientId = toolResultId(block, `messages[${last.index}].content[${j}]`);
      return [{ ref: decodeCallbackId(TOOL_USE_ID_PREFIX, clientId), clientId, content: null }];
    });
    if (!answersForeignToolCalls(claimed)) return { action: { kind: "resume", results: resumeResults(last) }, stream, model: body.model, ignored };
    // Results for tool_use ids we never issued (a transcript begun elsewhere, few-shot examples): a
    // stateless transcript (resume.ts). The results become history `tool` items; the turn's text and
    // media stay the query, as for any user turn.
    history.push(...userHistory({ ...last, message: { ...last.message, content: lastBlocks.filter((block) => block.type === "tool_result") } }));
    queryBlocks = lastBlocks.filter((block) => block.type !== "tool_result");
  }

  const earlier: NativeHistoryItem[] = [];
  for (const turn of turns.slice(0, -1)) {
    earlier.push(...(turn.message.role === "user" ? userHistory(turn) : assistantHistory(turn)));
  }
  history.unshift(...earlier);

  const queryTexts: string[] = [];
  const queryMedia: Record<string, unknown>[] = [];
  queryBlocks.forEach((block) => {
    const j = lastBlocks.indexOf(block);
    const path = `messages[${last.index}].content[${j}]`;
    if (block.type === "text") queryTexts.push(textOf(block, path));
    else if (block.type === "image" || block.type === "document") queryMedia.push(mediaBlock(block, path));
    else throw unsupportedBlock(block.type, "user", path);
  });
  // Native takes the current turn's media as a history item right before the query (1flowbase's
  // adapter does the same, native-api.md §4.3).
  if (queryMedia.length > 0) history.push({ role: "user", content: "", content_blocks: queryMedia });

  const request: NativeRunRequest = {
    query: queryTexts.join("\n"),
    model: body.model,
    metadata: { trace_id: options.requestId },
  };
  if (systemParts.length > 0) request.system = systemParts.join("\n\n");
  if (history.length > 0) request.history = history;

  const inputs: Record<string, unknown> = {};
  const tools = nativeTools(body.tools, options.mode, ignored);
  if (tools.length > 0) inputs["tools"] = tools;
  if (body.tool_choice) inputs["tool_choice"] = body.tool_choice;
  if (Object.keys(inputs).length > 0) request.inputs = inputs;

  const user = conversationUser(body.metadata?.user_id);
  if (user) request.conversation = { user };

  const thinking = body.thinking && body.thinking.type !== "disabled" ? body.thinking : null;
  const effort = requestedEffort(body.output_config, body.thinking ?? null, options.mode, ignored);
  return { action: { kind: "run", request, thinking, effort }, stream, model: body.model, ignored };
}

/**
 * `output_config.effort` (Claude Code sends it with `thinking: {type: "adaptive"}`): the reasoning
 * effort, unless thinking is switched off. Anything else in `output_config` is reported (400 in
 * strict mode): the flow decides it.
 */
function requestedEffort(outputConfig: unknown, thinking: ThinkingParam | null, mode: PolicyMode, ignored: string[]): string | undefined {
  if (outputConfig === undefined || outputConfig === null) return undefined;
  const config = typeof outputConfig === "object" && !Array.isArray(outputConfig) ? (outputConfig as Record<string, unknown>) : null;
  const effort = typeof config?.["effort"] === "string" ? config["effort"] : undefined;
  const others = config === null || Object.keys(config).some((key) => key !== "effort");
  if (others || (effort !== undefined && thinking?.type === "disabled")) {
    ignoredOrStrict("output_config", "only output_config.effort maps to 1flowbase (the reasoning effort, unless thinking is disabled); the flow decides the rest", mode, ignored);
  }
  return thinking?.type === "disabled" ? undefined : effort;
}

/**
 * Applies `thinking` and `output_config.effort` to a run request given the catalog, by the one
 * catalog rule every protocol uses (`decideReasoning`, src/native/catalog.ts): an `enabled` budget
 * becomes `budget_tokens` (capped at the model's output limit), an effort becomes native's effort
 * (Claude's `max` is native's `xhigh`); adaptive thinking falls back to the model's default effort
 * when the asked one cannot be sent. What cannot reach native is reported (400 in strict mode).
 */
export function applyThinking(
  request: NativeRunRequest,
  thinking: ThinkingParam | null,
  catalog: NativeModelList,
  mode: PolicyMode,
  ignored: string[],
  effort?: string,
): NativeRunRequest {
  const model = request.model ?? "";
  if (thinking && thinking.type !== "enabled" && thinking.type !== "adaptive") {
    ignoredOrStrict("thinking", `thinking of type '${thinking.type}' has no 1flowbase equivalent`, mode, ignored);
    thinking = null;
  }
  if (!thinking && effort === undefined) return request;
  const decision = decideReasoning(catalog, model, {
    effort,
    budgetTokens: thinking?.type === "enabled" ? thinking.budget_tokens : undefined,
    fallbackToDefaultEffort: thinking?.type === "adaptive",
  });
  if (!decision.applied) {
    if (thinking) ignoredOrStrict("thinking", decision.why, mode, ignored);
    if (effort !== undefined) ignoredOrStrict("output_config", decision.why, mode, ignored);
    return request;
  }
  if (effort !== undefined && decision.effortNotApplied !== undefined) ignoredOrStrict("output_config", decision.effortNotApplied, mode, ignored);
  return { ...request, execution: { ...request.execution, model_parameters: { reasoning: decision.reasoning } } };
}
