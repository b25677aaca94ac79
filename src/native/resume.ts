/**
 * Resuming a native callback task from client tool results, with no state at the edge.
 *
 * Every protocol hands back tool results keyed by the ids we minted (`callback-ids.ts`). This module
 * checks them against the run itself (`GET /runs/{id}`, which also proves ownership) and calls
 * `POST /runs/{id}/resume` with exactly one result per pending tool call (native-api.md §1.6). The
 * waiting run's calls are read by the answer reader's own validation (`readToolCallTask`), so the
 * calls a client was shown and the calls a resume answers are the same list.
 * Every client mistake — a forged id, another key's run, a run that is no longer waiting, results for
 * two different tasks, a missing or duplicate result — is a `ToolResultsError` (a 400 naming
 * `param`), never a 5xx.
 */
import { readToolCallTask } from "./answer";
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
  nativeCallIds: string[];
  /** The run as read before resuming (status `waiting`). */
  waitingRun: NativeRun;
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

/** Validates the results against the waiting run; `param` is the request field the ids came from. */
export async function resolveResumeTarget(native: NativeClient, results: ToolResultInput[], param: string): Promise<ResumeTarget> {
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
  const unknownCall = () =>
    new ToolResultsError(
      "these tool results do not answer pending tool calls of a response you own (unknown, foreign or already answered)",
      param,
      INVALID_ID,
    );
  let run: NativeRun;
  try {
    run = await native.getRun(first.runId);
  } catch (error) {
    // Another key's run (403) and a missing run (404) look the same: absence.
    if (error instanceof NativeError && error.kind === "http" && (error.status === 403 || error.status === 404 || error.status === 400)) throw unknownCall();
    throw error;
  }
  const task = run.status === "waiting" ? readToolCallTask(run.id, run.required_action) : null;
  if (task === null || task instanceof NativeError || task.callbackTaskId !== first.callbackTaskId) {
    // The caller owns this run (GET succeeded) and the id names one of its tasks, so the results were
    // already answered. A run that then failed is what a retrying client (Codex retries every
    // `response.failed`) must hear about: its own error, not "already answered".
    if (run.status === "failed") throw runFailedError(run.error as RunErrorLike | null | undefined);
    if (run.status === "cancelled") throw NativeError.cancelled();
    throw unknownCall();
  }
  const nativeCallIds = task.calls.map((call) => call.nativeId);
  const seen = new Set<number>();
  for (const result of results) {
    const index = result.ref?.index ?? -1;
    if (index >= nativeCallIds.length) throw unknownCall();
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
  return { runId: first.runId, callbackTaskId: first.callbackTaskId, nativeCallIds, waitingRun: run };
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
