/**
 * OpenAI Responses routes — the one Responses entry point (invariant 5):
 *
 *   POST   /v1/responses                       create (blocking or `stream: true`)
 *   GET    /v1/responses/{id}                  rebuilt from the native run record (`?stream=true` replays it)
 *   DELETE /v1/responses/{id}                  removes the index row (the native run stays)
 *   GET    /v1/responses/{id}/input_items      the run's recorded input, paginated
 *   POST   /v1/responses/{id}/cancel           native cancel
 *
 * Thin by design: parse → map (protocols/openai-responses) → call native → encode | accumulate.
 * The ownership claim starts when the native run id is first known and is written alongside the
 * stream (`ctx.waitUntil`), never on the path to the first byte: a chained request that arrives
 * before it lands is settled by native (responses-continuation.ts; README, "The ownership index off
 * the critical path"). A tool-output resume's answer is claimed the same way. Keyed requests
 * (Idempotency-Key) still await their claim: they have already paid a primary round trip for the
 * reservation, and a keyed resume claims before resuming, so an index failure happens before the
 * irreversible step.
 */
import { Hono } from "hono/quick";
import { callerOf, type Caller, type GatewayEnv } from "../http/context";
import { fromNativeError, GatewayError } from "../http/errors";
import { applyIdempotency, readIdempotency, type Idempotency } from "../http/idempotency";
import { ignoredParamsHeaders, parseRequest, policyMode } from "../http/policy";
import { NativeError } from "../native/errors";
import { itemsToStream, type NativeStreamItem } from "../native/events";
import type { NativeRun, NativeRunRequest } from "../native/schema";
import { isSettledRun, runToItems } from "../native/synthesize";
import { isNativeAbsence, responseNotFound } from "../protocols/openai-responses/continuation";
import { blockingResponse, echoFromRun, foldRun, inputItemsFromRun, paginateInputItems } from "../protocols/openai-responses/from-native";
import { isYoungResponseRef, parseResponseId, responseIdFor } from "../protocols/openai-responses/ids";
import { enforceResponsesPolicy } from "../protocols/openai-responses/policy";
import { InputItemsQuery, parseCreateRequest, parseInputItems, type CreateResponseRequest, type ResponseEcho } from "../protocols/openai-responses/schema";
import { ResponsesStreamProjector, type ResponsesProjectionContext } from "../protocols/openai-responses/stream";
import { echoFromRequest, fitToNativeLimit, mapTools, planInput, toNativeRunRequest, type PreviousTurn } from "../protocols/openai-responses/to-native";
import { getOwnedRun, rejectInvalidKey, resolveCompaction, resolveItemReferences, resolveOwnedRun, resolvePreviousRunId, startPreviousTurn, type ConnectionResponses } from "./responses-continuation";
import type { OutputLimits } from "../native/answer";
import { answerHooks, catalogModel, jsonAnswer, outputLimitHooks, prefetchCatalog, readRequestBody, resumedItems, sseAnswer, startResume, startRun, withCatalogReasoning, type StartedRun } from "./run-steps";

export const responsesRoutes = new Hono<GatewayEnv>();

/**
 * The ownership claim of one create: started the moment the response id is known (`onStart`).
 * `deferred`: written alongside the answer (`caller.background`, i.e. `ctx.waitUntil`), `settled`
 * resolves at once — a chain that arrives before the claim lands is settled by native. Otherwise
 * (keyed creates) awaited before any protocol event leaves the worker or the answer is returned.
 * `store: false` claims nothing (its id carries the unstored marker, ids.ts).
 */
class OwnershipClaim {
  private pending: Promise<void> | null = null;

  constructor(
    private readonly caller: Caller,
    private readonly store: boolean,
    private readonly deferred: boolean,
    private readonly onRunId: (runId: string) => void = () => undefined,
    /** What a deferred claim's write waits for before its macrotask (`CreateOptions.claimAfter`). */
    private readonly after: Promise<void> = Promise.resolve(),
  ) {}

