/**
 * The steps every run route takes, written once: read the body, decide reasoning against the
 * catalog, start a native run or resume a waiting one, and answer as SSE or one JSON body.
 *
 *   read body → parse (protocol) → policy → idempotency → plan run | resume (protocol to-native)
 *     → native (here) → encode (protocol stream.ts) | accumulate (protocol from-native.ts)
 *
 * A route file is what differs per protocol (its schema, its plan, its encoder, its envelope); the
 * I/O lives here and in the route, never in `src/protocols/`.
 */
import type { Caller, GatewayContext } from "../http/context";
import { readJsonBody } from "../http/body";
import { GatewayError } from "../http/errors";
import { idempotencyKeyHash, type Idempotency } from "../http/idempotency";
import { ignoreOrReject, type PolicyMode } from "../http/policy";
import type { StreamEnd } from "../http/log";
import { projectToSse, sseResponse, type SseProjector } from "../http/sse";
import type { OutputLimits, ReaderHooks } from "../native/answer";
import { decideReasoning, resolveModelId, withReasoning, type ReasoningAsk } from "../native/catalog";
import { IDEMPOTENCY_CONFLICT, IDEMPOTENT_REQUEST_IN_PROGRESS, NativeError, ToolResultsError } from "../native/errors";
import { deferredItems, type NativeStreamItem } from "../native/events";
import { rememberToolCallTask, resolveResumeTarget, resumeKnownTarget, resumeWithResults, takeKnownTarget, type ResumeTarget, type ToolResultInput } from "../native/resume";
import type { NativeModelList, NativeRun, NativeRunRequest } from "../native/schema";
import { isSettledRun, runToItems } from "../native/synthesize";

/** The request body, size-capped and decoded (413/415/400 in the route's envelope). */
export function readRequestBody(c: GatewayContext, caller: Caller): Promise<unknown> {
  return readJsonBody(c.req.raw, { maxBytes: caller.config.MAX_BODY_BYTES, maxDecompressedBytes: caller.config.MAX_DECOMPRESSED_BYTES });
}

/**
 * What every answer reader of a request gets (native/answer.ts `ReaderHooks`): `GET /runs/{id}` (usage
 * of a terminal event without any; a failed run's class) and the request log line's end listener.
 */
export function answerHooks(caller: Caller): Required<Pick<ReaderHooks, "lookupRun" | "onAnswerEnd" | "onToolCalls">> {
  return {
    lookupRun: (runId) => caller.native.getRun(runId),
    onAnswerEnd: caller.log.answered,
    // The next turn's resume then needs no read of the waiting run (native/resume.ts `takeKnownTarget`).
    onToolCalls: (task) => {
      caller.fingerprint().then((owner) => rememberToolCallTask(owner, task), () => undefined);
    },
  };
}

/** How long an application's catalog is trusted for the model check (publications change rarely). */
const CATALOG_TTL_MS = 30_000;
/**
 * How long past its TTL a catalog still answers a model it lists while a fresh one is read in the
 * background (stale-while-revalidate). Without it, the first request after every 30 s paid a native
 * round trip before its run, once per key and isolate: to a 1flowbase across the internet, one
 * request in three of an agent that asks every ~10 s. A model the stale catalog does not list is
 * always checked against a fresh read before its 404.
 */
const CATALOG_STALE_MS = 5 * 60_000;
/** A background read still unfinished after this long is taken for lost (its request's context ended): the next request starts another. */
const CATALOG_REFRESH_GIVE_UP_MS = 10_000;
/** Most catalogs kept per isolate (one per key and native origin); the oldest goes first. */
const MAX_CACHED_CATALOGS = 256;

interface CachedCatalog {
  catalog: NativeModelList;
  /** When the read that produced it completed (Date.now()). */
  readAt: number;
  /** When a background read of a fresher one started (0: none running). */
  refreshingSince: number;
}
const catalogs = new Map<string, CachedCatalog>();

/** A catalog read from native now, kept for the next requests of this key. */
async function readCatalog(native: Caller["native"], key: string): Promise<NativeModelList> {
  const catalog = await native.listModels();
  catalogs.delete(key);
  catalogs.set(key, { catalog, readAt: Date.now(), refreshingSince: 0 });
  if (catalogs.size > MAX_CACHED_CATALOGS) catalogs.delete(catalogs.keys().next().value ?? key);
  return catalog;
}

