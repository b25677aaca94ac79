/**
 * Resuming a native callback task from client tool results, with no state at the edge.
 *
 * Every protocol hands back tool results keyed by the ids we minted (`callback-ids.ts`). This module
 * checks them against the run itself (`GET /runs/{id}`, which also proves ownership) and calls
 * `POST /runs/{id}/resume` with exactly one result per pending tool call (native-api.md §1.6) — or,
 * for calls this isolate has just shown the caller, resumes at once and reads the run only when
 * native refuses (`takeKnownTarget`, at the end of this file). The
 * waiting run's calls are read by the answer reader's own validation (`readToolCallTask`), so the
 * calls a client was shown and the calls a resume answers are the same list.
 * Every client mistake — a forged id, another key's run, a run that is no longer waiting, results for
 * two different tasks, a missing or duplicate result — is a `ToolResultsError` (a 400 naming
 * `param`), never a 5xx.
 */
import { readToolCallTask, type ToolCallTask } from "./answer";
import type { CallbackRef } from "./callback-ids";
import type { NativeClient } from "./client";
import { NativeError, runFailedError, ToolResultsError, type RunErrorLike } from "./errors";
import type { NativeRun } from "./schema";

export interface ToolResultInput {
  /** The decoded id, or null when the client's id was not one of ours. */
  ref: CallbackRef | null;
  /** The id exactly as the client sent it (for messages). */
  clientId: string;
  /** String content, or JSON the protocol carried (native accepts string or JSON). */
  content: unknown;
}

export interface ResumeTarget {
  runId: string;
  callbackTaskId: string;
  /** Original native tool call ids, in the task's order. */
  nativeCallIds: readonly string[];
}

/**
 * True when tool results answer tool calls this gateway never issued: none of the ids decodes as one
 * of ours (`callback-ids.ts`). That is a transcript begun elsewhere (another provider's session,
 * few-shot examples) and runs as a stateless transcript — a new native run whose history carries the
 * calls and results as native's structured `tool_calls` / `role:"tool"` items (native-api.md §1.4;
 * fork `llm_context.rs` ~324–380 at c98c4dec keeps an empty-text item that carries a tool payload).
 * OpenAI and Anthropic accept such transcripts. An id that decodes as ours claims a waiting native
 * run and goes through `resolveResumeTarget`; a mix of ours and foreign ones is a resume whose
 * foreign ids fail there (one turn's results cannot both resume a run and start a new one).
 */
export function answersForeignToolCalls(results: readonly ToolResultInput[]): boolean {
  return results.length > 0 && results.every((result) => result.ref === null);
}

const INVALID_ID = "invalid_tool_call_id";
const INVALID_RESULTS = "invalid_tool_results";

/** The one callback task `results` answer: every id ours and all of one assistant turn (checked before any read). */
function answeredTask(results: readonly ToolResultInput[], param: string): CallbackRef {
  if (results.length === 0) throw new ToolResultsError("no tool results were given", param, "invalid_request");
  for (const result of results) {
    if (!result.ref) {
      throw new ToolResultsError(
        `tool call id '${result.clientId}' was not issued by this gateway (or was altered); send the id exactly as received`,
        param,
        INVALID_ID,
      );
    }
  }
  const first = results[0]?.ref;
  if (!first) throw new ToolResultsError("no tool results were given", param, "invalid_request");
  for (const result of results) {
    if (result.ref && (result.ref.runId !== first.runId || result.ref.callbackTaskId !== first.callbackTaskId)) {
      throw new ToolResultsError("tool results must all answer the tool calls of one assistant turn", param, INVALID_ID);
    }
  }
  return first;
}

const unknownCall = (param: string): ToolResultsError =>
  new ToolResultsError(
    "these tool results do not answer pending tool calls of a response you own (unknown, foreign or already answered)",
    param,
    INVALID_ID,
  );

/** Checks that `results` answer each of the task's calls exactly once (`nativeCallIds`, in the task's order). */
function checkOnePerCall(results: readonly ToolResultInput[], nativeCallIds: readonly string[], param: string): void {
  const seen = new Set<number>();
  for (const result of results) {
    const index = result.ref?.index ?? -1;
    if (index >= nativeCallIds.length) throw unknownCall(param);
    if (seen.has(index)) throw new ToolResultsError(`duplicate tool result for '${result.clientId}'`, param, INVALID_RESULTS);
    seen.add(index);
  }
  if (seen.size !== nativeCallIds.length) {
    throw new ToolResultsError(
      `expected one tool result for each of the ${nativeCallIds.length} tool calls of that turn, got ${seen.size}`,
      param,
      INVALID_RESULTS,
    );
  }
}

/** Validates the results against the waiting run; `param` is the request field the ids came from. */
export async function resolveResumeTarget(native: NativeClient, results: ToolResultInput[], param: string): Promise<ResumeTarget> {
  const first = answeredTask(results, param);
  let run: NativeRun;
  try {
    run = await native.getRun(first.runId);
  } catch (error) {
    // Another key's run (403) and a missing run (404) look the same: absence.
    if (error instanceof NativeError && error.kind === "http" && (error.status === 403 || error.status === 404 || error.status === 400)) throw unknownCall(param);
    throw error;
  }
  const task = run.status === "waiting" ? readToolCallTask(run.id, run.required_action) : null;
  if (task === null || task instanceof NativeError || task.callbackTaskId !== first.callbackTaskId) {
    // The caller owns this run (GET succeeded) and the id names one of its tasks, so the results were
    // already answered. A run that then failed is what a retrying client (Codex retries every
    // `response.failed`) must hear about: its own error, not "already answered".
    if (run.status === "failed") throw runFailedError(run.error as RunErrorLike | null | undefined);
    if (run.status === "cancelled") throw NativeError.cancelled();
    throw unknownCall(param);
  }
  const nativeCallIds = task.calls.map((call) => call.nativeId);
  checkOnePerCall(results, nativeCallIds, param);
  return { runId: first.runId, callbackTaskId: first.callbackTaskId, nativeCallIds };
}

