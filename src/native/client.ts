/**
 * The native HTTP client: the only code that calls 1flowbase (`/api/agent/v1`, native-api.md §1).
 *
 * Every method either returns zod-validated data or throws a `NativeError`; nothing else escapes
 * (a `ZodError` from validating the *request* is a programming error in the caller and is left as
 * is). Upstream response headers never leave this module: callers get parsed data only.
 *
 * Facts that shaped it:
 * - §1.2: native accepts only `Authorization: Bearer <sk-…>`; the caller's key is passed through.
 * - §1.3: success is `{data, meta}` (`/models` is bare `{object, data}`); errors are `{code, message}`
 *   JSON, except axum extractor failures (bad path UUID, resume body/Content-Type, 413), which are
 *   plain text.
 * - §1.5/§6: blocking create and resume hold the connection for the whole run → own, long timeout.
 * - §1.6: resume uses axum's `Json` extractor, so `content-type: application/json` is mandatory.
 * - §2.1: streaming answers 200 `text/event-stream`; errors before that are ordinary JSON errors.
 */
import type { z } from "zod";
import type { NativeTimeouts } from "../config";
import { IDEMPOTENT_REQUEST_IN_PROGRESS, NativeError } from "./errors";
import { clientDisconnectedError, itemsToStream, readNativeStream } from "./events";
import type { NativeStreamItem } from "./events";
import {
  NativeErrorBody,
  NativeModelList,
  NativeResumeRequest,
  NativeRunEnvelope,
  NativeRunRequest,
} from "./schema";
import type { NativeRun } from "./schema";
import { isSettledRun, runToItems } from "./synthesize";

/** How a `NativeClient` reaches native. One client per gateway request. */
export interface NativeClientOptions {
  /** Origin of the 1flowbase api-server, no trailing slash; the client appends `/api/agent/v1`. */
  baseUrl: string;
  /** The gateway caller's own application key (§1.2). Sent as Bearer; never logged or stored. */
  apiKey: string;
  /** Forwarded as `x-request-id` for correlation in native's logs. */
  requestId?: string;
  timeouts: NativeTimeouts;
  /** The gateway client's disconnect: aborts in-flight calls and cancels a native stream. */
  signal?: AbortSignal;
  /** Replaces the global `fetch` (tests, service bindings). */
  fetch?: typeof fetch;
}

/** Typed access to the native run API. Every failure is a thrown `NativeError`. */
export interface NativeClient {
  /**
   * `POST /runs` with `response_mode: "streaming"`. Resolves once native answered 200
   * `text/event-stream` (failures before that throw); the stream then never errors — see
   * `readNativeStream` for its faults.
   */
  streamRun(request: NativeRunRequest): Promise<ReadableStream<NativeStreamItem>>;
  /** `GET /runs/{id}` (same key only, else 403/404, §1.6). */
  getRun(runId: string): Promise<NativeRun>;
  /** `POST /runs/{id}/cancel` (409 `invalid_state` when already terminal). */
  cancelRun(runId: string): Promise<NativeRun>;
  /** `POST /runs/{id}/resume` with tool results; JSON reply only, never SSE (§1.6). */
  resumeRun(runId: string, body: NativeResumeRequest): Promise<NativeRun>;
  /** `GET /models`: the application's published model catalog (§3.5). */
  listModels(): Promise<NativeModelList>;
}

const API_PREFIX = "/api/agent/v1";
/** Longest plain-text error body carried into a `NativeError` message. */
const PLAIN_TEXT_LIMIT = 500;


/**
 * One HTTP exchange with its own AbortController: the timer and the caller's signal both abort the
 * fetch (and any body read), and remember *why*, so the failure maps to the right `NativeError`.
 * (workerd has `AbortSignal.any`, but a listener is all we need and lets us tell the causes apart.)
 */
class Exchange {
  readonly controller = new AbortController();
  private readonly callerSignal: AbortSignal | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timedOut = false;
  private callerAborted = false;
  private readonly onCallerAbort = (): void => {
    this.callerAborted = true;
    this.controller.abort();
  };

  constructor(timeoutMs: number, callerSignal: AbortSignal | undefined) {
    this.callerSignal = callerSignal;
    if (callerSignal?.aborted) {
      this.callerAborted = true;
      this.controller.abort();
      return;
    }
    callerSignal?.addEventListener("abort", this.onCallerAbort);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
  }

