/**
 * Chat Completions request → one native run call (native-api.md §1.4, §4.1).
 *
 * Two outcomes:
 * - `run`: a new native run. The last user message is `query`; earlier turns are `history`; every
 *   `system` and `developer` message is joined into `system` (the fork's adapter left `developer` in
 *   history, where the runtime reads unknown roles as `user` — native-api.md §4.1; that is fixed here).
 * - `resume`: the request ends with `role:"tool"` messages, i.e. it answers tool calls this gateway
 *   issued. The native run is waiting on a callback task; the ids we minted (`callback-ids.ts`) carry
 *   run, task and position, so the edge needs no state. Validation against the run is `resume.ts`'s.
 *   Tool messages answering calls issued elsewhere (none of the ids is ours) → a new `run` of the
 *   whole transcript: everything is history, the query is empty.
 *
 * Pure: no I/O. The one decision that needs native data (does the model take `reasoning_effort`?)
 * is the catalog's (`decideReasoning`, src/native/catalog.ts), made by the route.
 */
import { GatewayError } from "../../http/errors";
import type { OutputLimits } from "../../native/answer";
import { decodeCallbackId } from "../../native/callback-ids";
import { answersForeignToolCalls, type ToolResultInput } from "../../native/resume";
import type { NativeHistoryItem, NativeRunRequest, NativeToolDefinition } from "../../native/schema";
import type { ChatCompletionRequest, ChatContentPart, ChatMessage, ChatTool } from "./schema";

/** Prefix of the tool call ids this protocol hands to clients: `call_<44 chars>` (OpenAI's own look). */
export const CHAT_TOOL_CALL_PREFIX = "call";

/** `inputs.tools[].source` the fork's Chat adapter uses (native-api.md §4.1). */
const TOOL_SOURCE = "openai_compatible";

/** A native history content block (images), as the runtime reads it. */
type NativeContentBlock = Record<string, unknown>;

export interface ChatRunPlan {
  kind: "run";
  request: NativeRunRequest;
}

export interface ChatResumePlan {
  kind: "resume";
  /** One entry per trailing `role:"tool"` message, in order. */
  results: ToolResultInput[];
}

export type ChatPlan = ChatRunPlan | ChatResumePlan;

export interface ChatToNativeOptions {
  /** Sent as native `metadata.trace_id` (the gateway request id). */
  traceId: string;
}

/**
 * The output contract the client asked for: `max_completion_tokens` (its current name) and the
 * deprecated `max_tokens` — the smaller when both are sent — and `stop` (one string or up to four).
 */
export function chatOutputLimits(request: ChatCompletionRequest): OutputLimits {
  const limits = [request.max_completion_tokens, request.max_tokens].filter((limit): limit is number => typeof limit === "number");
  const stop = request.stop ?? [];
  return { maxOutputTokens: limits.length > 0 ? Math.min(...limits) : null, stopSequences: typeof stop === "string" ? [stop] : stop };
}

/**
 * Maps a parsed Chat Completions request. Throws a 400 `GatewayError` for what native cannot carry.
 *
 * @example
 * const plan = chatToNative(parseChatRequest(body), { traceId: requestId });
 * if (plan.kind === "run") await native.streamRun(plan.request);
 */
