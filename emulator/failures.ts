/**
 * How a failed run looks, in the three places a client can see it (fork c98c4dec):
 *
 * 1. the flow's *error payload* (what the runtime stores in `flow_runs.error_payload`): for an LLM
 *    node failure it is `build_provider_error_payload` (orchestration-runtime
 *    `execution_engine/llm_final_content.rs:176-195`): `{provider_instance_id, provider_code,
 *    protocol, error_code, message, provider_summary, provider_details?}` where `error_code` is the
 *    `ProviderRuntimeErrorKind` (plugin-framework `provider_contract.rs:361-370`);
 * 2. the live `run.failed` event: always `{code: "runtime_error", message: payload.message}`
 *    (api-server `routes/application_public_api/sse.rs:239-267`) — the class is not on the wire;
 * 3. the run record (`GET /runs/{id}`, blocking create): `{code: payload.code ?? "runtime_error",
 *    message, details: payload minus provider_details}` (control-plane
 *    `application_public_api/run_service/native_results.rs:12-96`) — the class is in
 *    `details.error_code`.
 *
 * And the LLM node's output text becomes the error message (`failed_llm_output_text`,
 * `execution_engine/llm_node_outputs.rs:122-131`), which the flow's answer node renders: the run's
 * `answer` is the error text (native_results.rs:38).
 */
import { type EmulatorFailure, PROVIDER_ERROR_CODES } from "./script";

export type ProviderErrorCode = (typeof PROVIDER_ERROR_CODES)[number];

const isProviderErrorCode = (code: string | undefined): code is ProviderErrorCode =>
  code !== undefined && (PROVIDER_ERROR_CODES as readonly string[]).includes(code);

/** The flow's error payload, as stored on the run row. */
export type ErrorPayload = Record<string, unknown>;

/** The record's `error` (`NativeError`, control-plane native.rs). */
export interface NativeError {
  code: string;
  message: string;
  details: unknown;
}

/** The emulated LLM provider route (`build_llm_provider_route_payload`, llm_node_outputs.rs:250-257). */
const PROVIDER_ROUTE = {
  provider_instance_id: "0197a000-0000-7000-8000-0000000000e1",
  provider_code: "emulator_provider",
  protocol: "openai_compatible",
} as const;

