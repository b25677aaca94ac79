/**
 * Native failures → Anthropic errors (client-protocols.md §6.2).
 *
 * The shared mapping (`src/http/errors.ts`) already gives Anthropic types by status: 400
 * `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`, 404 `not_found_error`,
 * 413 `request_too_large`, 429 `rate_limit_error`, 500/502 `api_error`, 504 `timeout_error`.
 * One Anthropic-specific refinement lives here:
 *
 * - **503 → 529 `overloaded_error`.** Native says 503 when the model provider's transport is
 *   unavailable (`provider_transport_unavailable`, native-api.md §7) or the api-server itself is
 *   unavailable. Anthropic clients know exactly one status for "capacity, try again later": 529
 *   `overloaded_error` (Claude Code shows "overloaded" and backs off; the SDKs retry it as ≥500).
 *   Sending 503 would reach them as a generic `api_error`.
 */
import { GatewayError, toGatewayError, type AnthropicErrorPayload } from "../../http/errors";

export const OVERLOADED_STATUS = 529;

/** Any thrown value → a `GatewayError` whose status and `anthropicType` speak Anthropic. */
export function toAnthropicError(error: unknown): GatewayError {
  const gatewayError = toGatewayError(error);
  if (gatewayError.status !== 503) return gatewayError;
  return new GatewayError({
    status: OVERLOADED_STATUS,
    message: gatewayError.message,
    code: gatewayError.code,
    param: gatewayError.param,
    type: gatewayError.type,
    anthropicType: "overloaded_error",
    headers: gatewayError.headers,
    origin: gatewayError.origin,
  });
}

/** The `error` object of an `event: error` frame for a failure after the stream started. */
export function streamErrorPayload(error: GatewayError): AnthropicErrorPayload {
  return { type: error.anthropicType, message: error.message };
}
