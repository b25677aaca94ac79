/**
 * The request log line (issue 16 point 1): one JSON line per request, written at its real end —
 * a stream's line after its body ended, with how it ended — in one shape for the three protocols;
 * upstream failures are warnings carrying the upstream's code, only the gateway's faults are errors.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { emu } from "../../emulator/script";
import { GatewayError } from "../../src/http/errors";
import { RequestLog } from "../../src/http/log";
import { create as createRun, EMULATOR_KEYS, gateway as gatewayRequest, readBody, sleep } from "../reliability/helpers";
import { ANTHROPIC, CHAT, PROTOCOLS, RESPONSES } from "../reliability/protocols";

interface LogLine {
  level: string;
  method: string;
  msg: string;
  requestId: string;
  route: string;
  protocol: string;
  model?: string;
  nativeRunId?: string;
  status: number;
  stream: boolean;
  outcome: string;
  finishReason?: string;
  errorCode?: string;
  errorDetail?: string;
  usage?: { input: number; output: number; total: number };
  ttfbMs?: number;
  durationMs: number;
}

/** The suite runs with `LOG_LEVEL: "off"` (vitest.config.ts); these requests log at `info` unless told otherwise. */
const create: typeof createRun = (protocol, text, stream, options = {}) =>
  createRun(protocol, text, stream, { ...options, overrides: { LOG_LEVEL: "info", ...options.overrides } });
const gateway = (path: string, init: RequestInit): Promise<Response> => gatewayRequest(path, init, { LOG_LEVEL: "info" });

const lines: { via: string; line: string }[] = [];

beforeEach(() => {
  lines.length = 0;
  for (const method of ["log", "warn", "error"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push({ via: method, line: args.map(String).join(" ") });
    });
  }
});
afterEach(() => vi.restoreAllMocks());

/** The request lines of `requestId` (every line must be JSON), waiting briefly for a stream's line. */
async function requestLines(requestId: string): Promise<(LogLine & { via: string })[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const found = lines
      .map(({ via, line }) => ({ via, ...(JSON.parse(line) as LogLine) }))
      .filter((line) => line.msg === "request" && line.requestId === requestId);
    if (found.length > 0) return found;
    await sleep(20);
  }
  return [];
}

async function onlyLine(requestId: string): Promise<LogLine & { via: string }> {
  const found = await requestLines(requestId);
  expect(found, `request lines of ${requestId}`).toHaveLength(1);
  return found[0]!;
}

const id = (label: string): string => `req-log-${label}-${crypto.randomUUID().slice(0, 8)}`;

