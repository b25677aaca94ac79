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
 * - Native never redirects (no 3xx route, §1.1); a 3xx comes from something in between. Following it
 *   would re-send the run body (prompt, history, the caller's key) to another origin and pass that
 *   origin's answer off as a 1flowbase run, so every call uses `redirect: "manual"` and a 3xx is a
 *   protocol error (`upstream_redirect`).
 * - Every body is read under a byte cap while it arrives: error bodies 64 KiB (native's are a few
 *   hundred bytes), run records `maxRecordBytes`; a record over its cap is a 502, never a 200 MB read.
 * - One client serves one gateway request: `timeouts.deadlineMs` bounds all of its calls together.
 */
import type * as z from "../zod";
import type { NativeTimeouts } from "../config";
import { IDEMPOTENT_REQUEST_IN_PROGRESS, NativeError } from "./errors";
import { clientDisconnectedError, itemsToStream, readNativeStream, upstreamDeadlineError } from "./events";
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
  /** Cap on a JSON success body (run record, model list), in bytes. Default `DEFAULT_MAX_RECORD_BYTES`. */
  maxRecordBytes?: number;
  /** Largest request body native accepts (`NATIVE_MAX_REQUEST_BYTES`; default `DEFAULT_MAX_REQUEST_BYTES`). */
  maxRequestBytes?: number;
  /** The gateway client's disconnect: aborts in-flight calls and cancels a native stream. */
  signal?: AbortSignal;
  /** Keeps work alive past the response (`ctx.waitUntil`): a stream's body read to its end after the terminal event (events.ts). */
  background?: (work: Promise<void>) => void;
  /** Replaces the global `fetch` (tests, service bindings). */
  fetch?: typeof fetch;
  /** Hears the headers of every native answer that is not a redirect (rate-limit signals, http/rate-limit.ts). */
  onResponse?: ((headers: Headers) => void) | undefined;
}

/** Options of `streamRun`. */
export interface StreamRunOptions {
  /**
   * When the caller gives up on the create before native's headers arrive (the headers timeout, the
   * deadline, the client going away), keep the request going instead of aborting it, and hand over
   * the run id native then reports (null when it reports none). For an idempotent create: native
   * may have created the run anyway, and a retry must find that run rather than start it again (the
   * fork re-executes a running run on a replayed key, native-api.md errata 2). The caller keeps the
   * promise alive (`ctx.waitUntil`).
   */
  onAbandoned?: ((runId: Promise<string | null>) => void) | undefined;
}

