/**
 * What the two D1 stores share: how a failure is told apart, and whether the schema is there at all.
 *
 * - A D1 that fails (unreachable, overloaded, a statement that rejects) is `IndexUnavailableError`:
 *   transient, answered as a retryable 503 (src/http/errors.ts).
 * - A D1 without the gateway's tables or columns — the migrations were never applied to this
 *   database — is `IndexSchemaMissingError`: permanent until an operator runs the migrations, so it
 *   is answered as a non-retryable 500 naming the command. A retried create on an empty D1 would
 *   otherwise start one native run per attempt, each then failing its claim (issue 16 point 2).
 * - `checkIndexSchema` finds the missing schema *before* a create calls native (src/http/context.ts
 *   caches a success per isolate and configuration), so no native run is ever started for it.
 *
 * D1 reports SQLite's own wording: "D1_ERROR: no such table: response_index: SQLITE_ERROR".
 */

/** The command that creates the schema, as the answer and the log name it. */
export const MIGRATIONS_COMMAND = "wrangler d1 migrations apply RESPONSE_INDEX --remote --env <tenant>";

/** D1 failed (or is unreachable): the index cannot say who owns what. */
export class IndexUnavailableError extends Error {
  constructor(cause?: unknown) {
    super("the response index is unavailable; try again shortly", cause === undefined ? undefined : { cause });
    this.name = "IndexUnavailableError";
  }
}

/** The D1 database has no (or an old) gateway schema: the migrations were not applied to it. */
export class IndexSchemaMissingError extends Error {
  constructor(cause?: unknown) {
    super(`the gateway's D1 database has no schema: an operator must apply its migrations (${MIGRATIONS_COMMAND})`, cause === undefined ? undefined : { cause });
    this.name = "IndexSchemaMissingError";
  }
}

/** Every column the gateway reads or writes, in both tables: a missing one is as fatal as a missing table. */
export const SCHEMA_PROBE_SQL: readonly string[] = [
  "SELECT response_id, native_run_id, owner_fingerprint, created_at, expires_at, deleted_at FROM response_index LIMIT 0",
  "SELECT key_hash, request_fingerprint, attempt, native_run_id, created_at, expires_at FROM idempotency_keys LIMIT 0",
];

/** True when `error` is SQLite saying a table or column the gateway uses does not exist. */
export function isSchemaMissing(error: unknown): boolean {
  return /no such (table|column)/i.test(String(error));
}

/** A D1 failure as one of the two errors above (an error already classified passes through). */
export function classifyD1Failure(error: unknown): IndexUnavailableError | IndexSchemaMissingError {
  if (error instanceof IndexUnavailableError || error instanceof IndexSchemaMissingError) return error;
  return isSchemaMissing(error) ? new IndexSchemaMissingError(error) : new IndexUnavailableError(error);
}

/** Runs one store operation; any D1 failure comes out classified (never logged here: the request log line carries it with its request id). */
export async function guardD1<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw classifyD1Failure(error);
  }
}

type SessionCapable = D1Database & { withSession?: (constraint: string) => D1DatabaseSession };

/**
 * A D1 Sessions API session of `db` (`first-unconstrained`: the nearest replica answers the first
 * read; `first-primary`: the primary does), or `db` itself on a binding without sessions.
 */
export function d1Session(db: D1Database, constraint: "first-unconstrained" | "first-primary"): D1Database | D1DatabaseSession {
  const session = (db as SessionCapable).withSession;
  return typeof session === "function" ? session.call(db, constraint) : db;
}

const probe = (from: D1Database | D1DatabaseSession): Promise<unknown> => from.batch(SCHEMA_PROBE_SQL.map((sql) => from.prepare(sql)));

/**
 * Probes the schema with `LIMIT 0` selects of every column (no row is read): resolves when it is
 * there, rejects with `IndexSchemaMissingError` or `IndexUnavailableError`.
 *
 * The nearest replica is asked first. The check runs before a new isolate's first stored create
 * calls native, and a query on the plain binding goes to the primary — a cross-region round trip
 * (100 ms in bench/lib/d1-latency.ts's model) on that request's first byte, where a replica is ~5 ms
 * away. A replica has the schema only once the primary has it, so its yes is enough. Its no (a
 * replica still behind a migration just applied) or its failure is not: the primary decides.
 */
export async function checkIndexSchema(db: D1Database): Promise<void> {
  try {
    const replica = d1Session(db, "first-unconstrained");
    if (replica !== db) {
      await probe(replica);
      return;
    }
  } catch {
    // No session, a replica without the schema or one that failed: the primary decides, below.
  }
  // The plain binding: the primary (as before sessions), also when the Sessions API itself fails.
  await guardD1(() => probe(db));
}
