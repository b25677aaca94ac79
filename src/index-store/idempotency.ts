/**
 * Idempotency-Key reservations in D1: for each (owner, route, key), which native run the first
 * attempt started. A retry reads it and attaches to that run instead of creating it again — on the
 * 1flowbase fork a replayed `execution.idempotency_key` of a run that is still running starts it a
 * second time (native-api.md errata 2), so native's own dedupe is not enough.
 *
 * No content: the row holds a hash of (owner fingerprint, route, key), a digest of the canonical
 * request body, a random attempt id, the run id once known and timestamps. Every D1 failure is an
 * `IndexUnavailableError` (a retryable 503) or, without the schema, `IndexSchemaMissingError`, like
 * the ownership index (schema.ts).
 */
import { guardD1 } from "./schema";

export type Reservation =
  /** This attempt holds the key: it creates the run (and records its id once native names it). */
  | { kind: "reserved"; attempt: string }
  /** The key was used with another request body. */
  | { kind: "conflict" }
  /** An earlier attempt holds the key; `runId` is null until that attempt learnt it. */
  | { kind: "existing"; runId: string | null; createdAt: number };

export interface IdempotencyStore {
  /** Reserves `keyHash` for a request with `requestFingerprint`, or says who holds it. */
  reserve(keyHash: string, requestFingerprint: string): Promise<Reservation>;
  /** The run an existing reservation names now (null: not known yet, or no reservation). */
  runIdOf(keyHash: string): Promise<string | null>;
  /** Records the run of the attempt that holds the key (once; later calls change nothing). */
  recordRun(keyHash: string, attempt: string, runId: string): Promise<void>;
  /** Gives the key up again: the attempt failed before native created a run. */
  release(keyHash: string, attempt: string): Promise<void>;
  /**
   * Takes over a reservation whose attempt never learnt its run and is older than `staleBefore`
   * (unix seconds): the new attempt id, or null when the row changed meanwhile.
   */
  takeOver(keyHash: string, staleBefore: number): Promise<string | null>;
}

function attemptId(): string {
  return crypto.randomUUID();
}

/**
 * @example
 * const store = createIdempotencyStore(env.RESPONSE_INDEX, 86_400);
 * const reservation = await store.reserve(hash, fingerprint);
 */
export function createIdempotencyStore(db: D1Database, ttlSeconds: number, now: () => number = () => Math.floor(Date.now() / 1000)): IdempotencyStore {
  const guard = guardD1;

  return {
    reserve: (keyHash, requestFingerprint) =>
      guard(async () => {
        const at = now();
        const attempt = attemptId();
        // A new key, or an expired row taken over in the same statement (expired rows are absent).
        const inserted = await db
          .prepare(
            "INSERT INTO idempotency_keys (key_hash, request_fingerprint, attempt, native_run_id, created_at, expires_at) VALUES (?1, ?2, ?3, NULL, ?4, ?5) " +
              "ON CONFLICT(key_hash) DO UPDATE SET request_fingerprint = ?2, attempt = ?3, native_run_id = NULL, created_at = ?4, expires_at = ?5 WHERE idempotency_keys.expires_at <= ?4",
          )
          .bind(keyHash, requestFingerprint, attempt, at, at + ttlSeconds)
          .run();
        if ((inserted.meta.changes ?? 0) > 0) return { kind: "reserved", attempt };
        const row = await db
          .prepare("SELECT request_fingerprint, native_run_id, created_at FROM idempotency_keys WHERE key_hash = ?1")
          .bind(keyHash)
          .first<{ request_fingerprint: string; native_run_id: string | null; created_at: number }>();
        if (!row) return { kind: "reserved", attempt: await reserveAgain(keyHash, requestFingerprint) };
        if (row.request_fingerprint !== requestFingerprint) return { kind: "conflict" };
        return { kind: "existing", runId: row.native_run_id, createdAt: row.created_at };
      }),
    runIdOf: (keyHash) =>
      guard(async () => {
        const row = await db.prepare("SELECT native_run_id FROM idempotency_keys WHERE key_hash = ?1").bind(keyHash).first<{ native_run_id: string | null }>();
        return row?.native_run_id ?? null;
      }),
    recordRun: (keyHash, attempt, runId) =>
      guard(async () => {
        await db
          .prepare("UPDATE idempotency_keys SET native_run_id = ?3 WHERE key_hash = ?1 AND attempt = ?2 AND native_run_id IS NULL")
          .bind(keyHash, attempt, runId)
          .run();
      }),
    release: (keyHash, attempt) =>
      guard(async () => {
        await db.prepare("DELETE FROM idempotency_keys WHERE key_hash = ?1 AND attempt = ?2 AND native_run_id IS NULL").bind(keyHash, attempt).run();
      }),
    takeOver: (keyHash, staleBefore) =>
      guard(async () => {
        const attempt = attemptId();
        const updated = await db
          .prepare("UPDATE idempotency_keys SET attempt = ?2, created_at = ?4 WHERE key_hash = ?1 AND native_run_id IS NULL AND created_at < ?3")
          .bind(keyHash, attempt, staleBefore, now())
          .run();
        return (updated.meta.changes ?? 0) > 0 ? attempt : null;
      }),
  };

  /** The row vanished between the two statements (released meanwhile): reserve once more. */
  async function reserveAgain(keyHash: string, requestFingerprint: string): Promise<string> {
    const at = now();
    const attempt = attemptId();
    await db
      .prepare("INSERT INTO idempotency_keys (key_hash, request_fingerprint, attempt, native_run_id, created_at, expires_at) VALUES (?1, ?2, ?3, NULL, ?4, ?5)")
      .bind(keyHash, requestFingerprint, attempt, at, at + ttlSeconds)
      .run();
    return attempt;
  }
}

/** One retention batch of expired reservations: ?1 = now (unix seconds), ?2 = most rows. */
export const PURGE_EXPIRED_KEYS_SQL =
  "DELETE FROM idempotency_keys WHERE key_hash IN (SELECT key_hash FROM idempotency_keys WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";
