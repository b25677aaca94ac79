/**
 * `POST /v1/responses/compact` — Responses compaction (protocols/openai-responses/compaction.ts says
 * what a compaction is here and why no model pass runs).
 *
 * The window is built by the create pipeline's own steps — earlier compaction items and
 * `previous_response_id` resolved like a create resolves them (responses-continuation.ts), the input
 * planned by `planInput` in window mode, mapped by `toNativeRunRequest` and fitted to native's body
 * limit — so what a later create continues from is exactly what a chained create would have sent.
 * It is recorded as one native run that is never executed, then cancelled off the critical path;
 * the compaction item names that run, signed for the caller's key.
 */
import { Hono } from "hono/quick";
import { callerOf, type GatewayEnv } from "../http/context";
import { GatewayError } from "../http/errors";
import { enforcePolicy, ignoredParamsHeaders, parseRequest, policyMode } from "../http/policy";
import { requireSigningKeys } from "../http/signing";
import { NativeError } from "../native/errors";
import type { NativeRunRequest } from "../native/schema";
import { CompactRequest, compactionResource, sealCompaction } from "../protocols/openai-responses/compaction";
import { RESPONSES_COMPACT_POLICY } from "../protocols/openai-responses/policy";
import { parseInputItems, type CreateResponseRequest } from "../protocols/openai-responses/schema";
import { fitToNativeLimit, planInput, toNativeRunRequest } from "../protocols/openai-responses/to-native";
import { loadPreviousTurn, resolveCompaction, resolveItemReferences } from "./responses-continuation";
import { jsonAnswer, readRequestBody } from "./run-steps";

export const responsesCompactRoutes = new Hono<GatewayEnv>();

/** Title of the record runs in the 1flowbase console (native defaults it to the empty query). */
const RECORD_RUN_TITLE = "Responses compaction (recorded window, not executed)";

/**
 * The record run must fit native's body limit whole: dropping turns would make the compaction lose
 * what it exists to keep. Too large is the create's 400 `context_length_exceeded`, worded for compact
 * (there is no `truncation` here; a later create may pass `truncation: "auto"` to drop its oldest turns).
 */
function recordable(request: NativeRunRequest, limitBytes: number): NativeRunRequest {
  try {
    return fitToNativeLimit(request, "disabled", limitBytes);
  } catch (error) {
    if (!(error instanceof GatewayError) || error.code !== "context_length_exceeded") throw error;
    throw new GatewayError({
      status: 400,
      code: "context_length_exceeded",
      param: "input",
      message: `the window to compact is over the ${limitBytes}-byte request limit of the 1flowbase api-server, so it cannot be recorded whole; compact a shorter window (or continue with truncation: "auto", which drops the oldest turns)`,
      headers: { "x-should-retry": "false" },
    });
  }
}

responsesCompactRoutes.post("/v1/responses/compact", async (c) => {
  const caller = callerOf(c);
  const body = await readRequestBody(c, caller);
  const request = parseRequest(CompactRequest, body);
  const mode = policyMode(caller.config.PARAMETER_POLICY, c.req.raw.headers);
  const ignored = enforcePolicy(RESPONSES_COMPACT_POLICY, body as Record<string, unknown>, mode);
  const keys = requireSigningKeys(caller.config, "Responses compaction", null);
  c.get("log").model = request.model;

  const input = request.input ?? [];
  const { items: uncompacted, compacted } = await resolveCompaction(caller, parseInputItems(input), request.previous_response_id);
  const items = await resolveItemReferences(caller, uncompacted, Boolean(request.previous_response_id), ignored, mode);
  const previous = request.previous_response_id ? await loadPreviousTurn(caller, request.previous_response_id) : compacted;
  if (!previous && items.length === 0) {
    throw GatewayError.invalidRequest("nothing to compact: send input, previous_response_id, or both", "input");
  }
  const plan = planInput(items, ignored, mode, { window: true });
  if (plan.kind !== "run") throw new Error("a compaction window never resumes a run");

  // The create mapping, as a store:false create would send it: a record run joins no native
  // conversation (the window rides as explicit history; conversation memory would only echo it).
  const asCreate: CreateResponseRequest = { model: request.model, input, instructions: request.instructions ?? null, store: false };
  const mapped = toNativeRunRequest(asCreate, { plan, tools: {}, previous, traceId: caller.requestId });
  delete mapped.conversation;
  const nativeRequest = recordable({ ...mapped, title: RECORD_RUN_TITLE }, caller.config.NATIVE_MAX_REQUEST_BYTES);

  const run = await caller.native.recordRun(nativeRequest);
  c.get("log").nativeRunId = run.id;
  // Cancelled so that no native worker ever executes it (the fork has none; a later server might):
  // a queued run is cancellable (state_transition.rs:92-164), and the record keeps its input.
  caller.background(
    caller
      .detachedNative()
      .cancelRun(run.id)
      .catch((error: unknown) => {
        if (error instanceof NativeError && error.kind === "http" && error.status === 409) return; // already terminal
        throw error;
      }),
  );
  const encrypted = await sealCompaction(keys, await caller.fingerprint(), run.id);
  const window = [...(nativeRequest.history ?? [])];
  return jsonAnswer(compactionResource(run.id, window, encrypted, Math.floor(Date.now() / 1000)), ignoredParamsHeaders(ignored));
});
