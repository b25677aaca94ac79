/**
 * Worker entry: `fetch` is the Hono app; `scheduled` is the Cron Trigger of wrangler.toml
 * (`[triggers] crons`), which purges expired ownership-index rows (src/ops/retention.ts).
 */
import { createApp } from "./app";
import type { Env } from "./config";
import { runIndexRetention } from "./ops/retention";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await runIndexRetention(env, controller);
  },
} satisfies ExportedHandler<Env>;
