/**
 * Anthropic Messages: `POST /v1/messages` (blocking and `stream: true`) and
 * `POST /v1/messages/count_tokens`. Thin: parse → map (`protocols/anthropic/to-native.ts`) → one
 * native call → encode | accumulate (`stream.ts` / `from-native.ts`; run-steps.ts says how). Errors
 * are thrown and rendered by `app.onError` in the Anthropic envelope (the family of
 * `/v1/messages*`), after `toAnthropicError` gave them Anthropic statuses (503 → 529
 * `overloaded_error`).
 *
 * Auth: `x-api-key` or `Authorization: Bearer` (`callerOf`); `anthropic-version` and
 * `anthropic-beta` are accepted and not required (client-protocols.md §5.1).
 */
import type { NativeRunRequest } from "../native/schema";
import { Hono } from "hono/quick";
import { callerOf, type GatewayContext, type GatewayEnv } from "../http/context";
import { applyIdempotency, readIdempotency } from "../http/idempotency";
import { ignoredParamsHeaders, parseRequest, policyMode } from "../http/policy";
import { countInputTokens } from "../protocols/anthropic/count-tokens";
import { toAnthropicError } from "../protocols/anthropic/errors";
import { messageFrom } from "../protocols/anthropic/from-native";
import { CountTokensRequest, MessagesRequest } from "../protocols/anthropic/schema";
import { AnthropicStreamProjector, type AnthropicProjectionContext } from "../protocols/anthropic/stream";
import { applyThinking, RESUME_PARAM, toNativePlan } from "../protocols/anthropic/to-native";
import type { OutputLimits } from "../native/answer";
import { answerHooks, applicationCatalog, catalogModel, jsonAnswer, outputLimitHooks, prefetchCatalog, readRequestBody, resumedItems, sseAnswer, startResume, startRun } from "./run-steps";

export const messagesRoutes = new Hono<GatewayEnv>();

function responseHeaders(requestId: string, ignored: readonly string[]): Record<string, string> {
  // The Anthropic SDKs read `request-id` (`message._request_id`).
  return { "request-id": requestId, ...ignoredParamsHeaders(ignored) };
}

/** A blocking answer: the encoder folded over the answer's items; a failed run is an HTTP error. */
async function blockingMessage(items: Parameters<typeof messageFrom>[0], context: AnthropicProjectionContext, headers: Record<string, string>): Promise<Response> {
  const outcome = await messageFrom(items, context);
  if (!outcome.ok) throw outcome.error;
  return jsonAnswer(outcome.message, headers);
}

async function createMessage(c: GatewayContext): Promise<Response> {
  const caller = callerOf(c);
  prefetchCatalog(caller);
  const raw = await readRequestBody(c, caller);
  const body = parseRequest(MessagesRequest, raw);
  const idempotency = await readIdempotency(c.req.raw.headers, "messages", raw);
  const mode = policyMode(caller.config.PARAMETER_POLICY, c.req.raw.headers);
  const plan = toNativePlan(body, { requestId: caller.requestId, mode });
  const log = c.get("log");
  log.model = plan.model;
  const onRunId = (runId: string) => (log.nativeRunId = runId);
  const hooks = answerHooks(caller);
  // `max_tokens` (required) is native's limit where it takes one, else the edge's; `stop_sequences` the edge's.
  const limits: OutputLimits = { maxOutputTokens: body.max_tokens, stopSequences: body.stop_sequences ?? [] };

  if (plan.action.kind === "resume") {
    const { target, resumed } = await startResume(caller, plan.action.results, RESUME_PARAM);
    onRunId(target.runId);
    const context: AnthropicProjectionContext = { model: plan.model, messageIdSuffix: target.callbackTaskId, ...hooks, ...outputLimitHooks(limits, null) };
    const headers = responseHeaders(caller.requestId, plan.ignored);
    if (!plan.stream) return blockingMessage(resumedItems(resumed), context, headers);
    return sseAnswer(c, resumedItems(resumed), new AnthropicStreamProjector(context), headers);
  }

  // Native runs any model string; an unknown one is the client's 404 here, before any run.
  let request: NativeRunRequest = { ...plan.action.request, model: await catalogModel(caller, plan.model) };
  if (plan.action.thinking || plan.action.effort !== undefined) {
    request = applyThinking(request, plan.action.thinking, await applicationCatalog(caller), mode, plan.ignored, plan.action.effort);
  }
  // Last, on the request exactly as sent: a retry must fingerprint identically (http/idempotency.ts).
  request = applyIdempotency(request, idempotency);
  const headers = responseHeaders(caller.requestId, plan.ignored);

  // Folded over the native stream even when blocking (see from-native.ts). A retried key answers the
  // first attempt's run (run-steps.ts).
  const run = await startRun(caller, request, idempotency, limits.maxOutputTokens);
  const context: AnthropicProjectionContext = {
    model: plan.model,
    ...hooks,
    ...outputLimitHooks(limits, run),
    onRunId: (runId) => {
      onRunId(runId);
      run.onRunId(runId);
    },
  };
  if (!plan.stream) return blockingMessage(run.items, context, headers);
  return sseAnswer(c, run.items, new AnthropicStreamProjector(context), headers, run);
}

async function countTokens(c: GatewayContext): Promise<Response> {
  const caller = callerOf(c);
  const body = parseRequest(CountTokensRequest, await readRequestBody(c, caller));
  // The key must be a working application key (native answers 401/409 otherwise) — checked with the
  // cheap `GET /models`; no run is created (native-api.md §4.3).
  await caller.native.listModels();
  return jsonAnswer(countInputTokens(body), responseHeaders(caller.requestId, []));
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
