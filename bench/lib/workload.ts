/**
 * The benchmark workload: one long native answer, the same for every measurement.
 *
 * A reasoning phase followed by the answer, like a reasoning model streams it (native-api.md §2.2:
 * one `reasoning.delta` / `message.delta` per token). Tokens cycle through a fixed list of short
 * pieces — ASCII words, punctuation, a newline, a quote that JSON must escape, Latin-1, CJK and an
 * emoji (so the UTF-8 decoder, JSON escaping and V8's two-byte strings are all exercised). No token
 * contains `<`, so the `<think>` splitters run their common path; `<think>` handling is not measured.
 *
 * Two consumers share this definition so the in-workerd micro benchmark and the end-to-end runs
 * stream the same thing:
 * - `nativeStreamText` builds the exact native SSE bytes in memory (framing of emulator/sse.ts);
 * - `emulatorDirective` is the `[[emu:…]]` script that makes the emulator stream the same deltas.
 *
 * This file has no imports: it is bundled into the bench worker and also used from Node.
 */

export const REASONING_TOKENS: readonly string[] = [
  "Let", " me", " think", " about", " the", " user's", " question", ":", " they", " want", " a", " long", " answer", ".", "\n", " OK",
];

export const MESSAGE_TOKENS: readonly string[] = [
  " The", " quick", " brown", " fox", " jumps", ",", " \"quoted\"", " über", " 世界", " 🙂", ".", "\n", " Lorem", " ipsum", " dolor", " sit",
];

export interface WorkloadShape {
  /** `reasoning.delta` events, emitted first. */
  reasoningDeltas: number;
  /** `message.delta` events, after the reasoning. */
  messageDeltas: number;
}

/** ≥100k deltas, 10% reasoning then 90% answer. */
export const LONG_STREAM: WorkloadShape = { reasoningDeltas: 10_000, messageDeltas: 90_000 };

/**
 * The emulator script for `shape`: `reasoning` is emitted once, `text` is repeated (emulator/script.ts).
 * `messageDeltas` must be a multiple of `MESSAGE_TOKENS.length`.
 */
export function emulatorDirective(shape: WorkloadShape): string {
  if (shape.messageDeltas % MESSAGE_TOKENS.length !== 0) throw new Error("messageDeltas must be a multiple of MESSAGE_TOKENS.length");
  const reasoning: string[] = [];
  for (let i = 0; i < shape.reasoningDeltas; i++) reasoning.push(REASONING_TOKENS[i % REASONING_TOKENS.length] as string);
  const script: Record<string, unknown> = { text: MESSAGE_TOKENS, repeat: shape.messageDeltas / MESSAGE_TOKENS.length };
  if (reasoning.length > 0) script.reasoning = reasoning;
  return `Write a long answer. [[emu:${JSON.stringify(script)}]]`;
}

/** Answer length in UTF-16 code units (what the native terminal event carries as `answer`). */
export function answerLength(shape: WorkloadShape): { reasoning: number; message: number } {
  let reasoning = 0;
  for (let i = 0; i < shape.reasoningDeltas; i++) reasoning += (REASONING_TOKENS[i % REASONING_TOKENS.length] as string).length;
  let message = 0;
  for (let i = 0; i < shape.messageDeltas; i++) message += (MESSAGE_TOKENS[i % MESSAGE_TOKENS.length] as string).length;
  return { reasoning, message };
}

export const RUN_ID = "019a4b2c-7d3e-7f10-8a2b-3c4d5e6f7a8b";
const CREATED_AT = "2026-04-20T10:00:00.123456Z";

/**
 * The native SSE text of one streamed run, framed exactly like the emulator (and axum) frame it:
 * `id: <run>:<seq>\nevent: <name>\ndata: <json>\n\n`, payload fields in `NativeSsePayload` order.
 * `run.started`, the deltas, then `run.completed` carrying the whole answer (with the fork's literal
 * `<think>` around the reasoning, native-api.md §1.5) and usage, so no projector needs a usage lookup.
 */
export function nativeStreamText(shape: WorkloadShape): string {
  const parts: string[] = [];
  let seq = 0;
  const frame = (name: string, data: Record<string, unknown>): void => {
    seq += name.endsWith(".delta") ? 2 : 1;
    parts.push(`id: ${RUN_ID}:${seq}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const conversation = { id: null, user: null };
  const metadata = { request: { conversation }, trace_id: "bench" };
  frame("run.started", { run_id: RUN_ID, status: "running", created_at: CREATED_AT, conversation, metadata });
  let reasoning = "";
  for (let i = 0; i < shape.reasoningDeltas; i++) {
    const delta = REASONING_TOKENS[i % REASONING_TOKENS.length] as string;
    reasoning += delta;
    frame("reasoning.delta", { run_id: RUN_ID, status: "running", created_at: CREATED_AT, delta });
  }
  const message: string[] = [];
  for (let i = 0; i < shape.messageDeltas; i++) {
    const delta = MESSAGE_TOKENS[i % MESSAGE_TOKENS.length] as string;
    message.push(delta);
    frame("message.delta", { run_id: RUN_ID, status: "running", created_at: CREATED_AT, delta });
  }
  const answer = (reasoning ? `<think>${reasoning}</think>` : "") + message.join("");
  const usage = { prompt_tokens: 12, completion_tokens: Math.ceil(answer.length / 4), total_tokens: 12 + Math.ceil(answer.length / 4) };
  frame("run.completed", { run_id: RUN_ID, status: "succeeded", created_at: CREATED_AT, answer, conversation, usage, metadata });
  return parts.join("");
}

/** Total native events in `shape` (run.started + deltas + terminal). */
export function nativeEventCount(shape: WorkloadShape): number {
  return shape.reasoningDeltas + shape.messageDeltas + 2;
}

/** Splits `bytes` into chunks of `size` bytes (views, no copies). */
export function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
  return chunks;
}
