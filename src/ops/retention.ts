/**
 * Index retention, run by the Cron Trigger (`[triggers] crons` in wrangler.toml): deletes the
 * ownership-index rows whose TTL (`RESPONSE_INDEX_TTL_SECONDS`, fixed per row when it is claimed)
 * has passed, in bounded batches (`RESPONSE_INDEX_PURGE_BATCH_ROWS` × at most
 * `RESPONSE_INDEX_PURGE_MAX_BATCHES` per run). Without it D1 grows without bound: an expired row is
 * already invisible to every route, but it is never deleted.
 *
 * One JSON log line per run: `index retention` (info) with the figures, a warning when the run
 * stopped at its bound (expired rows are left for the next run: raise the bound or run more often),
 * an error when the settings are invalid or D1 failed — then the run throws, so the dashboard's Cron
 * Events show it failed.
 */
import { loadConfig, type Env } from "../config";
import { purgeExpiredRows, type PurgeReport } from "../index-store";
import { PURGE_EXPIRED_KEYS_SQL } from "../index-store/idempotency";
import { logOps } from "./log";

/**
 * The `scheduled` handler's work.
 *
 * @example
 * export default { fetch: app.fetch, scheduled: (controller, env) => runIndexRetention(env, controller) };
 */
export async function runIndexRetention(env: Env, controller: Pick<ScheduledController, "cron" | "scheduledTime">): Promise<PurgeReport> {
  const result = loadConfig(env);
  if (!result.ok) {
    logOps("error", "index retention", { cron: controller.cron, error: "gateway misconfigured", problems: result.problems }, "info");
    throw new Error(`index retention: gateway misconfigured: ${result.problems.join("; ")}`);
  }
  const { config } = result;
  const started = Date.now();
  // The run's own clock, not the schedule's: a run delayed by the platform still purges up to now.
  const now = Math.floor(Date.now() / 1000);
  let report: PurgeReport;
  try {
    const limits = { batchRows: config.RESPONSE_INDEX_PURGE_BATCH_ROWS, maxBatches: config.RESPONSE_INDEX_PURGE_MAX_BATCHES, now };
    report = await purgeExpiredRows(config.RESPONSE_INDEX, limits);
    // Expired Idempotency-Key reservations go by the same bounds (index-store/idempotency.ts).
    const keys = await purgeExpiredRows(config.RESPONSE_INDEX, { ...limits, sql: PURGE_EXPIRED_KEYS_SQL });
    report = { ...report, idempotencyKeysDeleted: keys.deleted, complete: report.complete && keys.complete };
  } catch (error) {
    logOps("error", "index retention", { cron: controller.cron, error: String(error), durationMs: Date.now() - started }, config.LOG_LEVEL);
    throw error;
  }
  const fields = { cron: controller.cron, ...report, durationMs: Date.now() - started };
  if (report.complete) logOps("info", "index retention", fields, config.LOG_LEVEL);
  else logOps("warn", "index retention", { ...fields, note: "stopped at RESPONSE_INDEX_PURGE_MAX_BATCHES; expired rows remain for the next run" }, config.LOG_LEVEL);
  return report;
}
