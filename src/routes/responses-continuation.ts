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
import { GatewayError } from "../http/errors";
import { requireSigningKeys } from "../http/signing";
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
import { compactionResourceId, cutAtCompaction, invalidCompactionItem, openCompaction } from "../protocols/openai-responses/compaction";
import { echoFromRun, foldRun } from "../protocols/openai-responses/from-native";
import { isYoungResponseRef, parseResponseId } from "../protocols/openai-responses/ids";
import type { InputItem, OutputItem } from "../protocols/openai-responses/schema";
import type { PreviousTurn } from "../protocols/openai-responses/to-native";

/** An owned response: its run id, and the run itself when establishing ownership already read it. */
export interface OwnedRun {
  runId: string;
  run?: NativeRun;
}

/**
 * The native run behind `responseId` if the caller owns it, else null. Malformed and `store: false`
 * ids are absent without touching D1.
 *
 * The index is read replica first, the primary on a miss (index-store/index.ts). A miss for a very
 * young id (its run started under `YOUNG_ID_MS` ago, ids.ts) may be a claim still in flight — a
 * stored create writes it alongside the stream — so native settles it: `GET /runs/{id}` with the
 * caller's key answers only the key's own runs (403 `application_run_forbidden` otherwise, fork
 * `native.rs:623-631` @ c98c4dec; native-api.md), and its 403/404 is absence, exactly like a
 * foreign row — another key's id stays indistinguishable from an unknown one. That read starts the
 * moment the replica misses, and the primary is not read for it (`primaryOnMiss: false`): the claim
 * is usually still in flight to the primary, so it would answer "absent" after a cross-region
 * round trip. A tombstone wins wherever it is seen — on the replica, or remembered by this isolate
 * (DELETE then an immediate chain through the same edge is not found).
 */
