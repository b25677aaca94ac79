/**
 * `GET /healthz`: says whether the configuration is valid, without calling native (a health probe
 * must not put load on 1flowbase or depend on a caller's key). Misconfiguration is answered by the
 * config middleware in app.ts with the list of problems.
 */
import { Hono } from "hono";
import type { GatewayEnv } from "../http/context";

export const healthRoutes = new Hono<GatewayEnv>();

healthRoutes.get("/healthz", (c) => {
  const config = c.get("config");
  return c.json({ status: "ok", native_api_base_url: config.NATIVE_API_BASE_URL, parameter_policy: config.PARAMETER_POLICY });
});
