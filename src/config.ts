/**
 * Worker configuration: bindings and vars, validated once per isolate with zod.
 *
 * A missing or malformed setting never crashes the worker: `loadConfig` returns the zod issues and
 * the app answers every request (but `/healthz`, which reports it) with a 500 JSON error that names
 * the setting, so an operator sees exactly what to fix.
 */
import * as z from "zod";

/** Raw bindings as wrangler delivers them (vars are strings). */
export interface Env {
  NATIVE_API_BASE_URL?: string;
  RESPONSE_INDEX?: D1Database;
  MAX_BODY_BYTES?: string;
  MAX_DECOMPRESSED_BYTES?: string;
  NATIVE_HEADERS_TIMEOUT_MS?: string;
  NATIVE_BLOCKING_TIMEOUT_MS?: string;
  NATIVE_IDLE_TIMEOUT_MS?: string;
  KEEPALIVE_INTERVAL_MS?: string;
  RESPONSE_INDEX_TTL_SECONDS?: string;
  RESPONSE_INDEX_PURGE_BATCH_ROWS?: string;
  RESPONSE_INDEX_PURGE_MAX_BATCHES?: string;
  PARAMETER_POLICY?: string;
  CORS_ALLOW_ORIGINS?: string;
  LOG_LEVEL?: string;
}

const intVar = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((value) => value ?? fallback);

const ConfigSchema = z.object({
  NATIVE_API_BASE_URL: z
    .string({ error: "is required: the origin of the 1flowbase api-server, e.g. https://flow.example.com" })
    .trim()
    .pipe(z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://flow.example.com" }))
    // The gateway appends `/api/agent/v1/...`; a trailing slash would double it.
    .transform((url) => url.replace(/\/+$/, "")),
  RESPONSE_INDEX: z.custom<D1Database>(
    (value) => typeof value === "object" && value !== null && typeof (value as { prepare?: unknown }).prepare === "function",
    { error: "is required: a D1 database binding named RESPONSE_INDEX" },
  ),
  /** Request body cap, enforced while reading (issue 7). Default 8 MiB. */
  MAX_BODY_BYTES: intVar(8 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  /** Cap on a decoded (Content-Encoding) body. Default 32 MiB. */
  MAX_DECOMPRESSED_BYTES: intVar(32 * 1024 * 1024, 1024, 256 * 1024 * 1024),
  /** Streaming create: time to native's response headers. */
  NATIVE_HEADERS_TIMEOUT_MS: intVar(30_000, 100, 600_000),
  /** Blocking create/resume hold the connection for the whole run (native-api.md §6). */
  NATIVE_BLOCKING_TIMEOUT_MS: intVar(600_000, 100, 3_600_000),
  /** Longest silence tolerated on a native stream (native keepalives every 15 s reset it). */
  NATIVE_IDLE_TIMEOUT_MS: intVar(120_000, 100, 3_600_000),
  /** Keepalive cadence towards clients while native is idle (≤ 15 s, client-protocols.md §3.1). */
  KEEPALIVE_INTERVAL_MS: intVar(10_000, 10, 15_000),
  /** How long a response id stays chainable/retrievable. Default 30 days. */
  RESPONSE_INDEX_TTL_SECONDS: intVar(30 * 24 * 3600, 60, 400 * 24 * 3600),
  /**
   * Retention (the Cron Trigger in wrangler.toml): rows deleted per DELETE statement. Each batch is
   * its own short write, so live claims interleave with a purge instead of queueing behind it.
   */
  RESPONSE_INDEX_PURGE_BATCH_ROWS: intVar(1000, 1, 10_000),
  /**
   * Retention: most batches per cron run, so one run stays bounded (D1 allows 50 queries per
   * invocation on the Free plan, 1,000 on Paid). A run that hits the bound logs a warning.
   */
  RESPONSE_INDEX_PURGE_MAX_BATCHES: intVar(20, 1, 1000),
  /** `lenient` (default): accepted-but-ignored params are reported in a header; `strict`: they are 400. */
  PARAMETER_POLICY: z.enum(["lenient", "strict"]).optional().transform((value) => value ?? "lenient"),
  /** Comma-separated CORS origins; empty = CORS off. */
  CORS_ALLOW_ORIGINS: z
    .string()
    .optional()
    .transform((value) => (value ?? "").split(",").map((origin) => origin.trim()).filter(Boolean)),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "off"]).optional().transform((value) => value ?? "info"),
});

export type Config = z.output<typeof ConfigSchema>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

let cached: { env: Env; result: ConfigResult } | undefined;

/** Validates `env` once per isolate (env is stable per isolate; tests pass fresh objects). */
export function loadConfig(env: Env): ConfigResult {
  if (cached && cached.env === env) return cached.result;
  const parsed = ConfigSchema.safeParse(env);
  const result: ConfigResult = parsed.success
    ? { ok: true, config: parsed.data }
    : {
        ok: false,
        problems: parsed.error.issues.map((issue) => `${issue.path.join(".") || "config"} ${issue.message}`),
      };
  cached = { env, result };
  return result;
}

/** The timeouts the native client needs, from config. */
export interface NativeTimeouts {
  headersMs: number;
  blockingMs: number;
  idleMs: number;
}

export function nativeTimeouts(config: Config): NativeTimeouts {
  return {
    headersMs: config.NATIVE_HEADERS_TIMEOUT_MS,
    blockingMs: config.NATIVE_BLOCKING_TIMEOUT_MS,
    idleMs: config.NATIVE_IDLE_TIMEOUT_MS,
  };
}
