/**
 * The three client protocols as data, for table-driven reliability tests and the load test
 * (`scripts/load-test.ts` imports this file under Node, so nothing here may import `cloudflare:test`).
 *
 * For each protocol: how to ask for a run whose last user text is `text` (blocking or streaming), how
 * a valid error envelope looks (OpenAI `{error:{message,type,param,code}}`, Anthropic
 * `{type:"error",error:{type,message},request_id}`), and a strict reader of its SSE wire format that
 * checks every frame and the terminal rule, then returns the accumulated text and how it ended:
 * - Responses: `event:` equals `data.type`; exactly one of response.completed|incomplete|failed, last;
 *   a failure is an `error` event right before `response.failed`.
 * - Chat: data-only frames; exactly one finish chunk or one error chunk; `[DONE]` once, last.
 * - Anthropic: `event:` equals `data.type`; exactly one `message_stop` or `error`, last.
 */
import * as z from "zod";

export type ProtocolName = "responses" | "chat" | "anthropic";

export interface ProtocolCase {
  readonly name: ProtocolName;
  /** The create route. */
  readonly path: string;
  /** Error envelope family. */
  readonly family: "openai" | "anthropic";
  /** A create body whose last user message is `text`. */
  body(text: string, stream: boolean): Record<string, unknown>;
  /** Auth headers as this protocol's clients send them. */
  auth(key: string): Record<string, string>;
  /** The answer text of a blocking JSON answer. */
  blockingText(json: unknown): string;
  /** Parses and checks a complete SSE body (throws `WireError` on any violation). */
  readStream(text: string): StreamOutcome;
}

export interface StreamOutcome {
  /** `success`: completed/incomplete/tool calls; `error`: the protocol's terminal error. */
  readonly kind: "success" | "error";
  /** Accumulated answer text. */
  readonly text: string;
  /** OpenAI error code (Responses, Chat) or Anthropic error type, when `kind` is `error`. */
  readonly error: string | null;
  /** Frames, keepalives excluded. */
  readonly frames: number;
}

/** A violation of a protocol's wire rules. */
export class WireError extends Error {
  override name = "WireError";
}

function wire(condition: unknown, message: string): asserts condition {
  if (!condition) throw new WireError(message);
}

export const MODEL = "1flowbase";

// ---------------------------------------------------------------------------------------------
// Error envelopes
// ---------------------------------------------------------------------------------------------

