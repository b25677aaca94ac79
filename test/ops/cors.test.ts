/**
 * CORS for the official SDKs (issue 16, item 4), at the HTTP level inside workerd. The browser proof
 * (both SDKs in Chromium, cross-origin, real preflights) is `npm run test:browser`
 * (test/ops/browser-sdk.test.mjs); this file pins the lists so a regression fails `npm test` too.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEYS, emu } from "../../emulator/script";
import { createApp } from "../../src/app";
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS } from "../../src/http/cors";

const app = createApp();
const PAGE = "https://app.example.com";
const settings = { ...env, CORS_ALLOW_ORIGINS: PAGE };
const call = (path: string, init: RequestInit) => app.fetch(new Request(`http://gw${path}`, init), settings);
const list = (value: string | null) => new Set((value ?? "").split(",").map((name) => name.trim().toLowerCase()).filter(Boolean));

/** What `openai` 7.57 and `@anthropic-ai/sdk` 1.12 send from a browser (their client.mjs buildHeaders). */
const SDK_REQUEST_HEADERS = [
  "authorization", "content-type", "x-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
  "x-stainless-lang", "x-stainless-package-version", "x-stainless-os", "x-stainless-arch", "x-stainless-runtime", "x-stainless-runtime-version",
  "x-stainless-retry-count", "x-stainless-timeout", "x-stainless-helper-method", "x-stainless-helper", "openai-organization", "openai-project",
  "idempotency-key", "x-request-id",
];

describe("CORS with CORS_ALLOW_ORIGINS", () => {
  for (const path of ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/readyz"]) {
    it(`preflight of ${path} allows every header the SDKs send`, async () => {
      const response = await call(path, {
        method: "OPTIONS",
        headers: { origin: PAGE, "access-control-request-method": path === "/v1/models" ? "GET" : "POST", "access-control-request-headers": SDK_REQUEST_HEADERS.join(",") },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe(PAGE);
      const allowed = list(response.headers.get("access-control-allow-headers"));
      expect(SDK_REQUEST_HEADERS.filter((name) => !allowed.has(name))).toEqual([]);
      expect(list(response.headers.get("access-control-allow-methods"))).toEqual(new Set(["get", "head", "post", "delete"]));
      expect(response.headers.get("access-control-allow-credentials")).toBeNull();
    });
  }

  it("an error answer (429 from native) exposes what the SDKs' retry logic reads", async () => {
    const response = await call("/v1/chat/completions", {
      method: "POST",
      headers: { origin: PAGE, authorization: `Bearer ${EMULATOR_KEYS.demo}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "1flowbase", messages: [{ role: "user", content: emu({ http_error: { status: 429, code: "rate_limited", message: "slow", retry_after: "3" } }) }] }),
    });
    await response.arrayBuffer();
    expect(response.status).toBe(429);
    expect(response.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(response.headers.get("retry-after")).toBe("3");
    const exposed = list(response.headers.get("access-control-expose-headers"));
    for (const name of ["retry-after", "retry-after-ms", "x-should-retry", "x-request-id", "request-id", "x-1flowbase-ignored-params"]) expect(exposed.has(name), name).toBe(true);
  });

  it("the lists are lower case and free of duplicates (preflight matching is case-insensitive, duplicates hide typos)", () => {
    for (const names of [CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS]) {
      expect(names.every((name) => name === name.toLowerCase() && /^[a-z0-9-]+$/.test(name))).toBe(true);
      expect(new Set(names).size).toBe(names.length);
    }
  });
});
