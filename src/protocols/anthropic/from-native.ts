/**
 * Blocking `/v1/messages`: a native run → one Anthropic `Message`.
 *
 * Built by folding the stream projection (`stream.ts`) over native stream items — the run's native
 * stream for a new run, or the events a finished run's stream would have carried (`runToEvents`,
 * src/native/synthesize.ts) for a resumed one — accumulating them exactly the way the Anthropic SDK's
 * `MessageStream` does. So the blocking answer equals `stream.finalMessage()` by construction
 * (invariant 4), thinking blocks and `stop_sequence` included — 1flowbase's own adapter drops
 * thinking in blocking mode and omits `stop_sequence` (native-api.md §4.3).
 *
 * A stream that ends in an `error` event is, in blocking mode, the same error as an HTTP response.
 */
import { NativeError } from "../../native/errors";
import { readNativeItemBatches, type NativeStreamItem } from "../../native/events";
import type { NativeRun } from "../../native/schema";
import { runToEvents } from "../../native/synthesize";
import type { GatewayError } from "../../http/errors";
import type { AnthropicMessage, AnthropicStreamEvent } from "./schema";
import { AnthropicStreamState, type AnthropicProjectionContext } from "./stream";

/**
 * Accumulates stream events into the final `Message`, mirroring ANT `MessageStream`
 * (`#accumulateMessage`): `message_start` gives the snapshot, blocks are appended, deltas are
 * concatenated, tool input JSON is parsed when its block stops, `message_delta` sets the stop reason
 * and overwrites usage counters that are present.
 */
export class MessageAccumulator {
  message: AnthropicMessage | null = null;
  error: { type: string; message: string } | null = null;
  stopped = false;
  private readonly toolJson = new Map<number, string>();

  /**
   * Appends a text or thinking delta to the block at `index`: what `apply` does with a
   * `content_block_delta` of that block's kind, without the event (the fold's per-token path).
   * Plain `+=` (V8 builds a rope, flattened once when the answer is serialised): collecting pieces
   * and joining them per block measured no faster on a 100k-delta answer.
   */
  appendDelta(index: number, text: string): void {
    const block = this.message?.content[index];
    if (block?.type === "text") block.text += text;
    else if (block?.type === "thinking") block.thinking += text;
  }

  apply(event: AnthropicStreamEvent): void {
    switch (event.type) {
      case "message_start":
        if (this.message) throw new Error("second message_start");
        this.message = structuredClone(event.message);
        return;
      case "error":
        this.error = event.error;
        return;
      default:
        break;
    }
    const message = this.message;
    if (!message) throw new Error(`${event.type} before message_start`);
    switch (event.type) {
      case "content_block_start":
        message.content.push(structuredClone(event.content_block));
        return;
      case "content_block_delta": {
        const block = message.content[event.index];
        const delta = event.delta;
        if (delta.type === "text_delta" && block?.type === "text") block.text += delta.text;
        else if (delta.type === "thinking_delta" && block?.type === "thinking") block.thinking += delta.thinking;
        else if (delta.type === "signature_delta" && block?.type === "thinking") block.signature = delta.signature;
        else if (delta.type === "input_json_delta" && block?.type === "tool_use") {
          this.toolJson.set(event.index, (this.toolJson.get(event.index) ?? "") + delta.partial_json);
        }
        return;
      }
      case "content_block_stop": {
        const block = message.content[event.index];
        const json = this.toolJson.get(event.index);
        if (block?.type === "tool_use" && json) block.input = JSON.parse(json) as Record<string, unknown>;
        return;
      }
      case "message_delta":
        message.stop_reason = event.delta.stop_reason;
        message.stop_sequence = event.delta.stop_sequence;
        message.usage.output_tokens = event.usage.output_tokens;
        message.usage.input_tokens = event.usage.input_tokens;
        if (event.usage.cache_creation_input_tokens !== undefined) {
          message.usage.cache_creation_input_tokens = event.usage.cache_creation_input_tokens;
        }
        if (event.usage.cache_read_input_tokens !== undefined) {
          message.usage.cache_read_input_tokens = event.usage.cache_read_input_tokens;
        }
        return;
      case "message_stop":
        this.stopped = true;
        return;
    }
  }
}

