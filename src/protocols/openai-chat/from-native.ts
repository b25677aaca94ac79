/**
 * Blocking Chat Completions: a native answer → one `chat.completion` (client-protocols.md §4.2).
 *
 * `ChatCompletionAccumulator` is the other `ChatChunkWriter`: the same `ChatEncoder` that writes the
 * SSE chunks writes into it, and it accumulates them the way a client accumulates a stream — so the
 * blocking response equals the final streamed snapshot by construction (invariant 4). A failed or
 * cancelled run, or a waiting state Chat cannot carry, is thrown as the HTTP error the stream would
 * have sent as an error chunk (the fork answered 200 with empty content, native-api.md §4.1).
 *
 * A new run is folded over its *native stream*, not over the blocking run record: a run that stops
 * for client tools ends `waiting`, and native returns no `answer` for a waiting run (native-api.md
 * §7), so text the model produced before its tool calls exists only on the stream. A resumed run is
 * folded over its record (`runToItems`), because native's resume replies JSON only (§1.6).
 */
import type { GatewayError } from "../../http/errors";
import { NativeAnswerReader, readAnswer, readerOptions } from "../../native/answer";
import type { NativeStreamItem } from "../../native/events";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessage, ChatFinishReason } from "./schema";
import { ChatEncoder, chatUsage, type ChatChunkWriter, type ChatProjectionOptions, type ChatTextField } from "./stream";

export type ChatCompletionOptions = Omit<ChatProjectionOptions, "includeUsage">;

/**
 * A native answer (a new run's stream, or a record's items) → the blocking completion.
 *
 * @example
 * const completion = await chatCompletionFrom(await native.streamRun(request), { model, lookupRun });
 */
export async function chatCompletionFrom(items: ReadableStream<NativeStreamItem> | readonly NativeStreamItem[], options: ChatCompletionOptions): Promise<ChatCompletion> {
  const accumulator = new ChatCompletionAccumulator();
  // Usage is always part of a blocking completion.
  const reader = new NativeAnswerReader(new ChatEncoder({ ...options, includeUsage: true }, accumulator), readerOptions(options));
  await readAnswer(items, reader);
  return accumulator.completion();
}

/**
 * What a client accumulates from a Chat stream: content and `reasoning_content` concatenated, tool
 * calls merged by `index` (first fragment names the call, later ones append arguments), the finish
 * reason, and the usage chunk's totals.
 */
export function accumulateChatChunks(chunks: readonly ChatCompletionChunk[]): ChatCompletion {
  const accumulator = new ChatCompletionAccumulator();
  for (const chunk of chunks) accumulator.chunk(chunk);
  accumulator.end();
  return accumulator.completion();
}

/**
 * The client-side accumulation of a Chat stream, fed chunk by chunk (`chunk`) or, for the delta
 * chunks `ChatChunkWriter.text` stands for, text by text — the same result either way.
 */
export class ChatCompletionAccumulator implements ChatChunkWriter {
  private first: ChatCompletionChunk | undefined;
  private content: string | null = null;
  private reasoning = "";
  private finishReason: ChatFinishReason | null = null;
  private usage = chatUsage(null);
  private failure: GatewayError | null = null;
  private ended = false;
  private readonly toolCalls: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }> = [];

  chunk(chunk: ChatCompletionChunk): void {
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

  text(field: ChatTextField, text: string): void {
    if (field === "content") this.content = (this.content ?? "") + text;
    else this.reasoning += text;
  }

  error(error: GatewayError): void {
    this.failure = error;
  }

  end(): void {
    this.ended = true;
  }

  /** The completion, or the error the stream ended with (thrown: a blocking request answers it as HTTP). */
  completion(): ChatCompletion {
    if (this.failure) throw this.failure;
    const first = this.first;
    if (!first || !this.ended || !this.finishReason) throw new Error("the Chat stream ended without a finish chunk");
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