export const OpenAiEnvelope = z.strictObject({
  error: z.strictObject({
    message: z.string().min(1),
    type: z.string().min(1),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});

export const AnthropicEnvelope = z.strictObject({
  type: z.literal("error"),
  error: z.strictObject({ type: z.string().min(1), message: z.string().min(1) }),
  request_id: z.string().nullable(),
});

/** Checks an error body against the family's envelope; returns `{status-independent}` essentials. */
export function parseEnvelope(family: "openai" | "anthropic", json: unknown): { type: string; code: string | null; param: string | null; message: string } {
  if (family === "anthropic") {
    const parsed = AnthropicEnvelope.parse(json);
    return { type: parsed.error.type, code: null, param: null, message: parsed.error.message };
  }
  const parsed = OpenAiEnvelope.parse(json);
  return { type: parsed.error.type, code: parsed.error.code, param: parsed.error.param, message: parsed.error.message };
}

// ---------------------------------------------------------------------------------------------
// SSE
// ---------------------------------------------------------------------------------------------

export interface SseFrame {
  event: string | null;
  data: string;
}

/**
 * Splits an SSE body into frames. Every frame must be `event:`/`data:` lines (one `data:` line) or a
 * comment; keepalive comments are dropped. Anything else is a wire error.
 */
export function splitFrames(text: string): SseFrame[] {
  wire(text === "" || text.endsWith("\n\n"), "the body does not end with a complete frame");
  const frames: SseFrame[] = [];
  for (const chunk of text.split("\n\n")) {
    if (chunk === "") continue;
    const lines = chunk.split("\n");
    if (lines.every((line) => line.startsWith(":"))) continue;
    let event: string | null = null;
    const data: string[] = [];
    for (const line of lines) {
      if (line.startsWith("event: ")) {
        wire(event === null, `two event lines in one frame: ${chunk}`);
        event = line.slice(7);
      } else if (line.startsWith("data: ")) data.push(line.slice(6));
      else wire(false, `unexpected line in frame: ${JSON.stringify(line)}`);
    }
    wire(data.length === 1, `expected exactly one data line: ${chunk}`);
    frames.push({ event, data: data[0] ?? "" });
  }
  return frames;
}

function json(data: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new WireError(`data is not JSON: ${data.slice(0, 200)}`);
  }
  wire(typeof value === "object" && value !== null && !Array.isArray(value), `data is not a JSON object: ${data.slice(0, 200)}`);
  return value as Record<string, unknown>;
}

/** Named-event protocols: every frame names its event and the name equals `data.type`. */
function typedFrames(text: string | SseFrame[]): Array<Record<string, unknown> & { type: string }> {
  return (typeof text === "string" ? splitFrames(text) : text).map((frame) => {
    const payload = json(frame.data);
    wire(typeof payload.type === "string", `frame without a type: ${frame.data.slice(0, 200)}`);
    wire(frame.event === payload.type, `event '${frame.event}' != data.type '${String(payload.type)}'`);
    return payload as Record<string, unknown> & { type: string };
  });
}

const RESPONSES_TERMINALS = new Set(["response.completed", "response.incomplete", "response.failed"]);

export function readResponsesStream(text: string): StreamOutcome {
  // Open Responses: the terminal event, then `data: [DONE]` (data only), once, last.
  const frames = splitFrames(text);
  wire(frames.at(-1)?.data === "[DONE]" && frames.at(-1)?.event === null, "the stream does not end with a data-only [DONE]");
  wire(frames.filter((frame) => frame.data === "[DONE]").length === 1, "[DONE] more than once");
  const events = typedFrames(frames.slice(0, -1));
  const terminals = events.filter((event) => RESPONSES_TERMINALS.has(event.type));
  wire(terminals.length === 1, `expected exactly one terminal event, got ${terminals.length}`);
  const last = events.at(-1);
  wire(last === terminals[0], "the terminal event is not the last event");
  let textOut = "";
  let error: string | null = null;
  events.forEach((event, index) => {
    wire(event.sequence_number === index, `sequence_number ${String(event.sequence_number)} at position ${index}`);
    if (event.type === "response.output_text.delta") textOut += String(event.delta);
    if (event.type === "error") {
      wire(error === null, "two error events");
      error = typeof event.code === "string" ? event.code : "?";
    }
  });
  const failed = last?.type === "response.failed";
  if (failed) {
    const before = events.at(-2);
    wire(before?.type === "error", "response.failed is not preceded by an error event");
  } else {
    wire(error === null, "an error event in a stream that did not fail");
  }
  return { kind: failed ? "error" : "success", text: textOut, error, frames: events.length };
}

export function readChatStream(text: string): StreamOutcome {
  const frames = splitFrames(text);
  frames.forEach((frame) => wire(frame.event === null, `chat frame with an event line: ${frame.event}`));
  wire(frames.at(-1)?.data === "[DONE]", "the stream does not end with [DONE]");
  wire(frames.filter((frame) => frame.data === "[DONE]").length === 1, "[DONE] more than once");
  const payloads = frames.slice(0, -1).map((frame) => json(frame.data));
  let textOut = "";
  let finishes = 0;
  let errors = 0;
  let error: string | null = null;
  payloads.forEach((payload, index) => {
    if ("error" in payload) {
      errors++;
      wire(index === payloads.length - 1, "the error chunk is not the last chunk");
      const parsed = OpenAiEnvelope.safeParse(payload);
      wire(parsed.success, `malformed error chunk: ${JSON.stringify(payload).slice(0, 200)}`);
      error = parsed.data.error.code ?? parsed.data.error.type;
      return;
    }
    wire(payload.object === "chat.completion.chunk", "a chunk without object chat.completion.chunk");
    const choices = payload.choices as Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
    wire(Array.isArray(choices), "a chunk without choices");
    for (const choice of choices) {
      if (typeof choice.delta?.content === "string") textOut += choice.delta.content;
      if (choice.finish_reason) finishes++;
    }
  });
  wire(finishes + errors === 1, `expected exactly one finish or error chunk, got ${finishes} finish and ${errors} error`);
  return { kind: errors === 1 ? "error" : "success", text: textOut, error, frames: frames.length };
}

export function readAnthropicStream(text: string): StreamOutcome {
  const events = typedFrames(text).filter((event) => event.type !== "ping");
  const terminals = events.filter((event) => event.type === "message_stop" || event.type === "error");
  wire(terminals.length === 1, `expected exactly one message_stop or error, got ${terminals.length}`);
  const last = events.at(-1);
  wire(last === terminals[0], "the terminal event is not the last event");
  let textOut = "";
  for (const event of events) {
    const delta = event.delta as { type?: string; text?: string } | undefined;
    if (event.type === "content_block_delta" && delta?.type === "text_delta") textOut += delta.text ?? "";
  }
  if (last?.type === "error") {
    const error = last.error as { type?: unknown; message?: unknown } | undefined;
    wire(typeof error?.type === "string" && typeof error.message === "string", "malformed error event");
    return { kind: "error", text: textOut, error: String(error?.type), frames: events.length };
  }
  return { kind: "success", text: textOut, error: null, frames: events.length };
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

export const RESPONSES: ProtocolCase = {
  name: "responses",
  path: "/v1/responses",
  family: "openai",
  body: (text, stream) => ({ model: MODEL, input: text, stream }),
  auth: (key) => ({ authorization: `Bearer ${key}` }),
  blockingText: (body) => {
    const output = (body as { output?: Array<{ type: string; content?: Array<{ type: string; text?: string }> }> }).output ?? [];
    return output
      .filter((item) => item.type === "message")
      .flatMap((item) => item.content ?? [])
      .map((part) => (part.type === "output_text" ? (part.text ?? "") : ""))
      .join("");
  },
  readStream: readResponsesStream,
};

export const CHAT: ProtocolCase = {
  name: "chat",
  path: "/v1/chat/completions",
  family: "openai",
  body: (text, stream) => ({ model: MODEL, messages: [{ role: "user", content: text }], stream }),
  auth: (key) => ({ authorization: `Bearer ${key}` }),
  blockingText: (body) => (body as { choices?: Array<{ message?: { content?: string | null } }> }).choices?.[0]?.message?.content ?? "",
  readStream: readChatStream,
};

export const ANTHROPIC: ProtocolCase = {
  name: "anthropic",
  path: "/v1/messages",
  family: "anthropic",
  body: (text, stream) => ({ model: MODEL, max_tokens: 1024, messages: [{ role: "user", content: text }], stream }),
  auth: (key) => ({ "x-api-key": key, "anthropic-version": "2023-06-01" }),
  blockingText: (body) =>
    ((body as { content?: Array<{ type: string; text?: string }> }).content ?? []).map((block) => (block.type === "text" ? (block.text ?? "") : "")).join(""),
  readStream: readAnthropicStream,
};

export const PROTOCOLS: readonly ProtocolCase[] = [RESPONSES, CHAT, ANTHROPIC];
