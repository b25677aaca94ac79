/**
 * Helpers for the emulator tests. They run inside workerd and reach the emulator (a Node server
 * started by test/global-setup.ts) over real HTTP, like the gateway does.
 */
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { EMULATOR_KEYS, emu } from "../../emulator/script";

export { EMULATOR_KEYS, emu };
export const KEYS = EMULATOR_KEYS;

export type JsonObject = Record<string, unknown>;

/** The subset of `NativeRunResponse` the tests read. */
export interface Run {
  id: string;
  application_id: string;
  api_key_id: string;
  publication_version_id: string;
  status: string;
  node_input_payload: {
    "node-start": JsonObject & { query: string; history: Array<JsonObject>; files: unknown[]; system?: string };
    env: Record<string, string>;
    sys: JsonObject;
  };
  metadata: JsonObject & { request: JsonObject & { conversation: JsonObject } };
  answer: string | null;
  answer_segments?: Array<{ kind: string; text: string }>;
  required_action: null | {
    action_type: string;
    payload: { callback_task_id: string; callback_kind: string; flow_run_id: string; node_run_id: string; request_payload: JsonObject; tool_calls: ToolCall[] };
  };
  tool_calls: ToolCall[] | null;
  usage: Record<string, number | null> | null;
  error: { code: string; message: string; details: unknown } | null;
  created_at: string;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: JsonObject;
}

export const base = (): string => env.NATIVE_API_BASE_URL;

export function api(path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  const { key, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (key !== null && !headers.has("authorization")) headers.set("authorization", `Bearer ${key ?? KEYS.demo}`);
  return fetch(`${base()}/api/agent/v1${path}`, { ...rest, headers });
}

export function postRun(body: unknown, key: string = KEYS.demo): Promise<Response> {
  return api("/runs", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), key });
}

/** Blocking create; asserts the 201 `{data, meta:null}` envelope. */
export async function blocking(body: JsonObject, key: string = KEYS.demo): Promise<Run> {
  const res = await postRun(body, key);
  const text = await res.text();
  expect(res.status, text).toBe(201);
  const json = JSON.parse(text) as { data: Run; meta: unknown };
  expect(json.meta).toBeNull();
  return json.data;
}

export async function getRun(id: string, key: string = KEYS.demo): Promise<Response> {
  return api(`/runs/${id}`, { key });
}

export async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: body.code, message: body.message };
}

export interface Frame {
  id?: string;
  event?: string;
  data?: string;
  /** `:` comment lines (keepalives). */
  comment?: boolean;
}

/** Splits a raw SSE body into blocks (keepalive comments kept as `{comment:true}`). */
export function parseSse(raw: string): Frame[] {
  const frames: Frame[] = [];
  for (const block of raw.split("\n\n")) {
    if (block === "") continue;
    const frame: Frame = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) frame.comment = true;
      else if (line.startsWith("id: ")) frame.id = line.slice(4);
      else if (line.startsWith("event: ")) frame.event = line.slice(7);
      else if (line.startsWith("data: ")) frame.data = line.slice(6);
    }
    frames.push(frame);
  }
  return frames;
}

export function events(raw: string): Array<{ id: string; event: string; data: JsonObject }> {
  return parseSse(raw)
    .filter((f) => !f.comment && f.event !== undefined)
    .map((f) => ({ id: f.id ?? "", event: f.event ?? "", data: JSON.parse(f.data ?? "null") as JsonObject }));
}

/** Incremental SSE reader (for cancel-while-streaming tests). */
export class SseReader {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  raw = "";

  constructor(res: Response) {
    if (!res.body) throw new Error("no body");
    this.reader = res.body.getReader();
  }

  /** Next complete block, or null at end of stream. */
  async next(): Promise<Frame | null> {
    for (;;) {
      const at = this.buffer.indexOf("\n\n");
      if (at >= 0) {
        const block = this.buffer.slice(0, at + 2);
        this.buffer = this.buffer.slice(at + 2);
        return parseSse(block)[0] ?? {};
      }
      const { done, value } = await this.reader.read();
      if (done) return null;
      const text = this.decoder.decode(value, { stream: true });
      this.raw += text;
      this.buffer += text;
    }
  }

  async nextEvent(): Promise<{ id: string; event: string; data: JsonObject } | null> {
    for (;;) {
      const frame = await this.next();
      if (frame === null) return null;
      if (frame.comment || frame.event === undefined) continue;
      return { id: frame.id ?? "", event: frame.event, data: JSON.parse(frame.data ?? "null") as JsonObject };
    }
  }

  async rest(): Promise<string> {
    while ((await this.next()) !== null) {
      /* drain */
    }
    return this.raw;
  }
}

export async function recordedRequests(query: string): Promise<Array<JsonObject & { headers: Record<string, string>; body: unknown }>> {
  const res = await fetch(`${base()}/__emulator/requests?${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { requests: Array<JsonObject & { headers: Record<string, string>; body: unknown }> }).requests;
}

export function uniqueUser(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}
