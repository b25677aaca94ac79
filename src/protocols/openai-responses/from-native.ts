/**
 * Native answers → Responses JSON: the blocking Response (create and resume), GET, cancel, and
 * `input_items`.
 *
 * Every Response here is the `ResponsesEncoder` fed by the one answer reader — over the native
 * stream (a blocking create) or over the run record's items (`runToItems`: a resume, GET, cancel) —
 * so a blocking answer is exactly what a client accumulates from the stream of the same run
 * (invariant 4), and GET rebuilds the very same ids. Only named fields of `node_input_payload` are
 * read (model, system, tools, tool_choice, history, query); its `env` secrets never reach a client.
 */
import { fromNativeError, GatewayError } from "../../http/errors";
import { NativeAnswerReader, readAnswer, readerOptions } from "../../native/answer";
import { NativeError } from "../../native/errors";
import type { NativeStreamItem } from "../../native/events";
import type { NativeRun } from "../../native/schema";
import { runToItems } from "../../native/synthesize";
import { inputItemId } from "./ids";
import { customToolFromNative } from "./to-native";
import { SAMPLING_DEFAULTS, type InputItemList, type InputItemResource, type InputItemsQuery, type ResponseEcho, type ResponseObject } from "./schema";
import { NO_EVENTS, ResponsesEncoder, type ResponsesProjectionContext } from "./stream";

export interface FoldedResponse {
  responseId: string;
  response: ResponseObject;
  /** Set when the run failed or was cancelled: what a blocking create answers with. */
  failure: GatewayError | null;
  /** False while the run is still running (GET of an in-progress response). */
  finished: boolean;
}

function folded(encoder: ResponsesEncoder): FoldedResponse {
  return { responseId: encoder.responseId, response: encoder.snapshot(), failure: encoder.failure, finished: encoder.done };
}

/**
 * The Response a run record stands for (GET, cancel, `item_reference`s). A record that has not
 * finished is an `in_progress` snapshot (`finished: false`), not an error.
 */
export function foldRun(run: NativeRun, echo: ResponseEcho, resumedTaskId?: string): FoldedResponse {
  const encoder = new ResponsesEncoder({ echo, resumedTaskId }, NO_EVENTS);
  const reader = new NativeAnswerReader(encoder);
  for (const item of runToItems(run)) {
    // An unfinished record ends with a fault: the snapshot before it is the answer so far.
    if (item.event === "fault") break;
    // Without lookupRun the reader is synchronous.
    reader.push(item);
    if (reader.done) break;
  }
  return folded(encoder);
}

/**
 * The blocking answer — over the native stream of a new run, or a resumed run's record items: the
 * folded Response, or (thrown) the HTTP error a failed or cancelled run implies (upstream 0.3's
 * `blocking_run_projection_error`, native-api.md §7).
 *
 * Folded over the *native stream* for a new run, not native's blocking mode: a run that stops for
 * tool calls ends `waiting`, and native returns no answer for it (native-api.md §1.5, §7), so text
 * streamed before the calls exists only on the stream.
 */
export async function blockingResponse(items: ReadableStream<NativeStreamItem> | readonly NativeStreamItem[], context: ResponsesProjectionContext): Promise<FoldedResponse> {
  const encoder = new ResponsesEncoder(context, NO_EVENTS);
  await readAnswer(items, new NativeAnswerReader(encoder, readerOptions(context)));
  if (encoder.failure) throw encoder.failure;
  if (!encoder.done) throw fromNativeError(NativeError.cut());
  return folded(encoder);
}

type Json = Record<string, unknown>;

