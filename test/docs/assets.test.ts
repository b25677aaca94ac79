/**
 * The API reference is generated at build time (scripts/build-docs.ts) and served from Workers Static
 * Assets through the worker (src/routes/docs.ts, `run_worker_first`): the answers keep every header
 * the routes sent when the worker rendered them, plus what the app adds to every answer (request id,
 * the deployment's CORS), and a missing binding or an unbuilt reference is a clear 500, not a crash.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { openApiDocument, openApiJson } from "../../src/docs/openapi";
import { renderDocsPage } from "../../src/docs/page";
import { GATEWAY } from "./helpers";

const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

describe("the reference as served from static assets", () => {
  it("/openapi.json: the generated document, byte for byte, with the route's headers", async () => {
    const response = await SELF.fetch(`${GATEWAY}/openapi.json`, { headers: { "x-request-id": "docs-req-1" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(response.headers.get("x-request-id")).toBe("docs-req-1");
    expect(response.headers.get("openai-processing-ms")).toMatch(/^\d+$/);
    expect(response.headers.get("etag")).toBeTruthy();
    // Built from the schemas as they are now (test/global-setup.ts regenerates it before every run).
    expect(await response.text()).toBe(openApiJson());
  });

  it("/docs: the generated page with its CSP, nosniff and caching", async () => {
    const response = await SELF.fetch(`${GATEWAY}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("content-security-policy")).toBe(DOCS_CSP);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(response.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    expect(await response.text()).toBe(renderDocsPage(openApiDocument()));
  });

  it("a revalidation with the ETag is a 304 without a body, with the same headers", async () => {
    for (const path of ["/openapi.json", "/docs"]) {
      const first = await SELF.fetch(`${GATEWAY}${path}`);
      await first.arrayBuffer();
      const etag = first.headers.get("etag") ?? "";
      const again = await SELF.fetch(`${GATEWAY}${path}`, { headers: { "if-none-match": etag } });
      expect(again.status, path).toBe(304);
      expect(await again.text()).toBe("");
      expect(again.headers.get("etag")).toBe(etag);
      expect(again.headers.get("cache-control")).toBe("public, max-age=300");
      const changed = await SELF.fetch(`${GATEWAY}${path}`, { headers: { "if-none-match": '"not-the-current-one"' } });
      expect(changed.status, path).toBe(200);
      expect((await changed.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it("HEAD answers the headers without the body", async () => {
    const response = await SELF.fetch(`${GATEWAY}/openapi.json`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await response.text()).toBe("");
  });

  it("other origins read /openapi.json when the deployment's CORS_ALLOW_ORIGINS lists them (a request-time setting)", async () => {
    const app = createApp();
    const page = "https://tools.example.com";
    const allowed = await app.fetch(new Request(`${GATEWAY}/openapi.json`, { headers: { origin: page } }), { ...env, CORS_ALLOW_ORIGINS: page });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(page);
    expect(allowed.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(((await allowed.json()) as { openapi: string }).openapi).toBe("3.1.0");
    const preflight = await app.fetch(
      new Request(`${GATEWAY}/openapi.json`, { method: "OPTIONS", headers: { origin: page, "access-control-request-method": "GET" } }),
      { ...env, CORS_ALLOW_ORIGINS: page },
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(page);
    const anyone = await app.fetch(new Request(`${GATEWAY}/openapi.json`, { headers: { origin: page } }), { ...env, CORS_ALLOW_ORIGINS: "*" });
    expect(anyone.headers.get("access-control-allow-origin")).toBe("*");
    await anyone.arrayBuffer();
    const off = await app.fetch(new Request(`${GATEWAY}/openapi.json`, { headers: { origin: page } }), { ...env, CORS_ALLOW_ORIGINS: "" });
    expect(off.status).toBe(200);
    expect(off.headers.get("access-control-allow-origin")).toBeNull();
    await off.arrayBuffer();
  });

  it("a deployment without the ASSETS binding gets a 500 naming it", async () => {
    const { ASSETS: _assets, ...withoutAssets } = env;
    const response = await createApp().fetch(new Request(`${GATEWAY}/docs`), withoutAssets);
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string; type: string } };
    expect(body.error).toMatchObject({ code: "gateway_misconfigured", type: "server_error" });
    expect(body.error.message).toContain("ASSETS");
    expect(response.headers.get("x-should-retry")).toBe("false");
  });

  it("a reference that was not built is a 500 saying how to build it", async () => {
    const empty = { fetch: async () => new Response("not found", { status: 404 }) } as unknown as Fetcher;
    const response = await createApp().fetch(new Request(`${GATEWAY}/openapi.json`), { ...env, ASSETS: empty });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("reference_not_built");
    expect(body.error.message).toContain("npm run build:docs");
  });

  // SELF is the worker's own fetch handler (vitest-pool-workers), not Cloudflare's asset router: this
  // shows the worker has no route for the file name. That the router sends /docs.html to the worker
  // at all (run_worker_first) is checked against `wrangler dev` by test/ops/dev.test.mjs, and in
  // every environment's config by scripts/check-deploy.ts.
  it("only the two routes read the assets: the page's file name is not a path of its own", async () => {
    const response = await SELF.fetch(`${GATEWAY}/docs.html`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});
