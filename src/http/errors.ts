/**
 * Client-facing errors and their two envelopes.
 *
 * Every route throws (or returns) a `GatewayError`; `app.onError` renders it in the envelope of the
 * protocol the route speaks. OpenAI: `{error:{message,type,param,code}}`. Anthropic:
 * `{type:"error",error:{type,message},request_id}`. Both always `Content-Type: application/json`
 * (openai-node returns a raw string otherwise, client-protocols.md §3.6).
 */
import * as z from "../zod";
import { IndexSchemaMissingError, IndexUnavailableError } from "../index-store";
import { lazily } from "../lazy";
import { IDEMPOTENCY_CONFLICT, IDEMPOTENT_REQUEST_IN_PROGRESS, NativeError, ToolResultsError } from "../native/errors";
import { UPSTREAM_DEADLINE_EXCEEDED } from "../native/events";

export type ProtocolFamily = "openai" | "anthropic";

/**
 * Whose failure an error is, for the request log's level (src/http/log.ts): the caller's (a refused
 * request, `info`), an upstream's — 1flowbase or D1 — (`warn`, with the upstream's code), or the
 * gateway's own: a bug or a deployment that cannot work until an operator acts (`error`).
 */
export type FaultOrigin = "client" | "upstream" | "gateway";

export interface GatewayErrorInit {
  status: number;
  message: string;
  /** OpenAI `error.code` (string or null). Anthropic ignores it. */
  code?: string | null;
  /** OpenAI `error.param`: the zod issue path or the request field at fault. */
  param?: string | null;
  /** OpenAI `error.type`; defaults by status. */
  type?: string;
  /** Anthropic `error.type`; defaults by status. */
  anthropicType?: string;
  /** Extra response headers (retry-after, x-should-retry). */
  headers?: Record<string, string>;
  /** Defaults to `client` below 500, `gateway` from 500. */
  origin?: FaultOrigin;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly param: string | null;
  readonly type: string;
  readonly anthropicType: string;
  readonly headers: Record<string, string>;
  readonly origin: FaultOrigin;

  constructor(init: GatewayErrorInit) {
    super(init.message);
    this.name = "GatewayError";
    this.status = init.status;
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.type = init.type ?? openAiTypeForStatus(init.status);
    this.anthropicType = init.anthropicType ?? anthropicTypeForStatus(init.status);
    this.headers = init.headers ?? {};
    this.origin = init.origin ?? (init.status >= 500 ? "gateway" : "client");
  }

  static invalidRequest(message: string, param: string | null = null, code: string | null = "invalid_request"): GatewayError {
    return new GatewayError({ status: 400, message, param, code });
  }

  static unsupported(message: string, param: string | null = null): GatewayError {
    return new GatewayError({ status: 400, message, param, code: "unsupported_feature" });
  }

  /**
   * A 500 that no retry can fix — the deployment or the gateway is at fault until someone changes it —
   * with `x-should-retry: false`, so the official SDKs do not retry it (and start no more runs).
   */
  static permanentFault(code: string, message: string): GatewayError {
    return new GatewayError({ status: 500, message, code, type: "server_error", headers: { "x-should-retry": "false" } });
  }
}

export function openAiTypeForStatus(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export function anthropicTypeForStatus(status: number): string {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      if (status >= 500) return "api_error";
      return "invalid_request_error";
  }
}

/** Native failure codes → OpenAI's spelling where clients act on it (Codex retries `rate_limit_exceeded`, client-protocols.md §3.4). */
function openAiCode(code: string): string {
  return code === "rate_limited" ? "rate_limit_exceeded" : code;
}

/**
 * Native error → client status, type, code and retry headers: the one mapping for every protocol
 * (Anthropic refines 503 → 529 in `protocols/anthropic/errors.ts`). Native 4xx are the caller's
 * problem and keep their status; native 5xx/network/timeouts/cut streams are the gateway's upstream
 * failing (502/503/504); a failed run answers the status its failure class implies (native/errors.ts);
 * a waiting state the protocol cannot express is a 409. A native 404 on a run is reported by the
 * protocol layers as absence, not here.
 */