  readonly onStart = ({ runId, responseId }: { runId: string; responseId: string }): void => {
    this.caller.log.nativeRunId = runId;
    this.onRunId(runId);
    if (!this.store || this.pending) return;
    const write = (): Promise<void> => this.caller.fingerprint().then((owner) => this.caller.index.claim(responseId, runId, owner));
    if (this.deferred) {
      // Started on the macrotask after the runtime has taken `response.created` (`after`; at once
      // for a folded answer or a WebSocket turn): the D1 call's own CPU (binding set-up, the
      // statement's serialisation) then never delays the first byte, and the id is young — native
      // vouches for it — until the claim lands. Started from `onStart` instead, the timer fired
      // before a long stream's first frames had left (they wait for the rest of native's first
      // chunk): `ttfb.ts --workload=long --n=40 --probe`, stored 2.0–2.4 ms behind store:false
      // (FINDINGS, session 15). One retry: after YOUNG_ID_MS only the row does.
      claimAlongside(this.caller, this.after, write);
      return;
    }
    this.pending = write();
    this.pending.catch(() => undefined); // awaited by `settled`; never an unhandled rejection
  };

  /** Resolves once an awaited claim is in D1 (at once when it is deferred or there is none); rejects as the claim did. */
  settled(): Promise<void> {
    return this.pending ?? Promise.resolve();
  }
}

/**
 * Writes a claim alongside the answer (`ctx.waitUntil`): once `after` has settled (the first frames
 * taken by the runtime; at once without it), on the macrotask after that, with one retry. A claim
 * that still fails is logged by `background`.
 */
