/**
 * Per-request context shared by all routes: Hono variables and the caller (key, native client,
 * ownership index). Routes stay thin: parse → map → call native → project → respond.
 */
import type { Context } from "hono";
import type { Config, Env } from "../config";
import { nativeTimeouts } from "../config";
import { checkIndexSchema, createOwnershipIndex, type OwnershipIndex } from "../index-store";
import { createIdempotencyStore, type IdempotencyStore } from "../index-store/idempotency";
import { createNativeClient, type NativeClient } from "../native/client";
import { extractApiKey, keyFingerprint } from "./auth";
import type { ProtocolFamily } from "./errors";
import type { RequestLog } from "./log";
import { RateLimitCapture } from "./rate-limit";

export interface GatewayVariables {
  requestId: string;
  config: Config;
  family: ProtocolFamily;
  /** The request's log line, filled in as it goes (routes set its model and native run id). */
  log: RequestLog;
  /** Native's rate-limit headers, passed on by the middleware (http/rate-limit.ts); set by `callerOf`. */
  rateLimits: RateLimitCapture | undefined;
}

export type GatewayEnv = { Bindings: Env; Variables: GatewayVariables };
export type GatewayContext = Context<GatewayEnv>;

export interface Caller {
  readonly apiKey: string;
  readonly requestId: string;
  readonly config: Config;
  /** The log line this caller's work is reported on (the request's; a WebSocket turn's own). */
  readonly log: RequestLog;
  /** Aborts when the client has gone away (the request's signal; a WebSocket turn's socket closing). */
  readonly signal: AbortSignal;
  /** Native, on the caller's behalf: its calls end when the client goes away. */
  readonly native: NativeClient;
  readonly index: OwnershipIndex;
  readonly idempotency: IdempotencyStore;
  /** SHA-256 of the key (computed once, lazily). */
  fingerprint(): Promise<string>;
  /**
   * Native for work that must outlive the client (cancelling the run of a client that went away):
   * not tied to the request's abort signal, still bounded by the request deadline.
   */
  detachedNative(): NativeClient;
  /** Keeps `work` running after the response (`ctx.waitUntil`); its failure is logged, never thrown. */
  background(work: Promise<unknown>): void;
  /**
   * Resolves once D1 is known to have the gateway's schema: awaited before a create that will write
   * to D1 calls native, so a deployment whose migrations were never applied answers a non-retryable
   * 500 before any native run exists (index-store/schema.ts). Checked once per isolate and
   * configuration; the first call starts the check (call it early to overlap it with other work).
   */
  indexReady(): Promise<void>;
}

/** Configurations whose D1 was seen to have the schema (a failure is not remembered: the next request checks again). */
const schemaSeen = new WeakSet<Config>();

/**
 * One unit of work on a request that outlives its response: a turn on a WebSocket opened by the
 * request (routes/responses-ws.ts) has its own request id, log line and cancellation.
 */
export interface CallerScope {
  requestId: string;
  log: RequestLog;
  signal: AbortSignal;
}

/** Authenticates the request (401 when no key) and builds the caller's clients (for `scope`, when given). */
export function callerOf(c: GatewayContext, scope?: CallerScope): Caller {
  const apiKey = extractApiKey(c.req.raw.headers);
  const config = c.get("config");
  const requestId = scope?.requestId ?? c.get("requestId");
  const signal = scope?.signal ?? c.req.raw.signal;
  let fingerprint: Promise<string> | undefined;
  let detached: NativeClient | undefined;
  let schemaCheck: Promise<void> | undefined;
  const rateLimits = new RateLimitCapture();
  c.set("rateLimits", rateLimits);
  const background = (work: Promise<unknown>): void => {
    const logged = work.catch((error: unknown) => {
      console.warn(JSON.stringify({ level: "warn", msg: "background task failed", requestId, error: String(error) }));
    });
    try {
      c.executionCtx.waitUntil(logged);
    } catch {
      // No execution context (app.request() in tests): the promise runs on by itself.
    }
  };
  const nativeOptions = {
    baseUrl: config.NATIVE_API_BASE_URL,
    apiKey,
    requestId,
    timeouts: nativeTimeouts(config),
    maxRecordBytes: config.NATIVE_MAX_RECORD_BYTES,
    maxRequestBytes: config.NATIVE_MAX_REQUEST_BYTES,
    onResponse: rateLimits.read,
    background,
  };
  return {
    apiKey,
    requestId,
    config,
    log: scope?.log ?? c.get("log"),
    signal,
    native: createNativeClient({ ...nativeOptions, signal }),
    index: createOwnershipIndex(config.RESPONSE_INDEX, config.RESPONSE_INDEX_TTL_SECONDS),
    idempotency: createIdempotencyStore(config.RESPONSE_INDEX, config.IDEMPOTENCY_TTL_SECONDS),
    fingerprint: () => (fingerprint ??= keyFingerprint(apiKey)),
    detachedNative: () => (detached ??= createNativeClient(nativeOptions)),
    background,
    indexReady: () => {
      if (schemaSeen.has(config)) return Promise.resolve();
      schemaCheck ??= checkIndexSchema(config.RESPONSE_INDEX).then(() => {
        schemaSeen.add(config);
      });
      return schemaCheck;
    },
  };
}
