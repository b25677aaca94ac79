/**
 * Worker configuration: bindings and vars, validated once per isolate with zod.
 *
 * A missing or malformed setting never crashes the worker: `loadConfig` returns the zod issues and
 * the app answers every request (but `/healthz`, which reports it) with a 500 JSON error that names
 * the setting, so an operator sees exactly what to fix.
 */
import * as z from "./zod";
import { lazySchema } from "./lazy";

/** Raw bindings as wrangler delivers them (vars are strings). */
export interface Env {
  NATIVE_API_BASE_URL?: string;
  RESPONSE_INDEX?: D1Database;
  MAX_BODY_BYTES?: string;
  MAX_DECOMPRESSED_BYTES?: string;
  NATIVE_HEADERS_TIMEOUT_MS?: string;
  NATIVE_BLOCKING_TIMEOUT_MS?: string;
  NATIVE_IDLE_TIMEOUT_MS?: string;
  NATIVE_FIRST_EVENT_TIMEOUT_MS?: string;
  NATIVE_PROGRESS_TIMEOUT_MS?: string;
  REQUEST_DEADLINE_MS?: string;
  NATIVE_MAX_RECORD_BYTES?: string;
  NATIVE_MAX_REQUEST_BYTES?: string;
  IDEMPOTENCY_TTL_SECONDS?: string;
  KEEPALIVE_INTERVAL_MS?: string;
  WEBSOCKET_IDLE_TIMEOUT_MS?: string;
  WEBSOCKET_MAX_CONNECTION_MS?: string;
  RESPONSE_INDEX_TTL_SECONDS?: string;
  RESPONSE_INDEX_PURGE_BATCH_ROWS?: string;
  RESPONSE_INDEX_PURGE_MAX_BATCHES?: string;
  PARAMETER_POLICY?: string;
  CORS_ALLOW_ORIGINS?: string;
  LOG_LEVEL?: string;
  MODEL_ALIASES?: string;
  GATEWAY_SIGNING_SECRET?: string;
  GATEWAY_SIGNING_SECRET_PREVIOUS?: string;
  /** Workers Static Assets (wrangler.toml `[assets]`): the generated API reference (routes/docs.ts). */
  ASSETS?: Fetcher;
}

/** One `MODEL_ALIASES` entry: a model name clients send (`*` at the end: any suffix) → a catalog id. */
export interface ModelAlias {
  readonly pattern: string;
  readonly prefix: boolean;
  readonly target: string;
}

const ALIAS_ENTRY = /^([^=*\s]+)(\*?)=(\S+)$/;

// One string → number chain for every numeric setting (zod schemas are immutable, so sharing is
// safe): the config is validated on a fresh isolate's first request, and each node costs it.
const wholeNumber = lazySchema(() => z.pipe(z.string().check(z.trim(), z.regex(/^\d+$/, "must be a whole number")), z.transform(Number)));

const intVar = (fallback: number, min: number, max: number) =>
  z.pipe(z.optional(z.pipe(wholeNumber, z.number().check(z.int(), z.gte(min), z.lte(max)))), z.transform((value) => value ?? fallback));

