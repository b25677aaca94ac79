/**
 * Responses ids, derived from native ids so the edge keeps no state (invariant 1).
 *
 * - A response is one *answer* of a native run. The first answer of run R is `resp_<R hex32>`; the
 *   answer produced by resuming R's callback task T with tool outputs is `resp_<R hex32><T hex32>`.
 *   So a run resumed by tool outputs yields a new, unique response id (ARCHITECTURE.md, "Ids"), and
 *   every id still names its run (the D1 index is the authority on ownership, never the id).
 * - Output items are `msg_|rs_<response suffix>_<output index>` and `fc_<response suffix>_<call
 *   position in the callback task>`: stable across the stream's events and the final snapshot, unique
 *   per response (client-protocols.md §3.3 invariants 5–6), and rebuilt identically by GET because the
 *   same projector folds the same native run. (Function calls are keyed by call position because a
 *   waiting run's record has no answer text, so the text streamed before the calls is not in a
 *   rebuild and output indexes can shift; the call ids must not.)
 * - Input items (`input_items`) are `msg_|fc_|fco_<response suffix>_in_<position>`.
 * - Function call ids are the shared stateless callback ids (`callback-ids.ts`, prefix `call`).
 */
import { decodeCallbackId, encodeCallbackId, type CallbackRef } from "../../native/callback-ids";

const UUID = /^([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i;
const RESPONSE_ID = /^resp_([0-9a-f]{32})([0-9a-f]{32})?$/;

/**
 * The marker of a `store: false` response id: `resp_u<run hex32>[<task hex32>]`. Such an id is never
 * chainable or retrievable, and since the ownership claim of a stored id may still be in flight when
 * the id is used (src/routes/responses-continuation.ts asks native about a young unclaimed id), the
 * id itself must say it was never stored: `parseResponseId` rejects it without any lookup.
 */
const UNSTORED_MARKER = "u";

/** How long after its run started an unclaimed id is settled by asking native (see `isYoungResponseRef`). */
export const YOUNG_ID_MS = 120_000;
/** Tolerated skew of native's clock ahead of the worker's when judging an id's age. */
const CLOCK_SKEW_MS = 60_000;

/** The native run (and, for a resumed answer, the callback task) a response id names. */
export interface ResponseRef {
  runId: string;
  /** The callback task whose resume produced this answer; absent for a run's first answer. */
  callbackTaskId?: string;
  /** `store: false`: the id carries the unstored marker and never resolves. */
  unstored?: boolean;
}

function compact(uuid: string): string {
  const match = UUID.exec(uuid);
  if (!match) throw new Error("native run and callback task ids must be UUIDs");
  return match.slice(1).join("").toLowerCase();
}

function hyphenate(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True when native's run id can carry a response id (native run ids are UUIDv7, native-api.md §6). */
export function isEncodableRunId(runId: string): boolean {
  return UUID.test(runId);
}

/**
 * @example
 * responseIdFor({ runId: "0197a3c4-…" })                          // "resp_0197a3c4…" (37 chars)
 * responseIdFor({ runId: "0197a3c4-…", callbackTaskId: "0197…" }) // "resp_<run><task>" (69 chars)
 */
export function responseIdFor(ref: ResponseRef): string {
  return `resp_${ref.unstored ? UNSTORED_MARKER : ""}${compact(ref.runId)}${ref.callbackTaskId ? compact(ref.callbackTaskId) : ""}`;
}

/**
 * True when the answer behind `ref` is less than `YOUNG_ID_MS` old by a UUIDv7 timestamp (the first
 * 48 bits are Unix milliseconds, RFC 9562 §5.7; run ids are UUIDv7, native-api.md §6, and so are
 * callback task ids: `create_callback_task` binds `Uuid::now_v7()`, fork
 * storage-durable/postgres/src/orchestration_runtime_repository/flow_run_methods.rs ~1037 @ c98c4dec):
 * a run's first answer by its run id, a resumed answer by its callback task's id
 * (the task was created when the run asked for the tools, so the resumed answer is at least that
 * old: a slow tool makes it look older, never younger). Both claims are written alongside the
 * answer (src/routes/responses.ts), so a young id's miss may be a claim in flight. An id that is
 * not a v7 UUID is never young: its claim is the only authority.
 */
export function isYoungResponseRef(ref: ResponseRef, nowMs: number = Date.now()): boolean {
  const id = ref.callbackTaskId ?? ref.runId;
  if (ref.unstored || id[14] !== "7") return false;
  const startedMs = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  const age = nowMs - startedMs;
  return age < YOUNG_ID_MS && age > -CLOCK_SKEW_MS;
}

/** The inverse of `responseIdFor` for stored ids; anything else (unstored, foreign or malformed ids) → null. */
export function parseResponseId(id: string): ResponseRef | null {
  const match = RESPONSE_ID.exec(id);
  if (!match?.[1]) return null;
  const ref: ResponseRef = { runId: hyphenate(match[1]) };
  if (match[2]) ref.callbackTaskId = hyphenate(match[2]);
  return ref;
}

/** The part of a response id that item ids embed. */
export function responseSuffix(responseId: string): string {
  return responseId.startsWith("resp_") ? responseId.slice(5) : responseId;
}

export type OutputItemKind = "message" | "reasoning" | "function_call" | "custom_tool_call";

const OUTPUT_PREFIX: Record<OutputItemKind, string> = { message: "msg", reasoning: "rs", function_call: "fc", custom_tool_call: "ctc" };

/** `msg_<suffix>_<n>` etc.: `n` is the output index (message, reasoning) or the call position (function call). */
export function outputItemId(responseId: string, kind: OutputItemKind, position: number): string {
  return `${OUTPUT_PREFIX[kind]}_${responseSuffix(responseId)}_${position}`;
}

const OUTPUT_ITEM_ID = /^(msg|rs|fc|ctc)_([0-9a-f]{32}(?:[0-9a-f]{32})?)_(\d+)$/;

/** The response an output item id belongs to (for `item_reference`s); null for any other id. */
export function parseOutputItemId(id: string): { responseId: string; position: number } | null {
  const match = OUTPUT_ITEM_ID.exec(id);
  if (!match?.[2] || !match[3]) return null;
  return { responseId: `resp_${match[2]}`, position: Number(match[3]) };
}

export type InputItemKind = "message" | "function_call" | "function_call_output";

const INPUT_PREFIX: Record<InputItemKind, string> = { message: "msg", function_call: "fc", function_call_output: "fco" };

/** `msg_<suffix>_in_<position>` etc.: ids of the items `input_items` lists. */
export function inputItemId(responseId: string, kind: InputItemKind, position: number): string {
  return `${INPUT_PREFIX[kind]}_${responseSuffix(responseId)}_in_${position}`;
}

/** Function call `call_id`s: stateless, resumable, `^[A-Za-z0-9_-]{1,64}$` (callback-ids.ts). */
export function functionCallId(ref: CallbackRef): string {
  return encodeCallbackId("call", ref);
}

/** Decodes a client's `call_id`; null when it is not one this gateway issued (or was altered). */
export function parseFunctionCallId(callId: string): CallbackRef | null {
  return decodeCallbackId("call", callId);
}
