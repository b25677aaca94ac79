/**
 * Blocking `/v1/messages`: a native answer → one Anthropic `Message`.
 *
 * `MessageAccumulator` is the other `AnthropicEventWriter`: the same `AnthropicEncoder` that writes
 * the stream's events writes into it, and it folds them exactly the way the Anthropic SDK's
 * `MessageStream` does — so the blocking answer equals `stream.finalMessage()` by construction
 * (invariant 4), thinking blocks and `stop_sequence` included (1flowbase's own adapter drops thinking
 * in blocking mode and omits `stop_sequence`, native-api.md §4.3).
 *
 * A new run is folded over its *native stream*, not the blocking run record: a run that stops for
 * client tools ends `waiting`, and native returns no `answer` for a waiting run (native-api.md §7),
 * so the text and thinking before its tool calls exist only on the stream. A resumed run is folded
 * over its record (`runToItems`), because native's resume replies JSON only (§1.6).
 *
 * A stream that ends in an `error` event is, in blocking mode, the same error as an HTTP response.
 */
import type { GatewayError } from "../../http/errors";
import { NativeAnswerReader, readAnswer, readerOptions } from "../../native/answer";
import type { NativeStreamItem } from "../../native/events";
import type { AnthropicMessage, AnthropicStreamEvent } from "./schema";
import { AnthropicEncoder, type AnthropicEventWriter, type AnthropicProjectionContext } from "./stream";

/**
 * Accumulates stream events into the final `Message`, mirroring ANT `MessageStream`
 * (`#accumulateMessage`): `message_start` gives the snapshot, blocks are appended, deltas are
 * concatenated, tool input JSON is parsed when its block stops, `message_delta` sets the stop reason
 * and overwrites usage counters that are present.
 */
export class MessageAccumulator implements AnthropicEventWriter {
  message: AnthropicMessage | null = null;
  error: { type: string; message: string } | null = null;
  stopped = false;
  private readonly toolJson = new Map<number, string>();

  /**
   * Appends a text or thinking delta to the block at `index`: what `event` does with a
   * `content_block_delta` of that block's kind, without the event (the fold's per-token path).
   * Plain `+=` (V8 builds a rope, flattened once when the answer is serialised): collecting pieces
   * and joining them per block measured no faster on a 100k-delta answer.
   */
  delta(index: number, _kind: "text" | "thinking", text: string): void {
    const block = this.message?.content[index];
    if (block?.type === "text") block.text += text;
    else if (block?.type === "thinking") block.thinking += text;
  }

  event(event: AnthropicStreamEvent): void {
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

export type BlockingOutcome = { ok: true; message: AnthropicMessage } | { ok: false; error: GatewayError };

/**
 * A native answer (a new run's stream, or a record's items) → the `Message`, or the error the stream
 * ended with.
 *
 * @example
 * const outcome = await messageFrom(await native.streamRun(request), { model, lookupRun });
 */
export async function messageFrom(items: ReadableStream<NativeStreamItem> | readonly NativeStreamItem[], context: AnthropicProjectionContext): Promise<BlockingOutcome> {
  const accumulator = new MessageAccumulator();
  const encoder = new AnthropicEncoder(context, accumulator);
  await readAnswer(items, new NativeAnswerReader(encoder, readerOptions(context)));
  if (encoder.failure) return { ok: false, error: encoder.failure };
  if (!accumulator.message || !accumulator.stopped) throw new Error("the projection ended without message_stop");
  return { ok: true, message: accumulator.message };
}