  /** Stops the timer and unlinks the caller's signal (the exchange is over, or a stream took over). */
  release(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.callerSignal?.removeEventListener("abort", this.onCallerAbort);
  }

  /** Maps a fetch rejection (`phase: "connect"`) or a body read failure (`"body"`) to a NativeError. */
  failure(error: unknown, phase: "connect" | "body"): NativeError {
    if (error instanceof NativeError) return error;
    if (this.callerAborted) return clientDisconnectedError();
    if (this.timedOut) {
      return new NativeError({ kind: "timeout", status: 504, code: "upstream_timeout", message: "1flowbase did not answer in time" });
    }
    const detail = error instanceof Error && error.message ? `: ${error.message}` : "";
    return phase === "connect"
      ? new NativeError({ kind: "network", status: 502, code: "upstream_unreachable", message: `1flowbase is unreachable${detail}` })
      : new NativeError({
          kind: "network",
          status: 502,
          code: "upstream_connection_reset",
          message: `the connection to 1flowbase was reset${detail}`,
        });
  }
}

function invalidResponse(message: string): NativeError {
  return new NativeError({ kind: "protocol", status: 502, code: "upstream_invalid_response", message });
}

/**
 * A non-2xx answer → `NativeError` kind `http` with native's status. JSON `{code,message}` keeps
 * native's code (§1.3); anything else (axum's plain-text extractor errors, a proxy's HTML page) gets
 * `upstream_http_<status>` and the trimmed text.
 */
function httpError(status: number, text: string, retryAfter: string | null): NativeError {
  const retry = retryAfter ?? undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const body = json === undefined ? undefined : NativeErrorBody.safeParse(json);
  if (body?.success) {
    const message = body.data.message || `1flowbase answered HTTP ${status} (${body.data.code})`;
    return new NativeError({ kind: "http", status, code: body.data.code, message, retryAfter: retry });
  }
  const trimmed = text.trim().slice(0, PLAIN_TEXT_LIMIT);
  return new NativeError({
    kind: "http",
    status,
    code: `upstream_http_${status}`,
    message: trimmed || `1flowbase answered HTTP ${status}`,
    retryAfter: retry,
  });
}

/** A `{data: run}` JSON body, or the 502 for anything else. */
function parseRunRecord(text: string, status: number): NativeRun {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalidResponse(`1flowbase answered a streaming run with HTTP ${status} JSON that does not parse`);
  }
  const parsed = NativeRunEnvelope.safeParse(json);
  if (!parsed.success) throw invalidResponse(`1flowbase answered a streaming run with HTTP ${status} JSON that is not a run`);
  return parsed.data.data;
}

/**
 * A replayed idempotency key answered with the existing run's record instead of an event stream.
 *
 * What native sends for a replayed key on a *streaming* create is not documented (native-api.md §8.2:
 * the route calls `start_published_flow_run` again on the existing run). The emulator replays the
 * stream from the durable run (run.started, synthesized deltas, terminal), which needs nothing here.
 * If native instead answers with the run record as JSON, the gateway projects that record — the same
 * events a stream of the finished run carries (`runToItems`), as for resumed runs — so a retried
 * create still answers the first attempt's run and never starts a second one. A record that has not
 * settled yet cannot be projected: 409 `idempotent_request_in_progress`, retryable (SDKs retry 409
 * when `x-should-retry` says so), like Stripe's answer to a concurrent retry.
 */
function replayRecord(run: NativeRun): ReadableStream<NativeStreamItem> {
  if (!isSettledRun(run) && (run.status === "queued" || run.status === "running" || run.status === "created")) {
    throw new NativeError({
      kind: "http",
      status: 409,
      code: IDEMPOTENT_REQUEST_IN_PROGRESS,
      message: "a request with this Idempotency-Key is still being processed; retry it shortly",
      retryAfter: "1",
    });
  }
  return itemsToStream(runToItems(run));
}

/**
 * Creates a native client bound to one caller (key, request id, disconnect signal).
 *
 * @example
 * const native = createNativeClient({ baseUrl: config.NATIVE_API_BASE_URL, apiKey, requestId,
 *   timeouts: nativeTimeouts(config), signal: c.req.raw.signal });
 * const items = await native.streamRun({ query: "Hello" });
 */
