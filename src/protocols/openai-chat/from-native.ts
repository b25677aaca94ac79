/**
 * Blocking Chat Completions: a finished native run → `chat.completion` (client-protocols.md §4.2).
 *
 * Built by folding the stream machine over the events the run's stream would have carried
 * (`runToEvents`) and accumulating the chunks the way a client does — so the blocking response
 * equals the final streamed snapshot by construction (invariant 4). A failed or cancelled run, or a
 * waiting state Chat cannot carry, is thrown as the HTTP error the stream would have sent as an error
 * chunk (the fork answered 200 with empty content, native-api.md §4.1).
 */
import { GatewayError } from "../../http/errors";
import type { NativeRun } from "../../native/schema";
import { runToEvents } from "../../native/synthesize";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessage, ChatFinishReason } from "./schema";
import { ChatChunkMachine, chatUsage, type ChatProjectionOptions } from "./stream";

export type ChatCompletionOptions = Pick<ChatProjectionOptions, "model" | "idSuffix">;

/**
 * @example
 * const run = await native.createRun(plan.request);
 * return c.json(chatCompletionFromRun(run, { model: request.model }));
 */
export function chatCompletionFromRun(run: NativeRun, options: ChatCompletionOptions): ChatCompletion {
  const machine = new ChatChunkMachine({ ...options, includeUsage: true });
  const chunks: ChatCompletionChunk[] = [];
  for (const event of runToEvents(run)) {
    const outputs = machine.push(event);
    // The terminal event of a run record carries the record's usage, so no lookup is ever needed.
    if (!Array.isArray(outputs)) throw new Error("blocking projection must be synchronous");
    for (const output of outputs) {
      if (output.kind === "error") throw output.error;
      chunks.push(output.chunk);
    }
  }
  if (!machine.done) {
    throw new GatewayError({
      status: 502,
      code: "upstream_invalid_response",
      message: `1flowbase returned a run that has not finished (status '${String(run.status)}')`,
      headers: { "x-should-retry": "false" },
    });
  }
  return accumulateChatChunks(chunks);
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
