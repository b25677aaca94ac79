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
import { ignoreOrReject, type PolicyMode } from "../http/policy";
import { projectToSse, sseResponse, type SseProjector } from "../http/sse";
import { decideReasoning, withReasoning, type ReasoningAsk } from "../native/catalog";
import { NativeError, ToolResultsError } from "../native/errors";
import { deferredItems, type NativeStreamItem } from "../native/events";
import { resolveResumeTarget, resumeWithResults, type ResumeTarget, type ToolResultInput } from "../native/resume";
import type { NativeRun, NativeRunRequest } from "../native/schema";
import { runToItems } from "../native/synthesize";

/** The request body, size-capped and decoded (413/415/400 in the route's envelope). */
export function readRequestBody(c: GatewayContext, caller: Caller): Promise<unknown> {
  return readJsonBody(c.req.raw, { maxBytes: caller.config.MAX_BODY_BYTES, maxDecompressedBytes: caller.config.MAX_DECOMPRESSED_BYTES });
}

/** `GET /runs/{id}` for the answer reader (usage of a terminal event without any; a failed run's class). */
export function runLookup(caller: Caller): (runId: string) => Promise<NativeRun> {
  return (runId) => caller.native.getRun(runId);
}

/** How a protocol names its reasoning request for reports: the field name and the request param. */
export interface ReasoningField {
  name: string;
  param: string;
}

/**
 * `request` with the reasoning parameters native will take for `ask` (the one catalog rule,
 * src/native/catalog.ts), or unchanged with `field` reported as ignored (a 400 in strict mode). The
 * catalog is read once per request: publications change under the gateway.
 */
export async function withCatalogReasoning(
  caller: Caller,
  request: NativeRunRequest,
  ask: ReasoningAsk,
  field: ReasoningField,
  mode: PolicyMode,
  ignored: string[],
): Promise<NativeRunRequest> {
  const decision = decideReasoning(await caller.native.listModels(), request.model ?? "", ask);
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
 */
export async function startResume(
  caller: Caller,
  results: ToolResultInput[],
  param: string,
  beforeResume?: (target: ResumeTarget) => Promise<void>,
): Promise<StartedResume> {
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
    return new NativeError({ kind: "http", status: 400, code: error.code, message: error.message, retryable: false });
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

/** The SSE response of `items` through `projector` (frames it already holds go first). */
export function sseAnswer(c: GatewayContext, items: ReadableStream<NativeStreamItem>, projector: SseProjector, headers: Record<string, string>): Response {
  return sseResponse(projectToSse(items, projector, { keepaliveMs: c.get("config").KEEPALIVE_INTERVAL_MS }), headers);
}

/** A JSON body with extra headers (status 200). */
export function jsonAnswer(body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });
}
