/**
 * `GET /openapi.json` and `GET /docs`: the API reference, no API key needed (it documents the
 * gateway, not an application).
 *
 * Both bodies are generated at build time (`npm run build:docs`, scripts/build-docs.ts, from the
 * same zod schemas the routes validate with: src/docs) into generated/reference/ and deployed as
 * Workers Static Assets (wrangler.toml `[assets]`, binding `ASSETS`). The worker does not carry
 * them: the reference and the JSON Schema conversion behind it were ≈ 15 KiB of the gzipped bundle
 * (issue 19). `run_worker_first = true` sends every request here first, so these two routes keep
 * what the app adds to every answer — `x-request-id`, `openai-processing-ms`, and CORS from the
 * deployment's `CORS_ALLOW_ORIGINS`, a request-time setting a static `_headers` file cannot follow —
 * and no other path of the asset directory is reachable.
 *
 * The page is self-contained and its Content-Security-Policy says so: no script, style, font or
 * image may come from anywhere but the page itself, so a gateway on a network without internet
 * access serves a complete reference, and nothing on the page can phone home.
 */
import { Hono } from "hono/quick";
import type { GatewayContext, GatewayEnv } from "../http/context";
import { GatewayError } from "../http/errors";

/** Where scripts/build-docs.ts writes the reference, and the asset path of each file in it. */
export const REFERENCE_DIR = "generated/reference";
export const REFERENCE_ASSETS = { document: "/openapi.json", page: "/docs.html" } as const;

export const docsRoutes = new Hono<GatewayEnv>();

const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CACHE_CONTROL = "public, max-age=300";

docsRoutes.get("/openapi.json", (c) => fromAssets(c, REFERENCE_ASSETS.document, { "content-type": "application/json; charset=utf-8", "cache-control": CACHE_CONTROL }));

docsRoutes.get("/docs", (c) =>
  fromAssets(c, REFERENCE_ASSETS.page, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": DOCS_CSP,
    "cache-control": CACHE_CONTROL,
    "x-content-type-options": "nosniff",
  }),
);

/**
 * The generated file at `assetPath` with the route's own headers. The asset server's content type
 * and caching are replaced by the ones these routes have always sent; its ETag is kept, and the
 * client's conditional headers are passed on, so a revalidation is a 304 without a body.
 */
async function fromAssets(c: GatewayContext, assetPath: string, headers: Record<string, string>): Promise<Response> {
  const assets = c.env?.ASSETS;
  if (!assets) {
    throw GatewayError.permanentFault("gateway_misconfigured", "the API reference is served from static assets, and this deployment has no ASSETS binding (wrangler.toml [assets])");
  }
  const conditional = new Headers();
  for (const name of ["if-none-match", "if-modified-since"]) {
    const value = c.req.header(name);
    if (value !== undefined) conditional.set(name, value);
  }
  const asset = await assets.fetch(new Request(new URL(assetPath, c.req.url), { method: c.req.method, headers: conditional }));
  if (asset.status !== 200 && asset.status !== 304) {
    await asset.body?.cancel();
    throw GatewayError.permanentFault(
      "reference_not_built",
      `the API reference was not built into this deployment (asset ${assetPath}: ${asset.status}); \`npm run build:docs\` generates it, and wrangler's [build] runs it on every deploy`,
    );
  }
  const out = new Headers(headers);
  const etag = asset.headers.get("etag");
  if (etag) out.set("etag", etag);
  return new Response(asset.status === 304 ? null : asset.body, { status: asset.status, headers: out });
}