function claimAlongside(caller: Caller, after: Promise<void>, write: () => Promise<void>): void {
  const later = after.then(() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
  caller.background(later.then(write).catch(write));
}

/** A promise and the function that resolves it (idempotent). */
function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** A projector that reads native items into protocol events (the SSE one, or the WebSocket one). */
export interface ItemProjector {
  push(item: NativeStreamItem): void | PromiseLike<void>;
}

/**
 * Reads the first item *before* answering, so that the claim (or a native failure with no event at
 * all) can still be an error of the request rather than of the stream: a 503 when the index is down,
 * a 502/504 when native's stream broke before its first event. `items` is still readable after.
 */
export async function answerFirstItem(items: ReadableStream<NativeStreamItem>, projector: ItemProjector, claim: { settled(): Promise<void> }): Promise<void> {
  const reader = items.getReader();
  let first: ReadableStreamReadResult<NativeStreamItem>;
  try {
    first = await reader.read();
  } finally {
    reader.releaseLock();
  }
  if (first.done) throw fromNativeError(NativeError.cut());
  if (first.value.event === "fault") throw fromNativeError(first.value.error);
  try {
    await projector.push(first.value);
    await claim.settled();
  } catch (error) {
    void items.cancel().catch(() => undefined);
    throw error;
  }
}

/** How a create is asked for beyond its body: HTTP headers, or a WebSocket turn. */
export interface CreateOptions {
  /** The request's `Idempotency-Key` (never on a WebSocket turn: the header belongs to the upgrade). */
  idempotency: Idempotency | null;
  /** Headers that choose the parameter policy (`x-1flowbase-parameter-policy`). */
  headers: Headers;
  /** The connection whose own `store: false` responses can be continued (a WebSocket). */
  connection?: ConnectionResponses | undefined;
  /**
   * What a claim written alongside the answer waits for (then one macrotask) before its D1 call: the
   * SSE route's first frames taken by the runtime. Absent: only the macrotask.
   */
  claimAfter?: Promise<void> | undefined;
}

/**
 * A create, planned and started: the native items of its answer and how to project them. The
 * transport (SSE, one JSON body, WebSocket messages) only chooses how the events leave.
 */
export interface StartedCreate {
  request: CreateResponseRequest;
  items: ReadableStream<NativeStreamItem>;
  context: ResponsesProjectionContext;
  /** Settles once the ownership claim is in D1 (at once when none is awaited). */
  claim: { settled(): Promise<void> };
  /** `x-1flowbase-ignored-params`. */
  headers: Record<string, string>;
  /** A new native run's stream (not a resume, not an attached retry): its first item is read before answering. */
  readFirst: boolean;
  /** The started run, when it can be cancelled because the client went away. */
  run: StartedRun | undefined;
}

const SETTLED = { settled: (): Promise<void> => Promise.resolve() };

/**
 * Everything a create does before its first event: parse, policy, idempotency, plan (run | resume),
 * continuation, native. Shared by `POST /v1/responses` and the WebSocket turns (responses-ws.ts).
 */
/** True when `input` ends with tool outputs: a create that resumes the run that asked for them (planInput). */
function endsWithToolOutputs(input: CreateResponseRequest["input"]): boolean {
  if (!Array.isArray(input)) return false;
  const last: unknown = input[input.length - 1];
  const type = typeof last === "object" && last !== null ? (last as { type?: unknown }).type : undefined;
  return type === "function_call_output" || type === "custom_tool_call_output";
}

export async function startCreate(caller: Caller, body: unknown, options: CreateOptions): Promise<StartedCreate> {
  const request = parseCreateRequest(body);
  const { idempotency, connection } = options;
  // A chained create's index read (a replica round trip away) and native's GET of the previous run
  // start now, so the checks and mapping below run while they are on the wire instead of after them
  // (issue 18: a chained create within one replica round trip of an unchained one). Not for tool
  // outputs, which resume the previous run and only need its ownership (`resolvePreviousRunId`).
  // Awaited where the previous turn is needed, so every error before that point still wins.
  const chained = request.previous_response_id && !endsWithToolOutputs(request.input) ? startPreviousTurn(caller, request.previous_response_id, connection) : null;
  chained?.confirmed.catch(() => undefined);
  const mode = policyMode(caller.config.PARAMETER_POLICY, options.headers);
  const ignored = enforceResponsesPolicy(body as Record<string, unknown>, mode);
  // A compaction item stands for its whole window, continued like previous_response_id (compaction.ts).
  const { items: uncompacted, compacted } = await resolveCompaction(caller, parseInputItems(request.input), request.previous_response_id);
  const items = await resolveItemReferences(caller, uncompacted, Boolean(request.previous_response_id), ignored, mode);
  const plan = planInput(items, ignored, mode, { continues: Boolean(request.previous_response_id) });
  const tools = mapTools(request, ignored, mode);
  const echo: ResponseEcho = echoFromRequest(request);
  const store = request.store !== false;
  caller.log.model = request.model;
  const hooks = answerHooks(caller);
  // Responses has no stop sequences; `max_output_tokens` is native's where it takes it, else the edge's.
  const limits: OutputLimits = { maxOutputTokens: request.max_output_tokens ?? null, stopSequences: [] };
  // The claim needs the key's SHA-256 the moment native's run id arrives; starting the digest now
  // overlaps it with native's response instead of adding it to the time to first byte.
  if (store) caller.fingerprint().catch(() => undefined);
  // Likewise the schema check a stored create needs before native is called (once per isolate).
  const indexReady = store ? caller.indexReady() : Promise.resolve();
  indexReady.catch(() => undefined); // awaited below; never an unhandled rejection

  if (plan.kind === "resume") {
    // Tool outputs continue the native run that asked for them (a new response id: run + task).
    if (request.previous_response_id) {
      const previousRunId = await resolvePreviousRunId(caller, request.previous_response_id, connection);
      if (plan.results.some((result) => result.ref && result.ref.runId !== previousRunId)) {
        throw GatewayError.invalidRequest(
          "the function_call_output items answer tool calls of a different response than previous_response_id",
          "previous_response_id",
          "invalid_tool_call_id",
        );
      }
    }
    const claimOf = async (found: { runId: string; callbackTaskId: string }): Promise<void> =>
      caller.index.claim(responseIdFor({ runId: found.runId, callbackTaskId: found.callbackTaskId }), found.runId, await caller.fingerprint());
    // A keyed resume claims before resuming (a D1 failure is a retryable 503 while nothing has
    // happened yet). Otherwise the claim goes alongside the answer, like a first answer's
    // (OwnershipClaim): a tool loop's every turn is a resume, and an awaited claim put a D1 primary
    // round trip before each turn's first byte (bench toolloop: ~116 ms a turn at 100 ms). The run
    // is the caller's: native has just vouched for it (resolveResumeTarget reads it with the
    // caller's key), or this isolate streamed the caller its calls (native/resume.ts
    // `takeKnownTarget`). Until the claim lands, this isolate reads it as in flight and other
    // isolates ask native (young by the callback task's UUIDv7, ids.ts).
    const awaited = store && idempotency !== null;
    const { target, resumed } = await startResume(caller, plan.results, "input", awaited ? claimOf : undefined);
    if (store && !awaited) claimAlongside(caller, options.claimAfter ?? Promise.resolve(), () => claimOf(target));
    caller.log.nativeRunId = target.runId;
    const context: ResponsesProjectionContext = { echo, resumedTaskId: target.callbackTaskId, knownRunId: target.runId, unstored: !store, ...hooks, ...outputLimitHooks(limits, null) };
    return { request, items: resumedItems(resumed), context, claim: SETTLED, headers: ignoredParamsHeaders(ignored), readFirst: false, run: undefined };
  }

  // Native runs any model string; an unknown one is the client's 404 here, before any run.
  const model = await catalogModel(caller, request.model);
  // The mapped request must fit native's body limit; Responses' `truncation` says how (to-native.ts).
  const mapped = (previous: PreviousTurn | null): NativeRunRequest =>
    fitToNativeLimit({ ...toNativeRunRequest(request, { plan, tools, previous, traceId: caller.requestId }), model }, request.truncation ?? "disabled", caller.config.NATIVE_MAX_REQUEST_BYTES);
  let nativeRequest: NativeRunRequest;
  if (request.previous_response_id) {
    const load = chained ?? startPreviousTurn(caller, request.previous_response_id, connection);
    // Mapped against native's copy of the previous run while the index read (a replica round trip)
    // is still on its way, and kept only when the index confirms that very turn: the mapping (and
    // its serialisation for the size check) leaves the path to the first byte, and an ownership
    // error still wins over a mapping one, which is then thrown again from the confirmed turn.
    const early = load.early.then((turn) => {
      try {
        return turn && { turn, request: mapped(turn) };
      } catch {
        return null;
      }
    });
    const previous = await load.confirmed;
    const guess = await early;
    nativeRequest = guess?.turn === previous ? guess.request : mapped(previous);
  } else {
    nativeRequest = mapped(compacted);
  }
  if (request.reasoning?.effort) {
    nativeRequest = await withCatalogReasoning(caller, nativeRequest, { effort: request.reasoning.effort }, { name: "reasoning.effort", param: "reasoning" }, mode, ignored);
  }
  nativeRequest = applyIdempotency(nativeRequest, idempotency);
  const headers = ignoredParamsHeaders(ignored);

  // Native always streams; `stream` only chooses SSE or one folded Response (see from-native.ts). A
  // retried key answers the first attempt's run (run-steps.ts).
  // A D1 without the gateway's schema answers a non-retryable 500 here, before any native run exists
  // (index-store/schema.ts): otherwise every retry of the SDK would start one more run.
  await indexReady;
  const run = await startRun(caller, nativeRequest, idempotency, limits.maxOutputTokens);
  const claim = new OwnershipClaim(caller, store, idempotency === null, run.onRunId, options.claimAfter);
  const context: ResponsesProjectionContext = { echo, onStart: claim.onStart, unstored: !store, ...hooks, ...outputLimitHooks(limits, run) };
  if (run.attachedRunId !== null) {
    // The first attempt's response: claimed (again, idempotently) before its events go out, which
    // come from the run's record once it has ended — no first event to wait for before the headers.
    claim.onStart({ runId: run.attachedRunId, responseId: responseIdFor({ runId: run.attachedRunId, unstored: !store }) });
    await claim.settled();
    return { request, items: run.items, context: { ...context, knownRunId: run.attachedRunId }, claim, headers, readFirst: false, run };
  }
  return { request, items: run.items, context, claim, headers, readFirst: true, run };
}

responsesRoutes.post("/v1/responses", async (c) => {
  const caller = callerOf(c);
  prefetchCatalog(caller);
  const body = await readRequestBody(c, caller);
  const headers = c.req.raw.headers;
  const idempotency = await readIdempotency(headers, "responses", body);
  // A stream's claim waits until the runtime has taken its first frames (SseOptions.onFirstWrite);
  // on every other way out — a folded answer, an error before the stream — the gate opens here.
  const firstFrames = gate();
  let streaming = false;
  try {
    const created = await startCreate(caller, body, { idempotency, headers, claimAfter: firstFrames.opened });
    if (created.request.stream === true) {
      const projector = new ResponsesStreamProjector(created.context);
      if (created.readFirst) await answerFirstItem(created.items, projector, created.claim);
      const answer = sseAnswer(c, created.items, projector, created.headers, created.run, firstFrames.open);
      streaming = true; // from here the stream opens the gate (its first write taken, or its end)
      return answer;
    }
    firstFrames.open();
    const folded = await blockingResponse(created.items, created.context);
    await created.claim.settled();
    return jsonAnswer(folded.response, created.headers);
  } finally {
    if (!streaming) firstFrames.open();
  }
});

/** The caller's run behind a lifecycle route's `{id}`, or the 404 every kind of absence gets. */
async function ownedRun(caller: Caller, responseId: string, withRun: boolean): Promise<{ runId: string; run: NativeRun | undefined; resumedTaskId: string | undefined }> {
  const owned = await resolveOwnedRun(caller, responseId, { withRun });
  if (!owned) {
    await rejectInvalidKey(caller);
    throw responseNotFound(responseId);
  }
  return { runId: owned.runId, run: owned.run, resumedTaskId: parseResponseId(responseId)?.callbackTaskId };
}

responsesRoutes.get("/v1/responses/:id", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  const owned = await ownedRun(caller, id, true);
  const { runId, resumedTaskId } = owned;
  c.get("log").nativeRunId = runId;
  // GET rebuilds the Response from the native run record, never from edge storage (invariant 1).
  const run = owned.run ?? (await getOwnedRun(caller, runId, () => responseNotFound(id)));
  const echo = echoFromRun(run);
  const folded = foldRun(run, echo, resumedTaskId);
  if (c.req.query("stream") === "true") {
    if (!folded.finished) {
      throw GatewayError.invalidRequest(`response '${id}' is still in progress; its events can be replayed once it has finished`, "stream");
    }
    return sseAnswer(c, itemsToStream(runToItems(run)), new ResponsesStreamProjector({ echo, resumedTaskId }), {});
  }
  return c.json(folded.response);
});

