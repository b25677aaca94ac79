/**
 * Anthropic Messages: `POST /v1/messages` (blocking and `stream: true`) and
 * `POST /v1/messages/count_tokens`. Thin: parse → map (`protocols/anthropic/to-native.ts`) → one
 * native call → project (`stream.ts` / `from-native.ts`) → respond. Errors are thrown and rendered by
 * `app.onError` in the Anthropic envelope (the family of `/v1/messages*`), after
 * `toAnthropicError` gave them Anthropic statuses (503 → 529 `overloaded_error`).
 *
 * Auth: `x-api-key` or `Authorization: Bearer` (`callerOf`); `anthropic-version` and
 * `anthropic-beta` are accepted and not required (client-protocols.md §5.1).
 */
import { Hono } from "hono";
import { readJsonBody } from "../http/body";
import { callerOf, type GatewayContext, type GatewayEnv } from "../http/context";
import { GatewayError } from "../http/errors";
import { applyIdempotency, readIdempotency } from "../http/idempotency";
import { IGNORED_PARAMS_HEADER, parseRequest, policyMode } from "../http/policy";
import { projectToSse, sseResponse } from "../http/sse";
import { NativeError } from "../native/errors";
import type { NativeStreamItem } from "../native/events";
import { resolveResumeTarget, resumeWithResults, type ToolResultInput } from "../native/resume";
import type { NativeRun } from "../native/schema";
import { countInputTokens } from "../protocols/anthropic/count-tokens";
import { toAnthropicError } from "../protocols/anthropic/errors";
import { messageFromRun, messageFromStream, runToItems } from "../protocols/anthropic/from-native";
import { CountTokensRequest, MessagesRequest } from "../protocols/anthropic/schema";
import { AnthropicStreamProjector, runIdOfMessage, type AnthropicProjectionContext } from "../protocols/anthropic/stream";
import { applyThinking, RESUME_PARAM, toNativePlan } from "../protocols/anthropic/to-native";
import type { Caller } from "../http/context";

export const messagesRoutes = new Hono<GatewayEnv>();

function jsonResponse(body: unknown, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });
}

function responseHeaders(requestId: string, ignored: readonly string[]): Record<string, string> {
  // The Anthropic SDKs read `request-id` (`message._request_id`).
  const headers: Record<string, string> = { "request-id": requestId };
  if (ignored.length > 0) headers[IGNORED_PARAMS_HEADER] = [...new Set(ignored)].join(", ");
  return headers;
}

async function readBody(c: GatewayContext, caller: Caller): Promise<unknown> {
  return readJsonBody(c.req.raw, { maxBytes: caller.config.MAX_BODY_BYTES, maxDecompressedBytes: caller.config.MAX_DECOMPRESSED_BYTES });
}

/** A blocking answer: the projection folded over the finished run; a failed run is an HTTP error. */
async function blockingResponse(run: NativeRun, context: AnthropicProjectionContext, headers: Record<string, string>): Promise<Response> {
  const outcome = await messageFromRun(run, context);
  if (!outcome.ok) throw outcome.error;
  return jsonResponse(outcome.message, headers);
}

/** Any failure of the deferred resume, as the fault that ends the stream. */
function asNativeError(error: unknown): NativeError {
  if (error instanceof NativeError) return error;
  if (error instanceof GatewayError) {
    return new NativeError({ kind: "http", status: error.status, code: error.code ?? "invalid_request", message: error.message });
  }
  return new NativeError({ kind: "protocol", status: 500, code: "gateway_error", message: "the gateway failed while resuming the run" });
}

/**
 * The native stream of a resumed run. Native resume answers JSON only, after the rest of the flow ran
 * (native-api.md §1.6), which can take minutes; the SSE response starts at once (ping keepalives keep
 * Claude Code's idle timers quiet) and the run's events are projected when the resume returns.
 */
function deferredRunItems(resumed: Promise<NativeRun>): ReadableStream<NativeStreamItem> {
  let items: NativeStreamItem[] | null = null;
  let next = 0;
  return new ReadableStream<NativeStreamItem>({
    async pull(controller) {
      if (items === null) {
        try {
          items = runToItems(await resumed);
        } catch (error) {
          items = [{ event: "fault", error: asNativeError(error) }];
        }
      }
      const item = items[next++];
      if (item === undefined) controller.close();
      else controller.enqueue(item);
    },
  });
}

async function createMessage(c: GatewayContext): Promise<Response> {
  const caller = callerOf(c);
  const raw = await readBody(c, caller);
  const body = parseRequest(MessagesRequest, raw);
  const idempotency = await readIdempotency(c.req.raw.headers, "messages", raw);
  const mode = policyMode(caller.config.PARAMETER_POLICY, c.req.raw.headers);
  const plan = toNativePlan(body, { requestId: caller.requestId, mode });
  const { native } = caller;
  const keepaliveMs = caller.config.KEEPALIVE_INTERVAL_MS;

  if (plan.action.kind === "resume") {
    const results: ToolResultInput[] = plan.action.results;
    // Forged, foreign, partial or stale tool results are 400s here, before any header is sent.
    const target = await resolveResumeTarget(native, results, RESUME_PARAM);
    c.set("nativeRunId", target.runId);
    const context: AnthropicProjectionContext = { model: plan.model, messageIdSuffix: target.callbackTaskId };
    const headers = responseHeaders(caller.requestId, plan.ignored);
    const resumed = resumeWithResults(native, target, results, RESUME_PARAM);
    if (!plan.stream) return blockingResponse(await resumed, context, headers);
    resumed.catch(() => undefined); // consumed by the stream; never an unhandled rejection
    return sseResponse(projectToSse(deferredRunItems(resumed), new AnthropicStreamProjector(context), { keepaliveMs }), headers);
  }

  let request = plan.action.request;
  if (plan.action.thinking) request = applyThinking(request, plan.action.thinking, await native.listModels(), mode, plan.ignored, plan.action.effort);
  // Last, on the request exactly as sent: a retry must fingerprint identically (http/idempotency.ts).
  request = applyIdempotency(request, idempotency);
  const headers = responseHeaders(caller.requestId, plan.ignored);

  const items = await native.streamRun(request);
  const lookupUsage = async (runId: string) => (await native.getRun(runId)).usage;
  if (!plan.stream) {
    // Folded over the native stream, not the blocking run record: see `messageFromStream`.
    const outcome = await messageFromStream(items, { model: plan.model, lookupUsage });
    if (!outcome.ok) throw outcome.error;
    c.set("nativeRunId", runIdOfMessage(outcome.message.id));
    return jsonResponse(outcome.message, headers);
  }

  const projector = new AnthropicStreamProjector({ model: plan.model, lookupUsage });
  return sseResponse(projectToSse(items, projector, { keepaliveMs }), headers);
}

async function countTokens(c: GatewayContext): Promise<Response> {
  const caller = callerOf(c);
  const body = parseRequest(CountTokensRequest, await readBody(c, caller));
  // The key must be a working application key (native answers 401/409 otherwise) — checked with the
  // cheap `GET /models`; no run is created (native-api.md §4.3).
  await caller.native.listModels();
  return jsonResponse(countInputTokens(body), responseHeaders(caller.requestId, []));
}

messagesRoutes.post("/v1/messages", async (c) => {
  try {
    return await createMessage(c);
  } catch (error) {
    throw toAnthropicError(error);
  }
});

messagesRoutes.post("/v1/messages/count_tokens", async (c) => {
  try {
    return await countTokens(c);
  } catch (error) {
    throw toAnthropicError(error);
  }
});
