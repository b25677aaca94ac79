/**
 * Structured JSON lines for the operator-facing jobs (readiness, retention), in the same shape as
 * the request log line (`level`, `msg`, fields), so Workers Logs can filter them by `msg`.
 * `LOG_LEVEL` applies: `info` lines need `info` or `debug`, `warn` lines anything but `error`/`off`,
 * `error` lines anything but `off`. Callers pass only fields that carry no key and no content.
 */
export type OpsLogLevel = "info" | "warn" | "error";

const RANK: Readonly<Record<string, number>> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

export function logOps(level: OpsLogLevel, msg: string, fields: Readonly<Record<string, unknown>>, configured: string): void {
  if ((RANK[level] ?? 1) < (RANK[configured] ?? 1)) return;
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