export function fromNativeError(error: NativeError): GatewayError {
  const headers: Record<string, string> = {};
  if (error.retryAfter) headers["retry-after"] = error.retryAfter;
  let status = error.status;
  switch (error.kind) {
    case "network":
      status = 502;
      break;
    case "timeout":
      status = 504;
      break;
    case "protocol":
    case "cut":
      status = 502;
      break;
    case "http":
      // axum's plain-text 5xx and native internal errors are upstream failures.
      if (status >= 500 && status !== 503) status = 502;
      break;
    default:
      break;
  }
  // SDKs retry 408/409/429/5xx unless told otherwise. Transport faults and 503/429 are worth a retry,
  // and so is a replayed idempotency key whose first attempt is still running; a run that failed
  // deterministically or a native 4xx is not, nor is the request's own deadline (the retry would run
  // as long again). A failed run says itself (its failure class).
  const retryable =
    error.retryable ??
    (error.kind === "network" ||
      (error.kind === "timeout" && error.code !== UPSTREAM_DEADLINE_EXCEEDED) ||
      error.kind === "cut" ||
      status === 503 ||
      status === 429 ||
      error.code === IDEMPOTENT_REQUEST_IN_PROGRESS);
  headers["x-should-retry"] = retryable ? "true" : "false";
  let message = error.message || error.code;
  if (error.kind === "http" && error.code === IDEMPOTENCY_CONFLICT) {
    // Native's text names its own field; the client knows the header.
    message =
      "this Idempotency-Key was already used with a different request body: a retry must repeat the request exactly, and a new request needs a new key";
  }
  return new GatewayError({
    status,
    message,
    param: error.param ?? null,
    code: openAiCode(error.code),
    type: error.kind === "run_failed" && status >= 500 ? "server_error" : undefined,
    headers,
    // A native 4xx is the caller's (a bad key, a bad request); a failed run, a rate limit and every
    // transport failure are 1flowbase's. The client going away is its own doing.
    origin: error.code !== "client_disconnected" && (error.kind === "run_failed" || status >= 500 || status === 429) ? "upstream" : "client",
  });
}

/** Any thrown value → the `GatewayError` a route answers with (unknown errors are a non-retryable 500). */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof NativeError) return fromNativeError(error);
  if (error instanceof ToolResultsError) return GatewayError.invalidRequest(error.message, error.param, error.code);
  if (error instanceof IndexUnavailableError) {
    return new GatewayError({
      status: 503,
      message: error.message,
      code: "index_unavailable",
      type: "server_error",
      headers: { "x-should-retry": "true", "retry-after": "1" },
      origin: "upstream",
    });
  }
  if (error instanceof IndexSchemaMissingError) {
    // Permanent until an operator applies the migrations: a retry would only start more native runs.
    return GatewayError.permanentFault("index_schema_missing", error.message);
  }
  return GatewayError.permanentFault("internal_error", "internal gateway error");
}

function buildErrorEnvelopeSchemas() {
  const str = z.string();
  const OpenAiErrorObject = z.strictObject({
    message: str,
    type: str.check(z.describe("`invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error` or `server_error`")),
    param: z.nullable(str).check(z.describe("The request field at fault (`messages[0].content`), when there is one")),
    code: z.nullable(str).check(z.describe("Machine-readable code: `invalid_request`, `unsupported_parameter`, `unsupported_feature`, `missing_api_key`, `model_not_found`, a native 1flowbase error code…")),
  });
  const OpenAiError = z.strictObject({ error: OpenAiErrorObject }).check(z.describe("Every OpenAI-family error (Chat Completions, models, Responses)"));
  const AnthropicErrorPayload = z.strictObject({
    type: str.check(z.describe("`invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`, `timeout_error` or `overloaded_error`")),
    message: str,
  });
  const AnthropicError = z
    .strictObject({
      type: z.literal("error"),
      error: AnthropicErrorPayload,
      request_id: z.nullable(str).check(z.describe("Also sent as the `request-id` header")),
    }).check(z.describe("Every Anthropic Messages error (`/v1/messages*`)"));
  return { OpenAiError, AnthropicErrorPayload, AnthropicError };
}

/** The two error envelopes as zod (the API reference and its tests), built on first use (`lazily`). */
export const errorEnvelopeSchemas = lazily(buildErrorEnvelopeSchemas);

type Envelopes = ReturnType<typeof buildErrorEnvelopeSchemas>;
export type OpenAiErrorBody = z.infer<Envelopes["OpenAiError"]>;
export type AnthropicErrorPayload = z.infer<Envelopes["AnthropicErrorPayload"]>;
export type AnthropicErrorBody = z.infer<Envelopes["AnthropicError"]>;

export function openAiErrorBody(error: GatewayError): OpenAiErrorBody {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

export function anthropicErrorBody(error: GatewayError, requestId: string | null): AnthropicErrorBody {
  return { type: "error", error: { type: error.anthropicType, message: error.message }, request_id: requestId };
}

/** Renders an error as a complete JSON HTTP response in the given protocol's envelope. */
export function errorResponse(error: GatewayError, family: ProtocolFamily, requestId: string | null): Response {
  const body = family === "anthropic" ? anthropicErrorBody(error, requestId) : openAiErrorBody(error);
  const headers = new Headers({ "content-type": "application/json", ...error.headers });
  if (requestId) {
    headers.set("x-request-id", requestId);
    if (family === "anthropic") headers.set("request-id", requestId);
  }
  return new Response(JSON.stringify(body), { status: error.status, headers });
}
