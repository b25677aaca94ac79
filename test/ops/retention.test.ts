/**
 * Index retention (issue 16, item 5): the Cron Trigger's `scheduled` handler deletes expired
 * ownership-index rows in bounded batches and leaves live rows alone.
 */
import { createScheduledController, env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { createOwnershipIndex, PURGE_EXPIRED_SQL, purgeExpiredRows } from "../../src/index-store";

const OWNER = "f".repeat(64);
const now = () => Math.floor(Date.now() / 1000);

async function insertRows(prefix: string, count: number, expiresAt: number): Promise<void> {
  const statement = env.RESPONSE_INDEX.prepare(
    "INSERT INTO response_index (response_id, native_run_id, owner_fingerprint, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
  );
  await env.RESPONSE_INDEX.batch(
    Array.from({ length: count }, (_, i) => statement.bind(`${prefix}_${i}`, `run_${prefix}_${i}`, OWNER, expiresAt - 60, expiresAt)),
  );
}

async function countRows(prefix: string): Promise<number> {
  const row = await env.RESPONSE_INDEX.prepare("SELECT count(*) AS n FROM response_index WHERE response_id LIKE ?1 ESCAPE '\\'")
    .bind(`${prefix}\\_%`)
    .first<{ n: number }>();
  return row?.n ?? -1;
}

beforeEach(async () => {
  await env.RESPONSE_INDEX.prepare("DELETE FROM response_index").run();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("purgeExpiredRows", () => {
  it("deletes exactly the rows resolve already treats as absent, in batches of batchRows", async () => {
    const t = now();
    await insertRows("old", 7, t - 1);
    await insertRows("edge", 1, t); // expires_at == now: resolve says absent (expires_at > now), so it goes
    await insertRows("live", 3, t + 1);
    const report = await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 3, maxBatches: 10, now: t });
    expect(report).toEqual({ deleted: 8, batches: 3, complete: true });
    expect(await countRows("old")).toBe(0);
    expect(await countRows("edge")).toBe(0);
    expect(await countRows("live")).toBe(3);
  });

  it("stops at maxBatches and says the purge is incomplete; the next run continues", async () => {
    const t = now();
    await insertRows("backlog", 10, t - 100);
    const first = await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 2, maxBatches: 3, now: t });
    expect(first).toEqual({ deleted: 6, batches: 3, complete: false });
    expect(await countRows("backlog")).toBe(4);
    const second = await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 2, maxBatches: 3, now: t });
    // 2 + 2, then a short batch (0 rows) proves nothing is left.
    expect(second).toEqual({ deleted: 4, batches: 3, complete: true });
    expect(await countRows("backlog")).toBe(0);
  });

  it("deletes the oldest expiries first, so a bounded run makes steady progress", async () => {
    const t = now();
    await insertRows("older", 2, t - 1000);
    await insertRows("newer", 2, t - 10);
    await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 2, maxBatches: 1, now: t });
    expect(await countRows("older")).toBe(0);
    expect(await countRows("newer")).toBe(2);
  });

  it("finds a batch through the expiry index, not a table scan", async () => {
    const plan = await env.RESPONSE_INDEX.prepare(`EXPLAIN QUERY PLAN ${PURGE_EXPIRED_SQL}`).bind(now(), 10).all<{ detail: string }>();
    const details = plan.results.map((row) => row.detail);
    expect(details.some((detail) => /USING (COVERING )?INDEX response_index_expiry/.test(detail)), details.join(" | ")).toBe(true);
    expect(details.some((detail) => /^SCAN response_index\b(?! USING)/.test(detail)), details.join(" | ")).toBe(false);
  });

  it("rows claimed through the index expire after the TTL and are then purged", async () => {
    let clock = now();
    const index = createOwnershipIndex(env.RESPONSE_INDEX, 60, () => clock);
    await index.claim("resp_ttl_1", "run-ttl-1", OWNER);
    expect(await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 100, maxBatches: 1, now: clock + 59 })).toMatchObject({ deleted: 0 });
    expect(await index.resolve("resp_ttl_1", OWNER)).not.toBeNull();
    clock += 60;
    expect(await index.resolve("resp_ttl_1", OWNER)).toBeNull();
    expect(await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 100, maxBatches: 1, now: clock })).toMatchObject({ deleted: 1 });
  });
});

