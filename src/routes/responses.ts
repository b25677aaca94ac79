import { Hono } from "hono";
import type { GatewayEnv } from "../http/context";

// Being built in parallel; replaced by the protocol implementation.
export const responsesRoutes = new Hono<GatewayEnv>();
