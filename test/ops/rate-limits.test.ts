/**
 * Native's rate-limit signals reach clients in each protocol's convention (issue 16 point 10), and
 * the gateway's own processing time is exposed the way OpenAI does (`openai-processing-ms`).
 *
 * The fork sends no rate-limit headers (native-api.md §6, "Rate limits"), so the emulator does not
 * either; here a fetch wrapper adds them to the emulator's answers, as a newer 1flowbase or a proxy
 * in front of it would.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { emu } from "../../emulator/script";
import { parseResetDuration, RateLimitCapture } from "../../src/http/rate-limit";
import { create, readBody } from "../reliability/helpers";
import { ANTHROPIC, CHAT, PROTOCOLS, RESPONSES } from "../reliability/protocols";

const LIMITS = {
  "x-ratelimit-limit-requests": "500",
  "x-ratelimit-remaining-requests": "499",
  "x-ratelimit-reset-requests": "120ms",
  "x-ratelimit-limit-tokens": "30000",
  "x-ratelimit-remaining-tokens": "29990",
  "x-ratelimit-reset-tokens": "6m0s",
};

/** Adds `headers` to every answer of native's run API. */
function nativeSends(headers: Record<string, string>): void {
  const original = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const response = await original(input, init);
    const url = new URL(new Request(input, init).url);
    if (!url.href.startsWith(env.NATIVE_API_BASE_URL) || !url.pathname.startsWith("/api/agent/v1/")) return response;
    const merged = new Headers(response.headers);
    for (const [name, value] of Object.entries(headers)) merged.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers: merged });
  });
}

afterEach(() => vi.restoreAllMocks());

describe("rate-limit headers", () => {
  for (const protocol of [RESPONSES, CHAT]) {
    for (const stream of [false, true]) {
      it(`${protocol.name} ${stream ? "stream" : "blocking"}: native's x-ratelimit-* are passed on as they are`, async () => {
        nativeSends(LIMITS);
        const response = await create(protocol, "hello", stream);
        await readBody(response);
        expect(response.status).toBe(200);
        for (const [name, value] of Object.entries(LIMITS)) expect(response.headers.get(name), name).toBe(value);
        expect([...response.headers.keys()].filter((name) => name.startsWith("anthropic-ratelimit"))).toEqual([]);
      });
    }
  }

  for (const stream of [false, true]) {
    it(`anthropic ${stream ? "stream" : "blocking"}: as anthropic-ratelimit-*, the reset as an RFC 3339 time`, async () => {
      nativeSends(LIMITS);
      const before = Date.now();
      const response = await create(ANTHROPIC, "hello", stream);
      await readBody(response);
      expect(response.status).toBe(200);
      expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("500");
      expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("499");
      expect(response.headers.get("anthropic-ratelimit-tokens-limit")).toBe("30000");
      expect(response.headers.get("anthropic-ratelimit-tokens-remaining")).toBe("29990");
      const reset = response.headers.get("anthropic-ratelimit-tokens-reset") ?? "";
      expect(reset).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      // 6m0s after the header arrived (to the second).
      expect(Date.parse(reset) - before).toBeGreaterThanOrEqual(360_000 - 1_000);
      expect(Date.parse(reset) - before).toBeLessThanOrEqual(360_000 + 60_000);
      expect([...response.headers.keys()].filter((name) => name.startsWith("x-ratelimit"))).toEqual([]);
    });
  }

  it("a native 429 passes its retry-after and limits on with the error, in every protocol", async () => {
    nativeSends({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s" });
    for (const protocol of PROTOCOLS) {
      const response = await create(protocol, emu({ http_error: { status: 429, code: "rate_limited", retry_after: "20" } }), false);
      await readBody(response);
      expect(response.status, protocol.name).toBe(429);
      expect(response.headers.get("retry-after"), protocol.name).toBe("20");
      if (protocol.family === "openai") expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("0");
      else expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0");
    }
  });

  it("malformed values and other native headers are not repeated", async () => {
    nativeSends({ "x-ratelimit-limit-requests": "lots", "x-ratelimit-reset-tokens": "soon", "x-ratelimit-remaining-tokens": "12", "x-ratelimit-whatever": "1" });
    const response = await create(CHAT, "hello", false);
    await readBody(response);
    expect(response.headers.get("x-ratelimit-limit-requests")).toBeNull();
    expect(response.headers.get("x-ratelimit-reset-tokens")).toBeNull();
    expect(response.headers.get("x-ratelimit-whatever")).toBeNull();
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe("12");
  });

  it("without native's headers there are none (the fork sends none)", async () => {
    const response = await create(RESPONSES, "hello", false);
    await readBody(response);
    expect([...response.headers.keys()].filter((name) => name.includes("ratelimit"))).toEqual([]);
  });

  it("reads OpenAI's reset durations", () => {
    expect(parseResetDuration("1s")).toBe(1000);
    expect(parseResetDuration("6m0s")).toBe(360_000);
    expect(parseResetDuration("1h2m3.5s")).toBe(3_723_500);
    expect(parseResetDuration("20ms")).toBe(20);
    expect(parseResetDuration("2")).toBe(2000);
    for (const bad of ["", "soon", "1d", "-1s", "1s2h"]) expect(parseResetDuration(bad), bad).toBeNull();
    const capture = new RateLimitCapture();
    capture.read(new Headers({ "x-ratelimit-reset-requests": "1s" }));
    expect(Object.keys(capture.headersFor("anthropic"))).toEqual(["anthropic-ratelimit-requests-reset"]);
  });
});

describe("openai-processing-ms", () => {
  it("is on every OpenAI-family answer (success and error), never on Anthropic's", async () => {
    for (const protocol of PROTOCOLS) {
      const ok = await create(protocol, "hello", false);
      await readBody(ok);
      const failed = await create(protocol, emu({ http_error: { status: 500, code: "internal_error" } }), false);
      await readBody(failed);
      for (const response of [ok, failed]) {
        const value = response.headers.get("openai-processing-ms");
        if (protocol.family === "openai") expect(value, protocol.name).toMatch(/^\d+$/);
        else expect(value, protocol.name).toBeNull();
      }
    }
  });
});
