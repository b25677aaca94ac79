/**
 * Liveness and readiness (issue 16, item 3). `/healthz` calls nothing and reveals nothing about the
 * deployment; `/readyz` checks the D1 index schema and native's `GET /health`, answers 200/503 with
 * check states only, and probes at most once per cache window per isolate, however many anonymous
 * requests arrive.
 *
 * Each case that needs its own probe uses a fresh env object: the configuration is validated once
 * per env object, and the readiness cache is keyed by that configuration.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import { PROBE_LOST_MS, READINESS_CACHE_MS, readiness } from "../../src/ops/readiness";

const app = createApp();
const readyz = (settings: Record<string, unknown>, headers: Record<string, string> = {}) =>
  app.fetch(new Request("http://gw/readyz", { headers }), { ...env, ...settings });

/** Requests the worker sent to a native `/health`, seen through the isolate's own `fetch`. */
function spyOnNativeHealth(answer?: (request: Request) => Promise<Response>) {
  const original = globalThis.fetch;
  const calls: Request[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).pathname.endsWith("/health")) {
      calls.push(request);
      if (answer) return answer(request);
    }
    return original(input, init);
  });
  return { calls, spy };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("GET /healthz (liveness)", () => {
  it("says ok and nothing else: no native origin, no settings", async () => {
    const response = await SELF.fetch("http://gw/healthz");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ status: "ok" });
    expect(text).not.toContain(env.NATIVE_API_BASE_URL);
  });

  it("calls neither native nor D1", async () => {
    const { spy } = spyOnNativeHealth();
    const prepare = vi.fn(() => {
      throw new Error("liveness must not touch D1");
    });
    const response = await app.fetch(new Request("http://gw/healthz"), { ...env, RESPONSE_INDEX: { prepare } as unknown as D1Database });
    expect(response.status).toBe(200);
    expect(spy).not.toHaveBeenCalled();
    expect(prepare).not.toHaveBeenCalled();
  });
});

