/**
 * OpenAI Responses routes — the one Responses entry point (invariant 5):
 *
 *   POST   /v1/responses                       create (blocking or `stream: true`)
 *   GET    /v1/responses/{id}                  rebuilt from the native run record (`?stream=true` replays it)
 *   DELETE /v1/responses/{id}                  removes the index row (the native run stays)
 *   GET    /v1/responses/{id}/input_items      the run's recorded input, paginated
 *   POST   /v1/responses/{id}/cancel           native cancel
 *
 * Thin by design: parse → map (protocols/openai-responses) → call native → project → respond.
 * The ownership claim happens when the native run id is first known and before any protocol event
 * reaches the client (ARCHITECTURE.md, "D1"): a chained request can never race it.
 */
import { Hono } from "hono";
import { readJsonBody } from "../http/body";
import { callerOf, type Caller, type GatewayContext, type GatewayEnv } from "../http/context";
import { GatewayError, fromNativeError } from "../http/errors";
import { applyIdempotency, readIdempotency } from "../http/idempotency";
import { IGNORED_PARAMS_HEADER, parseRequest, policyMode } from "../http/policy";
import { projectToSse, sseResponse } from "../http/sse";
import { NativeError } from "../native/errors";
import type { NativeStreamItem } from "../native/events";
import { eventsToStream, resolveResumeTarget, resumeWithResults } from "../native/resume";
import type { NativeRun } from "../native/schema";
import { runToEvents } from "../native/synthesize";
import {
  getOwnedRun,
  isNativeAbsence,
  loadPreviousTurn,
  reasoningEffortFor,
  resolveItemReferences,
  resolveOwnedRun,
  resolvePreviousRunId,
  responseNotFound,
} from "../protocols/openai-responses/continuation";
import { blockingResponse, blockingResponseFromStream, echoFromRun, foldRun, inputItemsFromRun, paginateInputItems } from "../protocols/openai-responses/from-native";
import { parseResponseId } from "../protocols/openai-responses/ids";
import { enforceResponsesPolicy } from "../protocols/openai-responses/policy";
import { InputItemsQuery, parseCreateRequest, parseInputItems, type ResponseEcho } from "../protocols/openai-responses/schema";
import { ResponsesStreamProjector, type ResponsesProjectionContext } from "../protocols/openai-responses/stream";
import { echoFromRequest, mapTools, planInput, toNativeRunRequest } from "../protocols/openai-responses/to-native";

export const responsesRoutes = new Hono<GatewayEnv>();

type StartHook = NonNullable<ResponsesProjectionContext["onStart"]>;

/** Records the run id for the request log and, unless `store:false`, claims the response id. */
function claimHook(c: GatewayContext, caller: Caller, store: boolean): StartHook {
  return async ({ runId, responseId }) => {
    c.set("nativeRunId", runId);
    if (store) await caller.index.claim(responseId, runId, await caller.fingerprint());
  };
}

/**
 * Streams native items through the projector. The first item is read *before* answering, so that
 * the claim (or a native failure with no event at all) can still be an HTTP error: a 503 when the
 * index is down, a 502/504 when native's stream broke before its first event.
 */
async function streamResponse(
  c: GatewayContext,
  items: ReadableStream<NativeStreamItem>,
  projector: ResponsesStreamProjector,
  headers: Record<string, string>,
): Promise<Response> {
  const reader = items.getReader();
  let first: ReadableStreamReadResult<NativeStreamItem>;
  try {
    first = await reader.read();
  } finally {
    reader.releaseLock();
  }
  if (first.done) throw fromNativeError(NativeError.cut());
  if (first.value.event === "fault") throw fromNativeError(first.value.error);
  let initialFrames: readonly string[];
  try {
    initialFrames = await projector.push(first.value);
  } catch (error) {
    void items.cancel().catch(() => undefined);
    throw error;
  }
  const body = projectToSse(items, projector, { keepaliveMs: c.get("config").KEEPALIVE_INTERVAL_MS }, initialFrames);
  return sseResponse(body, headers);
}

/** A finished run record answered as a stream (resume replies JSON only, native-api.md §1.6). */
function streamRecord(c: GatewayContext, run: NativeRun, projector: ResponsesStreamProjector, headers: Record<string, string>): Promise<Response> {
  return streamResponse(c, eventsToStream<NativeStreamItem>(runToEvents(run)), projector, headers);
}