/**
 * Tombstones the caller's response: the live row when the index has it; for a young id whose claim
 * may still be in flight, native vouches for ownership (`GET /runs/{id}` with the caller's key, as
 * in `resolveOwnedRun`) and the tombstone is written first, so the late claim loses to it.
 */
async function removeOwned(caller: Caller, id: string): Promise<boolean> {
  const ref = parseResponseId(id);
  if (!ref) return false;
  const owner = await caller.fingerprint();
  if (await caller.index.remove(id, owner)) return true;
  if (!isYoungResponseRef(ref)) return false;
  try {
    const run = await caller.native.getRun(ref.runId);
    return run.id === ref.runId && (await caller.index.remove(id, owner, run.id));
  } catch (error) {
    if (isNativeAbsence(error)) return false;
    throw error;
  }
}

responsesRoutes.delete("/v1/responses/:id", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  // Only the index row goes — a tombstone, so a claim still in flight cannot bring it back: the
  // native run is 1flowbase's record and stays (invariant 1).
  const removed = await removeOwned(caller, id);
  if (!removed) {
    await rejectInvalidKey(caller);
    throw responseNotFound(id);
  }
  return c.json({ id, object: "response", deleted: true });
});

responsesRoutes.get("/v1/responses/:id/input_items", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  const query = parseRequest(InputItemsQuery, c.req.query());
  const owned = await ownedRun(caller, id, true);
  c.get("log").nativeRunId = owned.runId;
  const run = owned.run ?? (await getOwnedRun(caller, owned.runId, () => responseNotFound(id)));
  return c.json(paginateInputItems(inputItemsFromRun(run, id), query));
});

