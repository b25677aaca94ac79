/**
 * Helpers for the Anthropic Messages tests: the real `@anthropic-ai/sdk` pointed at the worker
 * (`SELF.fetch`), raw requests, SSE frame parsing, and a look at what the gateway sent to the
 * emulated native API (`GET /__emulator/requests`).
 */
import Anthropic from "@anthropic-ai/sdk";
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { nativeCreateBodyOfRun } from "../native-requests";
import { EMULATOR_KEYS } from "../../emulator/script";

export const GATEWAY = "http://gw";

/** The SDK, authenticated with `x-api-key` (`apiKey`) or `Authorization: Bearer` (`authToken`). */
export function anthropic(options: { apiKey?: string; authToken?: string; headers?: Record<string, string> } = {}): Anthropic {
  const auth = options.authToken !== undefined ? { authToken: options.authToken, apiKey: null } : { apiKey: options.apiKey ?? EMULATOR_KEYS.demo };
  return new Anthropic({
    ...auth,
    baseURL: GATEWAY,
    fetch: (input, init) => SELF.fetch(input as RequestInfo, init),
    maxRetries: 0,
    defaultHeaders: options.headers,
  });
}

/** `POST /v1/messages` (or another path) with a JSON body, as a plain client would send it. */
export function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${GATEWAY}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": EMULATOR_KEYS.demo, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export interface SseFrame {
  event: string | null;
  data: string;
}

/** Splits an SSE body into frames (blank-line separated), keeping `event:` and `data:`. */
export function parseSse(text: string): SseFrame[] {
  return text
    .split("\n\n")
    .filter((chunk) => chunk.trim() !== "")
    .map((chunk) => {
      let event: string | null = null;
      const data: string[] = [];
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      return { event, data: data.join("\n") };
    });
}

/** Every frame must name its event, and the name must equal the JSON `type` (client-protocols.md §5.3). */
export function typedEvents(frames: readonly SseFrame[]): Array<Record<string, unknown> & { type: string }> {
  return frames.map((frame) => {
    const json = JSON.parse(frame.data) as Record<string, unknown> & { type: string };
    expect(frame.event).toBe(json.type);
    return json;
  });
}

/** The native run id inside a `msg_<hex32>[_<task hex32>]` id. */
export function runIdOf(messageId: string): string {
  const hex = /^msg_([0-9a-f]{32})(?:_[0-9a-f]{32})?$/.exec(messageId)?.[1];
  if (!hex) throw new Error(`not a gateway message id: ${messageId}`);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export { nativeRequests } from "../native-requests";

/** The native create body behind a message id. */
export async function nativeCreateBody(messageId: string): Promise<Record<string, unknown>> {
  return nativeCreateBodyOfRun(runIdOf(messageId));
}

/** Drops the fields that legitimately differ between two runs (ids) and SDK-only additions. */
export function comparable(message: object): Record<string, unknown> {
  const { id: _id, parsed_output: _parsed, ...rest } = message as Record<string, unknown>;
  const content = (rest["content"] as Array<Record<string, unknown>>).map((block) =>
    block["type"] === "tool_use" ? { ...block, id: "toolu_*" } : block,
  );
  return { ...rest, content };
}

export const TOOL_ID = /^toolu_[A-Za-z0-9_-]{1,58}$/;
export { EMULATOR_KEYS };
