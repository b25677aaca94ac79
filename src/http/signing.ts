/**
 * Signed opaque tokens: bytes the worker hands to a client and must later trust again, with no
 * state at the edge (invariant 1). Used for the `encrypted_content` of Responses compaction items
 * (protocols/openai-responses/compaction.ts).
 *
 *   token = base64url(payload ‖ HMAC-SHA256(GATEWAY_SIGNING_SECRET, domain ‖ owner ‖ payload))
 *
 * - Tamper-evident: any changed byte fails the MAC (`crypto.subtle.verify`, constant time).
 * - Bound to its owner: the owner (the API key's SHA-256 fingerprint, http/auth.ts) is part of the
 *   MAC input but not of the token, so a token presented with another key fails exactly like
 *   garbage — another key's token stays indistinguishable from a forged one (ARCHITECTURE.md,
 *   "Ownership answers look like absence").
 * - Domain-separated: `purpose` is MAC'd too, so a token of one kind never verifies as another.
 * - Keyed by a worker secret, never by the API key: a token that leaks (a client log, a stored
 *   transcript) is no offline oracle for guessing the key.
 * - Rotation: `GATEWAY_SIGNING_SECRET_PREVIOUS` still verifies, nothing new is signed with it.
 *
 * Tool-call ids (native/callback-ids.ts) are deliberately *not* signed: resuming reads the run with
 * the caller's key first, so native itself proves ownership there. The shared base64url helpers
 * come from that module.
 */
import type { Config } from "../config";
import { fromBase64Url, toBase64Url } from "../native/callback-ids";
import { GatewayError } from "./errors";

const MAC_BYTES = 32;
const encoder = new TextEncoder();

/** The configured secrets: `current` signs and verifies, `previous` only verifies. */
export interface SigningKeys {
  current: string;
  previous?: string;
}

/** The deployment's signing keys, or null when `GATEWAY_SIGNING_SECRET` is not set. */
export function signingKeysOf(config: Pick<Config, "GATEWAY_SIGNING_SECRET" | "GATEWAY_SIGNING_SECRET_PREVIOUS">): SigningKeys | null {
  if (!config.GATEWAY_SIGNING_SECRET) return null;
  const keys: SigningKeys = { current: config.GATEWAY_SIGNING_SECRET };
  if (config.GATEWAY_SIGNING_SECRET_PREVIOUS) keys.previous = config.GATEWAY_SIGNING_SECRET_PREVIOUS;
  return keys;
}

/**
 * The signing keys, or a 400 naming the setting and `param`: a feature that needs a token is refused
 * clearly on a deployment that never configured one (never a 500, never an unsigned token).
 */
export function requireSigningKeys(config: Pick<Config, "GATEWAY_SIGNING_SECRET" | "GATEWAY_SIGNING_SECRET_PREVIOUS">, feature: string, param: string | null): SigningKeys {
  const keys = signingKeysOf(config);
  if (keys) return keys;
  throw new GatewayError({
    status: 400,
    message: `${feature} is not enabled on this deployment: its operator must set the GATEWAY_SIGNING_SECRET secret (see the README, "Responses compaction")`,
    param,
    code: "unsupported_parameter",
    headers: { "x-should-retry": "false" },
  });
}

/**
 * Imported HMAC keys, per secret (an isolate serves one deployment; the map stays tiny). The key, not
 * the import's promise: requests never await a promise another request created (run-steps.ts
 * `applicationCatalog` says why); two requests that miss together each import it.
 */
const imported = new Map<string, CryptoKey>();

async function hmacKey(secret: string): Promise<CryptoKey> {
  const known = imported.get(secret);
  if (known) return known;
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  imported.set(secret, key);
  return key;
}

function macInput(purpose: string, owner: string, payload: Uint8Array): Uint8Array {
  const prefix = encoder.encode(`1flowbase-gateway:${purpose}\u0000${owner}\u0000`);
  const input = new Uint8Array(prefix.length + payload.length);
  input.set(prefix, 0);
  input.set(payload, prefix.length);
  return input;
}

/**
 * Signs `payload` for `owner`.
 *
 * @example
 * const token = await signToken(keys, "responses.compaction.v1", await caller.fingerprint(), bytes);
 */
export async function signToken(keys: SigningKeys, purpose: string, owner: string, payload: Uint8Array): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(keys.current), macInput(purpose, owner, payload)));
  const token = new Uint8Array(payload.length + MAC_BYTES);
  token.set(payload, 0);
  token.set(mac, payload.length);
  return toBase64Url(token);
}

/**
 * The payload of a token `signToken` made for this `purpose` and `owner` with a configured key, of
 * exactly `payloadBytes` bytes; null for anything else (malformed, altered, another owner's, another
 * purpose's) — the caller answers every null the same way.
 */
export async function openToken(keys: SigningKeys, purpose: string, owner: string, token: string, payloadBytes: number): Promise<Uint8Array | null> {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const bytes = fromBase64Url(token);
  // Re-encoding must give the token back: rejects non-canonical base64 tails (one token, one spelling).
  if (!bytes || bytes.length !== payloadBytes + MAC_BYTES || toBase64Url(bytes) !== token) return null;
  const payload = bytes.slice(0, payloadBytes);
  const mac = bytes.slice(payloadBytes);
  const input = macInput(purpose, owner, payload);
  for (const secret of keys.previous ? [keys.current, keys.previous] : [keys.current]) {
    if (await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, input)) return payload;
  }
  return null;
}
