/**
 * `Idempotency-Key` → native `execution.idempotency_key` (native-api.md §1.4.2), so a retried create
 * returns the run the first attempt started instead of starting a second one.
 *
 * Facts that shape it:
 * - Native scopes the key to (application, API key) and fingerprints the *canonical JSON of the whole
 *   native request body*: same key + same body → the existing run; same key + other body → 409
 *   `idempotency_conflict`. So every byte the gateway sends must be identical on a retry.
 * - The one per-attempt value in our native bodies is `metadata.trace_id`, normally the request id
 *   (minted fresh per request). With a key it is instead derived from (protocol, key, canonical client
 *   body): identical on every retry, so native's fingerprint matches, and different as soon as the
 *   client body differs in *any* field — including fields the gateway only reports as ignored, or
 *   `stream` (Chat asks native to stream either way) — so a reused key with another body is native's
 *   409, as Idempotency-Key semantics require, not a silent replay. The per-attempt request id still
 *   travels as the `x-request-id` header to native and in the gateway's log line.
 * - The SDKs in this repo do not send the header by themselves (openai 7.57 declares `idempotencyHeader`
 *   but never sets it; @anthropic-ai/sdk 1.12 documents `idempotencyKey` as "no effect"). A client opts
 *   in per request (`{ headers: { "Idempotency-Key": key } }`); the SDKs' automatic retries reuse the
 *   request options, hence the key.
 * - Tool-result resumes need no key: native resume is idempotent per callback task (§1.6).
 *
 * @example
 * const idempotency = await readIdempotency(c.req.raw.headers, "chat", body);
 * nativeRequest = applyIdempotency(nativeRequest, idempotency);
 */
import type { NativeRunRequest } from "../native/schema";
import { GatewayError } from "./errors";

export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";

/** Keys are opaque client strings; Stripe's bound (255 printable ASCII characters) is the convention. */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;

/** Which protocol's body the fingerprint covers: the same key on two routes never collides. */
export type IdempotencyScope = "chat" | "messages" | "responses";

export interface Idempotency {
  /** The client's key, sent as native `execution.idempotency_key`. */
  readonly key: string;
  /** The `metadata.trace_id` every attempt of this request sends (`idem-<32 hex>`). */
  readonly traceId: string;
  /** The route (the same key on two routes never collides). */
  readonly scope: IdempotencyScope;
}

/**
 * The reservation key of `idempotency` for one owner (index-store/idempotency.ts): a SHA-256 of the
 * owner's key fingerprint, the route and the client's key — never the key itself. Keys are scoped to
 * their owner, as native scopes `execution.idempotency_key` to (application, API key) (§1.4.2).
 */
export async function idempotencyKeyHash(idempotency: Idempotency, ownerFingerprint: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${ownerFingerprint}\u0000${idempotency.scope}\u0000${idempotency.key}`));
  let hex = "";
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Reads `Idempotency-Key`. Absent → null; malformed (empty, too long, control characters) → 400.
 * `body` is the parsed client body (already depth-limited by `readJsonBody`).
 */
export async function readIdempotency(headers: Headers, scope: IdempotencyScope, body: unknown): Promise<Idempotency | null> {
  const raw = headers.get(IDEMPOTENCY_KEY_HEADER);
  if (raw === null) return null;
  const key = raw.trim();
  if (!VALID_KEY.test(key)) {
    throw GatewayError.invalidRequest(
      "the Idempotency-Key header must be 1 to 255 printable ASCII characters",
      "Idempotency-Key",
      "invalid_idempotency_key",
    );
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${scope}\u0000${key}\u0000${canonicalJson(body)}`));
  let hex = "";
  for (const byte of new Uint8Array(digest).subarray(0, 16)) hex += byte.toString(16).padStart(2, "0");
  return { key, traceId: `idem-${hex}`, scope };
}

/**
 * The native request with `execution.idempotency_key` and the stable `metadata.trace_id` set.
 * Call it last, on the request exactly as it will be sent. `null` returns the request unchanged.
 */
export function applyIdempotency(request: NativeRunRequest, idempotency: Idempotency | null): NativeRunRequest {
  if (!idempotency) return request;
  return {
    ...request,
    metadata: { ...request.metadata, trace_id: idempotency.traceId },
    execution: { ...request.execution, idempotency_key: idempotency.key },
  };
}

/** JSON with object keys sorted (a client may re-serialize a retried body in another key order). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== "object" || Array.isArray(inner)) return inner;
    // Null prototype: a JSON `__proto__` member stays an ordinary key.
    const sorted = Object.create(null) as Record<string, unknown>;
    for (const name of Object.keys(inner).sort()) sorted[name] = (inner as Record<string, unknown>)[name];
    return sorted;
  });
}
