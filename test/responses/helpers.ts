/**
 * Test helpers for the Responses suite: the real `openai` SDK pointed at the worker, raw SSE access,
 * the emulator's request log, and the strict event-order checker every streamed test runs.
 */
import { env, SELF } from "cloudflare:test";
import OpenAI from "openai";
import { expect } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";

export { EMULATOR_KEYS };

export const MODEL = "1flowbase";
export const BASE = "http://gw/v1";

/** The real SDK, its fetch pointed at the worker under test. */
export function openai(apiKey: string = EMULATOR_KEYS.demo, headers: Record<string, string> = {}): OpenAI {
  return new OpenAI({
    apiKey,
    baseURL: BASE,
    fetch: (input, init) => SELF.fetch(input as RequestInfo, init as RequestInit),
    maxRetries: 0,
    defaultHeaders: headers,
  });
}

/** A raw request to the worker. */
export function call(
  method: string,
  path: string,
  body?: unknown,
  apiKey: string = EMULATOR_KEYS.demo,
  headers: Record<string, string> = {},
): Promise<Response> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${apiKey}`, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  return SELF.fetch(`${BASE}${path}`, init);
}

export interface SseEvent {
  event: string | null;
  data: Record<string, unknown>;
}

/**
 * Parses a complete SSE body (frames separated by a blank line; comments skipped). The closing
 * `data: [DONE]` (Open Responses) is checked — data only, once, the last frame — and not returned.
 */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const frames = text.split("\n\n").filter((frame) => frame.split("\n").some((line) => line !== "" && !line.startsWith(":")));
  // A stream read only part way has no [DONE] yet; where there is one, it is data only and last.
  const done = frames.filter((frame) => frame.includes("[DONE]"));
  if (done.length > 1 || (done.length === 1 && frames.at(-1) !== "data: [DONE]")) throw new Error(`[DONE] must be the one last, data-only frame: ${JSON.stringify(done)}`);
  for (const frame of done.length === 1 ? frames.slice(0, -1) : frames) {
    let event: string | null = null;
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith(":") || line === "") continue;
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ event, data: JSON.parse(data.join("\n")) as Record<string, unknown> });
  }
  return events;
}

/** POST /v1/responses with stream:true, read to the end, parsed; also asserts the frame framing. */
export async function streamRaw(body: Record<string, unknown>, apiKey: string = EMULATOR_KEYS.demo): Promise<{ response: Response; text: string; events: SseEvent[] }> {
  const response = await call("POST", "/responses", { ...body, stream: true }, apiKey);
  const text = await response.text();
  return { response, text, events: parseSse(text) };
}

interface NativeRequestRecord {
  method: string;
  path: string;
  run_id?: string | null;
  body?: unknown;
}

/** The native requests the gateway made (emulator log), newest last. */
export async function nativeRequests(filter: { last?: number; runId?: string; path?: string } = {}): Promise<NativeRequestRecord[]> {
  const url = new URL("/__emulator/requests", env.NATIVE_API_BASE_URL);
  if (filter.last) url.searchParams.set("last", String(filter.last));
  if (filter.runId) url.searchParams.set("run_id", filter.runId);
  if (filter.path) url.searchParams.set("path", filter.path);
  const response = await fetch(url);
  return ((await response.json()) as { requests: NativeRequestRecord[] }).requests;
}

/** The body of the last native `POST /runs` (what the gateway sent for a create). */
export async function lastNativeCreate(): Promise<Record<string, unknown>> {
  const requests = await nativeRequests({ path: "/api/agent/v1/runs" });
  const creates = requests.filter((request) => request.method === "POST" && request.path === "/api/agent/v1/runs");
  const last = creates[creates.length - 1];
  if (!last) throw new Error("no native create recorded");
  return (typeof last.body === "string" ? JSON.parse(last.body) : last.body) as Record<string, unknown>;
}

/** The native run id a response id names. */
export function runIdOf(responseId: string): string {
  const hex = responseId.slice(5, 37);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const TERMINALS = new Set(["response.completed", "response.incomplete", "response.failed"]);

/**
 * The strict event-order checker (client-protocols.md §3.3 invariants 1–9, the openai-node v7.5+
 * accumulator rules, Codex's needs). Returns the terminal event's response.
 */
export function checkEventOrder(events: readonly SseEvent[]): Record<string, unknown> {
  expect(events.length).toBeGreaterThanOrEqual(3);
  events.forEach((event, index) => {
    // event: line equals the JSON type; sequence numbers 0, 1, 2…
    expect(event.event, `event ${index} name`).toBe(event.data.type);
    expect(event.data.sequence_number, `event ${index} sequence_number`).toBe(index);
  });
  expect(events[0]?.data.type).toBe("response.created");
  expect(events[1]?.data.type).toBe("response.in_progress");
  const created = events[0]?.data.response as Record<string, unknown>;
  for (const lifecycle of [events[0], events[1]]) {
    const response = lifecycle?.data.response as Record<string, unknown>;
    expect(response.object).toBe("response");
    expect(response.status).toBe("in_progress");
    expect(response.output).toEqual([]);
    expect(response.usage).toBeNull();
    expect(response.id).toBe(created.id);
  }

  const terminalIndexes = events.flatMap((event, index) => (TERMINALS.has(event.data.type as string) ? [index] : []));
  expect(terminalIndexes, "exactly one terminal event").toHaveLength(1);
  const terminalIndex = terminalIndexes[0] ?? -1;
  expect(terminalIndex, "the terminal event is last").toBe(events.length - 1);
  const terminal = events[terminalIndex]?.data as { type: string; response: Record<string, unknown> };
  if (terminal.type === "response.failed") {
    expect(events[terminalIndex - 1]?.data.type, "response.failed follows an error event").toBe("error");
    const error = events[terminalIndex - 1]?.data as Record<string, unknown>;
    expect(typeof error.code).toBe("string");
    expect(typeof error.message).toBe("string");
    expect(error.error).toMatchObject({ code: error.code, message: error.message });
    expect((terminal.response.error as { code: unknown }).code).toBeTypeOf("string");
  } else {
    expect(events.some((event) => event.data.type === "error"), "no error event on success").toBe(false);
  }

  // Items: strictly sequential, appending indexes, stable ids, complete `.done` items.
  const doneItems: Array<Record<string, unknown>> = [];
  let open: { id: string; index: number; type: string; parts: number; text: string; closedParts: boolean; argsDone: boolean } | null = null;
  const ids = new Set<string>();
  for (const event of events.slice(2, terminalIndex)) {
    const data = event.data as Record<string, unknown> & { type: string };
    switch (data.type) {
      case "response.output_item.added": {
        expect(open, "no item open when another is added").toBeNull();
        const item = data.item as Record<string, unknown>;
        expect(data.output_index).toBe(doneItems.length);
        expect(typeof item.id === "string" && item.id.length > 0).toBe(true);
        expect(ids.has(item.id as string), "unique item ids").toBe(false);
        ids.add(item.id as string);
        if (item.type === "function_call") {
          expect(item.call_id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
          expect(item.arguments).toBe("");
          expect(item.status).toBe("in_progress");
        }
        if (item.type === "custom_tool_call") {
          expect(item.call_id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
          expect(item.input).toBe("");
          expect(item.status).toBe("in_progress");
        }
        if (item.type === "message") expect(item.content).toEqual([]);
        if (item.type === "reasoning") expect(item.summary).toEqual([]);
        open = { id: item.id as string, index: data.output_index as number, type: item.type as string, parts: 0, text: "", closedParts: false, argsDone: false };
        break;
      }
      case "response.content_part.added":
      case "response.reasoning_summary_part.added": {
        expect(open).not.toBeNull();
        expect(data.item_id).toBe(open?.id);
        expect(data.output_index).toBe(open?.index);
        expect(open?.type).toBe(data.type === "response.content_part.added" ? "message" : "reasoning");
        expect(data.type === "response.content_part.added" ? data.content_index : data.summary_index).toBe(open?.parts);
        if (open) open.parts++;
        break;
      }
      case "response.output_text.delta":
      case "response.reasoning_summary_text.delta":
      case "response.function_call_arguments.delta":
      case "response.custom_tool_call_input.delta": {
        expect(open).not.toBeNull();
        expect(data.item_id).toBe(open?.id);
        expect(data.output_index).toBe(open?.index);
        expect(typeof data.delta).toBe("string");
        if (data.type === "response.output_text.delta") {
          expect(data.content_index).toBe(0);
          expect(data.logprobs).toEqual([]);
          expect(data.delta as string).not.toContain("<think>");
        }
        if (data.type === "response.function_call_arguments.delta") expect(open?.type).toBe("function_call");
        else if (data.type === "response.custom_tool_call_input.delta") expect(open?.type).toBe("custom_tool_call");
        else expect(open?.parts).toBe(1);
        if (open) open.text += data.delta as string;
        break;
      }
      case "response.output_text.done":
      case "response.reasoning_summary_text.done": {
        expect(data.item_id).toBe(open?.id);
        expect(data.text).toBe(open?.text);
        break;
      }
      case "response.function_call_arguments.done": {
        expect(data.item_id).toBe(open?.id);
        expect(data.arguments).toBe(open?.text);
        expect(typeof data.name).toBe("string");
        if (open) open.argsDone = true;
        break;
      }
      case "response.custom_tool_call_input.done": {
        expect(data.item_id).toBe(open?.id);
        expect(data.input).toBe(open?.text);
        if (open) open.argsDone = true;
        break;
      }
      case "response.content_part.done":
      case "response.reasoning_summary_part.done": {
        expect(data.item_id).toBe(open?.id);
        expect((data.part as { text: string }).text).toBe(open?.text);
        if (open) open.closedParts = true;
        break;
      }
      case "response.output_item.done": {
        expect(open, "output_item.done closes the open item").not.toBeNull();
        const item = data.item as Record<string, unknown>;
        expect(data.output_index).toBe(open?.index);
        expect(item.id).toBe(open?.id);
        expect(item.type).toBe(open?.type);
        if (item.type === "function_call") {
          expect(open?.argsDone).toBe(true);
          expect(item.arguments).toBe(open?.text);
          expect(item.status).toBe("completed");
        } else if (item.type === "custom_tool_call") {
          expect(open?.argsDone).toBe(true);
          expect(item.input).toBe(open?.text);
          expect(item.status).toBe("completed");
        } else {
          expect(open?.closedParts).toBe(true);
        }
        if (item.type === "message") {
          expect(item.content).toEqual([{ type: "output_text", text: open?.text, annotations: [], logprobs: [] }]);
          expect(open?.text).not.toContain("<think>");
        }
        if (item.type === "reasoning") expect(item.summary).toEqual([{ type: "summary_text", text: open?.text }]);
        doneItems.push(item);
        open = null;
        break;
      }
      case "error":
        expect(open, "items are closed before the error event").toBeNull();
        break;
      default:
        throw new Error(`unexpected event type ${data.type}`);
    }
  }
  expect(open, "every item is closed before the terminal event").toBeNull();
  const response = terminal.response;
  expect(response.id).toBe(created.id);
  expect(response.object).toBe("response");
  expect(response.output, "the terminal event carries the full output").toEqual(doneItems);
  const usage = response.usage as Record<string, unknown>;
  expect(usage).toMatchObject({
    input_tokens: expect.any(Number),
    output_tokens: expect.any(Number),
    total_tokens: expect.any(Number),
    input_tokens_details: { cached_tokens: expect.any(Number), cache_write_tokens: expect.any(Number) },
    output_tokens_details: { reasoning_tokens: expect.any(Number) },
  });
  return response;
}

/** Removes what legitimately differs between two projections of equivalent runs (ids, timestamps). */
export function comparable(response: unknown): unknown {
  return JSON.parse(
    JSON.stringify(response, (key, value: unknown) => {
      if (key === "created_at" || key === "completed_at") return typeof value === "number" ? "<time>" : value;
      // Added by the SDK's stream helper (structured-output parsing), not by the server.
      if (key === "parsed" || key === "output_parsed") return undefined;
      if (typeof value === "string") {
        return value
          .replace(/\b(resp|msg|rs|fc|fco)_[0-9a-f]{32,64}(_in)?(_\d+)?\b/g, "$1_<id>$2$3")
          .replace(/\bcall_[A-Za-z0-9_-]{44}\b/g, "call_<id>");
      }
      return value;
    }),
  ) as unknown;
}