/**
 * The application's catalog, cached briefly per isolate and key (by its fingerprint, never the key):
 * the model check must not add a native round trip to every request. A failed read is not kept.
 *
 * Only a read that has *completed* is shared. An isolate serves many requests at once, and a promise
 * one request's fetch will resolve must not be awaited by another: workerd then runs the waiter's
 * continuation in the creating request's context and cancels it when that request ends ("A promise
 * was resolved or rejected from a different request context…"), and the waiting request hangs until
 * the runtime answers it with a 500 (`npm run bench`, short answers at c = 8 when the catalog had
 * expired: 6 of 400 chat requests). So requests that miss together each read the catalog; that is
 * a few reads per 30 s per isolate, each on a request that is about to start a native run anyway.
 * A background refresh (`stale`) is kept alive by its own request (`caller.background`) and only
 * writes the cache when it completes: no other request waits for it.
 *
 * `stale: "refresh"`: a catalog up to `CATALOG_STALE_MS` past its TTL is answered at once while a
 * fresh one is read in the background; `"never"`: only a fresh one (the check before a 404).
 */
export function applicationCatalog(caller: Caller, stale: "refresh" | "never" = "refresh"): Promise<NativeModelList> {
  if (stale === "refresh") {
    const started = requestCatalogs.get(caller);
    if (started) return started;
  }
  return cachedCatalog(caller, stale);
}

/** The catalog read a request started at its beginning (`prefetchCatalog`): awaited by that request's own steps only. */
const requestCatalogs = new WeakMap<Caller, Promise<NativeModelList>>();

/**
 * Starts the model check's catalog read as the request begins, before its body is read and parsed:
 * an isolate with no catalog yet (a new isolate's first request, or one idle for minutes) then reads
 * it while the request's own work runs instead of after it — a native round trip off the first
 * request's first byte. Without a key the route has already answered 401 (`callerOf`).
 */
export function prefetchCatalog(caller: Caller): void {
  if (requestCatalogs.has(caller)) return;
  const pending = cachedCatalog(caller, "refresh");
  pending.catch(() => undefined); // awaited (and its failure answered) by the model check
  requestCatalogs.set(caller, pending);
}

async function cachedCatalog(caller: Caller, stale: "refresh" | "never"): Promise<NativeModelList> {
  const key = `${caller.config.NATIVE_API_BASE_URL} ${await caller.fingerprint()}`;
  const hit = catalogs.get(key);
  const now = Date.now();
  const age = hit ? now - hit.readAt : Number.POSITIVE_INFINITY;
  if (hit && age < CATALOG_TTL_MS) return hit.catalog;
  if (hit && stale === "refresh" && age < CATALOG_TTL_MS + CATALOG_STALE_MS) {
    if (hit.refreshingSince === 0 || now - hit.refreshingSince > CATALOG_REFRESH_GIVE_UP_MS) {
      hit.refreshingSince = now;
      // Started on the next macrotask, once this request has sent its own native call: that call
      // then takes the pooled connection to native, and the refresh opens one of its own if it must
      // (`ttfb.ts --idle-ms=31000 --probe`: started at once, the refresh reached native first).
      const later = new Promise<void>((resolve) => setTimeout(resolve, 0));
      caller.background(
        later
          // Not tied to this request's signal: a client that leaves does not abort the refresh.
          .then(() => readCatalog(caller.detachedNative(), key))
          .catch((error: unknown) => {
            // The stale catalog stays (another request retries); the failure is `background`'s warn line.
            hit.refreshingSince = 0;
            throw error;
          }),
      );
    }
    return hit.catalog;
  }
  return readCatalog(caller.native, key);
}

/**
 * The catalog id of the client's `model` (itself, or its `MODEL_ALIASES` target), or the 404
 * `model_not_found` OpenAI and Anthropic answer for a model that does not exist — before any run.
 * A model a stale catalog does not list is looked up again in a fresh one (it may just have been
 * published) before the 404.
 */
