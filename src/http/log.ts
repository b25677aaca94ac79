/**
 * Structured JSON logs (Workers Logs / `observability` picks them up and indexes the fields).
 *
 * One `msg: "request"` line per request, written at the request's **real end**: for a stream that
 * is when its body ends (terminal frame sent, client gone, or a fault), not when the headers went
 * out — a stream that native cuts half-way is a `failed` request, not a 200 that looked fine
 * (issue 16 point 1). The line has the same shape for every protocol:
 *
 *   requestId, method, route, protocol, model, nativeRunId, status, stream,
 *   outcome (completed | incomplete | failed | cancelled | client_aborted | refused),
 *   finishReason (tool_calls, when the answer stopped for tools), errorCode, errorDetail,
 *   usage {input, output, total, cachedInput, reasoning}, ttfbMs, durationMs
 *
 * Its level says who is at fault (`FaultOrigin`, http/errors.ts): `info` for answers and refused
 * requests, `warn` for an upstream failure (1flowbase or D1) carrying the upstream's code, `error`
 * only for the gateway's own bugs and for a deployment that cannot work until an operator acts.
 * `LOG_LEVEL` filters by rank. Never keys, never content: the fields are ids, codes, counts and
 * times; `errorDetail` is an upstream's or the runtime's own error text (never the request's),
 * cut to `MAX_DETAIL_CHARS`.
 */
import type { AnswerEnd } from "../native/answer";
import type { NativeError } from "../native/errors";
import type { Usage } from "../native/usage";
import type { FaultOrigin, GatewayError } from "./errors";

export type LogLevel = "info" | "warn" | "error";

const RANK: Readonly<Record<string, number>> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

