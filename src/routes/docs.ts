/**
 * `GET /openapi.json` and `GET /docs`: the API reference, no API key needed (it documents the
 * gateway, not an application). Both bodies are built once per isolate (`src/docs/openapi.ts`).
 *
 * The page is self-contained and its Content-Security-Policy says so: no script, style, font or
 * image may come from anywhere but the page itself, so a gateway on a network without internet
 * access serves a complete reference, and nothing on the page can phone home.
 */
import { Hono } from "hono/quick";
import { openApiDocument, openApiJson } from "../docs/openapi";
import { renderDocsPage } from "../docs/page";
import type { GatewayEnv } from "../http/context";

export const docsRoutes = new Hono<GatewayEnv>();

const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let page: string | undefined;

docsRoutes.get("/openapi.json", () => new Response(openApiJson(), { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "public, max-age=300" } }));

docsRoutes.get("/docs", () => {
  page ??= renderDocsPage(openApiDocument());
  return new Response(page, {
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": DOCS_CSP, "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" },
  });
});
