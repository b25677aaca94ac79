/**
 * API keys at the edge: extracted from `Authorization: Bearer` or `x-api-key` (both OpenAI and
 * Anthropic clients), passed through to native untouched, fingerprinted (SHA-256, hex) for the
 * ownership index. The key itself is never logged or stored.
 */
import { GatewayError } from "./errors";

/** The caller's key, or a 401 in the route's envelope when none is present. */
export function extractApiKey(headers: Headers): string {
  const authorization = headers.get("authorization");
  if (authorization) {
    const match = /^bearer\s+(.+)$/i.exec(authorization.trim());
    const token = match?.[1]?.trim();
    if (token) return token;
  }
  const apiKey = headers.get("x-api-key")?.trim();
  if (apiKey) return apiKey;
  throw new GatewayError({
    status: 401,
    message: "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>` with a 1flowbase application key",
    code: "missing_api_key",
  });
}

const encoder = new TextEncoder();

/** SHA-256 of the key as lowercase hex: the owner id stored in the index. */
export async function keyFingerprint(apiKey: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(apiKey));
  let hex = "";
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