export async function catalogModel(caller: Caller, requested: string): Promise<string> {
  let id = resolveModelId(await applicationCatalog(caller), requested, caller.config.MODEL_ALIASES);
  if (id === null) {
    const fresh = applicationCatalog(caller, "never");
    // The request's later steps (its reasoning decision) read this same fresh catalog, not the stale one.
    fresh.catch(() => undefined);
    requestCatalogs.set(caller, fresh);
    id = resolveModelId(await fresh, requested, caller.config.MODEL_ALIASES);
  }
  if (id !== null) return id;
  throw new GatewayError({
    status: 404,
    code: "model_not_found",
    param: "model",
    message: `The model '${requested.slice(0, 256)}' does not exist: GET /v1/models lists this application's models (MODEL_ALIASES maps other names onto them)`,
  });
}

/** How a protocol names its reasoning request for reports: the field name and the request param. */
export interface ReasoningField {
  name: string;
  param: string;
}

/**
 * `request` with the reasoning parameters native will take for `ask` (the one catalog rule,
 * src/native/catalog.ts), or unchanged with `field` reported as ignored (a 400 in strict mode). The
 * catalog is the one the model check just read (`applicationCatalog`: at most 30 s old, or up to
 * 5 min past that on the requests that find it stale while it is read again): one read of one fact per request.
 * A publication changed since costs at worst native's own 400 `invalid_model_parameters` for a
 * reasoning parameter it no longer takes.
 */
export async function withCatalogReasoning(
  caller: Caller,
  request: NativeRunRequest,
  ask: ReasoningAsk,
  field: ReasoningField,
  mode: PolicyMode,
  ignored: string[],
): Promise<NativeRunRequest> {
  const decision = decideReasoning(await applicationCatalog(caller), request.model ?? "", ask);
  if (!decision.applied) {
    ignoreOrReject(ignored, field.name, field.param, decision.why, mode);
    return request;
  }
  if (decision.effortNotApplied !== undefined) ignoreOrReject(ignored, field.name, field.param, decision.effortNotApplied, mode);
  return withReasoning(request, decision.reasoning);
}

/** A resume in flight: its target (validated before any header is sent) and native's reply to come. */
export interface StartedResume {
  target: ResumeTarget;
  /** The run as native reports it after the continuation (native resume replies JSON only, §1.6). */
  resumed: Promise<NativeRun>;
}

/**
 * Validates the tool results against the waiting run (forged, foreign, partial or stale results are
 * 400s here, before any header) and starts the resume. `beforeResume` runs between the two — what
 * must not fail after an irreversible step (the Responses ownership claim) goes there.
 *
 * Results for calls this isolate just showed the caller resume at once, without reading the run
 * first (native/resume.ts `takeKnownTarget`): native checks the resume itself, and what it refuses
 * is judged by that read afterwards, so such an error reaches a stream as its terminal error rather
 * than as the request's status. Not with `beforeResume`, whose claim must name a run already read.
 */
export async function startResume(
  caller: Caller,
  results: ToolResultInput[],
  param: string,
  beforeResume?: (target: ResumeTarget) => Promise<void>,
): Promise<StartedResume> {
  const known = beforeResume ? null : takeKnownTarget(await caller.fingerprint(), results, param);
  if (known) {
    const resumed = resumeKnownTarget(caller.native, known, results, param);
    resumed.catch(() => undefined); // consumed by the answer; never an unhandled rejection
    return { target: known, resumed };
  }
  const target = await resolveResumeTarget(caller.native, results, param);
  if (beforeResume) await beforeResume(target);
  const resumed = resumeWithResults(caller.native, target, results, param);
  resumed.catch(() => undefined); // consumed by the answer; never an unhandled rejection
  return { target, resumed };
}

/** Any failure of a deferred native call, as the fault that ends its stream. */
function asFault(error: unknown): NativeError {
  if (error instanceof NativeError) return error;
  if (error instanceof ToolResultsError) {
    return new NativeError({ kind: "http", status: 400, code: error.code, message: error.message, retryable: false, param: error.param });
  }
  return new NativeError({ kind: "protocol", status: 500, code: "gateway_error", message: "the gateway failed while resuming the run", retryable: false });
}