describe("GET /readyz (readiness)", () => {
  it("answers 200 ready when the index schema and native answer, with check states only", async () => {
    const response = await SELF.fetch("http://gw/readyz");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-request-id")).toBeTruthy();
    const text = await response.text();
    const body = JSON.parse(text) as { checked_at: string };
    expect(body).toEqual({ status: "ready", checks: { index: "ok", native: "ok" }, checked_at: body.checked_at });
    expect(Number.isNaN(Date.parse(body.checked_at))).toBe(false);
    expect(text).not.toContain(env.NATIVE_API_BASE_URL);
    expect(text).not.toMatch(/127\.0\.0\.1|https?:/);
  });

  it("probes native without any caller's key, and a caller's key changes nothing", async () => {
    const { calls } = spyOnNativeHealth();
    const response = await readyz({}, { authorization: "Bearer sk-demo-caller-key" });
    expect(response.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.headers.get("authorization")).toBeNull();
    expect(calls[0]?.url).toBe(`${env.NATIVE_API_BASE_URL}/health`);
  });

  it("is not an amplifier: 50 concurrent anonymous requests, then 50 more, cost native one probe", async () => {
    const { calls } = spyOnNativeHealth();
    const settings = { ...env };
    const first = await Promise.all(Array.from({ length: 50 }, () => app.fetch(new Request("http://gw/readyz"), settings)));
    const second = await Promise.all(Array.from({ length: 50 }, () => app.fetch(new Request("http://gw/readyz"), settings)));
    expect([...first, ...second].map((response) => response.status)).toEqual(Array(100).fill(200));
    expect(calls).toHaveLength(1);
  });

  it("probes again once the cache window has passed", async () => {
    const { calls } = spyOnNativeHealth();
    const result = loadConfig({ ...env });
    if (!result.ok) throw new Error(result.problems.join("; "));
    let clock = 1_000_000;
    const now = () => clock;
    await readiness(result.config, "req_a", now);
    clock += READINESS_CACHE_MS - 1;
    await readiness(result.config, "req_b", now);
    expect(calls).toHaveLength(1);
    clock += 1;
    const fresh = await readiness(result.config, "req_c", now);
    expect(calls).toHaveLength(2);
    expect(fresh.checked_at).toBe(new Date(clock).toISOString());
  });

  it("a request waits for another request's probe by polling, and probes itself once that probe is taken as lost", async () => {
    // Waiters never await the prober's promise (workerd cancels a waiter whose promise another
    // request's I/O resolves): they poll, and a probe still unsettled after PROBE_LOST_MS — its
    // request cut off mid-probe — no longer holds them.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { calls } = spyOnNativeHealth(async () => {
      if (calls.length === 1) await held;
      return Response.json({ status: "ok" });
    });
    const result = loadConfig({ ...env });
    if (!result.ok) throw new Error(result.problems.join("; "));
    let clock = 1_000_000;
    const now = () => clock;
    const first = readiness(result.config, "req_a", now);
    for (let waited = 0; calls.length === 0 && waited < 2_000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toHaveLength(1);
    let secondDone = false;
    const second = readiness(result.config, "req_b", now).finally(() => (secondDone = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Still waiting for the first probe, without a probe of its own.
    expect(secondDone).toBe(false);
    expect(calls).toHaveLength(1);
    clock += PROBE_LOST_MS;
    const taken = await second;
    expect(calls).toHaveLength(2);
    expect(taken.status).toBe("ready");
    release();
    expect((await first).status).toBe("ready");
  });

  it("answers 503 not_ready with index: schema_missing when the migrations were not applied, and logs the fix", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    // Storage is per test file: parking the table here affects no other file.
    await env.RESPONSE_INDEX.prepare("ALTER TABLE response_index RENAME TO response_index_parked").run();
    try {
      const response = await readyz({ LOG_LEVEL: "info" }, { "x-request-id": "req-readiness-schema" });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: "not_ready", checks: { index: "schema_missing", native: "ok" } });
      expect(warn).toHaveBeenCalledTimes(1);
      const line = JSON.parse(String(warn.mock.calls[0]?.[0])) as Record<string, string>;
      expect(line).toMatchObject({ level: "warn", msg: "readiness", requestId: "req-readiness-schema" });
      expect(line.index).toContain("no such table");
      expect(line.index).toContain("wrangler d1 migrations apply RESPONSE_INDEX --remote");
    } finally {
      await env.RESPONSE_INDEX.prepare("ALTER TABLE response_index_parked RENAME TO response_index").run();
    }
  });

  it("counts a table without a column the gateway uses as schema_missing too", async () => {
    await env.RESPONSE_INDEX.prepare("ALTER TABLE response_index RENAME TO response_index_parked").run();
    await env.RESPONSE_INDEX.prepare("CREATE TABLE response_index (response_id TEXT PRIMARY KEY, native_run_id TEXT, created_at INTEGER, expires_at INTEGER)").run();
    try {
      const response = await readyz({});
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ checks: { index: "schema_missing" } });
    } finally {
      await env.RESPONSE_INDEX.prepare("DROP TABLE response_index").run();
      await env.RESPONSE_INDEX.prepare("ALTER TABLE response_index_parked RENAME TO response_index").run();
    }
  });

  it("answers index: unavailable when D1 fails otherwise", async () => {
    const broken = { prepare: () => ({ all: () => Promise.reject(new Error("D1_ERROR: Network connection lost")) }) } as unknown as D1Database;
    const response = await readyz({ RESPONSE_INDEX: broken });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: "not_ready", checks: { index: "unavailable", native: "ok" } });
  });

  it("answers native: unreachable / unhealthy / timeout, without the reason in the answer", async () => {
    // Nothing listens on port 9 (workerd prints a "Network connection lost" line for it; harmless).
    const unreachable = await readyz({ NATIVE_API_BASE_URL: "http://127.0.0.1:9" });
    expect(unreachable.status).toBe(503);
    expect(await unreachable.json()).toMatchObject({ checks: { index: "ok", native: "unreachable" } });

    // An origin whose /health is not 1flowbase's (here: the emulator under a wrong path prefix, a 404).
    const wrongPath = await readyz({ NATIVE_API_BASE_URL: `${env.NATIVE_API_BASE_URL}/not-1flowbase` });
    expect(await wrongPath.json()).toMatchObject({ checks: { native: "unhealthy" } });

    vi.restoreAllMocks();
    spyOnNativeHealth(async () => new Response("<html>welcome</html>", { status: 200, headers: { "content-type": "text/html" } }));
    const catchAll = await readyz({});
    expect(catchAll.status).toBe(503);
    const text = await catchAll.text();
    expect(JSON.parse(text)).toMatchObject({ checks: { native: "unhealthy" } });
    expect(text).not.toContain("welcome");

    vi.restoreAllMocks();
    spyOnNativeHealth(async () => new Response(JSON.stringify({ service: "api-server", status: "degraded" }), { status: 200 }));
    expect(await (await readyz({})).json()).toMatchObject({ checks: { native: "unhealthy" } });

    vi.restoreAllMocks();
    spyOnNativeHealth(
      (request) =>
        new Promise((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
        }),
    );
    const started = Date.now();
    const stalled = await readyz({});
    expect(await stalled.json()).toMatchObject({ checks: { native: "timeout" } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("answers the misconfiguration 500 (not a crash) when a setting is invalid", async () => {
    const response = await readyz({ NATIVE_API_BASE_URL: "not a url" });
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { code: "gateway_misconfigured" } });
  });
});
