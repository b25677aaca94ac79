/**
 * The cross-protocol fixture table: every native fixture (`test/fixtures/native/<name>.native.sse`,
 * native SSE bytes as 1flowbase frames them, native-api.md §2.1–2.5) through all three protocols —
 * streamed, blocking, and from the run record (the resume / GET path) — to deterministic outputs.
 *
 * Shared by the test (`table.test.ts`, in workerd) and the one golden regeneration tool
 * (`npx tsx test/answers/regenerate.ts`, in Node), which rewrites `test/fixtures/golden/`.
 *
 * Everything volatile is pinned: the clock, the echoed Responses request, ids (derived from the
 * fixture's run and task ids). The run record is derived from the fixture the way the fork stores a
 * run (`recordOf`): the live `run.failed` says `runtime_error` while the record keeps the class in
 * `details`; a failed run's `answer` is its error text; a waiting run has no answer. A fixture may
 * override record fields with `<name>.record.json`. The record answers the reader's `GET /runs/{id}`
 * lookups too, so a usage or failure-class lookup sees what native would say.
 */
import { NativeSseParser, type NativeStreamItem } from "../../src/native/events";
import type { NativeRun } from "../../src/native/schema";
import { runToItems } from "../../src/native/synthesize";
import type { GatewayError } from "../../src/http/errors";
import { toGatewayError } from "../../src/http/errors";
import { messageFrom } from "../../src/protocols/anthropic/from-native";
import { AnthropicStreamProjector } from "../../src/protocols/anthropic/stream";
import { chatCompletionFrom } from "../../src/protocols/openai-chat/from-native";
import { ChatStreamProjector } from "../../src/protocols/openai-chat/stream";
import { blockingResponse } from "../../src/protocols/openai-responses/from-native";
import { ResponsesStreamProjector, type ResponsesProjectionContext } from "../../src/protocols/openai-responses/stream";
import { echoFromRequest } from "../../src/protocols/openai-responses/to-native";

export const PROTOCOLS = ["chat", "responses", "anthropic"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const FIXED_NOW = 1_782_485_600;
/** What `GET /runs/{id}` reports as usage when the fixture's terminal event carries none. */
export const RECORD_USAGE = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, reasoning_tokens: 2, cache_read_tokens: 3 };

/** A blocking answer, or the HTTP error a blocking request answers with. */
export type Blocking =
  | { body: unknown }
  | { error: { status: number; code: string | null; message: string; retry: string | undefined; retryAfter: string | undefined } };

export interface ProtocolOutputs {
  /** The exact SSE bytes (frames only: keepalives and the pump's framing are tested elsewhere). */
  stream: string;
  blocking: Blocking;
  /** The blocking answer projected from the run record (what a resume reply or GET answers). */
  record: Blocking;
}

export type TableRow = Record<Protocol, ProtocolOutputs>;

/** Decodes native SSE the way the native client does, in uneven chunks (1–13 bytes) so frames, UTF-8 and tags straddle reads. */
export function decodeNative(text: string): NativeStreamItem[] {
  const items: NativeStreamItem[] = [];
  const parser = new NativeSseParser((item) => items.push(item));
  const bytes = new TextEncoder().encode(text);
  for (let offset = 0, size = 1; offset < bytes.length; offset += size, size = (size % 13) + 1) parser.push(bytes.subarray(offset, offset + size));
  parser.end();
  return items;
}

type Json = Record<string, unknown>;

