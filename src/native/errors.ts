/**
 * The one typed error for everything that can go wrong between the gateway and native:
 * native `{code,message}` bodies, axum plain-text errors, network failures, timeouts, malformed
 * bodies or SSE, streams cut before a terminal event, runs that end failed/cancelled, and waiting
 * states no client protocol can express.
 *
 * Nothing here knows a client protocol or an HTTP envelope: `src/http/errors.ts` maps a
 * `NativeError` (and `ToolResultsError`, the client's own mistakes about tool results) to the
 * status, type and headers each protocol answers with — in one place.
 */
export type NativeErrorKind =
  /** Native answered with a non-2xx status. `status` and `code` are native's. */
  | "http"
  /** fetch rejected: refused, reset, DNS, TLS. */
  | "network"
  /** connect / first byte / idle timeout fired (gateway-side). */
  | "timeout"
  /** Native answered 2xx but the body was not what the contract says (bad JSON, bad SSE, schema). */
  | "protocol"
  /** The SSE stream ended without a terminal event. */
  | "cut"
  /** The run itself ended `failed`. `code` is its failure class (see `runFailedError`). */
  | "run_failed"
  /** The run was cancelled. */
  | "run_cancelled"
  /** The run waits for something a client protocol cannot answer (a human approval, a generic callback). */
  | "unsupported_action"
  /** The request, mapped to native, is larger than native accepts; it was not sent. */
  | "too_large";

/** Native's 409 for a reused `execution.idempotency_key` with a different body (native-api.md §1.3). */
export const IDEMPOTENCY_CONFLICT = "idempotency_conflict";

/** The client's 409 for a replayed key whose first attempt has not finished (client.ts, retryable). */
export const IDEMPOTENT_REQUEST_IN_PROGRESS = "idempotent_request_in_progress";

/** The code of a run that waits for an action the client protocol cannot carry (upstream 0.3's name, §7). */
export const REQUIRED_ACTION_NOT_SUPPORTED = "required_action_not_supported";

export interface NativeErrorInit {
  kind: NativeErrorKind;
  /** HTTP status native answered with (kind `http`), else the status the gateway should answer with. */
  status: number;
  code: string;
  message: string;
  /** Seconds from native's `retry-after` (or the failed run's details), when known. */
  retryAfter?: string | undefined;
  /** Whether repeating the request may succeed; undefined lets the HTTP mapping decide by kind/status. */
  retryable?: boolean | undefined;
  /** The client's request field the error is about (a `ToolResultsError` carried as a stream's fault). */
  param?: string | undefined;
}

export class NativeError extends Error {
  readonly kind: NativeErrorKind;
  readonly status: number;
  readonly code: string;
  readonly retryAfter: string | undefined;
  readonly retryable: boolean | undefined;
  readonly param: string | undefined;

  constructor(init: NativeErrorInit) {
    super(init.message);
    this.name = "NativeError";
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.retryAfter = init.retryAfter;
    this.retryable = init.retryable;
    this.param = init.param;
  }

  static cancelled(message = "the 1flowbase run was cancelled"): NativeError {
    return new NativeError({ kind: "run_cancelled", status: 409, code: "run_cancelled", message, retryable: false });
  }

  static cut(): NativeError {
    return new NativeError({
      kind: "cut",
      status: 502,
      code: "upstream_stream_cut",
      message: "the 1flowbase event stream ended before the run finished",
    });
  }

  /** A tool callback the gateway cannot hand to a client (too many calls, ids that are not UUIDs). */
  static invalidToolCalls(message: string): NativeError {
    return new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_response", message, retryable: false });
  }

  /**
   * The mapped native request is over the native body limit (`NATIVE_MAX_REQUEST_BYTES`, default the
   * fork's axum 2 MiB, errata 3): refused before sending, so it never becomes native's plain-text 413
   * deep inside a run.
   */
  static tooLarge(bytes: number, limitBytes: number): NativeError {
    return new NativeError({
      kind: "too_large",
      status: 413,
      code: "native_request_too_large",
      message:
        `the request maps to a ${bytes}-byte 1flowbase run request, over the ${limitBytes}-byte limit of the 1flowbase api-server ` +
        "(NATIVE_MAX_REQUEST_BYTES): shorten the conversation or its attachments, or raise the limit on both the api-server and the gateway",
      retryable: false,
    });
  }

  /** A waiting state no client protocol can answer (native-api.md errata 5: human approval). */
  static unsupportedAction(message: string): NativeError {
    return new NativeError({ kind: "unsupported_action", status: 409, code: REQUIRED_ACTION_NOT_SUPPORTED, message, retryable: false });
  }
}

/**
 * A client's tool results do not answer pending tool calls of a run it owns: a forged or altered id,
 * another key's run, an already answered turn, a missing or duplicate result, or native's own
 * rejection of the results. Always the client's mistake: a 400 naming `param`.
 */
export class ToolResultsError extends Error {
  readonly code: string;
  readonly param: string;

