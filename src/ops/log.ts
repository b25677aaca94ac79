/**
 * Structured JSON lines for the operator-facing jobs (readiness, retention), in the same shape as
 * the request log line (`level`, `msg`, fields; src/http/log.ts), so Workers Logs can filter them by
 * `msg`. `LOG_LEVEL` applies by rank. Callers pass only fields that carry no key and no content.
 */
import { writeLogLine, type LogLevel } from "../http/log";

export type OpsLogLevel = LogLevel;

export function logOps(level: OpsLogLevel, msg: string, fields: Readonly<Record<string, unknown>>, configured: string): void {
  writeLogLine(level, msg, fields, configured);
}
