/**
 * The lookups a Responses request needs before it can be mapped: which native run a response id
 * names for this caller (the ownership index), and what that run holds (`GET /runs/{id}`). The
 * decisions on what they return are pure and live in `protocols/openai-responses/continuation.ts`.
 *
 * Ownership answers look like absence (ARCHITECTURE.md): a malformed id, an unknown id, a deleted
 * id, a `store:false` id and another key's id give the *same* error, and an unavailable index is a
 * 503 (`IndexUnavailableError`), never a guess.
 */
import type { Caller } from "../http/context";
import type { GatewayError } from "../http/errors";
import type { PolicyMode } from "../http/policy";
import { NativeError } from "../native/errors";
import type { NativeRun } from "../native/schema";
import {
  isNativeAbsence,
  previousResponseNotFound,
  referencedResponseIds,
  runConversation,
  runTurns,
  substituteItemReferences,
} from "../protocols/openai-responses/continuation";
import { echoFromRun, foldRun } from "../protocols/openai-responses/from-native";
import { parseResponseId } from "../protocols/openai-responses/ids";
import type { InputItem, OutputItem } from "../protocols/openai-responses/schema";
import type { PreviousTurn } from "../protocols/openai-responses/to-native";

/**
 * The native run id behind `responseId` if the caller owns it, else null. Malformed ids are absent
 * without touching D1.
 */
export async function resolveOwnedRun(caller: Caller, responseId: string): Promise<string | null> {
  if (!parseResponseId(responseId)) return null;
  const row = await caller.index.resolve(responseId, await caller.fingerprint());
  return row?.nativeRunId ?? null;
}

/**
 * Before a response id is answered as absent: a key native rejects is a 401, as on every other route
 * (issue 17 item 8), not a 404 that tells the client nothing about its key. Asked with native's
 * cheapest keyed route, `GET /models`, only on this path (an id the caller does not own); any other
 * failure of that check leaves the answer the absence it was — an id owned by another key stays
 * indistinguishable from an unknown one.
 */
export async function rejectInvalidKey(caller: Caller): Promise<void> {
  try {
    await caller.native.listModels();
  } catch (error) {
    if (error instanceof NativeError && error.kind === "http" && error.status === 401) throw error;
  }
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

/** Resolves `previous_response_id` to the run it names (owner-checked) and what continuing needs. */
export async function loadPreviousTurn(caller: Caller, previousResponseId: string): Promise<PreviousTurn> {
  const runId = await resolveOwnedRun(caller, previousResponseId);
  if (!runId) {
    await rejectInvalidKey(caller);
    throw previousResponseNotFound(previousResponseId);
  }
  const run = await getOwnedRun(caller, runId, () => previousResponseNotFound(previousResponseId));
  return { responseId: previousResponseId, runId, conversation: runConversation(run), turns: runTurns(run) };
}

/** Only `previous_response_id`'s run id (resuming needs no more than ownership). */
export async function resolvePreviousRunId(caller: Caller, previousResponseId: string): Promise<string> {
  const runId = await resolveOwnedRun(caller, previousResponseId);
  if (!runId) {
    await rejectInvalidKey(caller);
    throw previousResponseNotFound(previousResponseId);
  }
  return runId;
}

/**
 * Replaces `item_reference`s to this gateway's output items with the items themselves, rebuilt from
 * their native runs (each an index lookup and a `GET /runs/{id}`, owner-checked, in parallel).
 */
export async function resolveItemReferences(caller: Caller, items: InputItem[], chained: boolean, ignored: string[], mode: PolicyMode): Promise<InputItem[]> {
  const responseIds = referencedResponseIds(items, chained);
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
  return substituteItemReferences(items, outputs, chained, ignored, mode);
}
