/**
 * Shared plumbing of the reliability suite (runs inside workerd): one in-process gateway
 * (`createApp().fetch` with per-request env overrides, so a test can shorten a timeout or break a
 * binding for itself only), body reading with a hang guard, and the emulator's request log.
 */
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";
import { createApp } from "../../src/app";
import type { Env } from "../../src/config";
import { parseEnvelope, type ProtocolCase, type StreamOutcome } from "./protocols";

export { EMULATOR_KEYS };
export const GATEWAY = "http://gw";

const app = createApp();

/** Env overrides for one request (strings, as wrangler delivers vars; or a replaced binding). */
export type EnvOverrides = Partial<Record<keyof Env, unknown>>;

/** One request through the gateway, in-process, with `overrides` applied to the env. */
export function gateway(path: string, init: RequestInit = {}, overrides: EnvOverrides = {}): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(`${GATEWAY}${path}`, init), { ...env, ...overrides }));
}

/** A create request of `protocol` whose last user text is `text`. */
export function create(
  protocol: ProtocolCase,
  text: string,
  stream: boolean,
  options: { key?: string; headers?: Record<string, string>; overrides?: EnvOverrides; signal?: AbortSignal } = {},
): Promise<Response> {
  return gateway(
    protocol.path,
    {
      method: "POST",
      headers: { "content-type": "application/json", ...protocol.auth(options.key ?? EMULATOR_KEYS.demo), ...options.headers },
      body: JSON.stringify(protocol.body(text, stream)),
      signal: options.signal,
    },
    options.overrides,
  );
}

/** Resolves `promise`, or fails the test when it takes longer than `ms` ("never a hang"). */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The whole body as text, bounded in time. */
export function readBody(response: Response, ms = 10_000, what = "reading the body"): Promise<string> {
  return within(ms, what, response.text());
}

/** Checks an error answered before any header: status, JSON content type, envelope; returns it. */
export async function expectErrorResponse(
  response: Response,
  family: "openai" | "anthropic",
  status: number,
): Promise<{ type: string; code: string | null; param: string | null; message: string }> {
  const text = await readBody(response);
  expect(response.status, text).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  expect(response.headers.get("x-request-id")).toMatch(/\S/);
  return parseEnvelope(family, JSON.parse(text) as unknown);
}

/** Reads a streamed answer (200 `text/event-stream`), checks the wire rules, returns the outcome. */
export async function expectStream(protocol: ProtocolCase, response: Response): Promise<StreamOutcome> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  return protocol.readStream(await readBody(response));
}

export interface RecordedNativeRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  run_id: string | null;
  status: number | null;
  closed_at: string | null;
  completed: boolean | null;
  /** The TCP connection that carried it, and when that connection closed (null: still open). */
  connection: number;
  connection_closed_at: string | null;
}

/** The emulator's request log (`GET /__emulator/requests`), filtered. */
export async function nativeRequests(query: { runId?: string; path?: string } = {}): Promise<RecordedNativeRequest[]> {
  const params = new URLSearchParams();
  if (query.runId) params.set("run_id", query.runId);
  if (query.path) params.set("path", query.path);
  const response = await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/requests?${params}`);
  return ((await response.json()) as { requests: RecordedNativeRequest[] }).requests;
}

/** Native creates whose `query` contains `marker` (a per-test nonce), oldest first. */
export async function nativeCreatesWith(marker: string): Promise<RecordedNativeRequest[]> {
  const requests = await nativeRequests({ path: "/api/agent/v1/runs" });
  return requests.filter(
    (request) =>
      request.method === "POST" &&
      request.path === "/api/agent/v1/runs" &&
      typeof (request.body as { query?: unknown } | null)?.query === "string" &&
      ((request.body as { query: string }).query.includes(marker)) &&
      !isOutputLimitProbe(request),
  );
}

/**
 * The create the fork refused because it carried `execution.model_parameters.max_output_tokens`
 * (run-steps.ts asks once per isolate, then sends the run without it): no run, not a create.
 */
function isOutputLimitProbe(request: RecordedNativeRequest): boolean {
  const execution = (request.body as { execution?: { model_parameters?: Record<string, unknown> } } | null)?.execution;
  return request.status === 400 && execution?.model_parameters?.["max_output_tokens"] !== undefined;
}

/** How many times the emulator started the run (1 + re-executions of a replayed running run, errata 2). */
export async function emulatorExecutions(runId: string): Promise<number> {
  const response = await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/runs/${runId}`);
  return ((await response.json()) as { executions: number }).executions;
}

/** A fresh nonce for tests that must find their own native requests in the shared emulator log. */
export function nonce(): string {
  return crypto.randomUUID().replace(/-/g, "").slice(0, 16);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