/** Resumes the task; returns the run as native reports it after the continuation. */
export async function resumeWithResults(native: NativeClient, target: ResumeTarget, results: ToolResultInput[], param: string): Promise<NativeRun> {
  const toolResults = results.map((result) => ({
    tool_call_id: target.nativeCallIds[result.ref?.index ?? 0] ?? "",
    content: result.content,
  }));
  try {
    return await native.resumeRun(target.runId, { callback_task_id: target.callbackTaskId, response_payload: { tool_results: toolResults } });
  } catch (error) {
    if (error instanceof NativeError && error.kind === "http" && error.status >= 400 && error.status < 500) {
      // Native's own verdict on the results (tool_results, callback_resume_payload_conflict, …).
      throw new ToolResultsError(`1flowbase rejected the tool results: ${error.message}`, param, error.code);
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The tasks this isolate has just shown a client
// ---------------------------------------------------------------------------------------------

/**
 * The tool-call tasks answers in this isolate ended with, by owner (the key's fingerprint), run and
 * task: their native call ids, the one fact a resume needs that the client's ids do not carry
 * (callback-ids.ts). A tool loop's next turn usually comes back to the isolate that streamed the
 * calls; it then resumes at once instead of reading the waiting run first — one native round trip
 * less per turn (bench/toolloop.ts --native-rtt). A hint, never the truth: native checks the resume
 * itself (ownership, a waiting run, a pending task, one result per call: fork
 * `callback_resume.rs` 111–173 @ c98c4dec, native-api.md §1.6), and a refused resume is judged by
 * reading the run, as a resume without the hint is (`resumeKnownTarget`). The stream's calls and the
 * record's are the same list: both are the task's `request_payload.tool_calls` (fork
 * `debug_stream_events/mod.rs` 132–178, `run_service/native_results.rs` 128–150). Ids only, no
 * content (invariant 1). Used once: the first resume of a task takes its entry, so a repeated turn
 * reads the run as before.
 */
const KNOWN_TASK_LIMIT = 1024;
/** A tool loop's next turn comes within seconds (a human approving a call: minutes); later is a miss, not an error. */
const KNOWN_TASK_TTL_MS = 10 * 60_000;
const knownTasks = new Map<string, { nativeCallIds: readonly string[]; until: number }>();

const knownTaskKey = (owner: string, runId: string, callbackTaskId: string): string => `${owner} ${runId} ${callbackTaskId}`;

/** Remembers the calls of a task an answer for `owner` ended with (the oldest entry goes past the limit). */
export function rememberToolCallTask(owner: string, task: ToolCallTask): void {
  const key = knownTaskKey(owner, task.runId, task.callbackTaskId);
  knownTasks.delete(key);
  knownTasks.set(key, { nativeCallIds: task.calls.map((call) => call.nativeId), until: Date.now() + KNOWN_TASK_TTL_MS });
  if (knownTasks.size > KNOWN_TASK_LIMIT) {
    const oldest = knownTasks.keys().next();
    if (!oldest.done) knownTasks.delete(oldest.value);
  }
}

/**
 * The resume target of `results` from a task this isolate showed `owner`, or null (unknown, expired,
 * or results that do not answer its calls one each — `resolveResumeTarget` then gives the error a
 * read of the run decides). Ids that are not ours or span two turns are refused here, as there.
 */
export function takeKnownTarget(owner: string, results: ToolResultInput[], param: string): ResumeTarget | null {
  const first = answeredTask(results, param);
  const key = knownTaskKey(owner, first.runId, first.callbackTaskId);
  const known = knownTasks.get(key);
  if (!known) return null;
  knownTasks.delete(key);
  if (known.until < Date.now()) return null;
  try {
    checkOnePerCall(results, known.nativeCallIds, param);
  } catch {
    return null;
  }
  return { runId: first.runId, callbackTaskId: first.callbackTaskId, nativeCallIds: known.nativeCallIds };
}

/**
 * `resumeWithResults` for a target from `takeKnownTarget`. When native refuses it (a 4xx: another
 * isolate answered the task, the run was cancelled or failed meanwhile), the waiting run is read and
 * judged exactly as `resolveResumeTarget` judges it — its verdict is the error; a run still waiting
 * on that very task, with those calls, makes native's refusal the error, as it is without the hint.
 */
export async function resumeKnownTarget(native: NativeClient, target: ResumeTarget, results: ToolResultInput[], param: string): Promise<NativeRun> {
  try {
    return await resumeWithResults(native, target, results, param);
  } catch (error) {
    if (!(error instanceof ToolResultsError)) throw error;
    const read = await resolveResumeTarget(native, results, param);
    if (read.nativeCallIds.length === target.nativeCallIds.length && read.nativeCallIds.every((id, i) => id === target.nativeCallIds[i])) throw error;
    return resumeWithResults(native, read, results, param);
  }
}
