/**
 * Structured JSON logs (Workers Logs / `observability` picks them up). One line per request with
 * request id, route, native run id, status and duration. Never keys, never content: callers pass
 * only the fields below.
 */
export interface RequestLogLine {
  requestId: string;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  nativeRunId?: string | undefined;
  stream?: boolean;
  outcome?: string;
}

export function logRequest(line: RequestLogLine, level: string): void {
  if (level === "off" || level === "error" || level === "warn") return;
  console.log(JSON.stringify({ level: "info", msg: "request", ...line }));
}