describe("the scheduled handler (Cron Trigger)", () => {
  it("is the worker entry's scheduled export and purges expired rows with the default settings", async () => {
    const t = now();
    await insertRows("cron_old", 5, t - 3600);
    await insertRows("cron_live", 2, t + 3600);
    await worker.scheduled(createScheduledController({ cron: "23 * * * *", scheduledTime: Date.now() }), env);
    expect(await countRows("cron_old")).toBe(0);
    expect(await countRows("cron_live")).toBe(2);
  });

  it("also purges expired Idempotency-Key reservations, and keeps live ones", async () => {
    const t = now();
    const statement = env.RESPONSE_INDEX.prepare(
      "INSERT INTO idempotency_keys (key_hash, request_fingerprint, attempt, native_run_id, created_at, expires_at) VALUES (?1, 'idem-x', 'a', NULL, ?2, ?3)",
    );
    await env.RESPONSE_INDEX.batch([statement.bind("retention_key_old", t - 7200, t - 3600), statement.bind("retention_key_live", t - 60, t + 3600)]);
    await worker.scheduled(createScheduledController({ cron: "23 * * * *", scheduledTime: Date.now() }), env);
    const left = await env.RESPONSE_INDEX.prepare("SELECT key_hash FROM idempotency_keys WHERE key_hash LIKE 'retention_key_%' ORDER BY key_hash").all<{ key_hash: string }>();
    expect(left.results.map((row) => row.key_hash)).toEqual(["retention_key_live"]);
  });

  it("takes its bounds from the settings and logs one line with the figures, a warning when it hit the bound", async () => {
    const t = now();
    await insertRows("bounded", 5, t - 3600);
    const log = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const settings = { ...env, LOG_LEVEL: "info", RESPONSE_INDEX_PURGE_BATCH_ROWS: "2", RESPONSE_INDEX_PURGE_MAX_BATCHES: "2" };
    const controller = createScheduledController({ cron: "23 * * * *", scheduledTime: Date.now() });
    await worker.scheduled(controller, settings);
    expect(await countRows("bounded")).toBe(1);
    expect(log).toHaveBeenCalledTimes(1);
    const line = JSON.parse(String(log.mock.calls[0]?.[0])) as Record<string, unknown>;
    expect(line).toMatchObject({ level: "warn", msg: "index retention", cron: "23 * * * *", deleted: 4, batches: 2, complete: false });
    expect(line.durationMs).toBeTypeOf("number");
  });

  it("logs an info line when it finished, and nothing with LOG_LEVEL=off", async () => {
    const info = vi.spyOn(console, "log").mockImplementation(() => undefined);
    await worker.scheduled(createScheduledController({ cron: "23 * * * *" }), { ...env, LOG_LEVEL: "info" });
    expect(JSON.parse(String(info.mock.calls[0]?.[0]))).toMatchObject({ level: "info", msg: "index retention", deleted: 0, complete: true });
    info.mockClear();
    await worker.scheduled(createScheduledController({ cron: "23 * * * *" }), { ...env, LOG_LEVEL: "off" });
    expect(info).not.toHaveBeenCalled();
  });

  it("fails the run (so Cron Events show it) and logs an error when D1 fails or the settings are invalid", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const broken = {
      prepare: () => ({ bind: () => ({ run: () => Promise.reject(new Error("D1_ERROR: no such table: response_index: SQLITE_ERROR")) }) }),
    } as unknown as D1Database;
    await expect(worker.scheduled(createScheduledController(), { ...env, LOG_LEVEL: "info", RESPONSE_INDEX: broken })).rejects.toThrow(/no such table/);
    expect(JSON.parse(String(errors.mock.calls[0]?.[0]))).toMatchObject({ level: "error", msg: "index retention" });
    errors.mockClear();
    await expect(worker.scheduled(createScheduledController(), { ...env, LOG_LEVEL: "info", RESPONSE_INDEX_PURGE_BATCH_ROWS: "lots" })).rejects.toThrow(
      /RESPONSE_INDEX_PURGE_BATCH_ROWS/,
    );
    expect(JSON.parse(String(errors.mock.calls[0]?.[0]))).toMatchObject({ level: "error", msg: "index retention", error: "gateway misconfigured" });
  });
});
