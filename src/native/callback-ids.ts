/**
 * Stateless tool-call ids.
 *
 * A native run that needs client-side tools ends `waiting` with a pending callback task
 * (`required_action.payload.callback_task_id`) listing `tool_calls`. To resume it the gateway must
 * later call `POST /runs/{run_id}/resume` with that task id and one result per original tool call id
 * (native-api.md §1.6). The edge keeps no state (invariant 1), so the id handed to the client carries
 * what the resume needs: the run id, the task id and the call's position in the task's `tool_calls`.
 *
 *   <prefix>_<base64url(run uuid 16 B ‖ task uuid 16 B ‖ call index 1 B)>   → 44 chars after the prefix
 *
 * This satisfies `^[A-Za-z0-9_-]{1,64}$` for every prefix we use (Anthropic's rule, the strictest), and
 * round-trips exactly. The original native tool call id is looked up from the run at resume time
 * (`GET /runs/{id}`), which also proves the caller owns the run: native answers 403/404 for a foreign
 * run, which the protocol layers report as a 400 about the tool call id. A forged id fails to decode
 * → 400. (Calls this isolate has just streamed to the same key skip that read: resume.ts
 * `takeKnownTarget`; native's resume checks ownership itself.)
 */

export interface CallbackRef {
  runId: string;
  callbackTaskId: string;
  /** Position of the call inside the task's `tool_calls`. */
  index: number;
}

const UUID_HEX = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const BODY = /^[A-Za-z0-9_-]{44}$/;

export const MAX_CALLS_PER_TASK = 256;

/** Shared with the other stateless tokens (src/http/signing.ts). */
export function uuidToBytes(uuid: string, into: Uint8Array, offset: number): void {
  const hex = uuid.replace(/-/g, "");
  for (let i = 0; i < 16; i++) into[offset + i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
}

export function bytesToUuid(bytes: Uint8Array, offset: number): string {
  let hex = "";
  for (let i = 0; i < 16; i++) hex += (bytes[offset + i] ?? 0).toString(16).padStart(2, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array | null {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

/** True when both ids are UUIDs, i.e. the pair can be encoded (native run and task ids always are). */
export function canEncodeCallbackRef(runId: string, callbackTaskId: string): boolean {
  return UUID_HEX.test(runId) && UUID_HEX.test(callbackTaskId);
}

/** `encodeCallbackId("call", ref)` → `call_<44 chars>`. Throws on non-UUID ids (a native contract breach). */
export function encodeCallbackId(prefix: string, ref: CallbackRef): string {
  if (!canEncodeCallbackRef(ref.runId, ref.callbackTaskId)) {
    throw new Error("native run and callback task ids must be UUIDs");
  }
  if (!Number.isInteger(ref.index) || ref.index < 0 || ref.index >= MAX_CALLS_PER_TASK) {
    throw new Error(`tool call index out of range: ${ref.index}`);
  }
  const bytes = new Uint8Array(33);
  uuidToBytes(ref.runId, bytes, 0);
  uuidToBytes(ref.callbackTaskId, bytes, 16);
  bytes[32] = ref.index;
  return `${prefix}_${toBase64Url(bytes)}`;
}

/** Decodes an id made by `encodeCallbackId` with the same prefix; anything else → null. */
export function decodeCallbackId(prefix: string, id: string): CallbackRef | null {
  if (!id.startsWith(`${prefix}_`)) return null;
  const body = id.slice(prefix.length + 1);
  if (!BODY.test(body)) return null;
  const bytes = fromBase64Url(body);
  if (!bytes || bytes.length !== 33) return null;
  // Re-encoding must reproduce the id exactly: rejects non-canonical base64 tails.
  const ref = { runId: bytesToUuid(bytes, 0), callbackTaskId: bytesToUuid(bytes, 16), index: bytes[32] ?? 0 };
  if (toBase64Url(bytes) !== body) return null;
  return ref;
}