/** A run that has not ended (native returned `queued`/`running`): there is nothing to answer with. */
function unfinished(run: NativeRun): NativeError {
  return new NativeError({
    kind: "protocol",
    status: 502,
    code: "upstream_invalid_response",
    message: `1flowbase returned a run that has not finished (status ${String(run.status)})`,
  });
}

/** The native stream items of a finished run, ending with a fault when the run is not terminal. */
export function runToItems(run: NativeRun): NativeStreamItem[] {
  const items: NativeStreamItem[] = runToEvents(run);
  const last = items[items.length - 1];
  const terminal =
    last !== undefined &&
    (last.event === "run.completed" ||
      last.event === "run.incomplete" ||
      last.event === "run.failed" ||
      last.event === "run.cancelled" ||
      last.event === "required_action");
  if (!terminal) items.push({ event: "fault", error: unfinished(run) });
  return items;
}

export type BlockingOutcome = { ok: true; message: AnthropicMessage } | { ok: false; error: GatewayError };

/**
 * Folds the projection over native stream items, a batch at a time (`nextBatch` yields null at the
 * end): the `Message`, or the error the stream ended with. A batch is folded synchronously; only a
 * terminal event whose usage is looked up on the run record makes `step` return a promise.
 */
async function fold(
  nextBatch: () => Promise<readonly NativeStreamItem[] | null>,
  context: AnthropicProjectionContext,
): Promise<BlockingOutcome> {
  const state = new AnthropicStreamState(context);
  const accumulator = new MessageAccumulator();
  read: for (let batch = await nextBatch(); batch !== null; batch = await nextBatch()) {
    for (const item of batch) {
      // A delta continuing the open block (nearly every item) goes straight into it.
      const text = state.continuedText(item);
      if (text !== undefined) {
        accumulator.appendDelta(state.openIndex, text);
        continue;
      }
      const stepped = state.step(item);
      const events = Array.isArray(stepped) ? stepped : await stepped;
      for (const event of events) accumulator.apply(event);
      if (state.done) break read;
    }
  }
  if (state.failure) return { ok: false, error: state.failure };
  if (!accumulator.message || !accumulator.stopped) {
    // The native stream always ends with a terminal event or a fault, and `runToItems` too.
    throw new Error("the projection ended without message_stop");
  }
  return { ok: true, message: accumulator.message };
}

/** Blocking answer for a finished run record (a resumed run: native resume replies JSON only). */
export function messageFromRun(run: NativeRun, context: AnthropicProjectionContext): Promise<BlockingOutcome> {
  let items: NativeStreamItem[] | null = runToItems(run);
  return fold(async () => {
    const batch = items;
    items = null;
    return batch;
  }, context);
}

/**
 * Blocking answer for a new run, folded over the *native stream* of that run.
 *
 * Why not the blocking native run record: a run that stops for client tools ends `waiting`, and
 * native returns no `answer`/`answer_segments` for a waiting run (native-api.md §7), so the text and
 * thinking the model produced before its tool calls would be missing from the blocking answer while
 * the stream carries them — blocking would no longer equal the streamed `finalMessage()`
 * (invariant 4). Folding the native stream keeps every delta, by construction.
 *
 * Read in batches (`readNativeItemBatches`): one stream read per native chunk rather than per event,
 * which in workerd is a promise round trip each — most of the cost of a long blocking answer.
 */
export async function messageFromStream(items: ReadableStream<NativeStreamItem>, context: AnthropicProjectionContext): Promise<BlockingOutcome> {
  const batches = readNativeItemBatches(items);
  try {
    return await fold(() => batches.read(), context);
  } finally {
    void batches.cancel().catch(() => undefined);
  }
}
