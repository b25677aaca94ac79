/**
 * `POST /v1/chat/completions`, `/chat/completions`, `/openai/v1/chat/completions`: one handler, same
 * body, same auth, same responses (invariant 5).
 *
 * parse → policy → map → one native call → project → respond:
 * - a new run: `streamRun`, projected to SSE or folded into one `chat.completion` (failures before
 *   native's headers are plain HTTP errors, which the SDKs raise as typed errors — client-protocols.md §3.5);
 * - tool results for our tool calls: `resumeWithResults`, whose native reply is JSON only (§1.6), so a
 *   streaming client gets the resumed run projected from its record (`runToEvents`).
 */
import { Hono, type Context } from "hono";
import { readJsonBody } from "../http/body";
import { callerOf, type Caller, type GatewayEnv } from "../http/context";
import { GatewayError } from "../http/errors";
import { applyIdempotency, readIdempotency } from "../http/idempotency";
import { enforcePolicy, IGNORED_PARAMS_HEADER, policyMode, type PolicyMode } from "../http/policy";
import { projectToSse, sseResponse } from "../http/sse";
import { resolveResumeTarget, resumeWithResults, eventsToStream } from "../native/resume";
import type { NativeRun, NativeRunRequest } from "../native/schema";
import { runToEvents } from "../native/synthesize";
import { chatCompletionFromRun, chatCompletionFromStream } from "../protocols/openai-chat/from-native";
import { CHAT_PARAMETER_POLICY, isChatDefault, parseChatRequest, type ChatCompletionRequest } from "../protocols/openai-chat/schema";
import { ChatStreamProjector } from "../protocols/openai-chat/stream";
import { chatToNative, decideReasoningEffort, withReasoningEffort } from "../protocols/openai-chat/to-native";

export const chatRoutes = new Hono<GatewayEnv>();

const CHAT_PATHS = ["/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"] as const;

for (const path of CHAT_PATHS) chatRoutes.post(path, createChatCompletion);

async function createChatCompletion(c: Context<GatewayEnv>): Promise<Response> {
  const caller = callerOf(c);
  const { config } = caller;
  const body = await readJsonBody(c.req.raw, { maxBytes: config.MAX_BODY_BYTES, maxDecompressedBytes: config.MAX_DECOMPRESSED_BYTES });
  const request = parseChatRequest(body);
  const mode = policyMode(config.PARAMETER_POLICY, c.req.raw.headers);
  const ignored = enforcePolicy(CHAT_PARAMETER_POLICY, body as Record<string, unknown>, mode, isChatDefault);
  const idempotency = await readIdempotency(c.req.raw.headers, "chat", body);
  const plan = chatToNative(request, { traceId: caller.requestId });
  const stream = request.stream === true;
  const onRunId = (runId: string) => c.set("nativeRunId", runId);

  if (plan.kind === "resume") {
    const target = await resolveResumeTarget(caller.native, plan.results, "messages");
    onRunId(target.runId);
    const run = await resumeWithResults(caller.native, target, plan.results, "messages");
    // One completion id per response: the resumed run answers as `chatcmpl-<run>-<task>`.
    return respondWithRun(c, run, request, ignored, stream, target.callbackTaskId);
  }

  let nativeRequest = plan.request;
  if (request.reasoning_effort) {
    nativeRequest = await applyReasoningEffort(caller, nativeRequest, request, mode, ignored);
  }
  // Last, on the request exactly as sent: a retry must fingerprint identically (http/idempotency.ts).
  nativeRequest = applyIdempotency(nativeRequest, idempotency);

  // Blocking answers are folded over the native stream too (see from-native.ts): the model's text
  // before a tool call exists only there.
  const items = await caller.native.streamRun({ ...nativeRequest, response_mode: "streaming" });
  const lookupUsage = async (runId: string) => (await caller.native.getRun(runId)).usage;
  if (!stream) {
    const completion = await chatCompletionFromStream(items, { model: request.model, lookupUsage, onRunId });
    return c.json(completion, 200, ignoredHeader(ignored));
  }
  const projector = new ChatStreamProjector({
    model: request.model,
    includeUsage: request.stream_options?.include_usage === true,
    lookupUsage,
    onRunId,
  });
  return sseResponse(projectToSse(items, projector, { keepaliveMs: config.KEEPALIVE_INTERVAL_MS }), ignoredHeader(ignored));
}

/** A finished (resumed) run record as a blocking completion, or as a stream projected from the record. */
async function respondWithRun(
  c: Context<GatewayEnv>,
  run: NativeRun,
  request: ChatCompletionRequest,
  ignored: readonly string[],
  stream: boolean,
  idSuffix: string,
): Promise<Response> {
  const options = { model: request.model, idSuffix };
  if (!stream) return c.json(await chatCompletionFromRun(run, options), 200, ignoredHeader(ignored));
  const projector = new ChatStreamProjector({ ...options, includeUsage: request.stream_options?.include_usage === true });
  const body = projectToSse(eventsToStream(runToEvents(run)), projector, { keepaliveMs: c.get("config").KEEPALIVE_INTERVAL_MS });
  return sseResponse(body, ignoredHeader(ignored));
}

/**
 * `reasoning_effort` reaches native only when the model supports it at that effort; the catalog is
 * read once per request (no cross-request cache: publications change under the gateway).
 */
async function applyReasoningEffort(
  caller: Caller,
  nativeRequest: NativeRunRequest,
  request: ChatCompletionRequest,
  mode: PolicyMode,
  ignored: string[],
): Promise<NativeRunRequest> {
  const effort = request.reasoning_effort;
  if (!effort) return nativeRequest;
  const decision = decideReasoningEffort(effort, request.model, await caller.native.listModels());
  if (decision.applied) return withReasoningEffort(nativeRequest, decision.effort);
  if (mode === "strict") {
    throw new GatewayError({
      status: 400,
      message: `'reasoning_effort' would be ignored (${decision.why}); strict parameter policy rejects it`,
      param: "reasoning_effort",
      code: "unsupported_parameter",
    });
  }
  ignored.push("reasoning_effort");
  return nativeRequest;
}

function ignoredHeader(ignored: readonly string[]): Record<string, string> {
  return ignored.length > 0 ? { [IGNORED_PARAMS_HEADER]: ignored.join(", ") } : {};
}