responsesRoutes.post("/v1/responses", async (c) => {
  const caller = callerOf(c);
  const config = c.get("config");
  const body = await readJsonBody(c.req.raw, { maxBytes: config.MAX_BODY_BYTES, maxDecompressedBytes: config.MAX_DECOMPRESSED_BYTES });
  const request = parseCreateRequest(body);
  const mode = policyMode(config.PARAMETER_POLICY, c.req.raw.headers);
  const ignored = enforceResponsesPolicy(body as Record<string, unknown>, mode);
  const idempotency = await readIdempotency(c.req.raw.headers, "responses", body);
  const items = await resolveItemReferences(caller, parseInputItems(request.input), Boolean(request.previous_response_id), ignored, mode);
  const plan = planInput(items, ignored, mode);
  const tools = mapTools(request, ignored, mode);
  const echo: ResponseEcho = echoFromRequest(request);
  const store = request.store !== false;
  const stream = request.stream === true;
  // The claim needs the key's SHA-256 the moment native's run id arrives; starting the digest now
  // overlaps it with native's response instead of adding it to the time to first byte.
  if (store) caller.fingerprint().catch(() => undefined);
  const onStart = claimHook(c, caller, store);

  if (plan.kind === "resume") {
    // Tool outputs continue the native run that asked for them (a new response id: run + task).
    if (request.previous_response_id) {
      const previousRunId = await resolvePreviousRunId(caller, request.previous_response_id);
      if (plan.results.some((result) => result.ref && result.ref.runId !== previousRunId)) {
        throw GatewayError.invalidRequest(
          "the function_call_output items answer tool calls of a different response than previous_response_id",
          "previous_response_id",
          "invalid_tool_call_id",
        );
      }
    }
    const target = await resolveResumeTarget(caller.native, plan.results, "input");
    c.set("nativeRunId", target.runId);
    const ignoredHeader = reportIgnored(ignored);
    const run = await resumeWithResults(caller.native, target, plan.results, "input");
    if (stream) {
      const projector = new ResponsesStreamProjector({ echo, resumedTaskId: target.callbackTaskId, onStart });
      return streamRecord(c, run, projector, ignoredHeader);
    }
    const folded = blockingResponse(run, echo, target.callbackTaskId);
    await onStart({ runId: run.id, responseId: folded.responseId });
    return c.json(folded.response, 200, ignoredHeader);
  }

  const previous = request.previous_response_id ? await loadPreviousTurn(caller, request.previous_response_id) : null;
  const reasoningEffort = await reasoningEffortFor(caller, request.model, request.reasoning?.effort, ignored, mode);
  const nativeRequest = applyIdempotency(toNativeRunRequest(request, { plan, tools, previous, reasoningEffort, traceId: caller.requestId }), idempotency);
  const ignoredHeader = reportIgnored(ignored);

  // Native always streams; `stream` only chooses SSE or one folded Response (see from-native.ts).
  const nativeItems = await caller.native.streamRun(nativeRequest);
  const projector = new ResponsesStreamProjector({
    echo,
    onStart,
    // native-api.md §2.5: run.completed rarely carries usage; the run record aggregates it.
    lookupUsage: async (runId) => (await caller.native.getRun(runId)).usage,
  });
  if (stream) return streamResponse(c, nativeItems, projector, ignoredHeader);
  const folded = await blockingResponseFromStream(nativeItems, projector);
  return c.json(folded.response, 200, ignoredHeader);
});

function reportIgnored(ignored: readonly string[]): Record<string, string> {
  return ignored.length > 0 ? { [IGNORED_PARAMS_HEADER]: ignored.join(", ") } : {};
}

/** The caller's run behind a lifecycle route's `{id}`, or the 404 every kind of absence gets. */
async function ownedRun(caller: Caller, responseId: string): Promise<{ runId: string; resumedTaskId: string | undefined }> {
  const runId = await resolveOwnedRun(caller, responseId);
  if (!runId) throw responseNotFound(responseId);
  return { runId, resumedTaskId: parseResponseId(responseId)?.callbackTaskId };
}

responsesRoutes.get("/v1/responses/:id", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  const { runId, resumedTaskId } = await ownedRun(caller, id);
  c.set("nativeRunId", runId);
  // GET rebuilds the Response from the native run record, never from edge storage (invariant 1).
  const run = await getOwnedRun(caller, runId, () => responseNotFound(id));
  const echo = echoFromRun(run);
  if (c.req.query("stream") === "true") {
    const folded = foldRun(run, echo, resumedTaskId);
    if (!folded.finished) {
      throw GatewayError.invalidRequest(`response '${id}' is still in progress; its events can be replayed once it has finished`, "stream");
    }
    return streamRecord(c, run, new ResponsesStreamProjector({ echo, resumedTaskId }), {});
  }
  return c.json(foldRun(run, echo, resumedTaskId).response);
});

responsesRoutes.delete("/v1/responses/:id", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  // Only the index row goes: the native run is 1flowbase's record and stays (invariant 1).
  const removed = parseResponseId(id) ? await caller.index.remove(id, await caller.fingerprint()) : false;
  if (!removed) throw responseNotFound(id);
  return c.json({ id, object: "response", deleted: true });
});

responsesRoutes.get("/v1/responses/:id/input_items", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  const query = parseRequest(InputItemsQuery, c.req.query());
  const { runId } = await ownedRun(caller, id);
  c.set("nativeRunId", runId);
  const run = await getOwnedRun(caller, runId, () => responseNotFound(id));
  return c.json(paginateInputItems(inputItemsFromRun(run, id), query));
});

responsesRoutes.post("/v1/responses/:id/cancel", async (c) => {
  const caller = callerOf(c);
  const id = c.req.param("id");
  const { runId, resumedTaskId } = await ownedRun(caller, id);
  c.set("nativeRunId", runId);
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
  return c.json(foldRun(run, echoFromRun(run), resumedTaskId).response);
});
