/**
 * The document lists exactly the mounted routes: every route of `createApp()` (Hono's own route
 * list, middleware `/*` entries aside) is documented with its method, and every documented
 * operation is mounted. Aliases count as routes of their own.
 */
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { openApiDocument } from "../../src/docs/openapi";
import { openApiPath } from "./helpers";

const METHODS = new Set(["get", "post", "put", "patch", "delete", "head", "options"]);

function mountedRoutes(): string[] {
  const routes = createApp()
    .routes.filter((route) => !(route.method === "ALL" && route.path === "/*"))
    .map((route) => `${route.method.toUpperCase()} ${openApiPath(route.path)}`);
  return [...new Set(routes)].sort();
}

function documentedRoutes(): string[] {
  const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths)
    .flatMap(([path, item]) => Object.keys(item).filter((key) => METHODS.has(key)).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

describe("routes ⇄ document", () => {
  it("every mounted route is documented and every documented route is mounted", () => {
    const mounted = mountedRoutes();
    const documented = documentedRoutes();
    expect(mounted.filter((route) => !documented.includes(route)), "mounted but not documented").toEqual([]);
    expect(documented.filter((route) => !mounted.includes(route)), "documented but not mounted").toEqual([]);
    // The invariant-5 routes, spelled out, so a rename on both sides still gets noticed.
    for (const route of [
      "POST /v1/chat/completions",
      "POST /chat/completions",
      "POST /openai/v1/chat/completions",
      "GET /v1/models",
      "GET /models",
      "GET /openai/v1/models",
      "GET /v1/models/{model}",
      "GET /v1/chat/completions/models",
      "POST /v1/responses",
      "GET /v1/responses/{id}",
      "DELETE /v1/responses/{id}",
      "GET /v1/responses/{id}/input_items",
      "POST /v1/responses/{id}/cancel",
      "POST /v1/messages",
      "POST /v1/messages/count_tokens",
      "GET /healthz",
      "GET /readyz",
      "GET /openapi.json",
      "GET /docs",
    ]) {
      expect(documented).toContain(route);
    }
  });

  it("operation ids are unique and every $ref resolves", () => {
    const document = openApiDocument();
    const ids = Object.values(document.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) =>
      Object.values(item).map((operation) => operation.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
    const components = document.components as Record<string, Record<string, unknown>>;
    const text = JSON.stringify(document);
    for (const match of text.matchAll(/"\$ref":"#\/components\/([^/"]+)\/([^"]+)"/g)) {
      const [, kind = "", name = ""] = match;
      expect(components[kind]?.[name], `dangling $ref ${match[0]}`).toBeDefined();
    }
  });

  it("API routes require a key (bearer or x-api-key); health and the reference do not", () => {
    const document = openApiDocument();
    const schemes = (document.components as { securitySchemes: Record<string, Record<string, unknown>> }).securitySchemes;
    expect(schemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(schemes.apiKeyAuth).toMatchObject({ type: "apiKey", in: "header", name: "x-api-key" });
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, { security: unknown[] }>>)) {
      for (const operation of Object.values(item)) {
        const open = ["/healthz", "/readyz", "/openapi.json", "/docs"].includes(path);
        expect(operation.security, path).toEqual(open ? [] : [{ bearerAuth: [] }, { apiKeyAuth: [] }]);
      }
    }
  });
});