responsesRoutes.post("/v1/responses/:id/cancel", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  const { runId, resumedTaskId } = await ownedRun(caller, id, false);
  c.get("log").nativeRunId = runId;
  let run: NativeRun;
  try {
    run = await caller.native.cancelRun(runId);
  } catch (error) {
    if (isNativeAbsence(error)) throw responseNotFound(id);
    if (error instanceof NativeError && error.kind === "http" && error.status === 409) {
      throw new GatewayError({
        status: 400,
        message: `Response '${id}' cannot be cancelled: only in-progress responses can be cancelled.`,
        param: null,
        code: "response_not_cancellable",
      });
    }
    throw error;
  }
  return c.json(foldRun(await settledAfterCancel(caller, run), echoFromRun(run), resumedTaskId).response);
});

/** How long the cancel route waits for a cancelled run to say what it became, and how often it asks. */
const CANCEL_SETTLE_MS = 3_000;
const CANCEL_POLL_MS = 200;

/**
 * What the run really became after a cancel. Native's cancel only updates the run row and answers
 * it (control-plane `native.rs` ~457–529, errata 9); when the run finished while the cancel was in
 * flight, the row still says `running` (`run_service.rs` ~223–234) and the run goes on to complete.
 * So a row that is not terminal yet is read again until it is (bounded): the answer is `cancelled`,
 * or the `completed` response the run turned into — never a `cancelled` it is not.
 */
async function settledAfterCancel(caller: Caller, run: NativeRun): Promise<NativeRun> {
  const started = Date.now();
  let current = run;
  while (!isSettledRun(current) && Date.now() - started < CANCEL_SETTLE_MS) {
    await new Promise((resolve) => setTimeout(resolve, CANCEL_POLL_MS));
    current = await caller.native.getRun(run.id);
  }
  return current;
}
