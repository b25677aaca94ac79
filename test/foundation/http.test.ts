import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";

describe("HTTP edge layer", () => {
  it("answers /healthz without calling native", async () => {
    const response = await SELF.fetch("http://gw/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok" });
  });

  it("returns JSON 404 in the OpenAI envelope for unknown routes, Anthropic envelope under /v1/messages", async () => {
    const openai = await SELF.fetch("http://gw/v1/nope");
    expect(openai.status).toBe(404);
    expect(openai.headers.get("content-type")).toContain("application/json");
    expect(await openai.json()).toMatchObject({ error: { type: "invalid_request_error", code: "not_found" } });
    const anthropic = await SELF.fetch("http://gw/v1/messages/nope/deeper");
    expect(anthropic.status).toBe(404);
    expect(await anthropic.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  });

  it("echoes a sane x-request-id and mints one otherwise", async () => {
    const echoed = await SELF.fetch("http://gw/healthz", { headers: { "x-request-id": "client-req-42" } });
    expect(echoed.headers.get("x-request-id")).toBe("client-req-42");
    const minted = await SELF.fetch("http://gw/healthz", { headers: { "x-request-id": "bad id with spaces" } });
    expect(minted.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it("reports a missing or malformed setting by name, as a JSON 500, never a crash", async () => {
    const app = createApp();
    const health = await app.fetch(new Request("http://gw/healthz"), {});
    expect(health.status).toBe(500);
    const body = (await health.json()) as { problems: string[] };
    expect(body.problems.join(" ")).toContain("NATIVE_API_BASE_URL");
    const malformed = await app.fetch(new Request("http://gw/v1/models"), { NATIVE_API_BASE_URL: "not a url", RESPONSE_INDEX: {} as D1Database });
    expect(malformed.status).toBe(500);
    const error = (await malformed.json()) as { error: { message: string; code: string } };
    expect(error.error.code).toBe("gateway_misconfigured");
    expect(error.error.message).toContain("NATIVE_API_BASE_URL");
    expect(error.error.message).toContain("RESPONSE_INDEX");
  });

  it("still serves the API reference when misconfigured: an operator reads it to fix the settings", async () => {
    const app = createApp();
    // No setting at all, only the static assets the reference is deployed as (wrangler.toml [assets]).
    const spec = await app.fetch(new Request("http://gw/openapi.json"), { ASSETS: env.ASSETS });
    expect(spec.status).toBe(200);
    expect(((await spec.json()) as { openapi: string }).openapi).toMatch(/^3\.1/);
    const page = await app.fetch(new Request("http://gw/docs"), { NATIVE_API_BASE_URL: "not a url", ASSETS: env.ASSETS });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const other = await app.fetch(new Request("http://gw/v1/models"), {});
    expect(other.status).toBe(500);
  });
});
