/**
 * A native run record → the native stream items a stream of that run would have carried.
 *
 * This is the record path of the answer reader (answer.ts): a resumed run (native resume replies
 * JSON only, native-api.md §1.6), GET, cancel and `item_reference`s are read by the very reader that
 * reads live streams, so they answer exactly what a live stream of the same run answers.
 *
 * - The answer comes from `answer_segments`, else from `answer` as one message delta: the reader's
 *   think splitter separates inline `<think>…</think>` exactly as it does for live deltas (native's
 *   own terminal fallback does the same split, §2.3).
 * - Only a `succeeded` or `incomplete` run has an answer: for a failed run `answer` is the error
 *   text (fork `native_results.rs` ~38, errata 7), which must never reach a client as model output.
 * - A record's `error` keeps the failure class in `details` (errata 1), so failed records need no
 *   further lookup.
 * - A `waiting` run ends with `required_action` — `null` for a human-approval wait (errata 5).
 * - A run that has not ended (`queued`, `running`, `created`) ends with a fault, never silently.
 */
import { NativeError } from "./errors";
import type { NativeStreamItem } from "./events";
import type { NativeEventData, NativeRun } from "./schema";

function unfinished(run: NativeRun): NativeError {
  return new NativeError({
    kind: "protocol",
    status: 502,
    code: "upstream_invalid_response",
    message: `1flowbase returned a run that has not finished (status ${String(run.status)})`,
    retryable: false,
  });
}

/** True when the record is in a state a stream of it would have ended in. */
export function isSettledRun(run: Pick<NativeRun, "status">): boolean {
  return ["succeeded", "incomplete", "failed", "cancelled", "waiting"].includes(String(run.status));
}

/**
 * @example
 * runToItems({ id, status: "succeeded", answer: "<think>hm</think>Hi" })
 * // run.started, message.delta "<think>hm</think>Hi", run.completed  (the reader splits the tags)
 */
export function runToItems(run: NativeRun): NativeStreamItem[] {
  const base = { run_id: run.id, created_at: run.created_at };
  const items: NativeStreamItem[] = [{ event: "run.started", id: null, data: { ...base, status: "running" } }];
  const status = String(run.status);
  if (status === "succeeded" || status === "incomplete") {
    const segments = run.answer_segments ?? [];
    if (segments.length > 0) {
      for (const segment of segments) {
        if (!segment.text) continue;
        const event = segment.kind === "reasoning" ? "reasoning.delta" : "message.delta";
        items.push({ event, id: null, data: { run_id: run.id, status: "running", delta: segment.text } });
      }
    } else if (run.answer) {
      items.push({ event: "message.delta", id: null, data: { run_id: run.id, status: "running", delta: run.answer } });
    }
  }
  const terminal: NativeEventData = { ...base, status, usage: run.usage ?? null, error: run.error ?? null };
  switch (status) {
    case "succeeded":
      items.push({ event: "run.completed", id: null, data: terminal });
      break;
    case "incomplete":
      items.push({ event: "run.incomplete", id: null, data: terminal });
      break;
    case "failed":
      items.push({ event: "run.failed", id: null, data: terminal });
      break;
    case "cancelled":
      items.push({ event: "run.cancelled", id: null, data: terminal });
      break;
    case "waiting":
      items.push({ event: "required_action", id: null, data: { ...terminal, required_action: run.required_action ?? null } });
      break;
    default:
      items.push({ event: "fault", error: unfinished(run) });
  }
  return items;
}