/**
 * The native items of a resumed run, as a stream that exists at once: every protocol streams a
 * resume the same way — the SSE response starts immediately (keepalives keep clients' idle timers
 * quiet while the rest of the flow runs, which can take minutes) and the run's events are read from
 * its record when native's resume reply arrives.
 */
export function resumedItems(resumed: Promise<NativeRun>): ReadableStream<NativeStreamItem> {
  return deferredItems(resumed, runToItems, asFault);
}

/**
 * The SSE response of `items` through `projector` (frames it already holds go first). `run`, when
 * given, hears that the client went away before the terminal frame (the body's writes failed — the
 * request's abort signal says it too, where the runtime has one). `onFirstWrite`: the runtime has
 * taken the first frames (http/sse.ts `SseOptions.onFirstWrite`).
 */
export function sseAnswer(
  c: GatewayContext,
  items: ReadableStream<NativeStreamItem>,
  projector: SseProjector,
  headers: Record<string, string>,
  run?: Pick<StartedRun, "clientLeft">,
  onFirstWrite?: () => void,
): Response {
  // The request's log line is written when the body ends, with how it ended (http/log.ts).
  const logged = c.get("log").streamStarted();
  const onEnd = (outcome: StreamEnd, fault?: unknown): void => {
    if (outcome === "client_closed") run?.clientLeft();
    logged.ended(outcome, fault);
  };
  const options = { keepaliveMs: c.get("config").KEEPALIVE_INTERVAL_MS, onEnd, onFirstBytes: logged.firstBytes, onFirstWrite };
  return sseResponse(projectToSse(items, projector, options), headers);
}

/** A JSON body with extra headers (status 200). */
export function jsonAnswer(body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });
}

// ---------------------------------------------------------------------------------------------
// Starting a run: idempotent retries attach, a client that goes away cancels
// ---------------------------------------------------------------------------------------------

/** A create's native side: a new run's stream, or the settled record of the run an earlier attempt started. */
export interface StartedRun {
  items: ReadableStream<NativeStreamItem>;
  /** The run an earlier attempt with the same `Idempotency-Key` started (this request attaches to it), else null. */
  attachedRunId: string | null;
  /** To be called with the run id the first native event names: recorded for retries, cancelled if the client leaves. */
  onRunId(runId: string): void;
  /**
   * The client went away before the answer was over, or the edge ended it (a stop sequence, the
   * output-token limit): cancel the run (not with an `Idempotency-Key`: a retry replays the record,
   * and the limits cut the replay at the same place).
   */
  clientLeft(): void;
  /** True when native took the output-token limit itself (`execution.model_parameters.max_output_tokens`). */
  nativeOutputLimit: boolean;
}

/**
 * Native servers (by base URL) that refused `execution.model_parameters.max_output_tokens` in this
 * isolate. The 0.2.6 fork refuses every key but `reasoning` with 400 `invalid_model_parameters`
 * naming `execution.model_parameters` (fork `run_service/run_input.rs` 94-99) and creates no run
 * (validation precedes it, `run_service.rs` 109-110); upstream 0.3 takes it (`native/
 * model_parameters.rs`, native-api.md §7). Detected, not guessed: asked once, remembered per isolate.
 */
const refusesMaxOutputTokens = new Set<string>();

/**
 * How native refused the limit: `origin` — the fork's refusal of every key but `reasoning` (it names
 * `execution.model_parameters`), remembered for the origin; `request` — a server that takes the key
 * but not this value (say, above the model's own output limit: it would name
 * `execution.model_parameters.max_output_tokens`), for this request only; null — another error.
 */
function refusalOfMaxOutputTokens(error: unknown): "origin" | "request" | null {
  if (!(error instanceof NativeError) || error.kind !== "http" || error.status !== 400 || error.code !== "invalid_model_parameters") return null;
  const message = error.message.trim();
  if (/execution\.model_parameters$/.test(message)) return "origin";
  return /execution\.model_parameters\.max_output_tokens$/.test(message) ? "request" : null;
}

/** `request` with native's own output limit (merged with the reasoning parameters, if any). */
function withMaxOutputTokens(request: NativeRunRequest, maxOutputTokens: number): NativeRunRequest {
  const execution = request.execution ?? {};
  return { ...request, execution: { ...execution, model_parameters: { ...execution.model_parameters, max_output_tokens: maxOutputTokens } } };
}