/** The run record native would return for the run the fixture streamed (see the file comment). */
export function recordOf(items: readonly NativeStreamItem[], override: Json = {}): NativeRun {
  let runId = "";
  let createdAt: string | undefined;
  const segments: Array<{ kind: string; text: string }> = [];
  let terminal: NativeStreamItem | null = null;
  for (const item of items) {
    if (item.event === "fault") break;
    runId ||= item.data.run_id;
    createdAt ??= item.data.created_at;
    if (item.event === "message.delta" || item.event === "reasoning.delta") {
      const kind = item.event === "message.delta" ? "message" : "reasoning";
      const last = segments[segments.length - 1];
      if (last?.kind === kind) last.text += item.data.delta;
      else segments.push({ kind, text: item.data.delta });
      continue;
    }
    if (["run.completed", "run.incomplete", "run.failed", "run.cancelled", "required_action"].includes(item.event)) {
      terminal = item;
      break;
    }
  }
  const raw = segments.map((segment) => (segment.kind === "reasoning" ? `<think>${segment.text}</think>` : segment.text)).join("");
  const data = terminal && "data" in terminal ? (terminal.data as Json) : {};
  const usage = (data.usage as Json | undefined) ?? RECORD_USAGE;
  const base: Json = { id: runId, created_at: createdAt, usage, node_input_payload: { "node-start": { query: "hi" } }, metadata: {} };
  const error = data.error as { code?: string; message?: string } | undefined;
  let record: Json;
  switch (terminal?.event) {
    case "run.completed":
    case "run.incomplete":
      record = {
        ...base,
        status: terminal.event === "run.completed" ? "succeeded" : "incomplete",
        answer: raw,
        ...(segments.some((segment) => segment.kind === "reasoning") ? { answer_segments: segments } : {}),
      };
      break;
    case "run.failed": {
      const message = error?.message ?? "published run failed";
      // The fork: code `runtime_error`, the class in details, the error text as the answer (errata 1, 7).
      const details = error?.code && error.code !== "runtime_error" ? { error_code: error.code, message } : { message };
      record = { ...base, status: "failed", answer: message, error: { code: "runtime_error", message, details } };
      break;
    }
    case "run.cancelled":
      record = { ...base, status: "cancelled", answer: null };
      break;
    case "required_action":
      record = { ...base, status: "waiting", answer: null, required_action: data.required_action ?? null };
      break;
    default:
      record = { ...base, status: "running", answer: null };
  }
  return { ...record, ...override } as NativeRun;
}

function errorOf(error: unknown): Blocking {
  const gateway: GatewayError = toGatewayError(error);
  return {
    error: { status: gateway.status, code: gateway.code, message: gateway.message, retry: gateway.headers["x-should-retry"], retryAfter: gateway.headers["retry-after"] },
  };
}

async function blocking(fold: () => Promise<unknown>): Promise<Blocking> {
  try {
    return { body: await fold() };
  } catch (error) {
    return errorOf(error);
  }
}

/** Feeds every item to an SSE projector and returns its frames (the pump's job, minus transport). */
async function frames(projector: { push(item: NativeStreamItem): void | PromiseLike<void>; take(): string; readonly done: boolean }, items: readonly NativeStreamItem[]): Promise<string> {
  let out = "";
  for (const item of items) {
    const pending = projector.push(item);
    if (pending) await pending;
    out += projector.take();
    if (projector.done) break;
  }
  if (!projector.done) throw new Error("the projector did not reach a terminal frame");
  return out;
}

const responsesEcho = () => echoFromRequest({ model: "1flowbase", input: "hi", instructions: "Be brief.", metadata: { fixture: "yes" } });

/** All outputs of one fixture, every protocol. */
export async function projectRow(nativeText: string, override: Json = {}): Promise<TableRow> {
  const items = decodeNative(nativeText);
  const record = recordOf(items, override);
  const lookupRun = async (): Promise<NativeRun> => record;
  const recordItems = () => runToItems(record);

  const chatOptions = { model: "1flowbase", lookupRun, now: () => FIXED_NOW };
  const chat: ProtocolOutputs = {
    stream: await frames(new ChatStreamProjector({ ...chatOptions, includeUsage: true }), items),
    blocking: await blocking(() => chatCompletionFrom(items, chatOptions)),
    record: await blocking(() => chatCompletionFrom(recordItems(), chatOptions)),
  };

  const responsesContext = (): ResponsesProjectionContext => ({ echo: responsesEcho(), lookupRun, now: () => FIXED_NOW });
  const responses: ProtocolOutputs = {
    stream: await frames(new ResponsesStreamProjector(responsesContext()), items),
    blocking: await blocking(async () => (await blockingResponse(items, responsesContext())).response),
    record: await blocking(async () => (await blockingResponse(recordItems(), responsesContext())).response),
  };

  const anthropicContext = { model: "1flowbase", lookupRun };
  const anthropicBlocking = async (source: readonly NativeStreamItem[]) => {
    const outcome = await messageFrom(source, anthropicContext);
    if (!outcome.ok) throw outcome.error;
    return outcome.message;
  };
  const anthropic: ProtocolOutputs = {
    stream: await frames(new AnthropicStreamProjector(anthropicContext), items),
    blocking: await blocking(() => anthropicBlocking(items)),
    record: await blocking(() => anthropicBlocking(recordItems())),
  };
  return { chat, responses, anthropic };
}

/** The JSON golden of a row: the blocking and record answers of every protocol (streams are `.sse` files). */
export function goldenJson(row: TableRow): string {
  const out: Json = {};
  for (const protocol of PROTOCOLS) out[protocol] = { blocking: row[protocol].blocking, record: row[protocol].record };
  return `${JSON.stringify(out, null, 2)}\n`;
}
