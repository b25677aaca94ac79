/**
 * Client-facing errors and their two envelopes.
 *
 * Every route throws (or returns) a `GatewayError`; `app.onError` renders it in the envelope of the
 * protocol the route speaks. OpenAI: `{error:{message,type,param,code}}`. Anthropic:
 * `{type:"error",error:{type,message},request_id}`. Both always `Content-Type: application/json`
 * (openai-node returns a raw string otherwise, client-protocols.md §3.6).
 */
import { IDEMPOTENCY_CONFLICT, IDEMPOTENT_REQUEST_IN_PROGRESS, NativeError } from "../native/errors";
import { UPSTREAM_DEADLINE_EXCEEDED } from "../native/events";

export type ProtocolFamily = "openai" | "anthropic";

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
}

export class GatewayError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly param: string | null;
  readonly type: string;
  readonly anthropicType: string;
  readonly headers: Record<string, string>;

  constructor(init: GatewayErrorInit) {
    super(init.message);
    this.name = "GatewayError";
    this.status = init.status;
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.type = init.type ?? openAiTypeForStatus(init.status);
    this.anthropicType = init.anthropicType ?? anthropicTypeForStatus(init.status);
    this.headers = init.headers ?? {};
  }

  static invalidRequest(message: string, param: string | null = null, code: string | null = "invalid_request"): GatewayError {
    return new GatewayError({ status: 400, message, param, code });
  }

  static unsupported(message: string, param: string | null = null): GatewayError {
    return new GatewayError({ status: 400, message, param, code: "unsupported_feature" });
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

/**
 * Native error → client status. Native 4xx are the caller's problem and keep their status; native
 * 5xx/network/timeouts/cut streams are the gateway's upstream failing (502/503/504). A native 404 on
 * a run is reported by the protocol layers as absence, not here.
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
  // deterministically or a native 4xx is not. Nor is the request's own deadline: the retry would run
  // the same run for as long again.
  const retryable =
    error.kind === "network" ||
    (error.kind === "timeout" && error.code !== UPSTREAM_DEADLINE_EXCEEDED) ||
    error.kind === "cut" ||
    status === 503 ||
    status === 429 ||
    error.code === IDEMPOTENT_REQUEST_IN_PROGRESS;
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
    code: error.code,
    type: error.kind === "run_failed" && status >= 500 ? "server_error" : undefined,
    headers,
  });
}

export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof NativeError) return fromNativeError(error);
  return new GatewayError({
    status: 500,
    message: "internal gateway error",
    code: "internal_error",
    type: "server_error",
    headers: { "x-should-retry": "false" },
  });
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
  request_id: string | null;
}

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