const REASON_PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * The class a provider plugin gives an HTTP status, following `ProviderRuntimeError::normalize`
 * (provider_contract.rs:402-443: "401"/"forbidden" → auth, "429" → rate limit, "503" → endpoint
 * unreachable); other statuses are the plugin's `provider_upstream_error` with the raw response
 * kept in `provider_details` (see the fork's tests `provider_upstream_error_keeps_raw_details…`).
 */
function errorCodeForStatus(status: number): ProviderErrorCode {
  if (status === 401 || status === 403) return "auth_failed";
  if (status === 429) return "rate_limited";
  if (status === 404) return "model_not_found";
  if (status === 503) return "endpoint_unreachable";
  return "provider_upstream_error";
}

const DEFAULT_STATUS: Partial<Record<ProviderErrorCode, number>> = {
  auth_failed: 401,
  rate_limited: 429,
  model_not_found: 404,
  provider_upstream_error: 502,
};

/** Provider messages shaped like the plugins' (`"<status> <reason>: <text>"`, fork tests). */
function defaultProviderMessage(code: ProviderErrorCode, status: number | undefined): string {
  const prefix = status !== undefined ? `${status} ${REASON_PHRASES[status] ?? "Error"}: ` : "";
  switch (code) {
    case "auth_failed":
      return `${prefix}Incorrect API key provided`;
    case "rate_limited":
      return `${prefix}rate limit exceeded`;
    case "model_not_found":
      return `${prefix}model not found`;
    case "provider_upstream_error":
      return `${prefix}upstream request failed`;
    case "endpoint_unreachable":
      return status !== undefined ? `${prefix}upstream unavailable` : "connect timeout";
    case "provider_invalid_response":
      return `${prefix}provider invocation finished with error`;
    case "provider_unavailable":
      return "all failover queue attempts failed";
  }
}

/**
 * `sanitize_diagnostic_text` (llm_final_content.rs:231-253), the part a client can observe: the
 * message is trimmed and cut to 240 characters plus `...`. (Secret redaction is not emulated.)
 */
function sanitizeDiagnosticText(text: string): string {
  const trimmed = text.trim();
  const chars = Array.from(trimmed);
  return chars.length <= 240 ? trimmed : `${chars.slice(0, 240).join("")}...`;
}

/** The flow's error payload for a scripted failure. */
export function failurePayload(fail: EmulatorFailure): ErrorPayload {
  // Legacy `fail.code`: a provider class means a provider failure (a provider error payload has no
  // `code` key); any other value is a payload `code`, which the record does expose as `error.code`.
  const legacyProviderCode = isProviderErrorCode(fail.code) ? fail.code : undefined;
  const payloadCode = fail.code !== undefined && !legacyProviderCode && fail.code !== "runtime_error" ? fail.code : undefined;
  const errorCode: ProviderErrorCode | undefined =
    fail.error_code ?? legacyProviderCode ?? (fail.status_code !== undefined ? errorCodeForStatus(fail.status_code) : undefined);

  if (errorCode === undefined) {
    // Not a provider failure: a plain runtime error payload `{message}` (e.g. the route's
    // `flow_failed` with `{"message": error}`, native.rs:642-651).
    const payload: ErrorPayload = { message: fail.message ?? "published run failed" };
    if (payloadCode !== undefined) payload.code = payloadCode;
    return payload;
  }
  if (errorCode === "provider_unavailable") {
    return { error_code: errorCode, message: fail.message ?? defaultProviderMessage(errorCode, undefined), attempts: [] };
  }

  const status = fail.status_code ?? DEFAULT_STATUS[errorCode];
  const message = sanitizeDiagnosticText(fail.message ?? defaultProviderMessage(errorCode, status));
  const payload: ErrorPayload = {
    ...PROVIDER_ROUTE,
    error_code: errorCode,
    message,
    provider_summary: fail.provider_summary === undefined || fail.provider_summary === null ? null : sanitizeDiagnosticText(fail.provider_summary),
  };
  if (status !== undefined || fail.retry_after !== undefined || fail.raw_body !== undefined) {
    const headers: Record<string, string> = { "x-request-id": "req_emulator" };
    if (fail.retry_after !== undefined) headers["retry-after"] = String(fail.retry_after);
    payload.provider_details = {
      ...(status !== undefined ? { status } : {}),
      content_type: "application/json",
      headers,
      raw_body: fail.raw_body ?? JSON.stringify({ error: { message, code: errorCode } }),
    };
  }
  // Newer plugins/upstream put the status on the payload itself; the fork passes any payload key
  // through to `details`, so this is how `details.status_code` appears.
  if (fail.details_status_code && status !== undefined) payload.status_code = status;
  if (payloadCode !== undefined) payload.code = payloadCode;
  return payload;
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** native_results.rs:80-96: the message quotes the provider's raw response body. */
function messageQuotesRawBody(payload: ErrorPayload, message: unknown): boolean {
  const text = str(message);
  const details = payload.provider_details;
  const rawBody = typeof details === "object" && details !== null ? str((details as Record<string, unknown>).raw_body) : undefined;
  if (text === undefined || rawBody === undefined || rawBody.trim() === "") return false;
  return text.includes(rawBody);
}

/** The record's `error` (native_results.rs:12-78). */
export function publicError(payload: ErrorPayload): NativeError {
  const rawMessage = str(payload.message) ?? str(payload.error) ?? JSON.stringify(payload);
  const upstream = payload.error_code === "provider_upstream_error";
  const details: Record<string, unknown> = { ...payload };
  if (upstream) {
    if (messageQuotesRawBody(payload, details.message)) details.message = "provider upstream request failed";
    delete details.provider_summary;
  }
  delete details.provider_details;
  return {
    code: str(payload.code) ?? "runtime_error",
    message: upstream && messageQuotesRawBody(payload, rawMessage) ? "provider upstream request failed" : rawMessage,
    details,
  };
}

/** The `error` string of the live `flow_failed` event (`debug_stream_events::flow_failed`). */
export function liveFailureMessage(payload: ErrorPayload): string {
  return str(payload.message) ?? JSON.stringify(payload);
}

/** The failed LLM node's output text, which the answer node renders (llm_node_outputs.rs:122-131). */
export function failedNodeText(payload: ErrorPayload): string {
  const message = str(payload.message);
  if (message !== undefined && message.trim() !== "") return message;
  const errorMessage = str(payload.error_message);
  if (errorMessage !== undefined && errorMessage.trim() !== "") return errorMessage;
  return "LLM node failed";
}