describe("the request log line", () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name}: a completed stream is logged after its body ended, with run, model, usage and times`, async () => {
      const requestId = id(`${protocol.name}-ok`);
      const response = await create(protocol, emu({ text: ["Hel", "lo"], delta_delay_ms: 150, usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 }, usage_on_terminal: true }), true, {
        headers: { "x-request-id": requestId },
      });
      expect(response.status).toBe(200);
      // Nothing yet: the headers are out, the body is not (its deltas are 150 ms apart).
      expect(lines.filter(({ line }) => line.includes(requestId))).toEqual([]);
      await readBody(response);
      const line = await onlyLine(requestId);
      expect(line).toMatchObject({
        level: "info",
        via: "log",
        method: "POST",
        route: protocol.path,
        protocol: { responses: "openai-responses", chat: "openai-chat", anthropic: "anthropic-messages" }[protocol.name],
        model: "1flowbase",
        status: 200,
        stream: true,
        outcome: "completed",
        usage: { input: 7, output: 2, total: 9 },
      });
      expect(line.nativeRunId).toMatch(/^[0-9a-f-]{36}$/);
      expect(line.errorCode).toBeUndefined();
      expect(line.ttfbMs).toBeGreaterThanOrEqual(0);
      expect(line.durationMs).toBeGreaterThanOrEqual(line.ttfbMs ?? 0);
    });

    it(`${protocol.name}: a stream native cuts mid-way is a failed request (a warning with the native code), not a 200 that looked fine`, async () => {
      const requestId = id(`${protocol.name}-cut`);
      const response = await create(protocol, emu({ text: ["a", "b", "c"], drop_after: 2 }), true, { headers: { "x-request-id": requestId } });
      await readBody(response);
      const line = await onlyLine(requestId);
      expect(line).toMatchObject({ level: "warn", via: "warn", status: 200, stream: true, outcome: "failed" });
      expect(line.errorCode).toMatch(/^upstream_/);
      expect(line.nativeRunId).toMatch(/^[0-9a-f-]{36}$/);
      // No "unhandled error" line, and no line at error level: 1flowbase failed, not the gateway.
      expect(lines.filter(({ via }) => via === "error")).toEqual([]);
    });

    it(`${protocol.name}: a client that stops reading is client_aborted`, async () => {
      const requestId = id(`${protocol.name}-gone`);
      const response = await create(protocol, emu({ text: ["first ", "never"], delta_delay_ms: 300, wait_ms: 2_000 }), true, {
        headers: { "x-request-id": requestId },
        overrides: { KEEPALIVE_INTERVAL_MS: "50" },
      });
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
      const line = await onlyLine(requestId);
      expect(line).toMatchObject({ level: "info", status: 200, stream: true, outcome: "client_aborted" });
    });

    it(`${protocol.name}: a failed run is logged with the failure class from the run record, as a warning`, async () => {
      const requestId = id(`${protocol.name}-failed`);
      const response = await create(protocol, emu({ fail: { error_code: "provider_upstream_error", message: "the provider is down" } }), false, {
        headers: { "x-request-id": requestId },
      });
      await readBody(response);
      const line = await onlyLine(requestId);
      expect(line).toMatchObject({ level: "warn", stream: false, outcome: "failed", errorCode: "provider_upstream_error" });
      expect(line.status).toBeGreaterThanOrEqual(500);
      // A failed run's own text is the flow's and may quote the conversation: it stays out of the log.
      expect(JSON.stringify(line)).not.toContain("the provider is down");
    });
  }

  it("the three protocols log the same fields", async () => {
    const keys: string[][] = [];
    for (const protocol of PROTOCOLS) {
      const requestId = id(`${protocol.name}-shape`);
      await readBody(await create(protocol, emu({ text: ["x"], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, usage_on_terminal: true }), true, { headers: { "x-request-id": requestId } }));
      keys.push(Object.keys(await onlyLine(requestId)).sort());
    }
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
  });

  it("a tool-call answer is completed with finishReason tool_calls", async () => {
    const requestId = id("tools");
    const response = await gateway("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}`, "x-request-id": requestId },
      body: JSON.stringify({
        model: "1flowbase",
        messages: [{ role: "user", content: emu({ tool_calls: [{ name: "get_weather" }] }) }],
        tools: [{ type: "function", function: { name: "get_weather" } }],
      }),
    });
    expect(response.status).toBe(200);
    await readBody(response);
    expect(await onlyLine(requestId)).toMatchObject({ level: "info", outcome: "completed", finishReason: "tool_calls" });
  });

  it("a request refused before native (a bad body) is info, refused, with the gateway's code", async () => {
    const requestId = id("refused");
    const response = await gateway("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${EMULATOR_KEYS.demo}`, "x-request-id": requestId },
      body: JSON.stringify({ model: "1flowbase" }),
    });
    expect(response.status).toBe(400);
    expect(await onlyLine(requestId)).toMatchObject({ level: "info", status: 400, outcome: "refused", stream: false });
  });

  it("native answering 500 before any event is a warning with native's code on every protocol (never 'unhandled error')", async () => {
    for (const protocol of [RESPONSES, CHAT, ANTHROPIC]) {
      const requestId = id(`${protocol.name}-500`);
      const response = await create(protocol, emu({ http_error: { status: 500, code: "internal_error" } }), true, { headers: { "x-request-id": requestId } });
      expect(response.status).toBe(502);
      await readBody(response);
      expect(await onlyLine(requestId)).toMatchObject({ level: "warn", status: 502, outcome: "failed", errorCode: "internal_error" });
    }
    expect(lines.filter(({ line }) => line.includes("unhandled error"))).toEqual([]);
    expect(lines.filter(({ via }) => via === "error")).toEqual([]);
  });

  it("LOG_LEVEL=warn keeps the warnings and drops the info lines", async () => {
    const ok = id("level-ok");
    const failed = id("level-failed");
    await readBody(await create(CHAT, emu({ text: ["x"] }), false, { headers: { "x-request-id": ok }, overrides: { LOG_LEVEL: "warn" } }));
    await readBody(await create(CHAT, emu({ http_error: { status: 500, code: "internal_error" } }), false, { headers: { "x-request-id": failed }, overrides: { LOG_LEVEL: "warn" } }));
    expect(await onlyLine(failed)).toMatchObject({ level: "warn" });
    expect(lines.filter(({ line }) => line.includes(ok))).toEqual([]);
  });

  it("only the gateway's own faults are errors, with their detail", () => {
    const log = new RequestLog("req-bug", "POST", "/v1/responses", () => "info");
    log.failed(new GatewayError({ status: 500, message: "internal gateway error", code: "internal_error" }), new TypeError("x is undefined"));
    log.responded(500, "/v1/responses", false);
    const line = JSON.parse(lines.find(({ via }) => via === "error")?.line ?? "{}") as LogLine;
    expect(line).toMatchObject({ level: "error", outcome: "failed", errorCode: "internal_error", protocol: "openai-responses" });
    expect(line.errorDetail).toContain("TypeError: x is undefined");
  });

  it("a stream's line waits for its end even when the body ended before the response was handed out", () => {
    const log = new RequestLog("req-order", "POST", "/v1/chat/completions", () => "info");
    const stream = log.streamStarted();
    stream.firstBytes();
    stream.ended("completed");
    expect(lines).toEqual([]);
    log.responded(200, "/v1/chat/completions", true);
    expect(lines).toHaveLength(1);
    log.responded(200, "/v1/chat/completions", true);
    stream.ended("error");
    expect(lines).toHaveLength(1);
  });
});
