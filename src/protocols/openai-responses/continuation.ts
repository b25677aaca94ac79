/**
 * Continuing a Responses conversation, the pure part: what a `previous_response_id`'s run holds as
 * native history, how `item_reference`s are replaced by the items they name, and the errors every
 * kind of absence answers with. The lookups themselves (the ownership index, `GET /runs/{id}`) are
 * the route's (`src/routes/responses-continuation.ts`).
 *
 * Ownership answers look like absence (ARCHITECTURE.md): a malformed id, an unknown id, a deleted
 * id, a `store:false` id and another key's id give the *same* error, and an unavailable index is a
 * 503, never a guess.
 */
import { GatewayError } from "../../http/errors";
import { ignoreOrReject, type PolicyMode } from "../../http/policy";
import { recordText } from "../../native/answer";
import { NativeError } from "../../native/errors";
import { NativeHistoryItem, type NativeRun } from "../../native/schema";
import { parseOutputItemId } from "./ids";
import { isToolOutputItem } from "./to-native";
import type { InputItem, OutputItem } from "./schema";

/** 400 for `previous_response_id` — identical for unknown, deleted, store:false and foreign ids. */
export function previousResponseNotFound(id: string): GatewayError {
  return new GatewayError({
    status: 400,
    message: `Previous response with id '${id}' not found.`,
    type: "invalid_request_error",
    param: "previous_response_id",
    code: "previous_response_not_found",
  });
}

/** 404 for the lifecycle routes — identical for unknown, deleted, store:false and foreign ids. */
export function responseNotFound(id: string): GatewayError {
  return new GatewayError({
    status: 404,
    message: `Response with id '${id}' not found.`,
    type: "invalid_request_error",
    param: null,
    code: null,
  });
}

/** Native says the run is not this key's (403) or does not exist (404): for the client, absence. */
export function isNativeAbsence(error: unknown): boolean {
  return error instanceof NativeError && error.kind === "http" && (error.status === 403 || error.status === 404);
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

const HISTORY_KEYS = ["role", "content", "name", "tool_call_id", "is_error", "tool_calls", "content_blocks"] as const;

/** A frozen history entry, reduced to the keys native 0.3 accepts back (native-api.md §7); else null. */
function historyItem(value: unknown): NativeHistoryItem | null {
  const source = record(value);
  const picked: Record<string, unknown> = {};
  for (const key of HISTORY_KEYS) if (source[key] !== undefined && source[key] !== null) picked[key] = source[key];
  const parsed = NativeHistoryItem.safeParse(picked);
  return parsed.success ? parsed.data : null;
}

/**
 * The turns a run holds, as native history: its frozen history (which, for a chained run, is the
 * conversation native rehydrated), its query, and its answer without reasoning (native strips
 * `<think>` from rehydrated turns too, §3.4).
 */
export function runTurns(run: NativeRun): NativeHistoryItem[] {
  const start = record(run.node_input_payload?.["node-start"]);
  const turns = (Array.isArray(start.history) ? start.history : []).map(historyItem).filter((item): item is NativeHistoryItem => item !== null);
  const query = typeof start.query === "string" ? start.query : "";
  const last = turns[turns.length - 1];
  // The fork's trailing "images of the current turn" entry already is the query turn (§4.1).
  const queryCarried = last?.role === "user" && last.content === query && last.content_blocks !== undefined;
  if (!queryCarried && query) turns.push({ role: "user", content: query });
  const answer = recordText(run).message;
  if (answer) turns.push({ role: "assistant", content: answer });
  return turns;
}

/** The native conversation a run is bound to (durable metadata, native-api.md §1.5), if any. */
export function runConversation(run: NativeRun): { user: string; id: string } | null {
  const user = run.metadata?.external_user;
  const id = run.metadata?.external_conversation_id;
  return typeof user === "string" && user && typeof id === "string" && id ? { user, id } : null;
}

/**
 * At most this many distinct responses are read to resolve `item_reference`s in one request (each is
 * an index lookup and a `GET /runs/{id}`); references to older responses are skipped and reported.
 */
export const MAX_REFERENCED_RESPONSES = 16;

function referencedItem(item: OutputItem): InputItem[] {
  switch (item.type) {
    case "message":
      return [{ type: "message", role: "assistant", content: item.content.map((part) => ({ type: "output_text" as const, text: part.text })) }];
    case "function_call":
      return [{ type: "function_call", call_id: item.call_id, name: item.name, arguments: item.arguments }];
    case "custom_tool_call":
      return [{ type: "custom_tool_call", call_id: item.call_id, name: item.name, input: item.input }];
    default:
      // Reasoning carries nothing native can take back (like replayed reasoning items).
      return [];
  }
}

/**
 * The responses whose outputs the `item_reference`s in `items` name, newest first, at most
 * `MAX_REFERENCED_RESPONSES`. The Vercel AI SDK sends every earlier assistant turn this way when
 * `store` is on (its default), so without resolving them a stateless multi-turn conversation would
 * lose all its answers. None are needed when chaining with `previous_response_id` (native history
 * holds those turns) or when the input resumes a tool call (the native run holds its transcript).
 */
export function referencedResponseIds(items: readonly InputItem[], chained: boolean): string[] {
  const references = items.filter((item): item is Extract<InputItem, { type: "item_reference" }> => item.type === "item_reference");
  if (references.length === 0 || chained || isToolOutputItem(items[items.length - 1])) return [];
  const newestFirst = [...references].reverse().flatMap((reference) => {
    const parsed = parseOutputItemId(reference.id);
    return parsed ? [parsed.responseId] : [];
  });
  return [...new Set(newestFirst)].slice(0, MAX_REFERENCED_RESPONSES);
}

/**
 * Replaces `item_reference`s with the items they name, from the outputs of the referenced responses
 * (rebuilt from their native runs, owner-checked, by the route). A reference that cannot be
 * recovered — another key's, deleted, too old, or an item a resumed run no longer reports (a waiting
 * run's calls are not in its record once resumed) — is skipped and reported, never guessed.
 */
export function substituteItemReferences(
  items: InputItem[],
  outputs: ReadonlyMap<string, readonly OutputItem[]>,
  chained: boolean,
  ignored: string[],
  mode: PolicyMode,
): InputItem[] {
  if (chained || isToolOutputItem(items[items.length - 1]) || !items.some((item) => item.type === "item_reference")) return items;
  return items.flatMap((item) => {
    if (item.type !== "item_reference") return [item];
    const parsed = parseOutputItemId(item.id);
    const found = parsed ? outputs.get(parsed.responseId)?.find((output) => output.id === item.id) : undefined;
    if (!found) {
      ignoreOrReject(ignored, "input.item_reference", "input", "the referenced item cannot be recovered from a 1flowbase run you own", mode);
      return [];
    }
    return referencedItem(found);
  });
}