  constructor(message: string, param: string, code: string) {
    super(message);
    this.name = "ToolResultsError";
    this.code = code;
    this.param = param;
  }
}

// ---------------------------------------------------------------------------------------------
// Failed runs: the failure class
// ---------------------------------------------------------------------------------------------

/** A run's `error` as native reports it (event or record); any shape is tolerated. */
export interface RunErrorLike {
  code?: string | null | undefined;
  message?: string | null | undefined;
  details?: unknown;
}

/**
 * Provider failure classes (`ProviderRuntimeErrorKind`, fork `api/crates/plugin-framework/src/
 * provider_contract.rs` ~363–370, plus upstream's transport/affinity classes) → the status the
 * gateway answers with and whether a retry may help. Upstream 0.3's `blocking_run_projection_error`
 * (`api/apps/api-server/src/routes/application_public_api/native.rs`) is the reference; two classes
 * differ on purpose:
 * - `model_not_found` → 404: the protocols' own answer to an unknown model (OpenAI `model_not_found`,
 *   Anthropic `not_found_error`); upstream says 500.
 * - `auth_failed` → 502, not 401: it is the *application's provider credentials* that failed, not the
 *   caller's key — a 401 would make Codex or Claude Code ask the user to log in again.
 */
const RUN_FAILURE_CLASSES: Readonly<Record<string, { status: number; retryable: boolean }>> = {
  rate_limited: { status: 429, retryable: true },
  rate_limit_exceeded: { status: 429, retryable: true },
  provider_transport_unavailable: { status: 503, retryable: true },
  endpoint_unreachable: { status: 502, retryable: true },
  provider_upstream_error: { status: 502, retryable: true },
  provider_invalid_response: { status: 502, retryable: true },
  provider_affinity_mismatch: { status: 409, retryable: false },
  auth_failed: { status: 502, retryable: false },
  model_not_found: { status: 404, retryable: false },
  context_length_exceeded: { status: 400, retryable: false },
  invalid_prompt: { status: 400, retryable: false },
};

/** The generic code native puts on every live `run.failed` (fork `sse.rs` ~256–263, errata 1). */
export const GENERIC_RUN_FAILURE = "runtime_error";

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/**
 * The failure class of a run error: its `code` unless that is the generic `runtime_error`, else the
 * class the fork keeps in `details.error_code` (`native_results.rs` ~12–29: the record's `details`
 * is the runtime error payload minus `provider_details`). Null when nothing more specific is known.
 */
export function runFailureClass(error: RunErrorLike | null | undefined): string | null {
  const code = typeof error?.code === "string" && error.code ? error.code : null;
  if (code && code !== GENERIC_RUN_FAILURE) return code;
  const details = record(error?.details);
  const detailed = details?.["error_code"] ?? details?.["code"];
  return typeof detailed === "string" && detailed && detailed !== GENERIC_RUN_FAILURE ? detailed : null;
}

/** True when the error names no class: a live `run.failed`, whose class only the run record has. */
export function needsRunRecordForClass(error: RunErrorLike | null | undefined): boolean {
  return runFailureClass(error) === null && record(error?.details) === null;
}

function detailsStatus(details: Record<string, unknown> | null): number | null {
  const status = details?.["status_code"] ?? details?.["http_status"];
  return typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 599 ? status : null;
}

function detailsRetryAfter(details: Record<string, unknown> | null): string | undefined {
  const value = details?.["retry_after"] ?? details?.["retry_after_seconds"];
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return String(Math.ceil(value));
  if (typeof value === "string" && /^\d{1,6}$/.test(value.trim())) return value.trim();
  const ms = details?.["retry_after_ms"];
  if (typeof ms === "number" && Number.isFinite(ms) && ms >= 0) return String(Math.ceil(ms / 1000));
  return undefined;
}

/**
 * A failed run (`run.failed` payload or a record's `error`) → `NativeError` of kind `run_failed`
 * with its class as `code`, the status it implies, retryability and `retryAfter` when known. A
 * provider status in `details.status_code` (newer upstream) wins, as in upstream's projection.
 */
export function runFailedError(error: RunErrorLike | null | undefined): NativeError {
  const details = record(error?.details);
  const failureClass = runFailureClass(error) ?? GENERIC_RUN_FAILURE;
  const known = RUN_FAILURE_CLASSES[failureClass];
  const providerStatus = detailsStatus(details);
  let status = known?.status ?? 500;
  let retryable = known?.retryable ?? false;
  if (providerStatus !== null) {
    // A provider's 401/403 is the application's credentials (see RUN_FAILURE_CLASSES), never the caller's.
    status = providerStatus === 401 || providerStatus === 403 ? 502 : providerStatus;
    retryable = providerStatus === 429 || providerStatus === 408 || (providerStatus >= 500 && providerStatus !== 501);
  }
  const message = (typeof error?.message === "string" && error.message) || "the 1flowbase run failed";
  return new NativeError({ kind: "run_failed", status, code: failureClass, message, retryable, retryAfter: detailsRetryAfter(details) });
}