/** An optional secret: empty counts as absent; a short one is refused (a guessable HMAC key forges tokens). */
const signingSecret = lazySchema(() => z.pipe(
  z.pipe(z.optional(z.string()), z.transform((value) => value?.trim() || undefined)),
  z.optional(z.string().check(z.minLength(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)"))),
));

const ConfigSchema = lazySchema(() => z.object({
  NATIVE_API_BASE_URL: z.pipe(
    z.pipe(
      z.string({ error: "is required: the origin of the 1flowbase api-server, e.g. https://flow.example.com" }).check(z.trim()),
      z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://flow.example.com" }),
    ),
    // The gateway appends `/api/agent/v1/...`; a trailing slash would double it.
    z.transform((url) => url.replace(/\/+$/, "")),
  ),
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
  /**
   * From native's stream headers to its first event (`run.started`, or `run.failed` when the flow
   * cannot start). Native emits `run.started` as the flow starts (native-api.md §2.2), so this is far
   * shorter than the progress limit: a native that accepted the run and then sends only keepalives (or
   * nothing) is noticed in seconds, not minutes. Keepalives and unknown events do not count.
   */
  NATIVE_FIRST_EVENT_TIMEOUT_MS: intVar(30_000, 100, 3_600_000),
  /**
   * Longest wait for the next native event while the gateway waits for one. Keepalive comments,
   * unknown events and bytes of an unfinished line do NOT reset it (a native that only keeps the
   * connection warm, or trickles bytes, makes no progress). Generous, because a flow node that does not
   * stream (a slow tool, a reasoning model that hides its thinking) is legitimately silent for minutes;
   * 300 s is also Codex's stream idle timeout.
   */
  NATIVE_PROGRESS_TIMEOUT_MS: intVar(300_000, 100, 3_600_000),
  /**
   * Wall-clock bound of one gateway request's native work: every native call and stream of the request
   * ends by then, whatever native does (a stream that makes slow but steady progress forever included).
   * 30 min: three times the OpenAI and Anthropic SDKs' default 10 min request timeout, so only runaway
   * runs hit it.
   */
  REQUEST_DEADLINE_MS: intVar(1_800_000, 100, 86_400_000),
  /**
   * Cap on a native JSON run record (GET/cancel/resume replies, a replayed create) and the model list,
   * enforced while reading. A record carries the whole answer (`answer` and `answer_segments`), the
   * frozen input (native takes at most 2 MiB per request, native-api.md errata 3) and the tool-call
   * payload; 16 MiB holds a maximal input plus a 128k-token answer several times over, and stays far
   * from the isolate's 128 MB once decoded and parsed. Error bodies have a fixed 64 KiB cap.
   */
  NATIVE_MAX_RECORD_BYTES: intVar(16 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
  /**
   * Largest request body the 1flowbase api-server accepts: the fork configures no body limit, so
   * axum's default 2 MiB applies (native-api.md errata 3; plain-text 413 above it). The gateway checks
   * the *mapped* native body against it before sending — mapping can make a body larger — and
   * answers a clear 413 (Responses with `truncation: "auto"` drops the oldest turns instead). Raise it
   * only together with the api-server's own limit.
   */
  NATIVE_MAX_REQUEST_BYTES: intVar(2 * 1024 * 1024, 1024, 256 * 1024 * 1024),
  /** Keepalive cadence towards clients while native is idle (≤ 15 s, client-protocols.md §3.1). */
  KEEPALIVE_INTERVAL_MS: intVar(10_000, 10, 15_000),
  /**
   * A Responses WebSocket with no turn in flight and no client message for this long is closed (1000).
   * Default 10 min; OpenAI's own sockets live at most 60 min.
   */
  WEBSOCKET_IDLE_TIMEOUT_MS: intVar(600_000, 100, 3_600_000),
  /**
   * Longest life of one Responses WebSocket. OpenAI's own end after 60 minutes with the error
   * `websocket_connection_limit_reached` (WebSocket mode guide; Codex reconnects on it,
   * codex-rs/codex-api/src/endpoint/responses_websocket.rs): a turn running at the limit finishes,
   * later ones get that error and the socket closes (1000). Default 60 min; at most 24 h.
   */
  WEBSOCKET_MAX_CONNECTION_MS: intVar(3_600_000, 100, 24 * 3_600_000),
  /**
   * How long an `Idempotency-Key` names the run its first attempt started (a retry within it attaches
   * to that run). Default 24 h, the convention (Stripe); at least the clients' whole retry window.
   */
  IDEMPOTENCY_TTL_SECONDS: intVar(24 * 3600, 60, 30 * 24 * 3600),
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
  PARAMETER_POLICY: z.pipe(z.optional(z.enum(["lenient", "strict"])), z.transform((value) => value ?? "lenient")),
  /** Comma-separated CORS origins; empty = CORS off. */
  CORS_ALLOW_ORIGINS: z.pipe(z.optional(z.string()), z.transform((value) => (value ?? "").split(",").map((origin) => origin.trim()).filter(Boolean))),
  LOG_LEVEL: z.pipe(z.optional(z.enum(["debug", "info", "warn", "error", "off"])), z.transform((value) => value ?? "info")),
  /**
   * Model names clients send by default, mapped onto the application's catalog ids:
   * `claude-*=1flowbase, gpt-*=1flowbase` (first match wins; an exact name before a `*` prefix is the
   * operator's order). A model that is neither in the catalog nor aliased is a 404 `model_not_found`.
   */
  MODEL_ALIASES: z.pipe(z.optional(z.string()), z.transform((value, context): ModelAlias[] => {
      const aliases: ModelAlias[] = [];
      for (const entry of (value ?? "").split(",").map((part) => part.trim()).filter(Boolean)) {
        const match = ALIAS_ENTRY.exec(entry.replace(/\s*=\s*/, "="));
        if (!match?.[1] || !match[3]) {
          // zod/mini's transform context is the bare parse payload (no classic `addIssue`).
          context.issues.push({ code: "custom", message: `entry '${entry.slice(0, 80)}' must be name=catalog-id or prefix*=catalog-id`, input: value });
          return z.NEVER;
        }
        aliases.push({ pattern: match[1], prefix: match[2] === "*", target: match[3] });
      }
      return aliases;
    })),
  /**
   * The worker's HMAC key for the opaque tokens it hands to clients and must later trust: today the
   * `encrypted_content` of Responses compaction items (src/http/signing.ts). A wrangler secret
   * (`npx wrangler secret put GATEWAY_SIGNING_SECRET --env <tenant>`), at least 32 characters of
   * randomness (`openssl rand -base64 32`). Optional: without it `/v1/responses/compact` and
   * compaction items answer a 400 naming the setting, everything else works.
   */
  GATEWAY_SIGNING_SECRET: signingSecret,
  /** The previous signing secret during a rotation: tokens it signed still verify; nothing new is signed with it. */
  GATEWAY_SIGNING_SECRET_PREVIOUS: signingSecret,
}));

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

/** The timeouts the native client needs, from config. The optional ones are off when absent. */
export interface NativeTimeouts {
  headersMs: number;
  blockingMs: number;
  idleMs: number;
  /** Stream headers → first native event (keepalives do not count). */
  firstEventMs?: number;
  /** Longest wait for the next native event (keepalives and unknown events do not count). */
  progressMs?: number;
  /** Everything the client does (one client per gateway request), from its creation. */
  deadlineMs?: number;
}

export function nativeTimeouts(config: Config): NativeTimeouts {
  return {
    headersMs: config.NATIVE_HEADERS_TIMEOUT_MS,
    blockingMs: config.NATIVE_BLOCKING_TIMEOUT_MS,
    idleMs: config.NATIVE_IDLE_TIMEOUT_MS,
    firstEventMs: config.NATIVE_FIRST_EVENT_TIMEOUT_MS,
    progressMs: config.NATIVE_PROGRESS_TIMEOUT_MS,
    deadlineMs: config.REQUEST_DEADLINE_MS,
  };
}
