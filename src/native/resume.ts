/**
 * Resuming a native callback task from client tool results, with no state at the edge.
 *
 * Every protocol hands back tool results keyed by the ids we minted (`callback-ids.ts`). This module
 * checks them against the run itself (`GET /runs/{id}`, which also proves ownership) and calls
 * `POST /runs/{id}/resume` with exactly one result per pending tool call (native-api.md §1.6).
 * Every client mistake — a forged id, another key's run, a run that is no longer waiting, results for
 * two different tasks, a missing or duplicate result — is a 400 naming `param`, never a 5xx.
 */
import { GatewayError } from "../http/errors";
import type { CallbackRef } from "./callback-ids";
import type { NativeClient } from "./client";
import { NativeError } from "./errors";
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

/** Validates the results against the waiting run; `param` is the request field the ids came from. */
export async function resolveResumeTarget(native: NativeClient, results: ToolResultInput[], param: string): Promise<ResumeTarget> {
  if (results.length === 0) throw GatewayError.invalidRequest("no tool results were given", param);
  const first = results.find((result) => result.ref)?.ref;
  for (const result of results) {
    if (!result.ref) {
      throw GatewayError.invalidRequest(
        `tool call id '${result.clientId}' was not issued by this gateway (or was altered); send the id exactly as received`,
        param,
        "invalid_tool_call_id",
      );
    }
  }
  if (!first) throw GatewayError.invalidRequest("no tool results were given", param);
  for (const result of results) {
    if (result.ref && (result.ref.runId !== first.runId || result.ref.callbackTaskId !== first.callbackTaskId)) {
      throw GatewayError.invalidRequest("tool results must all answer the tool calls of one assistant turn", param, "invalid_tool_call_id");
    }
  }
  const unknownCall = () =>
    GatewayError.invalidRequest(
      "these tool results do not answer pending tool calls of a response you own (unknown, foreign or already answered)",
      param,
      "invalid_tool_call_id",
    );
  let run: NativeRun;
  try {
    run = await native.getRun(first.runId);
  } catch (error) {
    // Another key's run (403) and a missing run (404) look the same: absence.
    if (error instanceof NativeError && error.kind === "http" && (error.status === 403 || error.status === 404 || error.status === 400)) throw unknownCall();
    throw error;
  }
  const payload = run.required_action?.payload;
  if (run.status !== "waiting" || !payload || payload.callback_task_id !== first.callbackTaskId) {
    // The caller owns this run (GET succeeded) and the id names one of its tasks, so the results were
    // already answered. A run that then failed is what a retrying client (Codex retries every
    // `response.failed`) must hear about: its own error, not "already answered".
    if (run.status === "failed") throw NativeError.fromRunError(run.error);
    if (run.status === "cancelled") throw NativeError.cancelled();
    throw unknownCall();
  }
  const nativeCallIds = (payload.tool_calls ?? []).map((call) => call.id);
  const seen = new Set<number>();
  for (const result of results) {
    const index = result.ref?.index ?? -1;
    if (index >= nativeCallIds.length) throw unknownCall();
    if (seen.has(index)) throw GatewayError.invalidRequest(`duplicate tool result for '${result.clientId}'`, param, "invalid_tool_results");
    seen.add(index);
  }
  if (seen.size !== nativeCallIds.length) {
    throw GatewayError.invalidRequest(
      `expected one tool result for each of the ${nativeCallIds.length} tool calls of that turn, got ${seen.size}`,
      param,
      "invalid_tool_results",
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
      throw GatewayError.invalidRequest(`1flowbase rejected the tool results: ${error.message}`, param, error.code);
    }
    throw error;
  }
}

/** A finished run's events as a stream (for streaming a resumed run, whose native reply is JSON). */
export function eventsToStream<T>(events: readonly T[]): ReadableStream<T> {
  let index = 0;
  return new ReadableStream<T>({
    pull(controller) {
      const next = events[index++];
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}
