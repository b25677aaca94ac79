/**
 * Helpers for the Chat Completions and model-list tests: the real `openai` SDK pointed at the worker
 * (`SELF.fetch`), raw requests, SSE frame parsing, and what the gateway sent to the emulated native
 * API (`GET /__emulator/requests`).
 */
import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { nativeCreateBodyOfRun } from "../native-requests";
import { EMULATOR_KEYS } from "../../emulator/script";

export const GATEWAY = "http://gw";
export const MODEL = "1flowbase";
export { EMULATOR_KEYS };

/** The three bases a client may use; each serves the same chat and model routes. */
export const BASES = [`${GATEWAY}/v1`, `${GATEWAY}/openai/v1`, GATEWAY] as const;

export function openai(options: { baseURL?: string; apiKey?: string; headers?: Record<string, string> } = {}): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey ?? EMULATOR_KEYS.demo,
    baseURL: options.baseURL ?? `${GATEWAY}/v1`,
    fetch: (input, init) => SELF.fetch(input as RequestInfo, init),
    maxRetries: 0,
    defaultHeaders: options.headers,
  });
}

/** `POST` a JSON body (Bearer auth unless `headers` says otherwise). */
export function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${GATEWAY}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The `data:` payloads of an SSE body, in order; asserts no frame carries an `event:` line. */
export function dataFrames(text: string): string[] {
  return text
    .split("\n\n")
    .filter((frame) => frame.trim() !== "" && !frame.startsWith(":"))
    .map((frame) => {
      if (/^event:/m.test(frame)) throw new Error(`chat SSE frame with an event line: ${frame}`);
      const lines = frame.split("\n").filter((line) => line.startsWith("data: "));
      if (lines.length !== 1) throw new Error(`expected one data line per frame: ${frame}`);
      return (lines[0] ?? "").slice(6);
    });
}

export { nativeRequests } from "../native-requests";

/** The native create body behind a completion id `chatcmpl-<run>[-<task>]`. */
export async function nativeCreateBody(completionId: string): Promise<Record<string, unknown>> {
  return nativeCreateBodyOfRun(runIdOf(completionId));
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
export const COMPLETION_ID = new RegExp(`^chatcmpl-${UUID}$`);
export const RESUMED_COMPLETION_ID = new RegExp(`^chatcmpl-${UUID}-${UUID}$`);
export const TOOL_CALL_ID = /^call_[A-Za-z0-9_-]{44}$/;

export function runIdOf(completionId: string): string {
  const match = new RegExp(`^chatcmpl-(${UUID})`).exec(completionId);
  if (!match?.[1]) throw new Error(`not a gateway completion id: ${completionId}`);
  return match[1];
}
