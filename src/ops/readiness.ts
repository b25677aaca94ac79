/**
 * Readiness: can this deployment serve a run right now? Two checks, run in parallel:
 *   - index: the D1 ownership index answers and has the schema the gateway uses (a SELECT of every
 *     column it reads, `LIMIT 0`: it reads no row, and fails with "no such table/column" when the
 *     migrations were not applied — the first cause of a deployment that answers 503 on every create);
 *   - native: 1flowbase's own health check, `GET <NATIVE_API_BASE_URL>/health`, answers 2xx with
 *     `status: "ok"` (native-api.md §1.1, `lib.rs:59-73`). It needs no API key, so the probe never
 *     borrows a caller's key and costs native nothing but that one cheap route.
 *
 * The route needs no key (an uptime monitor has none), so it must not become an amplifier: the
 * result is computed at most once per `READINESS_CACHE_MS` per isolate and per configuration, and
 * concurrent callers share one probe in flight. However many anonymous requests arrive, an isolate
 * sends native at most one request every few seconds. The answer carries only check states: no
 * native origin, no error text (those go to the log, once per probe, with the request id).
 */
import type { Config } from "../config";
import { isSchemaMissing, MIGRATIONS_COMMAND, SCHEMA_PROBE_SQL } from "../index-store/schema";
import { logOps } from "./log";

export type IndexCheck = "ok" | "schema_missing" | "unavailable";
export type NativeCheck = "ok" | "unhealthy" | "unreachable" | "timeout";

export interface ReadinessReport {
  status: "ready" | "not_ready";
  checks: { index: IndexCheck; native: NativeCheck };
  /** When this isolate ran the checks (answers within `READINESS_CACHE_MS` reuse them). */
  checked_at: string;
}

/** How long one probe's result answers every readiness request of an isolate. */
export const READINESS_CACHE_MS = 5_000;
/** Each check's own deadline: an uptime monitor's timeout is typically 10 s or more. */
export const READINESS_CHECK_TIMEOUT_MS = 3_000;

interface CheckOutcome<T extends string> {
  state: T;
  /** For the log only: never in the answer. */
  detail?: string;
}

class CheckTimeout extends Error {}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function checkIndex(db: D1Database): Promise<CheckOutcome<IndexCheck>> {
  try {
    // The probe every create runs before native is called (index-store/schema.ts), with a deadline.
    await withDeadline(db.batch(SCHEMA_PROBE_SQL.map((sql) => db.prepare(sql))), READINESS_CHECK_TIMEOUT_MS);
    return { state: "ok" };
  } catch (error) {
    const detail = String(error);
    if (isSchemaMissing(error)) {
      return { state: "schema_missing", detail: `${detail} — run: ${MIGRATIONS_COMMAND}` };
    }
    return { state: "unavailable", detail };
  }
}

async function checkNative(baseUrl: string, requestId: string): Promise<CheckOutcome<NativeCheck>> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/health`, {
      headers: { accept: "application/json", "x-request-id": requestId },
      signal: AbortSignal.timeout(READINESS_CHECK_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return { state: timedOut ? "timeout" : "unreachable", detail: String(error) };
  }
  try {
    const text = await withDeadline(response.text(), READINESS_CHECK_TIMEOUT_MS);
    if (!response.ok) return { state: "unhealthy", detail: `GET /health answered ${response.status}` };
    let status: unknown;
    try {
      status = (JSON.parse(text) as { status?: unknown }).status;
    } catch {
      status = undefined;
    }
    // A proxy's catch-all page answering 200 is not 1flowbase: only native's own health body counts.
    if (status !== "ok") return { state: "unhealthy", detail: `GET /health answered ${response.status} without status "ok"` };
    return { state: "ok" };
  } catch (error) {
    return { state: error instanceof CheckTimeout ? "timeout" : "unreachable", detail: String(error) };
  }
}

async function probe(config: Config, requestId: string, now: () => number): Promise<ReadinessReport> {
  const started = now();
  const [index, native] = await Promise.all([checkIndex(config.RESPONSE_INDEX), checkNative(config.NATIVE_API_BASE_URL, requestId)]);
  const report: ReadinessReport = {
    status: index.state === "ok" && native.state === "ok" ? "ready" : "not_ready",
    checks: { index: index.state, native: native.state },
    checked_at: new Date(started).toISOString(),
  };
  if (report.status !== "ready") {
    logOps(
      "warn",
      "readiness",
      {
        requestId,
        checks: report.checks,
        ...(index.detail ? { index: index.detail } : {}),
        ...(native.detail ? { native: native.detail } : {}),
        durationMs: now() - started,
      },
      config.LOG_LEVEL,
    );
  }
  return report;
}

interface CacheEntry {
  /** When the probe started; the entry answers until `at + READINESS_CACHE_MS`. */
  at: number;
  /** The probe's report once it has settled; null while it runs. */
  report: ReadinessReport | null;
}

/** How often a request waiting for another request's probe looks for its report. */
const PROBE_POLL_MS = 10;
/** A probe still unsettled after both checks' deadlines (and slack) is taken as lost: probe again. */
export const PROBE_LOST_MS = 2 * READINESS_CHECK_TIMEOUT_MS + 1_000;

/**
 * Keyed by the validated configuration (one object per isolate and env, see `loadConfig`), so a test
 * or an isolate serving two configurations never reads another one's result.
 */
const cache = new WeakMap<Config, CacheEntry>();

/**
 * The readiness of the deployment `config` describes, probed at most once per `READINESS_CACHE_MS`.
 *
 * @example
 * const report = await readiness(c.get("config"), c.get("requestId"));
 * return c.json(report, report.status === "ready" ? 200 : 503);
 */
export async function readiness(config: Config, requestId: string, now: () => number = Date.now): Promise<ReadinessReport> {
  // Concurrent requests share one probe (an anonymous endpoint must not multiply native's load), but
  // never its promise: a waiter polls this isolate's plain state instead. A promise resolved by
  // another request's I/O runs its waiters in that request's context, and workerd cancels them when
  // it ends — the waiting request hangs until the runtime answers 500 (routes/run-steps.ts
  // `applicationCatalog`, where `npm run bench` caught it).
  for (;;) {
    const entry = cache.get(config);
    const time = now();
    const age = entry ? time - entry.at : Number.NaN;
    if (entry?.report && age >= 0 && age < READINESS_CACHE_MS) return entry.report;
    if (entry && entry.report === null && age >= 0 && age < PROBE_LOST_MS) {
      await new Promise((resolve) => setTimeout(resolve, PROBE_POLL_MS));
      continue;
    }
    const mine: CacheEntry = { at: time, report: null };
    cache.set(config, mine);
    try {
      const report = await probe(config, requestId, now);
      if (cache.get(config) === mine) mine.report = report;
      return report;
    } finally {
      // A probe that threw leaves no entry for others to wait on.
      if (cache.get(config) === mine && mine.report === null) cache.delete(config);
    }
  }
}
