/**
 * A finished native run record → the native events a stream of that run would have carried.
 *
 * This is how every protocol satisfies invariant 4 (blocking == final streaming snapshot) by
 * construction: a blocking answer is the protocol's stream projector folded over these events, and a
 * resumed run (native resume replies JSON only, native-api.md §1.6) is streamed the same way.
 *
 * Deltas come from `answer_segments`, else from the `answer` split on `<think>…</think>`, exactly
 * like native's own terminal fallback (native-api.md §2.3). Returns no terminal event for a run that
 * is still `queued`/`running`.
 */
import type { NativeEvent, NativeEventData, NativeRun } from "./schema";

export interface AnswerPiece {
  kind: "reasoning" | "message";
  text: string;
}

const THINK = /<think>([\s\S]*?)(?:<\/think>|$)/g;

/** Splits a raw native answer into reasoning and message pieces, removing `<think>` tags. */
export function splitThinkTags(answer: string): AnswerPiece[] {
  const pieces: AnswerPiece[] = [];
  let last = 0;
  for (const match of answer.matchAll(THINK)) {
    const before = answer.slice(last, match.index);
    if (before) pieces.push({ kind: "message", text: before });
    if (match[1]) pieces.push({ kind: "reasoning", text: match[1] });
    last = (match.index ?? 0) + match[0].length;
  }
  const rest = answer.slice(last);
  if (rest) pieces.push({ kind: "message", text: rest });
  return pieces;
}

/** The answer of a run as ordered reasoning/message pieces. */
export function answerPieces(run: Pick<NativeRun, "answer" | "answer_segments">): AnswerPiece[] {
  if (run.answer_segments && run.answer_segments.length > 0) {
    return run.answer_segments
      .filter((segment) => segment.text.length > 0)
      .map((segment) => ({ kind: segment.kind === "reasoning" ? "reasoning" : "message", text: segment.text }));
  }
  return run.answer ? splitThinkTags(run.answer) : [];
}

export function runToEvents(run: NativeRun): NativeEvent[] {
  const base = { run_id: run.id, created_at: run.created_at };
  const events: NativeEvent[] = [
    { event: "run.started", id: null, data: { ...base, status: "running" } as NativeEventData },
  ];
  for (const piece of answerPieces(run)) {
    events.push({
      event: piece.kind === "reasoning" ? "reasoning.delta" : "message.delta",
      id: null,
      data: { run_id: run.id, status: "running", delta: piece.text },
    });
  }
  const terminal: NativeEventData = {
    ...base,
    status: String(run.status),
    answer: run.answer ?? null,
    usage: run.usage ?? null,
    error: run.error ?? null,
  };
  switch (run.status) {
    case "succeeded":
      events.push({ event: "run.completed", id: null, data: terminal });
      break;
    case "incomplete":
      events.push({ event: "run.incomplete", id: null, data: terminal });
      break;
    case "failed":
      events.push({ event: "run.failed", id: null, data: terminal });
      break;
    case "cancelled":
      events.push({ event: "run.cancelled", id: null, data: terminal });
      break;
    case "waiting":
      if (run.required_action) {
        events.push({ event: "required_action", id: null, data: { ...terminal, required_action: run.required_action } });
      }
      break;
    default:
      break;
  }
  return events;
}
