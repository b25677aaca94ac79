/**
 * Builds the Hono app. Middleware order, readable in one place:
 *   1. request id (echoed as `x-request-id`) and the protocol family of the path (error envelope)
 *   2. request log line (after the response)
 *   3. config validation (a clear 500 naming the setting; `/healthz` reports instead)
 *   4. CORS (off unless CORS_ALLOW_ORIGINS lists origins)
 *   5. routes: health (liveness) and readiness, OpenAI Chat + models, OpenAI Responses (HTTP and WebSocket), Anthropic Messages, API reference
 *   6. JSON 404 and error rendering in the family's envelope
 */
// hono/quick: the same Hono with a LinearRouter (TrieRouter for what it cannot take). Hono's default
// RegExpRouter compiles every route into one matcher on the first request — ~2 ms of a fresh
// isolate's first request, for ~30 routes that a linear scan matches in microseconds (issue 19).
import { Hono } from "hono/quick";
import { routePath } from "hono/route";
import { loadConfig } from "./config";
import type { GatewayEnv } from "./http/context";
import { corsFor } from "./http/cors";
import { registerExtraEncodings } from "./http/encodings";
import { errorResponse, GatewayError, toGatewayError, type ProtocolFamily } from "./http/errors";
import { RequestLog } from "./http/log";
import { requestIdFrom } from "./http/request-id";
import { chatRoutes } from "./routes/chat";
import { docsRoutes } from "./routes/docs";
import { healthRoutes } from "./routes/health";
import { messagesRoutes } from "./routes/messages";
import { modelRoutes } from "./routes/models";
import { readinessRoutes } from "./routes/readiness";
import { responsesRoutes } from "./routes/responses";
import { responsesCompactRoutes } from "./routes/responses-compact";
import { responsesSocketRoutes } from "./routes/responses-ws";

/** Anthropic clients get Anthropic envelopes; everything else speaks OpenAI. */
export function familyForPath(path: string): ProtocolFamily {
  return path.startsWith("/v1/messages") ? "anthropic" : "openai";
}

/**
 * The family of one request: by path, and on the shared model routes by client — Anthropic's SDK
 * and Claude Code send `anthropic-version` on every request (OpenAI's never do), and `GET /v1/models`
 * is a route of both APIs.
 */
export function familyFor(path: string, headers: Headers): ProtocolFamily {
  if (headers.has("anthropic-version") && /^\/v1\/models(\/|$)/.test(path)) return "anthropic";
  return familyForPath(path);
}

const DOCS_PATHS: ReadonlySet<string> = new Set(["/docs", "/openapi.json"]);

export function createApp(): Hono<GatewayEnv> {
  registerExtraEncodings();
  const app = new Hono<GatewayEnv>();

  app.use("*", async (c, next) => {
    const started = Date.now();
    const requestId = requestIdFrom(c.req.raw.headers);
    const log = new RequestLog(requestId, c.req.method, c.req.path, () => c.get("config")?.LOG_LEVEL ?? "info");
    c.set("requestId", requestId);
    c.set("family", familyFor(c.req.path, c.req.raw.headers));
    c.set("log", log);
    await next();
    c.res.headers.set("x-request-id", requestId);
    // What OpenAI's API sends on every answer: the server's time to the response headers.
    if (c.get("family") === "openai") c.res.headers.set("openai-processing-ms", String(Date.now() - started));
    // Native's rate-limit headers, in the family's convention (http/rate-limit.ts).
    const limits = c.get("rateLimits")?.headersFor(c.get("family")) ?? {};
    for (const [name, value] of Object.entries(limits)) c.res.headers.set(name, value);
    // Written now for a JSON answer; a stream's line waits for the end of its body (http/log.ts).
    log.responded(c.res.status, routePath(c, -1) || c.req.path, (c.res.headers.get("content-type") ?? "").startsWith("text/event-stream"));
  });

  app.use("*", async (c, next) => {
    const result = loadConfig(c.env ?? {});
    if (!result.ok) {
      if (c.req.path === "/healthz") {
        return c.json({ status: "misconfigured", problems: result.problems }, 500);
      }
      // The reference documents the gateway, not a deployment: it needs no setting, and it is what
      // an operator fixing the settings reads.
      if (DOCS_PATHS.has(c.req.path)) return next();
      throw GatewayError.permanentFault("gateway_misconfigured", `gateway misconfigured: ${result.problems.join("; ")}`);
    }
    c.set("config", result.config);
    await next();
  });

  app.use("*", async (c, next) => {
    // No config only on the docs routes of a misconfigured deployment: no CORS there.
    const origins = c.get("config")?.CORS_ALLOW_ORIGINS ?? [];
    if (origins.length === 0) return next();
    // What the official SDKs send and read from a browser: src/http/cors.ts.
    return corsFor(origins)(c, next);
  });

  app.route("/", healthRoutes);
  app.route("/", readinessRoutes);
  app.route("/", modelRoutes);
  app.route("/", chatRoutes);
  app.route("/", responsesRoutes);
  app.route("/", responsesCompactRoutes);
  app.route("/", responsesSocketRoutes);
  app.route("/", messagesRoutes);
  app.route("/", docsRoutes);

  app.notFound((c) =>
    errorResponse(
      new GatewayError({ status: 404, message: `no route for ${c.req.method} ${c.req.path}`, code: "not_found" }),
      c.get("family") ?? familyFor(c.req.path, c.req.raw.headers),
      c.get("requestId") ?? null,
    ),
  );

  app.onError((error, c) => {
    const gatewayError = toGatewayError(error);
    // The request line carries the failure, at the level its origin implies: an upstream's failure
    // is a warning with the upstream's code, only the gateway's own faults are errors (http/log.ts).
    c.get("log")?.failed(gatewayError, error);
    return errorResponse(gatewayError, c.get("family") ?? familyFor(c.req.path, c.req.raw.headers), c.get("requestId") ?? null);
  });

  return app;
}