export async function resolveOwnedRun(
  caller: Caller,
  responseId: string,
  options: { withRun?: boolean; onNativeRun?: (run: NativeRun) => void } = {},
): Promise<OwnedRun | null> {
  const ref = parseResponseId(responseId);
  if (!ref) return null;
  let fromNative: Promise<NativeRun | null> | undefined;
  const askNative = (): Promise<NativeRun | null> => {
    fromNative ??= caller.native.getRun(ref.runId).then(
      (run) => {
        if (run.id !== ref.runId) return null;
        options.onNativeRun?.(run);
        return run;
      },
      (error: unknown) => {
        if (isNativeAbsence(error)) return null;
        throw error;
      },
    );
    fromNative.catch(() => undefined); // awaited below when it is needed; never unhandled
    return fromNative;
  };
  const young = isYoungResponseRef(ref);
  const lookup = caller.index.lookup(responseId, await caller.fingerprint(), {
    onReplicaMiss: () => {
      if (young) void askNative();
    },
    // A young id's miss is settled by native, not by the primary: the primary would mostly answer
    // "absent" too (the claim is still in flight to it), and its one extra fact — a tombstone the
    // replica has not seen — is the lag every replica read already has (index-store/index.ts).
    primaryOnMiss: !young,
  });
  // A caller that needs the run anyway reads it alongside the index (with the caller's key: it
  // reveals nothing the index would not), so a chained create pays one round trip, not two. The
  // index read goes out first: it is the longer one (a replica round trip; issue 18's budget), and
  // starting a fetch costs the isolate ≈ 0.2–0.4 ms that would otherwise delay it (bench/d1latency.ts
  // --probe-native: the index read left 0.23 ms after native's GET, 0.39 ms after an unchained
  // create's POST would have).
  if (options.withRun) void askNative();
  const found = await lookup;
  if (found.kind === "owned") {
    const run = options.withRun && fromNative ? await fromNative : null;
    return run && run.id === found.row.nativeRunId ? { runId: run.id, run } : { runId: found.row.nativeRunId };
  }
  if (found.kind === "deleted" || !fromNative || !young) return null;
  const run = await fromNative;
  return run ? { runId: run.id, run } : null;
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

/**
 * The `store: false` responses a WebSocket connection created (routes/responses-ws.ts): response id →
 * native run id, nothing else. A `store: false` id is chainable there and only there — it is in no
 * index, and its `resp_u` marker keeps it absent everywhere else (ids.ts). The connection's caller
 * is the key that created them, and native checks the key again on every read of the run.
 */
export interface ConnectionResponses {
  runOf(responseId: string): string | undefined;
}

/** `responseId` as one of `connection`'s own `store: false` responses, else as the index and native say. */
function resolveChained(caller: Caller, responseId: string, connection: ConnectionResponses | undefined, options: Parameters<typeof resolveOwnedRun>[2]): Promise<OwnedRun | null> {
  const local = connection?.runOf(responseId);
  if (local !== undefined) return Promise.resolve({ runId: local });
  return resolveOwnedRun(caller, responseId, options);
}

/** Resolves `previous_response_id` to the run it names (owner-checked) and what continuing needs. */
export async function loadPreviousTurn(caller: Caller, previousResponseId: string, connection?: ConnectionResponses): Promise<PreviousTurn> {
  return startPreviousTurn(caller, previousResponseId, connection).confirmed;
}

/** A previous turn on its way: owner-checked, and as native has it before the index has answered. */
export interface PreviousTurnLoad {
  /** The previous turn once the index and native agree the caller owns it (else its error). */
  confirmed: Promise<PreviousTurn>;
  /**
   * The same turn the moment native's `GET /runs/{id}` answers (with the caller's key), usually a
   * replica round trip before the index does: for work the create would do next anyway, kept only
   * when `confirmed` resolves to this very object (the index confirmed that run), thrown away
   * otherwise. Null when native has not answered with the run (the turn then comes only confirmed).
   */
  early: Promise<PreviousTurn | null>;
}

/**
 * `loadPreviousTurn`, with the turn also handed out early (issue 18: a chained create within one
 * replica round trip of an unchained one — what it builds from the previous turn is built while
 * the index read is on the wire, not after it).
 */
export function startPreviousTurn(caller: Caller, previousResponseId: string, connection?: ConnectionResponses): PreviousTurnLoad {
  let early: { run: NativeRun; turn: PreviousTurn } | undefined;
  let handEarly: (turn: PreviousTurn | null) => void = () => undefined;
  const earlyTurn = new Promise<PreviousTurn | null>((resolve) => (handEarly = resolve));
  const turnOf = (run: NativeRun, runId: string): PreviousTurn => ({ responseId: previousResponseId, runId, conversation: runConversation(run), turns: runTurns(run) });
  const confirmed = (async (): Promise<PreviousTurn> => {
    try {
      const owned = await resolveChained(caller, previousResponseId, connection, {
        withRun: true,
        onNativeRun: (run) => {
          early = { run, turn: turnOf(run, run.id) };
          handEarly(early.turn);
        },
      });
      if (!owned) {
        await rejectInvalidKey(caller);
        throw previousResponseNotFound(previousResponseId);
      }
      const run = owned.run ?? (await getOwnedRun(caller, owned.runId, () => previousResponseNotFound(previousResponseId)));
      return early?.run === run && early.turn.runId === owned.runId ? early.turn : turnOf(run, owned.runId);
    } finally {
      handEarly(null); // no-op once handed out
    }
  })();
  return { confirmed, early: earlyTurn };
}

/**
 * A compaction item in the input (compaction.ts): verified (HMAC, bound to this key), its record run
 * read with the caller's key, and turned into what `previous_response_id` would give — the window's
 * turns, rebuilt from the native record — so a create continues through the very same pipeline
 * (`toNativeRunRequest`'s `previous`), over HTTP today and any other transport that reuses it.
 * Returns the input without the compacted window. Every unusable item — garbage, altered, another
 * key's, another deployment's, a run native no longer has — is the same 400; a deployment without a
 * signing secret refuses compaction items by name. With `previous_response_id` the chain already
 * holds the conversation: both at once is ambiguous and refused.
 */
export async function resolveCompaction(caller: Caller, items: InputItem[], previousResponseId: string | null | undefined): Promise<{ items: InputItem[]; compacted: PreviousTurn | null }> {
  const cut = cutAtCompaction(items);
  if (!cut) return { items, compacted: null };
  const keys = requireSigningKeys(caller.config, "Responses compaction", `input[${cut.index}]`);
  if (previousResponseId) {
    throw GatewayError.invalidRequest(
      `input[${cut.index}] is a compaction item and previous_response_id is set: a compaction already carries the conversation; send one or the other`,
      "previous_response_id",
    );
  }
  const runId = await openCompaction(keys, await caller.fingerprint(), cut.item.encrypted_content);
  if (!runId) throw invalidCompactionItem(cut.index);
  const run = await getOwnedRun(caller, runId, () => invalidCompactionItem(cut.index));
  if (run.id !== runId) throw invalidCompactionItem(cut.index);
  return { items: cut.rest, compacted: { responseId: compactionResourceId(runId), runId, conversation: runConversation(run), turns: runTurns(run) } };
}

/** Only `previous_response_id`'s run id (resuming needs no more than ownership). */
export async function resolvePreviousRunId(caller: Caller, previousResponseId: string, connection?: ConnectionResponses): Promise<string> {
  const owned = await resolveChained(caller, previousResponseId, connection, { withRun: false });
  if (!owned) {
    await rejectInvalidKey(caller);
    throw previousResponseNotFound(previousResponseId);
  }
  return owned.runId;
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
      const owned = await resolveOwnedRun(caller, responseId, { withRun: true });
      if (!owned) return;
      try {
        const run = owned.run ?? (await caller.native.getRun(owned.runId));
        outputs.set(responseId, foldRun(run, echoFromRun(run), parseResponseId(responseId)?.callbackTaskId).response.output);
      } catch (error) {
        if (!isNativeAbsence(error)) throw error;
      }
    }),
  );
  return substituteItemReferences(items, outputs, chained, ignored, mode);
}
