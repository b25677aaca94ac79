/**
 * `POST /v1/chat/completions`, `/chat/completions`, `/openai/v1/chat/completions`: one handler, same
 * body, same auth, same responses (invariant 5).
 *
 * parse → policy → map → one native call → encode | accumulate (run-steps.ts says how):
 * - a new run: `streamRun`, encoded as SSE chunks or folded into one `chat.completion` (failures
 *   before native's headers are plain HTTP errors, which the SDKs raise as typed errors —
 *   client-protocols.md §3.5);
 * - tool results for our tool calls: a resume of the waiting run, whose native reply is JSON only
 *   (§1.6): streamed at once and projected from the record when it arrives, or folded from it.
 */
import type { NativeRunRequest } from "../native/schema";
import type { Context } from "hono";
import { Hono } from "hono/quick";
import { callerOf, type GatewayEnv } from "../http/context";
import { applyIdempotency, readIdempotency } from "../http/idempotency";
import { enforcePolicy, ignoredParamsHeaders, policyMode } from "../http/policy";
import { chatCompletionFrom } from "../protocols/openai-chat/from-native";
import { CHAT_PARAMETER_POLICY, isChatDefault, parseChatRequest } from "../protocols/openai-chat/schema";
import { ChatStreamProjector } from "../protocols/openai-chat/stream";
import { chatOutputLimits, chatToNative } from "../protocols/openai-chat/to-native";
import { answerHooks, catalogModel, jsonAnswer, outputLimitHooks, prefetchCatalog, readRequestBody, resumedItems, sseAnswer, startResume, startRun, withCatalogReasoning } from "./run-steps";

export const chatRoutes = new Hono<GatewayEnv>();

const CHAT_PATHS = ["/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"] as const;

for (const path of CHAT_PATHS) chatRoutes.post(path, createChatCompletion);

async function createChatCompletion(c: Context<GatewayEnv>): Promise<Response> {
  const caller = callerOf(c);
  prefetchCatalog(caller);
  const body = await readRequestBody(c, caller);
  const request = parseChatRequest(body);
  const mode = policyMode(caller.config.PARAMETER_POLICY, c.req.raw.headers);
  const ignored = enforcePolicy(CHAT_PARAMETER_POLICY, body as Record<string, unknown>, mode, isChatDefault);
  const idempotency = await readIdempotency(c.req.raw.headers, "chat", body);
  const plan = chatToNative(request, { traceId: caller.requestId });
  const stream = request.stream === true;
  const log = c.get("log");
  log.model = request.model;
  const onRunId = (runId: string) => (log.nativeRunId = runId);
  const includeUsage = request.stream_options?.include_usage === true;
  const hooks = answerHooks(caller);
  const limits = chatOutputLimits(request);

  if (plan.kind === "resume") {
    const { target, resumed } = await startResume(caller, plan.results, "messages");
    onRunId(target.runId);
    // One completion id per response: the resumed run answers as `chatcmpl-<run>-<task>`.
    const options = { model: request.model, idSuffix: target.callbackTaskId, ...hooks, ...outputLimitHooks(limits, null) };
    if (!stream) return jsonAnswer(await chatCompletionFrom(resumedItems(resumed), options), ignoredParamsHeaders(ignored));
    return sseAnswer(c, resumedItems(resumed), new ChatStreamProjector({ ...options, includeUsage }), ignoredParamsHeaders(ignored));
  }

  // Native runs any model string; an unknown one is the client's 404 here, before any run.
  let nativeRequest: NativeRunRequest = { ...plan.request, model: await catalogModel(caller, request.model) };
  if (request.reasoning_effort) {
    nativeRequest = await withCatalogReasoning(caller, nativeRequest, { effort: request.reasoning_effort }, { name: "reasoning_effort", param: "reasoning_effort" }, mode, ignored);
  }
  // Last, on the request exactly as sent: a retry must fingerprint identically (http/idempotency.ts).
  nativeRequest = applyIdempotency(nativeRequest, idempotency);

  // Blocking answers are folded over the native stream too (see from-native.ts): the model's text
  // before a tool call exists only there. A retried key answers the first attempt's run (run-steps.ts).
  const run = await startRun(caller, nativeRequest, idempotency, limits.maxOutputTokens);
  const onStarted = (runId: string) => {
    onRunId(runId);
    run.onRunId(runId);
  };
  const options = { model: request.model, ...hooks, ...outputLimitHooks(limits, run), onRunId: onStarted };
  if (!stream) return jsonAnswer(await chatCompletionFrom(run.items, options), ignoredParamsHeaders(ignored));
  return sseAnswer(c, run.items, new ChatStreamProjector({ ...options, includeUsage }), ignoredParamsHeaders(ignored), run);
}
