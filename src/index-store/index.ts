/**
 * The D1 ownership index: response id → native run id, owned by a key fingerprint.
 *
 * It is the only thing the gateway stores (invariant 1): no content, never the key (a SHA-256
 * fingerprint), timestamps for expiry. Every read is owner-scoped in SQL, so another owner's row is
 * indistinguishable from a missing one. Any D1 failure becomes `IndexUnavailableError` (503): the
 * index fails closed, it never guesses (ARCHITECTURE.md, "Ownership answers look like absence");
 * `src/http/errors.ts` answers it as a retryable 503 — unless the schema itself is missing
 * (`IndexSchemaMissingError`, a non-retryable 500, schema.ts).
 *
 * Reads go through a `first-primary` D1 session when the binding supports sessions, so a chained
 * request right after a turn resolves even with read replication on (anchors.md §6 point 5).
 */
import { guardD1 } from "./schema";

export { checkIndexSchema, IndexSchemaMissingError, IndexUnavailableError, MIGRATIONS_COMMAND, SCHEMA_PROBE_SQL } from "./schema";

export interface IndexRow {
  responseId: string;
  nativeRunId: string;
  createdAt: number;
  expiresAt: number;
}

export interface OwnershipIndex {
  /** Records that `ownerFingerprint` owns `responseId` (→ `nativeRunId`). Idempotent for the same owner. */
  claim(responseId: string, nativeRunId: string, ownerFingerprint: string): Promise<void>;
  /** The row if it exists, is not expired and belongs to `ownerFingerprint`; else null. */
  resolve(responseId: string, ownerFingerprint: string): Promise<IndexRow | null>;
  /** Deletes the owner's row; false when there was none (or it is someone else's). */
  remove(responseId: string, ownerFingerprint: string): Promise<boolean>;
}

type SessionCapable = D1Database & { withSession?: (constraint: string) => D1DatabaseSession };

/**
 * @example
 * const index = createOwnershipIndex(env.RESPONSE_INDEX, 30 * 86400);
 * await index.claim("resp_x", runId, fingerprint);
 * const row = await index.resolve("resp_x", fingerprint); // null for another key
 */
export function createOwnershipIndex(db: D1Database, ttlSeconds: number, now: () => number = () => Math.floor(Date.now() / 1000)): OwnershipIndex {
  const reader = (): D1Database | D1DatabaseSession => {
    const session = (db as SessionCapable).withSession;
    return typeof session === "function" ? session.call(db, "first-primary") : db;
  };
  const guard = guardD1;

  return {
    claim: (responseId, nativeRunId, ownerFingerprint) =>
      guard(async () => {
        const created = now();
        // ON CONFLICT DO NOTHING + owner check: a claim never overwrites another owner's row.
        await db
          .prepare(
            "INSERT INTO response_index (response_id, native_run_id, owner_fingerprint, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(response_id) DO NOTHING",
          )
          .bind(responseId, nativeRunId, ownerFingerprint, created, created + ttlSeconds)
          .run();
      }),
    resolve: (responseId, ownerFingerprint) =>
      guard(async () => {
        const row = await reader()
          .prepare(
            "SELECT response_id, native_run_id, created_at, expires_at FROM response_index WHERE response_id = ?1 AND owner_fingerprint = ?2 AND expires_at > ?3",
          )
          .bind(responseId, ownerFingerprint, now())
          .first<{ response_id: string; native_run_id: string; created_at: number; expires_at: number }>();
        return row
          ? { responseId: row.response_id, nativeRunId: row.native_run_id, createdAt: row.created_at, expiresAt: row.expires_at }
          : null;
      }),
    remove: (responseId, ownerFingerprint) =>
      guard(async () => {
        const result = await db
          .prepare("DELETE FROM response_index WHERE response_id = ?1 AND owner_fingerprint = ?2")
          .bind(responseId, ownerFingerprint)
          .run();
        return (result.meta.changes ?? 0) > 0;
      }),
  };
}

/** One retention batch: ?1 = now (unix seconds), ?2 = most rows. */
export const PURGE_EXPIRED_SQL =
  "DELETE FROM response_index WHERE response_id IN (SELECT response_id FROM response_index WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

/** What one retention run did. */
export interface PurgeReport {
  /** Rows deleted. */
  deleted: number;
  /** DELETE statements run. */
  batches: number;
  /** False when the run stopped at `maxBatches` with expired rows possibly left for the next run. */
  complete: boolean;
  /** Expired Idempotency-Key reservations deleted too (the scheduled run purges both tables). */
  idempotencyKeysDeleted?: number;
}

/**
 * Deletes expired rows (`expires_at <= now`, exactly the rows `resolve` already treats as absent) in
 * bounded batches: at most `batchRows` rows per statement and `maxBatches` statements per call.
 *
 * Each batch is a separate statement, not one `db.batch()` transaction: D1 serialises writes, and a
 * short DELETE between live `claim`s delays them far less than one long one. The inner SELECT walks
 * the `response_index_expiry` index, so a batch costs its own rows, not a table scan. A row's expiry
 * was fixed when it was claimed; lowering the TTL does not shorten the life of existing rows.
 *
 * D1 errors propagate: the caller (the scheduled handler) logs them and fails the cron run, so the
 * failure is visible in the Cron Events of the dashboard.
 *
 * `sql` purges another table the same way (the Idempotency-Key reservations, `PURGE_EXPIRED_KEYS_SQL`).
 *
 * @example
 * const report = await purgeExpiredRows(env.RESPONSE_INDEX, { batchRows: 1000, maxBatches: 20 });
 * // { deleted: 1234, batches: 2, complete: true }
 */
export async function purgeExpiredRows(
  db: D1Database,
  options: { batchRows: number; maxBatches: number; now?: number; sql?: string },
): Promise<PurgeReport> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const statement = db.prepare(options.sql ?? PURGE_EXPIRED_SQL);
  let deleted = 0;
  let batches = 0;
  while (batches < options.maxBatches) {
    const result = await statement.bind(now, options.batchRows).run();
    batches += 1;
    const changes = result.meta.changes ?? 0;
    deleted += changes;
    if (changes < options.batchRows) return { deleted, batches, complete: true };
  }
  return { deleted, batches, complete: false };
}
