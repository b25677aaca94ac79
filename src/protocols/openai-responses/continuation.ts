/**
 * The lookups a Responses request needs before it can be mapped: which native run a response id
 * names for this caller (the ownership index), what that run holds (`GET /runs/{id}`), and whether
 * the model's catalog entry takes a reasoning effort (`GET /models`).
 *
 * Ownership answers look like absence (ARCHITECTURE.md): a malformed id, an unknown id, a deleted
 * id, a `store:false` id and another key's id give the *same* error, and an unavailable index is a
 * 503 (`IndexUnavailableError` from the index), never a guess.
 */
import type { Caller } from "../../http/context";
import { GatewayError } from "../../http/errors";
import type { PolicyMode } from "../../http/policy";
import { NativeError } from "../../native/errors";
import { NativeHistoryItem, type NativeRun } from "../../native/schema";
import { answerPieces } from "../../native/synthesize";
import { echoFromRun, foldRun } from "./from-native";
import { parseOutputItemId, parseResponseId } from "./ids";
import { ignoreOrReject } from "./policy";
import type { InputItem, OutputItem } from "./schema";
import type { PreviousTurn } from "./to-native";

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

/**
 * The native run id behind `responseId` if the caller owns it, else null. Malformed ids are absent
 * without touching D1.
 */
export async function resolveOwnedRun(caller: Caller, responseId: string): Promise<string | null> {
  if (!parseResponseId(responseId)) return null;
  const row = await caller.index.resolve(responseId, await caller.fingerprint());
  return row?.nativeRunId ?? null;
}

/** Reads the run of an owned response; native's own 403/404 (a run gone since) is absence too. */
export async function getOwnedRun(caller: Caller, runId: string, absent: () => GatewayError): Promise<NativeRun> {
  try {
    return await caller.native.getRun(runId);
  } catch (error) {
    if (isNativeAbsence(error)) throw absent();
    throw error;
  }
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
  const answer = answerPieces(run)
    .filter((piece) => piece.kind === "message")
    .map((piece) => piece.text)
    .join("");
  if (answer) turns.push({ role: "assistant", content: answer });
  return turns;
}

/** The native conversation a run is bound to (durable metadata, native-api.md §1.5), if any. */
export function runConversation(run: NativeRun): { user: string; id: string } | null {
  const user = run.metadata?.external_user;
  const id = run.metadata?.external_conversation_id;
  return typeof user === "string" && user && typeof id === "string" && id ? { user, id } : null;
}

/** Resolves `previous_response_id` to the run it names (owner-checked) and what continuing needs. */
export async function loadPreviousTurn(caller: Caller, previousResponseId: string): Promise<PreviousTurn> {
  const runId = await resolveOwnedRun(caller, previousResponseId);
  if (!runId) throw previousResponseNotFound(previousResponseId);
  const run = await getOwnedRun(caller, runId, () => previousResponseNotFound(previousResponseId));
  return { responseId: previousResponseId, runId, conversation: runConversation(run), turns: runTurns(run) };
}

/** Only `previous_response_id`'s run id (resuming needs no more than ownership). */
export async function resolvePreviousRunId(caller: Caller, previousResponseId: string): Promise<string> {
  const runId = await resolveOwnedRun(caller, previousResponseId);
  if (!runId) throw previousResponseNotFound(previousResponseId);
  return runId;
}

/** Efforts both native versions accept (native-api.md §1.4.1; 0.3 checks against the catalog). */
const NATIVE_EFFORTS = new Set(["minimal", "low", "medium", "high", "xhigh"]);

/**
 * `reasoning.effort` → native, only when the model's catalog entry supports reasoning and that
 * effort: native validates reasoning parameters against the catalog and would fail the whole run
 * otherwise (§1.4.1). Anything else is accepted and reported as ignored.
 */
export async function reasoningEffortFor(
  caller: Caller,
  model: string,
  effort: string | null | undefined,
  ignored: string[],
  mode: PolicyMode,
): Promise<string | null> {
  if (!effort) return null;
  if (!NATIVE_EFFORTS.has(effort)) {
    ignoreOrReject(ignored, "reasoning.effort", "reasoning", `1flowbase has no reasoning effort '${effort}'`, mode);
    return null;
  }
  const catalog = await caller.native.listModels();
  const entry = catalog.data.find((candidate) => candidate.id === model);
  const supported = entry?.reasoning?.supported_efforts ?? [];
  if (!entry || entry.capabilities?.reasoning === false || (supported.length > 0 && !supported.includes(effort))) {
    ignoreOrReject(ignored, "reasoning.effort", "reasoning", `model '${model}' takes no reasoning effort '${effort}' in this application's catalog`, mode);
    return null;
  }
  return effort;
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
    default:
      // Reasoning carries nothing native can take back (like replayed reasoning items).
      return [];
  }
}

/**
 * Replaces `item_reference`s to this gateway's output items with the items themselves, rebuilt from
 * their native runs (owner-checked like every other lookup). The Vercel AI SDK sends every earlier
 * assistant turn this way when `store` is on (its default), so without this a stateless multi-turn
 * conversation would lose all its answers.
 *
 * Not needed, and skipped, when chaining with `previous_response_id` (native history already holds
 * those turns) or when the input resumes a tool call (the native run holds its transcript). A
 * reference that cannot be recovered — another key's, deleted, too old, or an item a resumed run no
 * longer reports (a waiting run's calls are not in its record once resumed) — is skipped and
 * reported, never guessed.
 */
export async function resolveItemReferences(
  caller: Caller,
  items: InputItem[],
  chained: boolean,
  ignored: string[],
  mode: PolicyMode,
): Promise<InputItem[]> {
  const references = items.filter((item): item is Extract<InputItem, { type: "item_reference" }> => item.type === "item_reference");
  if (references.length === 0 || chained || items[items.length - 1]?.type === "function_call_output") return items;

  const newestFirst = [...references].reverse().flatMap((reference) => {
    const parsed = parseOutputItemId(reference.id);
    return parsed ? [parsed.responseId] : [];
  });
  const responseIds = [...new Set(newestFirst)].slice(0, MAX_REFERENCED_RESPONSES);
  const outputs = new Map<string, OutputItem[]>();
  await Promise.all(
    responseIds.map(async (responseId) => {
      const runId = await resolveOwnedRun(caller, responseId);
      if (!runId) return;
      try {
        const run = await caller.native.getRun(runId);
        outputs.set(responseId, foldRun(run, echoFromRun(run), parseResponseId(responseId)?.callbackTaskId).response.output);
      } catch (error) {
        if (!isNativeAbsence(error)) throw error;
      }
    }),
  );

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
