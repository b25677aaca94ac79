import { applyD1Migrations, env } from "cloudflare:test";

// Every test file starts with the ownership index schema applied (idempotent).
await applyD1Migrations(env.RESPONSE_INDEX, env.TEST_MIGRATIONS);
