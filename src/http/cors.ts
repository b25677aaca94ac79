/**
 * CORS for browser clients, on when `CORS_ALLOW_ORIGINS` lists origins.
 *
 * The official SDKs send many non-safelisted request headers, so every call from a browser is
 * preflighted, and one header missing from `Access-Control-Allow-Headers` fails the whole request
 * before it leaves the browser. Reading a response header the server did not expose gives `null`,
 * which silently breaks the SDKs' retry logic (`x-should-retry`, `retry-after`) and their request
 * ids. The lists below are what `openai` 7.57 and `@anthropic-ai/sdk` 1.12 send and read (their
 * `client.mjs` `buildHeaders`, `internal/detect-platform.mjs`, the helpers and resources that add
 * headers, and every `headers.get(…)`), plus what the gateway itself reads and sends.
 * `npm run test:browser` runs both SDKs in Chromium from another origin (a real preflight) and
 * checks every `x-stainless-*` header of the installed SDK sources against this list.
 *
 * The list is explicit rather than a reflection of `Access-Control-Request-Headers`: what a page
 * may send is part of the contract, and `Authorization` is never covered by a `*` wildcard anyway.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { IGNORED_PARAMS_HEADER, POLICY_MODE_HEADER } from "./policy";

/** Request headers a browser page may send (lower case; preflight matching is case-insensitive). */
export const CORS_ALLOW_HEADERS: readonly string[] = [
  // Read by the gateway.
  "authorization",
  "x-api-key",
  "content-type",
  "content-encoding",
  "x-request-id",
  "idempotency-key",
  POLICY_MODE_HEADER,
  "anthropic-version",
  "anthropic-beta",
  // Sent by both SDKs on every request (client.mjs buildHeaders, internal/detect-platform.mjs).
  "x-stainless-lang",
  "x-stainless-package-version",
  "x-stainless-os",
  "x-stainless-arch",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-retry-count",
  "x-stainless-timeout",
  // SDK helpers: openai `responses.stream()` / `chat.completions.stream()` / polling helpers,
  // Anthropic's tool runner and helper clients.
  "x-stainless-helper-method",
  "x-stainless-helper",
  "x-stainless-poll-helper",
  "x-stainless-custom-poll-interval",
  // openai: client options `organization` / `project`, beta resources.
  "openai-organization",
  "openai-project",
  "openai-beta",
  // @anthropic-ai/sdk: `dangerouslyAllowBrowser: true`, and the per-request params of
  // messages.create / countTokens that travel as headers.
  "anthropic-dangerous-direct-browser-access",
  "anthropic-workspace-id",
  "anthropic-user-profile-id",
];

/** Response headers a browser page may read (beyond the CORS-safelisted ones). */
export const CORS_EXPOSE_HEADERS: readonly string[] = [
  // Request ids: openai reads `x-request-id`, Anthropic `request-id` (`_request_id`, errors).
  "x-request-id",
  "request-id",
  // Retry decisions of both SDKs (`shouldRetry`, `calculateRetryDelay` in client.mjs).
  "x-should-retry",
  "retry-after",
  "retry-after-ms",
  IGNORED_PARAMS_HEADER,
  // Rate-limit and timing headers in each protocol's convention, exposed ahead of time so a
  // deployment that forwards them needs no second CORS change.
  "openai-processing-ms",
  "x-ratelimit-limit-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-requests",
  "x-ratelimit-reset-tokens",
  "anthropic-ratelimit-requests-limit",
  "anthropic-ratelimit-requests-remaining",
  "anthropic-ratelimit-requests-reset",
  "anthropic-ratelimit-tokens-limit",
  "anthropic-ratelimit-tokens-remaining",
  "anthropic-ratelimit-tokens-reset",
  "anthropic-ratelimit-input-tokens-limit",
  "anthropic-ratelimit-input-tokens-remaining",
  "anthropic-ratelimit-input-tokens-reset",
  "anthropic-ratelimit-output-tokens-limit",
  "anthropic-ratelimit-output-tokens-remaining",
  "anthropic-ratelimit-output-tokens-reset",
];

/** The methods of the gateway's routes. */
const CORS_ALLOW_METHODS = ["GET", "HEAD", "POST", "DELETE"];

/**
 * The CORS middleware for an allowlist (`*` allowed). No credentials: the SDKs authenticate with a
 * header, never with cookies.
 *
 * @example
 * app.use("*", (c, next) => corsFor(["https://app.example.com"])(c, next));
 */
export function corsFor(origins: readonly string[]): MiddlewareHandler {
  // The allowlist is one array per validated configuration: build the middleware (and its header
  // strings) once per isolate, not per request.
  let middleware = built.get(origins);
  if (!middleware) {
    middleware = build(origins);
    built.set(origins, middleware);
  }
  return middleware;
}

const built = new WeakMap<readonly string[], MiddlewareHandler>();

function build(origins: readonly string[]): MiddlewareHandler {
  return cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: CORS_ALLOW_METHODS,
    allowHeaders: [...CORS_ALLOW_HEADERS],
    exposeHeaders: [...CORS_EXPOSE_HEADERS],
    // Chromium caps a cached preflight at 2 h; 10 minutes keeps an allowlist change quick to apply.
    maxAge: 600,
  });
}