export function chatToNative(request: ChatCompletionRequest, options: ChatToNativeOptions): ChatPlan {
  checkSingleTextChoice(request);
  const { messages } = request;

  // A trailing run of tool messages answers the tool calls of the previous assistant turn.
  let firstTrailingTool = messages.length;
  while (firstTrailingTool > 0 && messages[firstTrailingTool - 1]?.role === "tool") firstTrailingTool--;
  if (firstTrailingTool < messages.length) {
    const results: ToolResultInput[] = [];
    for (let i = firstTrailingTool; i < messages.length; i++) {
      const message = messages[i];
      if (message?.role !== "tool") continue;
      results.push({
        ref: decodeCallbackId(CHAT_TOOL_CALL_PREFIX, message.tool_call_id),
        clientId: message.tool_call_id,
        // Native tool results are text (or JSON); an image part cannot be carried (native-api.md §1.6).
        content: textOf(message.content, `messages[${i}].content`, { images: false }).text,
      });
    }
    // Results for calls we never issued: a stateless transcript (resume.ts), the whole conversation
    // as history and an empty query.
    if (!answersForeignToolCalls(results)) return { kind: "resume", results };
  }
  const stateless = firstTrailingTool < messages.length;

  let lastUser = -1;
  for (let i = messages.length - 1; i >= 0 && !stateless; i--) {
    if (messages[i]?.role === "user") {
      lastUser = i;
      break;
    }
  }
  if (lastUser === -1 && !stateless) throw GatewayError.invalidRequest("'messages' must contain a user message", "messages");

  const systemParts: string[] = [];
  const history: NativeHistoryItem[] = [];
  let query = "";
  let queryBlocks: NativeContentBlock[] = [];

  messages.forEach((message, i) => {
    const path = `messages[${i}]`;
    switch (message.role) {
      case "system":
      case "developer": {
        const { text } = textOf(message.content, `${path}.content`, { images: false });
        if (text.trim()) systemParts.push(text.trim());
        return;
      }
      case "user": {
        const { text, blocks } = textOf(message.content, `${path}.content`);
        if (i === lastUser) {
          query = text;
          queryBlocks = blocks;
          return;
        }
        history.push(withOptional({ role: "user", content: text }, { name: message.name, content_blocks: blocks.length ? blocks : undefined }));
        return;
      }
      case "assistant": {
        if (!stateless && i > lastUser) {
          throw GatewayError.invalidRequest(
            "an assistant message after the last user message (a prefill) cannot be sent to a 1flowbase run; end with a user message or with tool results",
            path,
          );
        }
        history.push(assistantHistoryItem(message, path));
        return;
      }
      case "tool": {
        // Earlier tool results are plain history. Our ids are kept as they are: they are valid tool ids
        // for every provider (^[A-Za-z0-9_-]{1,64}$) and match the assistant turn's ids in this same
        // history, which is all the runtime needs (the native original id is not recoverable once the
        // callback task is no longer pending — the run record only lists pending calls, §1.5).
        history.push({ role: "tool", content: textOf(message.content, `${path}.content`, { images: false }).text, tool_call_id: message.tool_call_id });
        return;
      }
      default:
        return;
    }
  });

  if (queryBlocks.length > 0) {
    // Native has no content blocks on `query`; images of the current turn travel as a final user
    // history entry with empty text (as the fork's Anthropic adapter does, §4.3), so the text is not
    // duplicated in the model's context.
    history.push({ role: "user", content: "", content_blocks: queryBlocks });
  }

  // No `response_mode`: `stream` only chooses the projection. Native is always asked to stream,
  // because blocking answers are folded over the native stream (from-native.ts says why).
  const native: NativeRunRequest = { query, model: request.model, metadata: { trace_id: options.traceId } };
  if (systemParts.length > 0) native.system = systemParts.join("\n\n");
  if (history.length > 0) native.history = history;
  const inputs: Record<string, unknown> = {};
  if (request.tools && request.tools.length > 0) inputs.tools = request.tools.map(toNativeTool);
  if (request.tool_choice !== undefined && request.tool_choice !== null) inputs.tool_choice = request.tool_choice;
  if (Object.keys(inputs).length > 0) native.inputs = inputs;
  if (request.user) native.conversation = { user: request.user };
  return { kind: "run", request: native };
}

/** `n > 1` and audio output are things a native run cannot produce: 400 `unsupported_feature`. */
function checkSingleTextChoice(request: ChatCompletionRequest): void {
  if (typeof request.n === "number" && request.n > 1) {
    throw GatewayError.unsupported("'n' must be 1: a 1flowbase run yields exactly one answer", "n");
  }
  if (request.modalities?.some((modality) => modality !== "text")) {
    throw GatewayError.unsupported("only the 'text' modality is supported: a 1flowbase run answers in text", "modalities");
  }
}

interface MessageText {
  text: string;
  blocks: NativeContentBlock[];
}

/** Text of a message's content (parts joined with "\n", as the fork does) and its image blocks. */
function textOf(content: string | ChatContentPart[] | null | undefined, path: string, options: { images: boolean } = { images: true }): MessageText {
  if (content === null || content === undefined) return { text: "", blocks: [] };
  if (typeof content === "string") return { text: content, blocks: [] };
  const texts: string[] = [];
  const blocks: NativeContentBlock[] = [];
  content.forEach((part, j) => {
    switch (part.type) {
      case "text":
      case "input_text":
      case "output_text":
        texts.push(part.text);
        return;
      case "refusal":
        texts.push(part.refusal);
        return;
      case "image_url":
      case "input_image": {
        if (!options.images) {
          throw GatewayError.unsupported("image parts are only supported in user messages (native history and tool results carry text)", `${path}[${j}]`);
        }
        const image = part.type === "image_url" ? part.image_url : { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) };
        // The content block shape the fork's runtime reads (native-api.md §4.1).
        blocks.push({ type: "image_url", image_url: { url: image.url, ...(image.detail ? { detail: image.detail } : {}) } });
        return;
      }
      default:
        // The schema rejects audio/file parts; anything else cannot reach here.
        throw GatewayError.unsupported(`content part type '${(part as { type: string }).type}' is not supported`, `${path}[${j}]`);
    }
  });
  return { text: texts.join("\n"), blocks };
}

function assistantHistoryItem(message: Extract<ChatMessage, { role: "assistant" }>, path: string): NativeHistoryItem {
  let { text } = textOf(message.content, `${path}.content`, { images: false });
  if (!text && message.refusal) text = message.refusal;
  const toolCalls = message.tool_calls?.map((call) => ({ id: call.id, name: call.function.name, arguments: parseArguments(call.function.arguments) }));
  return withOptional({ role: "assistant", content: text }, { name: message.name, tool_calls: toolCalls?.length ? toolCalls : undefined });
}

/** Native records tool arguments as an object; a string that is not JSON is kept as it is. */
function parseArguments(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function toNativeTool(tool: ChatTool): NativeToolDefinition {
  const definition: NativeToolDefinition = { name: tool.name, source: TOOL_SOURCE };
  if (tool.description) definition.description = tool.description;
  if (tool.parameters) definition.input_schema = tool.parameters;
  return definition;
}

function withOptional<T extends object>(base: T, optional: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) out[key] = value;
  return out as T;
}
