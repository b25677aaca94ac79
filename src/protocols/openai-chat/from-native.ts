/**
 * Blocking Chat Completions: native run → `chat.completion` (client-protocols.md §4.2).
 *
 * Built by folding the stream machine over native stream items and accumulating the chunks the way
 * a client does — so the blocking response equals the final streamed snapshot by construction
 * (invariant 4). A failed or cancelled run, or a waiting state Chat cannot carry, is thrown as the
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
import type { NativeStreamItem } from "../../native/events";
import type { NativeRun } from "../../native/schema";
import { runToEvents } from "../../native/synthesize";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessage, ChatFinishReason } from "./schema";
import { ChatChunkMachine, chatUsage, type ChatProjectionOptions } from "./stream";

export type ChatCompletionOptions = Omit<ChatProjectionOptions, "includeUsage">;

async function fold(next: () => Promise<NativeStreamItem | undefined> | NativeStreamItem | undefined, options: ChatCompletionOptions): Promise<ChatCompletion> {
  // Usage is always part of a blocking completion.
  const machine = new ChatChunkMachine({ ...options, includeUsage: true });
  const chunks: ChatCompletionChunk[] = [];
  for (let item = await next(); item !== undefined && !machine.done; item = await next()) {
    for (const output of await machine.push(item)) {
      if (output.kind === "error") throw output.error;
      chunks.push(output.chunk);
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
  return accumulateChatChunks(chunks);
}

/**
 * A new run's native stream → the blocking completion.
 *
 * @example
 * const items = await native.streamRun(plan.request);
 * return c.json(await chatCompletionFromStream(items, { model: request.model, lookupUsage }));
 */
export async function chatCompletionFromStream(items: ReadableStream<NativeStreamItem>, options: ChatCompletionOptions): Promise<ChatCompletion> {
  const reader = items.getReader();
  try {
    return await fold(async () => {
      const { value, done } = await reader.read();
      return done ? undefined : value;
    }, options);
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

/** A finished run record (a resumed run) → the blocking completion. */
export function chatCompletionFromRun(run: NativeRun, options: ChatCompletionOptions): Promise<ChatCompletion> {
  const events = runToEvents(run);
  let index = 0;
  return fold(() => events[index++], options);
}

/**
 * What a client accumulates from a Chat stream: content and `reasoning_content` concatenated, tool
 * calls merged by `index` (first fragment names the call, later ones append arguments), the finish
 * reason, and the usage chunk's totals.
 */
export function accumulateChatChunks(chunks: readonly ChatCompletionChunk[]): ChatCompletion {
  const first = chunks[0];
  if (!first) throw new Error("no chunks to accumulate");
  let content: string | null = null;
  let reasoning = "";
  let finishReason: ChatFinishReason | null = null;
  let usage = chatUsage(null);
  const toolCalls: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }> = [];
  for (const chunk of chunks) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      const { delta } = choice;
      if (delta.content !== undefined) content = (content ?? "") + delta.content;
      if (delta.reasoning_content !== undefined) reasoning += delta.reasoning_content;
      for (const call of delta.tool_calls ?? []) {
        const existing = toolCalls[call.index];
        if (!existing) {
          toolCalls[call.index] = { id: call.id ?? "", type: "function", function: { name: call.function.name ?? "", arguments: call.function.arguments } };
        } else {
          existing.function.arguments += call.function.arguments;
        }
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  if (!finishReason) throw new Error("stream ended without a finish reason");
  const message: ChatCompletionMessage = { role: "assistant", content, refusal: null };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: first.id,
    object: "chat.completion",
    created: first.created,
    model: first.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage,
  };
}