function record(value: unknown): Json {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** The frozen start-node input (native-api.md §1.5), read field by field — never forwarded. */
function startNode(run: NativeRun): Json {
  return record(run.node_input_payload?.["node-start"]);
}

/**
 * The echo fields of a Response rebuilt from the run record (GET, cancel). Request parameters native
 * does not record (temperature, metadata, previous_response_id…) come back as their defaults.
 */
export function echoFromRun(run: NativeRun): ResponseEcho {
  const start = startNode(run);
  const tools = (Array.isArray(start.tools) ? start.tools : []).map(record).filter((tool) => typeof tool.name === "string");
  const effort = text(start.reasoning_effort);
  return {
    instructions: text(start.system),
    max_output_tokens: null,
    max_tool_calls: null,
    model: text(start.model) ?? text(run.metadata?.model) ?? "1flowbase",
    parallel_tool_calls: true,
    previous_response_id: null,
    prompt_cache_key: null,
    reasoning: { effort, summary: null },
    safety_identifier: null,
    service_tier: "default",
    store: true,
    ...SAMPLING_DEFAULTS,
    text: { format: { type: "text" } },
    tool_choice: start.tool_choice ?? "auto",
    tools: tools.map(
      (tool) =>
        customToolFromNative(tool) ?? {
          type: "function",
          name: tool.name,
          description: text(tool.description),
          parameters: tool.input_schema ?? null,
          strict: false,
        },
    ),
    truncation: "disabled",
    metadata: {},
  };
}

function imageParts(blocks: unknown): Array<{ type: "input_image"; image_url: string | null; detail: string }> {
  if (!Array.isArray(blocks)) return [];
  return blocks.map(record).flatMap((block) => {
    const image = record(block.image_url);
    const url = text(image.url) ?? text(block.image_url);
    return url ? [{ type: "input_image" as const, image_url: url, detail: text(image.detail) ?? "auto" }] : [];
  });
}

/**
 * The input a run recorded (`node-start.history` + `query`; `system` is the instructions, not an
 * item), in chronological order, with ids `msg_|fc_|fco_<response>_in_<n>`.
 */
export function inputItemsFromRun(run: NativeRun, responseId: string): InputItemResource[] {
  const start = startNode(run);
  const history = (Array.isArray(start.history) ? start.history : []).map(record);
  const query = text(start.query) ?? "";
  const items: InputItemResource[] = [];
  const next = (kind: "message" | "function_call" | "function_call_output") => inputItemId(responseId, kind, items.length);

  // The fork carries the current turn's images on a trailing user entry repeating the query (§4.1).
  const last = history[history.length - 1];
  const queryImages = last && last.role === "user" && last.content === query && Array.isArray(last.content_blocks) ? history.pop() : undefined;

  for (const turn of history) {
    const content = text(turn.content) ?? "";
    switch (turn.role) {
      case "system":
        break;
      case "tool":
        items.push({ id: next("function_call_output"), type: "function_call_output", status: "completed", call_id: text(turn.tool_call_id) ?? "", output: content });
        break;
      case "assistant": {
        if (content) items.push({ id: next("message"), type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: content }] });
        const calls = Array.isArray(turn.tool_calls) ? turn.tool_calls.map(record) : [];
        for (const call of calls) {
          const args = typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {});
          items.push({ id: next("function_call"), type: "function_call", status: "completed", call_id: text(call.id) ?? "", name: text(call.name) ?? "", arguments: args });
        }
        break;
      }
      default:
        items.push({
          id: next("message"),
          type: "message",
          role: "user",
          status: "completed",
          content: [...(content ? [{ type: "input_text" as const, text: content }] : []), ...imageParts(turn.content_blocks)],
        });
    }
  }
  // An empty query with no images is a transcript that ended with tool outputs (a stateless
  // transcript, to-native.ts): there was no user message to list.
  if (query === "" && queryImages === undefined) return items;
  items.push({
    id: next("message"),
    type: "message",
    role: "user",
    status: "completed",
    content: [{ type: "input_text", text: query }, ...imageParts(queryImages?.content_blocks)],
  });
  return items;
}

/** Cursor pagination of `input_items` (§3.7): `order` (default desc), `after` an item id, `limit`. */
export function paginateInputItems(items: readonly InputItemResource[], query: InputItemsQuery): InputItemList {
  const ordered = query.order === "asc" ? [...items] : [...items].reverse();
  let from = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at === -1) throw GatewayError.invalidRequest(`no input item with id '${query.after}' in this response`, "after");
    from = at + 1;
  }
  const data = ordered.slice(from, from + query.limit);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: from + query.limit < ordered.length,
  };
}