/** Typed access to the native run API. Every failure is a thrown `NativeError`. */
export interface NativeClient {
  /**
   * `POST /runs` with `response_mode: "streaming"`. Resolves once native answered 200
   * `text/event-stream` (failures before that throw); the stream then never errors — see
   * `readNativeStream` for its faults.
   */
  streamRun(request: NativeRunRequest, options?: StreamRunOptions): Promise<ReadableStream<NativeStreamItem>>;
  /**
   * `POST /runs` with a record-only `response_mode` (`RECORD_ONLY_RESPONSE_MODE`): native creates the
   * run with its frozen input and answers 201 with the record, without executing the flow (fork
   * `routes/application_public_api/native.rs:546-577`; native-api.md §1.4: any mode other than
   * blocking/streaming leaves the run `queued`). Responses compaction records its window this way.
   */
  recordRun(request: NativeRunRequest): Promise<NativeRun>;
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
/** The `response_mode` the fork's own route tests use to create a run without executing it (`native_routes.rs:327-372`). */
export const RECORD_ONLY_RESPONSE_MODE = "manual";
/** Longest native error `message` carried into a `NativeError` (native's are one sentence). */
const ERROR_MESSAGE_LIMIT = 2_000;
/** Error bodies are read up to this many bytes; the rest is not read (native's are tiny JSON). */
export const ERROR_BODY_LIMIT_BYTES = 64 * 1024;
/**
 * `NATIVE_MAX_REQUEST_BYTES`'s default: the fork configures no body limit, so axum 0.7's default
 * 2 MiB applies to `POST /runs` and `/resume` (native-api.md errata 3; plain-text 413 above it).
 */
export const DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024;

/** UTF-8 length of `text` without encoding it (a conversation can be megabytes). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * True when `text` is at most `limitBytes` as UTF-8. A UTF-16 unit is at most 3 bytes, so a text of
 * up to a third of the limit in units fits without counting: counting is a loop over every
 * character, ≈ 150 µs of a 94 KB request's first byte in workerd (bench/FINDINGS.md, session 13).
 */
export function fitsUtf8(text: string, limitBytes: number, count: () => number = () => utf8Length(text)): boolean {
  return text.length * 3 <= limitBytes || count() <= limitBytes;
}

/** A run request's body as sent, with its size known on demand (`bytes` counts once, when first read). */
export interface NativeRunBody {
  json: string;
  readonly bytes: number;
  /** True when the body is within native's limit of `limitBytes` (counted only when it could be over). */
  fits(limitBytes: number): boolean;
}

/**
 * The native `POST /runs` body of `request` as the client sends it (streaming), and its size: what
 * the native body limit applies to. Routes use it to fit a conversation under the limit (Responses
 * `truncation: "auto"`).
 */
export function nativeRunBody(request: NativeRunRequest): NativeRunBody {
  const { json } = streamingRunBody(request);
  let bytes: number | undefined;
  const body: NativeRunBody = {
    json,
    get bytes() {
      return (bytes ??= utf8Length(json));
    },
    fits: (limitBytes) => fitsUtf8(json, limitBytes, () => body.bytes),
  };
  return body;
}

/**
 * Each run request's validated streaming body and its JSON, computed once: a Responses create sizes
 * its body for the limit (`fitToNativeLimit`) and then sends that very object, so without this one
 * create validated and serialised its native body twice (the second time after a chained create's
 * index read, on the path to its first byte). Keyed by the object: a run request is built and then
 * never changed — every step that alters one (`applyIdempotency`, `withMaxOutputTokens`,
 * `withReasoning`, the truncation in `fitToNativeLimit`) makes a new object — and the object is
 * frozen once its body is known, so a later assignment throws instead of sending a body other than
 * the one that was sized.
 */
const streamingBodies = new WeakMap<NativeRunRequest, { body: NativeRunRequest; json: string }>();

function streamingRunBody(request: NativeRunRequest): { body: NativeRunRequest; json: string } {
  let known = streamingBodies.get(request);
  if (!known) {
    const body = NativeRunRequest.parse({ ...request, response_mode: "streaming" });
    known = { body, json: JSON.stringify(body) };
    streamingBodies.set(Object.freeze(request), known);
  }
  return known;
}

/** `NATIVE_MAX_RECORD_BYTES`'s default (config.ts explains the number). */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** `NativeError.code` of a 3xx from native (never followed). */
export const UPSTREAM_REDIRECT = "upstream_redirect";
/** `NativeError.code` of a success body over its cap. */
export const UPSTREAM_BODY_TOO_LARGE = "upstream_body_too_large";

/** The request's deadline, shared by every exchange of one client. */
class Deadline {
  private readonly at: number;
  constructor(readonly totalMs: number | undefined) {
    this.at = totalMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + totalMs;
  }

  /** Milliseconds left (Infinity without a deadline; ≤ 0 once reached). */
  remaining(): number {
    return this.at - Date.now();
  }

  error(): NativeError {
    return upstreamDeadlineError(this.totalMs ?? 0);
  }
}


/**
 * One HTTP exchange with its own AbortController: the timer and the caller's signal both abort the
 * fetch (and any body read), and remember *why*, so the failure maps to the right `NativeError`.
 * (workerd has `AbortSignal.any`, but a listener is all we need and lets us tell the causes apart.)
 */
class Exchange {
  readonly controller = new AbortController();
  private readonly callerSignal: AbortSignal | undefined;
  private readonly deadline: Deadline;
  /** When set, the timer and the caller's signal call this instead of aborting the fetch. */
  private readonly onGiveUp: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timedOut = false;
  /** The request's deadline, not this call's own timeout, is what the timer stands for. */
  private deadlineBound = false;
  private callerAborted = false;
  private readonly onCallerAbort = (): void => {
    this.callerAborted = true;
    this.stop();
  };

