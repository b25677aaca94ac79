/**
 * Blocking Chat Completions: native run → `chat.completion` (client-protocols.md §4.2).
 *
 * Built by folding the stream machine over native stream items and accumulating its output the way
 * a client accumulates chunks (`ChatCompletionAccumulator`, which also serves `accumulateChatChunks`)
 * — so the blocking response equals the final streamed snapshot by construction (invariant 4). A failed or cancelled run, or a waiting state Chat cannot carry, is thrown as the
 * HTTP error the stream would have sent as an error chunk (the fork answered 200 with empty content,
 * native-api.md §4.1).
 *
 * A new run is folded over its *native stream*, not over the blocking run record: a run that stops
 * for client tools ends `waiting`, and native returns no `answer`/`answer_segments` for a waiting run
 * (native-api.md §7), so text the model produced before its tool calls would be missing from a
 * record-based answer while the stream carries it. A resumed run is folded over `runToEvents(record)`,
 * because native's resume replies JSON only (§1.6).
 */
import { GatewayError } from "../../http/errors";
import { readNativeItemBatches, type NativeStreamItem } from "../../native/events";
import type { NativeRun } from "../../native/schema";
import { runToEvents } from "../../native/synthesize";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessage, ChatFinishReason } from "./schema";
import { ChatChunkMachine, chatUsage, type ChatProjectionOptions, type ChatStreamOutput, type ChatTextField, type ChatTextSink } from "./stream";

export type ChatCompletionOptions = Omit<ChatProjectionOptions, "includeUsage">;

/** The next native items (at least one), or null at the end. */
type NextBatch = () => Promise<readonly NativeStreamItem[] | null> | readonly NativeStreamItem[] | null;

async function fold(nextBatch: NextBatch, options: ChatCompletionOptions): Promise<ChatCompletion> {
  // Usage is always part of a blocking completion.
  const machine = new ChatChunkMachine({ ...options, includeUsage: true });
  const accumulator = new ChatCompletionAccumulator();
  const take = (outputs: readonly ChatStreamOutput[]): void => {
    for (const output of outputs) {
      if (output.kind === "error") throw output.error;
      accumulator.add(output.chunk);
    }
  };
  while (!machine.done) {
    const batch = await nextBatch();
    if (batch === null) break;
    // A batch is folded synchronously: a long answer is ~100k deltas, and an `await` per item is a
    // microtask per item. Deltas hand their text straight to the accumulator (no chunk objects); only
    // a usage lookup after the terminal event is really async.
    for (const item of batch) {
      if (machine.pushText(item, accumulator)) continue;
      const outputs = machine.push(item);
      take(Array.isArray(outputs) ? outputs : await outputs);
      if (machine.done) break;
    }
  }
  if (!machine.done) {
    // `runToEvents` has no terminal event for a run that is still queued/running; a native stream
    // always ends with a terminal event or a fault, so this is a run record in an unfinished state.
    throw new GatewayError({
      status: 502,
      code: "upstream_invalid_response",
      message: "1flowbase returned a run that has not finished",
      headers: { "x-should-retry": "false" },
    });
  }
  return accumulator.completion();
}

/**
 * A new run's native stream → the blocking completion. Read a batch at a time
 * (`readNativeItemBatches`): one promise round trip per native chunk rather than per event.
 *
 * @example
 * const items = await native.streamRun(plan.request);
 * return c.json(await chatCompletionFromStream(items, { model: request.model, lookupUsage }));
 */
export async function chatCompletionFromStream(items: ReadableStream<NativeStreamItem>, options: ChatCompletionOptions): Promise<ChatCompletion> {
  const batches = readNativeItemBatches(items);
  try {
    return await fold(() => batches.read(), options);
  } finally {
    void batches.cancel().catch(() => undefined);
  }
}

/** A finished run record (a resumed run) → the blocking completion. */
export function chatCompletionFromRun(run: NativeRun, options: ChatCompletionOptions): Promise<ChatCompletion> {
  let events: readonly NativeStreamItem[] | null = runToEvents(run);
  return fold(() => {
    const batch = events;
    events = null;
    return batch;
  }, options);
}

/**
 * What a client accumulates from a Chat stream: content and `reasoning_content` concatenated, tool
 * calls merged by `index` (first fragment names the call, later ones append arguments), the finish
 * reason, and the usage chunk's totals.
 */
export function accumulateChatChunks(chunks: readonly ChatCompletionChunk[]): ChatCompletion {
  const accumulator = new ChatCompletionAccumulator();
  for (const chunk of chunks) accumulator.add(chunk);
  return accumulator.completion();
}

/**
 * The client-side accumulation of a Chat stream, fed chunk by chunk (`add`) or, for the delta chunks
 * `ChatChunkMachine.pushText` stands for, text by text (`text`) — the same result either way.
 */
export class ChatCompletionAccumulator implements ChatTextSink {
  private first: ChatCompletionChunk | undefined;
  private content: string | null = null;
  private reasoning = "";
  private finishReason: ChatFinishReason | null = null;
  private usage = chatUsage(null);
  private readonly toolCalls: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }> = [];

  add(chunk: ChatCompletionChunk): void {
    this.first ??= chunk;
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      const { delta } = choice;
      if (delta.content !== undefined) this.content = (this.content ?? "") + delta.content;
      if (delta.reasoning_content !== undefined) this.reasoning += delta.reasoning_content;
      for (const call of delta.tool_calls ?? []) {
        const existing = this.toolCalls[call.index];
        if (!existing) {
          this.toolCalls[call.index] = { id: call.id ?? "", type: "function", function: { name: call.function.name ?? "", arguments: call.function.arguments } };
        } else {
          existing.function.arguments += call.function.arguments;
        }
      }
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
  }

  /** `ChatTextSink`: the chunk whose delta is `{ [field]: text }`, without building it. */
  text(field: ChatTextField, text: string): void {
    if (field === "content") this.content = (this.content ?? "") + text;
    else this.reasoning += text;
  }

  completion(): ChatCompletion {
    const first = this.first;
    if (!first) throw new Error("no chunks to accumulate");
    if (!this.finishReason) throw new Error("stream ended without a finish reason");
    const message: ChatCompletionMessage = { role: "assistant", content: this.content, refusal: null };
    if (this.reasoning) message.reasoning_content = this.reasoning;
    if (this.toolCalls.length > 0) message.tool_calls = this.toolCalls;
    return {
      id: first.id,
      object: "chat.completion",
      created: first.created,
      model: first.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: this.finishReason }],
      usage: this.usage,
    };
  }
}
