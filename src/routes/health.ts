/**
 * `GET /healthz`: liveness. The worker runs and its configuration is valid — nothing more, and it
 * calls nothing (a liveness probe must not put load on 1flowbase or D1, and must not depend on a
 * caller's key). It needs no key, so it says nothing about the deployment either: no native origin,
 * no settings. Misconfiguration is answered by the config middleware in app.ts with the list of
 * problems (setting names and what is wrong with them, never their values). Whether the deployment
 * can serve runs is `GET /readyz` (src/routes/readiness.ts).
 */
import { Hono } from "hono/quick";
import type { GatewayEnv } from "../http/context";

export const healthRoutes = new Hono<GatewayEnv>();

healthRoutes.get("/healthz", (c) => c.json({ status: "ok" }, 200, { "cache-control": "no-store" }));
