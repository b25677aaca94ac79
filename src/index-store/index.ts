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
 * Reads are replica-first (`withSession("first-unconstrained")`, the nearest replica) with a
 * primary read only on a miss: a stored create writes its claim alongside the stream, not before the
 * first byte, so a very young id may be unclaimed yet — the route settles that case by asking native
 * (src/routes/responses-continuation.ts; README, "The ownership index off the critical path").
 * DELETE leaves a tombstone (`deleted_at`) that wins over a claim landing after it.
 *
 * A caller that can settle a replica miss itself (a young id, which native vouches for) passes
 * `primaryOnMiss: false` and skips the primary round trip, the one thing on a chained request's path
 * that crosses regions. What that gives up is a tombstone the replica has not seen yet — the same
 * window every replica read already has after a DELETE — narrowed by the tombstones this isolate
 * wrote or read itself (`recentTombstones`), which win without any read: a client deleting and then
 * chaining or retrieving through the same edge location sees the DELETE at once. Likewise a claim
 * this isolate has started is read from `claimsInFlight` until D1 has it.
 */
import { d1Session, guardD1 } from "./schema";

export { checkIndexSchema, IndexSchemaMissingError, IndexUnavailableError, MIGRATIONS_COMMAND, SCHEMA_PROBE_SQL } from "./schema";

export interface IndexRow {
  responseId: string;
  nativeRunId: string;
  createdAt: number;
  expiresAt: number;
}

/** What the index says about one (response id, owner). */
export type IndexLookup =
  /** The owner's live row. */
  | { kind: "owned"; row: IndexRow }
  /** The owner deleted it: absent, and it stays absent (a late claim cannot revive it). */
  | { kind: "deleted" }
  /** No row of this owner (unknown, another owner's, expired — or a claim still in flight). */
  | { kind: "absent" };

export interface LookupOptions {
  /**
   * False: a replica miss is answered `absent` without reading the primary — for a caller that
   * settles a miss from another authority (native, for a young id; routes/responses-continuation.ts).
   * Default true.
   */
  primaryOnMiss?: boolean;
  /**
   * Called when the replica had no row, just before the primary is read: the route starts asking
   * native about a young id here, so the two round trips overlap.
   */
  onReplicaMiss?: () => void;
}

export interface OwnershipIndex {
  /** Records that `ownerFingerprint` owns `responseId` (→ `nativeRunId`). Idempotent; never overwrites a row or a tombstone. */
  claim(responseId: string, nativeRunId: string, ownerFingerprint: string): Promise<void>;
  /** Replica first, the primary on a miss (see the module comment). */
  lookup(responseId: string, ownerFingerprint: string, options?: LookupOptions): Promise<IndexLookup>;
  /** The owner's live row, else null (`lookup` without the tombstone distinction). */
  resolve(responseId: string, ownerFingerprint: string): Promise<IndexRow | null>;
  /**
   * Tombstones the owner's live row; false when there was none (none at all, another owner's, or
   * already deleted). With `nativeRunId` — the caller established ownership from native for an id
   * whose claim may still be in flight — a tombstone is written even when no row exists yet.
   */
  remove(responseId: string, ownerFingerprint: string, nativeRunId?: string): Promise<boolean>;
}

/** How long this isolate remembers a tombstone it wrote or read: well past any replica lag D1 reports in practice. */
const RECENT_TOMBSTONE_MS = 300_000;
/** At most this many remembered tombstones (oldest dropped first): an id and a fingerprint each, ≈ 200 KiB at most. */
const RECENT_TOMBSTONE_CAP = 1024;
/** response id → whose tombstone it is (key fingerprint) and when this isolate learnt of it (Date.now ms). No content. */
const recentTombstones = new Map<string, { owner: string; at: number }>();

function rememberTombstone(responseId: string, owner: string, nowMs: number = Date.now()): void {
  recentTombstones.delete(responseId);
  recentTombstones.set(responseId, { owner, at: nowMs });
  if (recentTombstones.size > RECENT_TOMBSTONE_CAP) {
    const oldest = recentTombstones.keys().next();
    if (!oldest.done) recentTombstones.delete(oldest.value);
  }
}

/** True when this isolate wrote or read `owner`'s tombstone of `responseId` within `RECENT_TOMBSTONE_MS`. */
function knownDeleted(responseId: string, owner: string, nowMs: number = Date.now()): boolean {
  const known = recentTombstones.get(responseId);
  if (known === undefined) return false;
  if (nowMs - known.at >= RECENT_TOMBSTONE_MS) {
    recentTombstones.delete(responseId);
    return false;
  }
  // Another owner reads D1 as usual: to it the row is absent, like any foreign row.
  return known.owner === owner;
}

/**
 * Claims this isolate has started and D1 has not confirmed: response id → its row as it will be.
 * A request on the same isolate (the next turn of a WebSocket, a quick HTTP chain) reads its own
 * in-flight claim here, owner-scoped like every read, instead of racing it to D1. Ids and run ids
 * only; an entry lives for one D1 write.
 */
const claimsInFlight = new Map<string, { owner: string; row: IndexRow }>();

/** Test-only: forget what this isolate remembers — tombstones and claims in flight (tests that model another isolate). */
export function forgetIsolateIndexMemory(): void {
  recentTombstones.clear();
  claimsInFlight.clear();
}