export function createNativeClient(options: NativeClientOptions): NativeClient {
  const base = options.baseUrl.replace(/\/+$/, "") + API_PREFIX;
  // Called as a plain function: workerd rejects `fetch` invoked as a method of another object.
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const { timeouts, signal } = options;

  function headers(accept: string, hasBody: boolean): Headers {
    const result = new Headers({ accept, authorization: `Bearer ${options.apiKey}` });
    if (hasBody) result.set("content-type", "application/json");
    if (options.requestId) result.set("x-request-id", options.requestId);
    return result;
  }

  /** Sends a request; resolves with the response (headers received) or throws a NativeError. */
  async function open(exchange: Exchange, method: string, path: string, accept: string, body: unknown): Promise<Response> {
    const init: RequestInit = { method, headers: headers(accept, body !== undefined), signal: exchange.controller.signal };
    if (body !== undefined) init.body = JSON.stringify(body);
    try {
      return await doFetch(base + path, init);
    } catch (error) {
      throw exchange.failure(error, "connect");
    }
  }

  async function readText(exchange: Exchange, response: Response): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      throw exchange.failure(error, "body");
    }
  }

  /** A JSON call: the timeout covers headers *and* body; returns schema-validated data. */
  async function call<T>(method: string, path: string, timeoutMs: number, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    const exchange = new Exchange(timeoutMs, signal);
    try {
      const response = await open(exchange, method, path, "application/json", body);
      const text = await readText(exchange, response);
      if (!response.ok) throw httpError(response.status, text, response.headers.get("retry-after"));
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw invalidResponse(`1flowbase answered ${method} ${path} with HTTP ${response.status} but a body that is not JSON`);
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw invalidResponse(
          `1flowbase answered ${method} ${path} with an unexpected body: ${parsed.error.issues[0]?.message ?? "schema mismatch"}`,
        );
      }
      return parsed.data;
    } finally {
      exchange.release();
    }
  }

  const runPath = (runId: string): string => `/runs/${encodeURIComponent(runId)}`;

  return {
    async streamRun(request) {
      const body = NativeRunRequest.parse({ ...request, response_mode: "streaming" });
      const exchange = new Exchange(timeouts.headersMs, signal);
      let handedOver = false;
      try {
        const response = await open(exchange, "POST", "/runs", "text/event-stream", body);
        if (!response.ok) {
          const text = await readText(exchange, response);
          throw httpError(response.status, text, response.headers.get("retry-after"));
        }
        const contentType = response.headers.get("content-type") ?? "";
        if (body.execution?.idempotency_key !== undefined && /^\s*application\/json\b/i.test(contentType)) {
          const run = parseRunRecord(await readText(exchange, response), response.status);
          return replayRecord(run);
        }
        if (!/^\s*text\/event-stream\b/i.test(contentType) || response.body === null) {
          await response.body?.cancel().catch(() => undefined);
          throw invalidResponse(`1flowbase answered a streaming run with HTTP ${response.status} ${contentType || "(no content-type)"}, not text/event-stream`);
        }
        // Headers are in: the headers timeout and our signal link end here; the idle timeout and
        // the caller's signal are enforced by readNativeStream from now on.
        exchange.release();
        handedOver = true;
        return readNativeStream(response.body, { idleMs: timeouts.idleMs, signal });
      } finally {
        if (!handedOver) exchange.release();
      }
    },

    async getRun(runId) {
      const envelope = await call("GET", runPath(runId), timeouts.headersMs, NativeRunEnvelope);
      return envelope.data;
    },

    async cancelRun(runId) {
      const envelope = await call("POST", `${runPath(runId)}/cancel`, timeouts.headersMs, NativeRunEnvelope);
      return envelope.data;
    },

    async resumeRun(runId, request) {
      const body = NativeResumeRequest.parse(request);
      // Resume runs the rest of the flow in-request, like a blocking create (§1.6).
      const envelope = await call("POST", `${runPath(runId)}/resume`, timeouts.blockingMs, NativeRunEnvelope, body);
      return envelope.data;
    },

    listModels() {
      return call("GET", "/models", timeouts.headersMs, NativeModelList);
    },
  };
}