  constructor(timeoutMs: number, callerSignal: AbortSignal | undefined, deadline: Deadline, onGiveUp?: () => void) {
    this.callerSignal = callerSignal;
    this.deadline = deadline;
    this.onGiveUp = onGiveUp;
    if (callerSignal?.aborted) {
      this.callerAborted = true;
      this.controller.abort();
      return;
    }
    const left = deadline.remaining();
    this.deadlineBound = left <= timeoutMs;
    if (left <= 0) {
      this.timedOut = true;
      this.controller.abort();
      return;
    }
    callerSignal?.addEventListener("abort", this.onCallerAbort);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.stop();
    }, Math.min(timeoutMs, left));
  }

  /** The exchange is over for the caller: abort the fetch, or (give-up mode) let it run on. */
  private stop(): void {
    if (this.onGiveUp) {
      this.release();
      this.onGiveUp();
    } else {
      this.controller.abort();
    }
  }

  /** Throws the timeout this exchange stands for when it already ran out (before anything is sent). */
  check(): void {
    if (this.callerAborted) throw clientDisconnectedError();
    if (this.timedOut) throw this.timeoutError();
  }

  private timeoutError(): NativeError {
    if (this.deadlineBound) return this.deadline.error();
    return new NativeError({ kind: "timeout", status: 504, code: "upstream_timeout", message: "1flowbase did not answer in time" });
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
    if (this.timedOut) return this.timeoutError();
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

/** Native's error codes are snake_case identifiers; anything else is not a native error body. */
const NATIVE_ERROR_CODE = /^[A-Za-z0-9_.:-]{1,100}$/;
/** `retry-after`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); it is passed on as a header. */
const RETRY_AFTER = /^(?:\d{1,10}|[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT)$/;

/**
 * `<media type>` of a content-type header, for messages: the part before `;`, lowercased, when it is
 * a well-formed `type/subtype` of reasonable length; never the raw header.
 */
function describeContentType(contentType: string | null): string {
  if (contentType === null || contentType.trim() === "") return "no content-type";
  const media = contentType.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$/.test(media) ? media : "unrecognised content-type";
}

/**
 * A non-2xx answer → `NativeError` kind `http` with native's status. JSON `{code,message}` keeps
 * native's code and message (§1.3); anything else (axum's plain-text extractor errors, a proxy's HTML
 * page, a body too large to be one of native's) gets `upstream_http_<status>` and a message that says
 * only what arrived — `1flowbase answered HTTP 502 (text/html)` — never the body's own text, which is
 * not native's to say and may be a whole HTML page. `retry-after` is kept only when well-formed (it
 * becomes a client-facing header).
 */
function httpError(status: number, text: string | null, headers: Headers): NativeError {
  const raw = headers.get("retry-after")?.trim();
  const retryAfter = raw !== undefined && RETRY_AFTER.test(raw) ? raw : undefined;
  let json: unknown;
  if (text !== null) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  const body = json === undefined ? undefined : NativeErrorBody.safeParse(json);
  if (body?.success && NATIVE_ERROR_CODE.test(body.data.code)) {
    const message = body.data.message.trim().slice(0, ERROR_MESSAGE_LIMIT) || `1flowbase answered HTTP ${status} (${body.data.code})`;
    return new NativeError({ kind: "http", status, code: body.data.code, message, retryAfter });
  }
  const what = describeContentType(headers.get("content-type"));
  return new NativeError({
    kind: "http",
    status,
    code: `upstream_http_${status}`,
    message: `1flowbase answered HTTP ${status} (${text === null ? `${what}, body over ${ERROR_BODY_LIMIT_BYTES} bytes, not read` : what})`,
    retryAfter,
  });
}

/** A 3xx: never followed (see the module comment); the Location is not repeated to the client. */
function redirectError(status: number): NativeError {
  return new NativeError({
    kind: "protocol",
    status: 502,
    code: UPSTREAM_REDIRECT,
    message: `1flowbase answered HTTP ${status} (a redirect); the gateway never follows redirects from 1flowbase — NATIVE_API_BASE_URL must name the api-server origin itself`,
  });
}

function bodyTooLarge(status: number, limitBytes: number): NativeError {
  return new NativeError({
    kind: "protocol",
    status: 502,
    code: UPSTREAM_BODY_TOO_LARGE,
    message: `1flowbase answered HTTP ${status} with a body over ${limitBytes} bytes (NATIVE_MAX_RECORD_BYTES); the gateway stopped reading it`,
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

/** Bounds the read of an abandoned create's first event (it only names the run). */
const LATE_FIRST_EVENT_MS = 60_000;

/**
 * The run an abandoned create started, read from native's late answer: the first event of its
 * stream (or the record, for a JSON replay); null for an error or anything else. The rest of the
 * body is not read.
 */
async function lateRunId(response: Response): Promise<string | null> {
  const body = response.body;
  if (!response.ok || body === null) {
    await body?.cancel().catch(() => undefined);
    return null;
  }
  if (/^\s*application\/json\b/i.test(response.headers.get("content-type") ?? "")) {
    try {
      return NativeRunEnvelope.parse(await response.json()).data.id;
    } catch {
      return null;
    }
  }
  const reader = readNativeStream(body, { idleMs: LATE_FIRST_EVENT_MS, firstEventMs: LATE_FIRST_EVENT_MS }).getReader();
  try {
    const { value } = await reader.read();
    return value && value.event !== "fault" ? value.data.run_id : null;
  } finally {
    void reader.cancel().catch(() => undefined);
  }
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
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const deadline = new Deadline(timeouts.deadlineMs);

  function headers(accept: string, hasBody: boolean): Headers {
    const result = new Headers({ accept, authorization: `Bearer ${options.apiKey}` });
    if (hasBody) result.set("content-type", "application/json");
    if (options.requestId) result.set("x-request-id", options.requestId);
    return result;
  }

  /**
   * Sends a request; resolves with the response (headers received) or throws a NativeError. A 3xx is
   * thrown here, for every call, before anything of it is read; a body over native's limit is never
   * sent (native would answer a plain-text 413).
   */
  async function open(exchange: Exchange, method: string, path: string, accept: string, body: unknown, serialized?: string): Promise<Response> {
    exchange.check();
    const init: RequestInit = { method, headers: headers(accept, body !== undefined), signal: exchange.controller.signal, redirect: "manual" };
    if (body !== undefined) {
      const json = serialized ?? JSON.stringify(body);
      if (!fitsUtf8(json, maxRequestBytes)) throw NativeError.tooLarge(utf8Length(json), maxRequestBytes);
      init.body = json;
    }
    let response: Response;
    try {
      response = await doFetch(base + path, init);
    } catch (error) {
      throw exchange.failure(error, "connect");
    }
    // workerd hands a manual redirect over as the 3xx itself; browsers as an opaque one (status 0).
    if ((response.status >= 300 && response.status < 400) || (response.type as string) === "opaqueredirect") {
      await response.body?.cancel().catch(() => undefined);
      throw redirectError(response.status);
    }
    options.onResponse?.(response.headers);
    return response;
  }

  /**
   * The body as text, reading at most `limitBytes`: `null` when it is longer (the rest is not read,
   * the body is cancelled). A declared content-length over the cap is refused without reading.
   */
  async function readCapped(exchange: Exchange, response: Response, limitBytes: number): Promise<string | null> {
    const body = response.body;
    if (body === null) return "";
    const declared = Number(response.headers.get("content-length") ?? "");
    if (Number.isFinite(declared) && declared > limitBytes) {
      await body.cancel().catch(() => undefined);
      return null;
    }
    const reader = body.getReader();
    const utf8 = new TextDecoder();
    const parts: string[] = [];
    let total = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > limitBytes) {
          await reader.cancel().catch(() => undefined);
          return null;
        }
        parts.push(utf8.decode(value, { stream: true }));
      }
    } catch (error) {
      throw exchange.failure(error, "body");
    }
    parts.push(utf8.decode());
    return parts.join("");
  }

  /** A non-2xx answer as its NativeError (the body read under the error cap). */
  async function failed(exchange: Exchange, response: Response): Promise<NativeError> {
    return httpError(response.status, await readCapped(exchange, response, ERROR_BODY_LIMIT_BYTES), response.headers);
  }

  /** A 2xx JSON body under the record cap (502 `upstream_body_too_large` over it). */
  async function readRecord(exchange: Exchange, response: Response): Promise<string> {
    const text = await readCapped(exchange, response, maxRecordBytes);
    if (text === null) throw bodyTooLarge(response.status, maxRecordBytes);
    return text;
  }

  /** A JSON call: the timeout covers headers *and* body; returns schema-validated data. */
  async function call<T>(method: string, path: string, timeoutMs: number, schema: z.ZodMiniType<T>, body?: unknown): Promise<T> {
    const exchange = new Exchange(timeoutMs, signal, deadline);
    try {
      const response = await open(exchange, method, path, "application/json", body);
      if (!response.ok) throw await failed(exchange, response);
      const text = await readRecord(exchange, response);
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
    async streamRun(request, runOptions = {}) {
      const { body, json } = streamingRunBody(request);
      const onAbandoned = runOptions.onAbandoned;
      // Give-up mode (see StreamRunOptions): the caller hears the timeout or disconnect at once, while
      // the request runs on until native's headers say which run it created.
      let giveUp: ((error: NativeError) => void) | undefined;
      const gaveUp = onAbandoned ? new Promise<never>((_, reject) => (giveUp = reject)) : undefined;
      gaveUp?.catch(() => undefined);
      const exchange: Exchange = new Exchange(timeouts.headersMs, signal, deadline, onAbandoned ? () => giveUp?.(exchange.failure(new Error("abandoned"), "connect")) : undefined);
      let handedOver = false;
      try {
        const opening = open(exchange, "POST", "/runs", "text/event-stream", body, json);
        let response: Response;
        try {
          response = gaveUp ? await Promise.race([opening, gaveUp]) : await opening;
        } catch (error) {
          if (onAbandoned && error instanceof NativeError && (error.kind === "timeout" || error.code === "client_disconnected")) {
            handedOver = true;
            onAbandoned(opening.then((late) => lateRunId(late), () => null));
          }
          throw error;
        }
        if (!response.ok) throw await failed(exchange, response);
        const contentType = response.headers.get("content-type") ?? "";
        if (body.execution?.idempotency_key !== undefined && /^\s*application\/json\b/i.test(contentType)) {
          const run = parseRunRecord(await readRecord(exchange, response), response.status);
          return replayRecord(run);
        }
        if (!/^\s*text\/event-stream\b/i.test(contentType) || response.body === null) {
          await response.body?.cancel().catch(() => undefined);
          throw invalidResponse(`1flowbase answered a streaming run with HTTP ${response.status} ${contentType || "(no content-type)"}, not text/event-stream`);
        }
        // Headers are in: the headers timeout and our signal link end here; the stream's own limits
        // (idle, first event, progress, what is left of the deadline) and the caller's signal are
        // enforced by readNativeStream from now on.
        exchange.release();
        handedOver = true;
        return readNativeStream(response.body, {
          idleMs: timeouts.idleMs,
          firstEventMs: timeouts.firstEventMs,
          progressMs: timeouts.progressMs,
          deadlineMs: deadline.totalMs === undefined ? undefined : Math.max(0, deadline.remaining()),
          deadlineTotalMs: deadline.totalMs,
          signal,
          background: options.background,
        });
      } finally {
        if (!handedOver) exchange.release();
      }
    },

    async recordRun(request) {
      const body = { ...NativeRunRequest.parse(request), response_mode: RECORD_ONLY_RESPONSE_MODE };
      const envelope = await call("POST", "/runs", timeouts.headersMs, NativeRunEnvelope, body);
      return envelope.data;
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