interface Row {
  response_id: string;
  native_run_id: string;
  created_at: number;
  expires_at: number;
  deleted_at: number | null;
}

const LOOKUP_SQL =
  "SELECT response_id, native_run_id, created_at, expires_at, deleted_at FROM response_index WHERE response_id = ?1 AND owner_fingerprint = ?2 AND expires_at > ?3";

/**
 * @example
 * const index = createOwnershipIndex(env.RESPONSE_INDEX, 30 * 86400);
 * await index.claim("resp_x", runId, fingerprint);
 * const found = await index.lookup("resp_x", fingerprint); // { kind: "absent" } for another key
 */
export function createOwnershipIndex(db: D1Database, ttlSeconds: number, now: () => number = () => Math.floor(Date.now() / 1000)): OwnershipIndex {
  // The nearest replica: D1 answers a `first-unconstrained` session's first read from any instance.
  const replica = (): D1Database | D1DatabaseSession => d1Session(db, "first-unconstrained");
  // The primary, which has every committed claim and tombstone.
  const primary = (): D1Database | D1DatabaseSession => d1Session(db, "first-primary");
  const guard = guardD1;
  const read = (from: D1Database | D1DatabaseSession, responseId: string, ownerFingerprint: string): Promise<Row | null> =>
    from.prepare(LOOKUP_SQL).bind(responseId, ownerFingerprint, now()).first<Row>();
  const asLookup = (row: Row, owner: string): IndexLookup => {
    if (row.deleted_at === null) {
      return { kind: "owned", row: { responseId: row.response_id, nativeRunId: row.native_run_id, createdAt: row.created_at, expiresAt: row.expires_at } };
    }
    rememberTombstone(row.response_id, owner);
    return { kind: "deleted" };
  };

  const tombstoned = (responseId: string, owner: string, changed: boolean): boolean => {
    if (changed) rememberTombstone(responseId, owner);
    return changed;
  };

  const lookup: OwnershipIndex["lookup"] = (responseId, ownerFingerprint, options = {}) =>
    guard(async () => {
      if (knownDeleted(responseId, ownerFingerprint)) return { kind: "deleted" };
      const inFlight = claimsInFlight.get(responseId);
      if (inFlight?.owner === ownerFingerprint) return { kind: "owned", row: inFlight.row };
      const nearest = await read(replica(), responseId, ownerFingerprint);
      if (nearest) return asLookup(nearest, ownerFingerprint);
      options.onReplicaMiss?.();
      if (options.primaryOnMiss === false) return { kind: "absent" };
      const authoritative = await read(primary(), responseId, ownerFingerprint);
      return authoritative ? asLookup(authoritative, ownerFingerprint) : { kind: "absent" };
    });

  return {
    claim: (responseId, nativeRunId, ownerFingerprint) => {
      const created = now();
      const entry = { owner: ownerFingerprint, row: { responseId, nativeRunId, createdAt: created, expiresAt: created + ttlSeconds } };
      if (!claimsInFlight.has(responseId)) claimsInFlight.set(responseId, entry);
      return guard(async () => {
        // ON CONFLICT DO NOTHING: a claim never overwrites another owner's row, nor a tombstone.
        await db
          .prepare(
            "INSERT INTO response_index (response_id, native_run_id, owner_fingerprint, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(response_id) DO NOTHING",
          )
          .bind(responseId, nativeRunId, ownerFingerprint, created, created + ttlSeconds)
          .run();
      }).finally(() => {
        if (claimsInFlight.get(responseId) === entry) claimsInFlight.delete(responseId);
      });
    },
    lookup,
    resolve: async (responseId, ownerFingerprint) => {
      const found = await lookup(responseId, ownerFingerprint);
      return found.kind === "owned" ? found.row : null;
    },
    remove: (responseId, ownerFingerprint, nativeRunId) =>
      guard(async () => {
        const at = now();
        // A claim of this owner still in flight from this isolate: its row is known, so the tombstone
        // can go in first (the late claim loses to it).
        const inFlight = claimsInFlight.get(responseId);
        if (nativeRunId === undefined && inFlight?.owner === ownerFingerprint) nativeRunId = inFlight.row.nativeRunId;
        if (nativeRunId === undefined) {
          const result = await db
            .prepare("UPDATE response_index SET deleted_at = ?3 WHERE response_id = ?1 AND owner_fingerprint = ?2 AND deleted_at IS NULL AND expires_at > ?3")
            .bind(responseId, ownerFingerprint, at)
            .run();
          return tombstoned(responseId, ownerFingerprint, (result.meta.changes ?? 0) > 0);
        }
        // The tombstone goes in first when the claim has not landed yet; a live row of the same
        // owner is tombstoned; another owner's row or an existing tombstone is left alone (false).
        const result = await db
          .prepare(
            "INSERT INTO response_index (response_id, native_run_id, owner_fingerprint, created_at, expires_at, deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4) " +
              "ON CONFLICT(response_id) DO UPDATE SET deleted_at = ?4 WHERE response_index.owner_fingerprint = ?3 AND response_index.deleted_at IS NULL AND response_index.expires_at > ?4",
          )
          .bind(responseId, nativeRunId, ownerFingerprint, at, at + ttlSeconds)
          .run();
        return tombstoned(responseId, ownerFingerprint, (result.meta.changes ?? 0) > 0);
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
