/**
 * The one typed error for everything that can go wrong between the gateway and native:
 * native `{code,message}` bodies, axum plain-text errors, network failures, timeouts, malformed
 * bodies or SSE, streams cut before a terminal event, and runs that end failed/cancelled.
 *
 * Protocol layers map it to their own envelope with `src/http/errors.ts`; nothing here knows a
 * client protocol.
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
  /** The run itself ended `failed` (`run.failed` or status `failed`). `code` is the run's error code. */
  | "run_failed"
  /** The run was cancelled. */
  | "run_cancelled";

/** Native's 409 for a reused `execution.idempotency_key` with a different body (native-api.md §1.3). */
export const IDEMPOTENCY_CONFLICT = "idempotency_conflict";

/** The client's 409 for a replayed key whose first attempt has not finished (client.ts, retryable). */
export const IDEMPOTENT_REQUEST_IN_PROGRESS = "idempotent_request_in_progress";

export interface NativeErrorInit {
  kind: NativeErrorKind;
  /** HTTP status native answered with (kind `http`), else the status the gateway should answer with. */
  status: number;
  code: string;
  message: string;
  /** Seconds from native's `retry-after`, when it sent one. */
  retryAfter?: string | undefined;
}

export class NativeError extends Error {
  readonly kind: NativeErrorKind;
  readonly status: number;
  readonly code: string;
  readonly retryAfter: string | undefined;

  constructor(init: NativeErrorInit) {
    super(init.message);
    this.name = "NativeError";
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.retryAfter = init.retryAfter;
  }

  /** A run-level error (`run.failed` payload or blocking `error`) → status implied by its code.
   *  Mirrors upstream 0.3's `blocking_run_projection_error` (native-api.md §7). */
  static fromRunError(error: { code?: string | null; message?: string | null } | null | undefined): NativeError {
    const code = error?.code || "runtime_error";
    const message = error?.message || "the 1flowbase run failed";
    return new NativeError({ kind: "run_failed", status: statusForRunErrorCode(code), code, message });
  }

  static cancelled(message = "the 1flowbase run was cancelled"): NativeError {
    return new NativeError({ kind: "run_cancelled", status: 409, code: "run_cancelled", message });
  }

  static cut(): NativeError {
    return new NativeError({
      kind: "cut",
      status: 502,
      code: "upstream_stream_cut",
      message: "the 1flowbase event stream ended before the run finished",
    });
  }
}

/** Upstream 0.3 maps failed-run codes to HTTP statuses; the fork always says 201. We use 0.3's table. */
export function statusForRunErrorCode(code: string): number {
  switch (code) {
    case "rate_limited":
    case "rate_limit_exceeded":
      return 429;
    case "provider_transport_unavailable":
      return 503;
    case "endpoint_unreachable":
    case "provider_upstream_error":
    case "provider_invalid_response":
      return 502;
    case "provider_affinity_mismatch":
    case "run_cancelled":
      return 409;
    case "context_length_exceeded":
    case "invalid_prompt":
      return 400;
    default:
      return 500;
  }
}
