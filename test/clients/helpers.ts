/**
 * Helpers for the real-client suite: the Vercel AI SDK providers pointed at the worker under test
 * (`SELF.fetch`), a record of every request body the SDK sent, and a collector for everything the
 * SDK reports as a warning or an error (a malformed chunk surfaces as one of those).
 */
import { SELF } from "cloudflare:test";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { afterEach, beforeEach, expect } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";

export { EMULATOR_KEYS };
export const MODEL = "1flowbase";
export const BASE = "http://gw/v1";

export interface SentRequest {
  url: string;
  body: Record<string, unknown>;
  status: number;
}

/** A fetch that calls the worker and records each JSON request body with its answer's status. */
export function recordingFetch(sent: SentRequest[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const response = await SELF.fetch(url, init);
    const raw = typeof init?.body === "string" ? init.body : "{}";
    sent.push({ url, body: JSON.parse(raw) as Record<string, unknown>, status: response.status });
    return response;
  }) as typeof fetch;
}

export function openaiProvider(sent: SentRequest[] = [], apiKey: string = EMULATOR_KEYS.demo) {
  return createOpenAI({ baseURL: BASE, apiKey, fetch: recordingFetch(sent) });
}

export function anthropicProvider(sent: SentRequest[] = [], apiKey: string = EMULATOR_KEYS.demo) {
  return createAnthropic({ baseURL: BASE, apiKey, fetch: recordingFetch(sent) });
}

/**
 * Everything the AI SDK reports besides results: warnings (through the global warning logger every
 * call goes through) and errors (`onError` of streamText, `error` parts of a full stream).
 * `installReportCollector()` in a describe block resets it per test and asserts it stayed empty.
 */
export const reports: { warnings: unknown[]; errors: unknown[] } = { warnings: [], errors: [] };

export function installReportCollector(): void {
  beforeEach(() => {
    reports.warnings = [];
    reports.errors = [];
    globalThis.AI_SDK_LOG_WARNINGS = ({ warnings }) => {
      reports.warnings.push(...warnings);
    };
  });
  afterEach(() => {
    globalThis.AI_SDK_LOG_WARNINGS = undefined;
    expect(reports.errors, "AI SDK errors").toEqual([]);
    expect(reports.warnings, "AI SDK warnings").toEqual([]);
  });
}

/** For streamText: `onError` that records instead of logging. */
export function onError({ error }: { error: unknown }): void {
  reports.errors.push(error);
}