/** Writes one JSON line at `level` unless `configured` (the `LOG_LEVEL` setting) is above it. */
export function writeLogLine(level: LogLevel, msg: string, fields: Readonly<Record<string, unknown>>, configured: string): void {
  if ((RANK[level] ?? 1) < (RANK[configured] ?? 1)) return;
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export type RequestOutcome = "completed" | "incomplete" | "failed" | "cancelled" | "client_aborted" | "refused";

/** How a streamed body ended (src/http/sse.ts). */
export type StreamEnd = "completed" | "client_closed" | "error";

/** The protocol a path speaks, for the log line. */
export function protocolOfPath(path: string): string {
  if (path.startsWith("/v1/messages")) return "anthropic-messages";
  if (path.startsWith("/v1/responses")) return "openai-responses";
  if (path.endsWith("/chat/completions")) return "openai-chat";
  if (path.startsWith("/v1/models")) return "openai-models";
  return "gateway";
}

const MAX_DETAIL_CHARS = 300;

function detailOf(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? `: ${String(error.cause)}` : "";
  const text = `${String(error)}${cause}`;
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}

function usageFields(usage: Usage): Record<string, number> {
  return {
    input: usage.inputTokens,
    output: usage.outputTokens,
    total: usage.totalTokens,
    cachedInput: usage.cachedInputTokens,
    reasoning: usage.reasoningTokens,
  };
}

/** A failed answer's code → outcome: the client going away and a cancel are not failures. */
function failureOutcome(error: NativeError): RequestOutcome {
  if (error.code === "client_disconnected") return "client_aborted";
  if (error.kind === "run_cancelled") return "cancelled";
  return "failed";
}

/** Who is at fault for a failed answer (the same rule as `fromNativeError`). */
function answerFaultOrigin(error: NativeError): FaultOrigin {
  if (error.code === "client_disconnected" || error.kind === "run_cancelled") return "client";
  if (error.kind === "unsupported_action") return "upstream";
  return error.kind === "protocol" && error.status === 500 ? "gateway" : "upstream";
}

/**
 * The detail of a failed answer: the transport's or native's own error text — not a failed run's,
 * which is the flow's error message and may quote what the model or the user said (errata 7).
 */
function failureDetail(error: NativeError, origin: FaultOrigin): { errorDetail?: string } {
  if (origin === "client" || error.kind === "run_failed") return {};
  return { errorDetail: detailOf(error) };
}

const LEVEL_OF: Readonly<Record<FaultOrigin, LogLevel>> = { client: "info", upstream: "warn", gateway: "error" };

/**
 * The log line of one request, filled in as the request goes (routes, the answer reader's end, the
 * error renderer, the stream's end) and written once, when the response has been handed out *and*
 * (for a stream) its body has ended — whichever comes last.
 */
export class RequestLog {
  model: string | undefined;
  nativeRunId: string | undefined;
  private readonly startedAt = Date.now();
  private answer: AnswerEnd | null = null;
  private error: { code: string | null; origin: FaultOrigin; detail: string | undefined } | null = null;
  private response: { status: number; stream: boolean; route: string } | null = null;
  private streaming = false;
  private streamEnd: StreamEnd | null = null;
  private firstByteAt: number | null = null;
  private written = false;

  constructor(
    private readonly requestId: string,
    private readonly method: string,
    private readonly path: string,
    /** The `LOG_LEVEL` in force (read when the line is written: config is known only after validation). */
    private readonly configuredLevel: () => string,
  ) {}

  /** The answer reader's end (`AnswerReaderOptions.onEnd`): outcome, usage, the failure's code. */
  readonly answered = (end: AnswerEnd): void => {
    this.answer ??= end;
    if (end.runId !== null) this.nativeRunId ??= end.runId;
  };

  /** The error the response renders (app.onError), with its origin and (when not the caller's) its detail. */
  failed(error: GatewayError, thrown: unknown): void {
    this.error = { code: error.code, origin: error.origin, detail: error.origin === "client" ? undefined : detailOf(thrown) };
  }

  /** A streamed body follows the headers: the line waits for its end. Returns the stream's hooks. */
  streamStarted(): { firstBytes: () => void; ended: (end: StreamEnd, fault?: unknown) => void } {
    this.streaming = true;
    return {
      firstBytes: () => {
        this.firstByteAt ??= Date.now();
      },
      ended: (end, fault) => {
        if (this.streamEnd !== null) return;
        this.streamEnd = end;
        if (end === "error" && fault !== undefined) this.error = { code: "gateway_stream_error", origin: "gateway", detail: detailOf(fault) };
        this.write();
      },
    };
  }

  /** The response is out (the middleware, after the route): its status; the time to first byte of a JSON answer. */
  responded(status: number, route: string, stream: boolean): void {
    this.response = { status, stream, route };
    if (!this.streaming) this.firstByteAt ??= Date.now();
    this.write();
  }

  private outcome(status: number): { outcome: RequestOutcome; origin: FaultOrigin } {
    if (this.error?.origin === "gateway") return { outcome: "failed", origin: "gateway" };
    if (this.answer !== null) {
      if (this.answer.error === null) {
        // The answer was complete, but the client left before its last frame was written.
        if (this.streamEnd === "client_closed") return { outcome: "client_aborted", origin: "client" };
        return { outcome: this.answer.status === "incomplete" ? "incomplete" : "completed", origin: "client" };
      }
      return { outcome: failureOutcome(this.answer.error), origin: answerFaultOrigin(this.answer.error) };
    }
    if (this.streamEnd === "client_closed") return { outcome: "client_aborted", origin: "client" };
    if (this.error !== null) {
      if (this.error.code === "client_disconnected") return { outcome: "client_aborted", origin: "client" };
      return { outcome: status < 500 && this.error.origin === "client" ? "refused" : "failed", origin: this.error.origin };
    }
    if (this.streamEnd === "error") return { outcome: "failed", origin: "gateway" };
    return { outcome: status >= 400 ? (status < 500 ? "refused" : "failed") : "completed", origin: status >= 500 ? "gateway" : "client" };
  }

  private write(): void {
    if (this.written || this.response === null || (this.streaming && this.streamEnd === null)) return;
    this.written = true;
    const { status, stream, route } = this.response;
    const { outcome, origin } = this.outcome(status);
    const failure = this.answer?.error ?? null;
    const errorCode = failure?.code ?? this.error?.code ?? undefined;
    const usage = this.answer?.usage ?? null;
    writeLogLine(
      LEVEL_OF[origin],
      "request",
      {
        requestId: this.requestId,
        method: this.method,
        route,
        protocol: protocolOfPath(this.path),
        ...(this.model !== undefined ? { model: this.model } : {}),
        ...(this.nativeRunId !== undefined ? { nativeRunId: this.nativeRunId } : {}),
        status,
        stream,
        outcome,
        ...(this.answer?.status === "tool_calls" ? { finishReason: "tool_calls" } : {}),
        ...(errorCode ? { errorCode } : {}),
        ...(failure ? failureDetail(failure, origin) : this.error?.detail ? { errorDetail: this.error.detail } : {}),
        ...(usage ? { usage: usageFields(usage) } : {}),
        ...(this.firstByteAt !== null ? { ttfbMs: this.firstByteAt - this.startedAt } : {}),
        durationMs: Date.now() - this.startedAt,
      },
      this.configuredLevel(),
    );
  }
}