/** The run's stream, with native's own output limit where native takes one (the edge enforces it otherwise). */
async function openRun(
  caller: Caller,
  request: NativeRunRequest,
  maxOutputTokens: number | null,
  options?: Parameters<Caller["native"]["streamRun"]>[1],
): Promise<{ items: ReadableStream<NativeStreamItem>; nativeOutputLimit: boolean }> {
  const base = caller.config.NATIVE_API_BASE_URL;
  if (maxOutputTokens === null || refusesMaxOutputTokens.has(base)) return { items: await caller.native.streamRun(request, options), nativeOutputLimit: false };
  try {
    return { items: await caller.native.streamRun(withMaxOutputTokens(request, maxOutputTokens), options), nativeOutputLimit: true };
  } catch (error) {
    // The few bytes of the limit pushed a request just under native's body limit over it (checked
    // before anything is sent): the edge enforces the limit instead.
    const tooLarge = error instanceof NativeError && error.kind === "too_large";
    const refusal = tooLarge ? "request" : refusalOfMaxOutputTokens(error);
    if (refusal === null) throw error;
    if (refusal === "origin") refusesMaxOutputTokens.add(base);
    return { items: await caller.native.streamRun(request, options), nativeOutputLimit: false };
  }
}

/**
 * The reader hooks of the client's output limits for `run` (null for a resume: native takes no model
 * parameters there, and its reply is the finished record): native's own limit when it took it, the
 * edge's count otherwise; stop sequences always at the edge (1flowbase runs have none).
 */
export function outputLimitHooks(limits: OutputLimits, run: StartedRun | null): Pick<ReaderHooks, "outputLimits" | "onOutputLimit"> {
  const maxOutputTokens = run?.nativeOutputLimit ? null : limits.maxOutputTokens;
  return { outputLimits: { maxOutputTokens, stopSequences: limits.stopSequences }, onOutputLimit: run?.clientLeft };
}

/** How long a retry waits for the first attempt to learn its run id before answering "in progress". */
const ATTACH_WAIT_MS = 10_000;
/** Polls of a reservation (its run id) and of an attached run (its end). */
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 2_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function inProgress(): GatewayError {
  return new GatewayError({
    status: 409,
    code: IDEMPOTENT_REQUEST_IN_PROGRESS,
    message: "a request with this Idempotency-Key is still being processed; retry it shortly",
    headers: { "x-should-retry": "true", "retry-after": "2" },
  });
}

function keyConflict(): GatewayError {
  return new GatewayError({
    status: 409,
    code: IDEMPOTENCY_CONFLICT,
    message: "this Idempotency-Key was already used with a different request body: a retry must repeat the request exactly, and a new request needs a new key",
    headers: { "x-should-retry": "false" },
  });
}

/** The run's record once it has ended (or waits for the client), polling `GET /runs/{id}` within the request's deadline. */
async function settledRun(caller: Caller, runId: string): Promise<NativeRun> {
  let wait = POLL_FIRST_MS;
  for (;;) {
    const run = await caller.native.getRun(runId);
    if (isSettledRun(run)) return run;
    await sleep(wait);
    wait = Math.min(POLL_MAX_MS, wait * 2);
  }
}

/**
 * The answer of an attached retry: the run's own events, from its record once it has ended. The
 * stream exists at once, so an SSE answer starts (and keeps the client alive) while the first
 * attempt's execution finishes — the retry never starts the run again.
 */
export function attachedItems(caller: Caller, runId: string): ReadableStream<NativeStreamItem> {
  return deferredItems(settledRun(caller, runId), runToItems, asFault);
}

/**
 * Cancels the native run when the client goes away before the answer is over (a run nobody reads
 * costs the application its model calls). Not with an `Idempotency-Key`: the client is expected to
 * retry, and the retry attaches to this very run.
 */
