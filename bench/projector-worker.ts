/**
 * The in-workerd micro benchmark: a worker whose `GET /bench` runs the gateway's own streaming code
 * (src/native/events.ts, src/http/sse.ts, the three protocol projectors) over native SSE bytes built
 * in memory, and answers with timings. Driven by bench/micro.ts through Miniflare (workerd), so the
 * numbers are V8-in-workerd numbers, not Node's.
 *
 * Stages (all over the same bytes, cut into `chunk`-byte pieces as a fetch body would deliver them):
 * - `decode`                  NativeSseParser alone (bytes → NativeEvent objects);
 * - `project:<p>`             the projector alone over pre-decoded events (events → SSE frame strings);
 * - `decode+project:<p>`      both, synchronously, no streams — the CPU cost per native event;
 * - `pipeline:decode`         body ReadableStream → readNativeStream → drained items;
 * - `pipeline:<p>`            the gateway's real path: body ReadableStream → readNativeStream →
 *                             projectToSse (SSE frames, TextEncoder, body writes) → consumed by the
 *                             runtime (`new Response(body).arrayBuffer()`), as a served body is;
 * - `blocking:<p>`            the blocking (non-streamed) answer: body ReadableStream → readNativeStream →
 *                             the route's fold (chatCompletionFrom, messageFrom, blockingResponse)
 *                             → the answer object, JSON.stringify'd;
 * - `floor:utf8`, `floor:json` lower bounds of the decoder: TextDecoder over the chunks alone, and
 *                             JSON.parse of every frame's data alone (pre-extracted).
 *
 * Timing: workerd's clock has 1 ms resolution (and, on Cloudflare, only advances on I/O; locally it
 * advances). Every run streams ≥100k events (≥100 ms), and the median of several runs is reported.
 */
import { readNativeStream, NativeSseParser, type NativeStreamItem } from "../src/native/events";
import { projectToSse, type SseProjector } from "../src/http/sse";
import { AnthropicStreamProjector } from "../src/protocols/anthropic/stream";
import { ChatStreamProjector } from "../src/protocols/openai-chat/stream";
import { SAMPLING_DEFAULTS, type ResponseEcho } from "../src/protocols/openai-responses/schema";
import { ResponsesStreamProjector } from "../src/protocols/openai-responses/stream";
import { messageFrom } from "../src/protocols/anthropic/from-native";
import { chatCompletionFrom } from "../src/protocols/openai-chat/from-native";
import { blockingResponse } from "../src/protocols/openai-responses/from-native";
import { chunked, nativeEventCount, nativeStreamText, type WorkloadShape } from "./lib/workload";

export type ProtocolName = "responses" | "chat" | "anthropic";
export const PROTOCOLS: readonly ProtocolName[] = ["responses", "chat", "anthropic"];

/** What `POST /v1/responses {"model":"1flowbase","input":"…","stream":true}` echoes. */
const ECHO: ResponseEcho = {
  instructions: null,
  max_output_tokens: null,
  max_tool_calls: null,
  model: "1flowbase",
  parallel_tool_calls: true,
  previous_response_id: null,
  prompt_cache_key: null,
  reasoning: { effort: null, summary: null },
  safety_identifier: null,
  service_tier: "default",
  store: true,
  ...SAMPLING_DEFAULTS,
  text: { format: { type: "text" } },
  tool_choice: "auto",
  tools: [],
  truncation: "disabled",
  metadata: {},
};

/** The projector each route builds for a plain streamed request (no usage lookup needed: the terminal carries usage). */
function projectorFor(protocol: ProtocolName): SseProjector {
  switch (protocol) {
    case "responses":
      return new ResponsesStreamProjector({ echo: ECHO });
    case "chat":
      return new ChatStreamProjector({ model: "1flowbase", includeUsage: true });
    case "anthropic":
      return new AnthropicStreamProjector({ model: "1flowbase" });
  }
}

interface Workload {
  events: number;
  bytes: Uint8Array;
  chunks: Uint8Array[];
  items: NativeStreamItem[];
  /** Every frame's `data` text, for the JSON.parse floor. */
  dataLines: string[];
}

const workloads = new Map<string, Workload>();

function workload(shape: WorkloadShape, chunk: number): Workload {
  const key = `${shape.reasoningDeltas}/${shape.messageDeltas}/${chunk}`;
  let found = workloads.get(key);
  if (!found) {
    const bytes = new TextEncoder().encode(nativeStreamText(shape));
    const items: NativeStreamItem[] = [];
    const parser = new NativeSseParser((item) => items.push(item));
    parser.push(bytes);
    parser.end();
    const last = items[items.length - 1];
    if (items.length !== nativeEventCount(shape) || last?.event !== "run.completed") {
      throw new Error(`bench stream did not decode cleanly: ${items.length} items, last ${last?.event ?? "none"}${last?.event === "fault" ? `: ${last.error.message}` : ""}`);
    }
    const dataLines = nativeStreamText(shape)
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => line.slice(6));
    found = { events: items.length, bytes, chunks: chunked(bytes, chunk), items, dataLines };
    workloads.set(key, found);
  }
  return found;
}

function bodyOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[next++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

/** One run of a stage; returns the output size (bytes or chars), which also keeps the work observable. */
async function runStage(stage: string, w: Workload): Promise<number> {
  const [kind, arg] = stage.split(":") as [string, string | undefined];
  if (kind === "decode") {
    let count = 0;
    const parser = new NativeSseParser(() => {
      count++;
    });
    for (const chunk of w.chunks) parser.push(chunk);
    parser.end();
    if (count !== w.events) throw new Error(`decode: ${count} of ${w.events} events`);
    return count;
  }
  if (kind === "floor" && arg === "utf8") {
    const decoder = new TextDecoder();
    let chars = 0;
    for (const chunk of w.chunks) chars += decoder.decode(chunk, { stream: true }).length;
    return chars + decoder.decode().length;
  }
  if (kind === "floor" && arg === "json") {
    let count = 0;
    for (const line of w.dataLines) if (JSON.parse(line) !== null) count++;
    return count;
  }
  if (kind === "project") {
    const projector = projectorFor(arg as ProtocolName);
    let chars = 0;
    for (const item of w.items) {
      if (projector.push(item)) throw new Error("projector went async");
      chars += projector.take().length;
    }
    if (!projector.done) throw new Error("projector did not finish");
    return chars;
  }
  if (kind === "decode+project") {
    const projector = projectorFor(arg as ProtocolName);
    let chars = 0;
    const parser = new NativeSseParser((item) => {
      if (projector.push(item)) throw new Error("projector went async");
      chars += projector.take().length;
    });
    for (const chunk of w.chunks) parser.push(chunk);
    parser.end();
    if (!projector.done) throw new Error("projector did not finish");
    return chars;
  }
  if (kind === "pipeline") {
    const items = readNativeStream(bodyOf(w.chunks), { idleMs: 120_000 });
    if (arg === "decode") {
      let count = 0;
      const reader = items.getReader();
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
        count++;
      }
      if (count !== w.events) throw new Error(`pipeline:decode: ${count} of ${w.events} events`);
      return count;
    }
    const projector = projectorFor(arg as ProtocolName);
    const body = projectToSse(items, projector, { keepaliveMs: 10_000 });
    // Consumed by the runtime, as a Response body is in production (not by JS reads, which would add
    // a promise round trip per chunk that no deployed gateway pays).
    const bytes = (await new Response(body).arrayBuffer()).byteLength;
    if (!projector.done) throw new Error("projector did not finish");
    return bytes;
  }
  if (kind === "blocking") {
    const items = readNativeStream(bodyOf(w.chunks), { idleMs: 120_000 });
    let answer: unknown;
    if (arg === "chat") answer = await chatCompletionFrom(items, { model: "1flowbase" });
    else if (arg === "anthropic") {
      const outcome = await messageFrom(items, { model: "1flowbase" });
      if (!outcome.ok) throw outcome.error;
      answer = outcome.message;
    } else if (arg === "responses") answer = (await blockingResponse(items, { echo: ECHO })).response;
    else throw new Error(`unknown stage ${stage}`);
    return JSON.stringify(answer).length;
  }
  throw new Error(`unknown stage ${stage}`);
}

export interface StageResult {
  stage: string;
  chunk: number;
  events: number;
  inputBytes: number;
  outputSize: number;
  /** Milliseconds per run, in run order (warm-up runs excluded). */
  runsMs: number[];
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/bench") return new Response("GET /bench?stage=&chunk=&reps=&reasoning=&message=", { status: 404 });
    try {
      const stage = url.searchParams.get("stage") ?? "decode";
      const chunk = Number(url.searchParams.get("chunk") ?? 16384);
      const reps = Math.min(50, Math.max(1, Number(url.searchParams.get("reps") ?? 5)));
      const warmup = Math.min(10, Math.max(0, Number(url.searchParams.get("warmup") ?? 2)));
      const shape: WorkloadShape = {
        reasoningDeltas: Number(url.searchParams.get("reasoning") ?? 10_000),
        messageDeltas: Number(url.searchParams.get("message") ?? 90_000),
      };
      const w = workload(shape, chunk);
      const runsMs: number[] = [];
      let outputSize = 0;
      for (let i = 0; i < warmup + reps; i++) {
        const started = performance.now();
        outputSize = await runStage(stage, w);
        const elapsed = performance.now() - started;
        if (i >= warmup) runsMs.push(elapsed);
      }
      const result: StageResult = { stage, chunk, events: w.events, inputBytes: w.bytes.byteLength, outputSize, runsMs };
      return Response.json(result);
    } catch (error) {
      return Response.json({ error: error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error) }, { status: 500 });
    }
  },
};
