/**
 * `GET /readyz`: readiness for an uptime monitor or a load balancer — 200 when the D1 ownership index
 * (with its schema) and 1flowbase both answer, 503 otherwise, with the state of each check. No key
 * needed; the probe runs at most once every few seconds per isolate (src/ops/readiness.ts), so the
 * route cannot be used to flood native or D1.
 */
import { Hono } from "hono/quick";
import type { GatewayEnv } from "../http/context";
import { readiness } from "../ops/readiness";

export const readinessRoutes = new Hono<GatewayEnv>();

readinessRoutes.get("/readyz", async (c) => {
  const report = await readiness(c.get("config"), c.get("requestId"));
  return c.json(report, report.status === "ready" ? 200 : 503, { "cache-control": "no-store" });
});