function cancelWhenClientLeaves(caller: Caller, runId: () => string | null): () => void {
  let cancelled = false;
  const cancel = (): void => {
    const id = runId();
    if (id === null || cancelled) return;
    cancelled = true;
    caller.background(
      caller
        .detachedNative()
        .cancelRun(id)
        .catch((error: unknown) => {
          // Already over (409 invalid_state): nothing to cancel.
          if (error instanceof NativeError && error.kind === "http" && error.status === 409) return;
          throw error;
        }),
    );
  };
  const signal = caller.signal;
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
  return cancel;
}

/**
 * Starts the native run of a create, honouring `Idempotency-Key` without ever executing a run twice:
 *
 * - no key: one `POST /runs`; the run is cancelled if the client goes away;
 * - first attempt of a key: the key is reserved in D1 (index-store/idempotency.ts), then native is
 *   asked (with `execution.idempotency_key` too), and the run id is recorded as soon as native names
 *   it — even when this attempt gave up waiting for native's headers (the request runs on in the
 *   background just to learn it). A native error before any run existed releases the key;
 * - a retry: it attaches to the recorded run — no second `POST` (the fork would start a running run
 *   again, native-api.md errata 2) — and answers from the run's record once it has ended. While the
 *   first attempt has not learnt its run id yet the retry waits for it (up to 10 s), then answers a
 *   retryable 409; a first attempt that never learnt one within its own time limits is taken over;
 * - the same key with another body: 409 `idempotency_conflict`, before native is called.
 */
export async function startRun(
  caller: Caller,
  request: NativeRunRequest,
  idempotency: Idempotency | null,
  maxOutputTokens: number | null = null,
): Promise<StartedRun> {
  let knownRunId: string | null = null;
  if (!idempotency) {
    const clientLeft = cancelWhenClientLeaves(caller, () => knownRunId);
    const opened = await openRun(caller, request, maxOutputTokens);
    return { ...opened, attachedRunId: null, onRunId: (runId) => (knownRunId ??= runId), clientLeft };
  }
  // A D1 without the schema is a 500 now, before any run exists (a no-op once seen in this isolate).
  await caller.indexReady();
  const keyHash = await idempotencyKeyHash(idempotency, await caller.fingerprint());
  const store = caller.idempotency;
  let reservation = await store.reserve(keyHash, idempotency.traceId);
  if (reservation.kind === "conflict") throw keyConflict();
  if (reservation.kind === "existing") {
    let runId = reservation.runId;
    for (let waited = 0; runId === null && waited < ATTACH_WAIT_MS; waited += POLL_FIRST_MS) {
      await sleep(POLL_FIRST_MS);
      runId = await store.runIdOf(keyHash);
    }
    if (runId !== null) return { items: attachedItems(caller, runId), attachedRunId: runId, onRunId: () => undefined, clientLeft: () => undefined, nativeOutputLimit: false };
    // The first attempt never learnt its run within the longest it can take (its headers timeout and
    // first-event limit): it is gone, and this attempt takes over (native's own key dedupes a run
    // that did get created and has finished).
    const limits = caller.config.NATIVE_HEADERS_TIMEOUT_MS + caller.config.NATIVE_FIRST_EVENT_TIMEOUT_MS;
    const attempt = await store.takeOver(keyHash, Math.floor((Date.now() - limits) / 1000));
    if (attempt === null) throw inProgress();
    reservation = { kind: "reserved", attempt };
  }
  const attempt = reservation.attempt;
  const record = (runId: string | null): Promise<void> => (runId === null ? Promise.resolve() : store.recordRun(keyHash, attempt, runId));
  let opened: { items: ReadableStream<NativeStreamItem>; nativeOutputLimit: boolean };
  try {
    opened = await openRun(caller, request, maxOutputTokens, { onAbandoned: (late) => caller.background(late.then(record)) });
  } catch (error) {
    // Native answered an error before any run existed: the key is free again for a corrected retry.
    if (error instanceof NativeError && (error.kind === "http" || error.kind === "too_large")) caller.background(store.release(keyHash, attempt));
    throw error;
  }
  return {
    ...opened,
    attachedRunId: null,
    onRunId: (runId) => {
      if (knownRunId !== null) return;
      knownRunId = runId;
      caller.background(record(runId));
    },
    // With a key the client is expected to retry, and the retry attaches to this run: keep it.
    clientLeft: () => undefined,
  };
}
