/**
 * A production-latency model of a D1 binding, for the benchmark worker only (bench/d1-latency-worker.ts).
 *
 * Locally, Miniflare's D1 answers in well under a millisecond, which hides the one fact that
 * matters for the ownership index (ARCHITECTURE.md, "D1 is the only storage, and it is far away"):
 * in production a D1 database has one primary in one region, and a worker at a distant edge
 * location pays a cross-region round trip for every write and every primary read. This wraps two
 * local D1 databases — one playing the primary, one playing the nearest read replica — and routes,
 * delays and replicates every query the way D1's read replication does:
 *
 * - **Routing** (https://developers.cloudflare.com/d1/best-practices/read-replication/ and
 *   https://developers.cloudflare.com/d1/worker-api/d1-database/#withsession):
 *   - queries on the plain binding (no Sessions API) all go to the primary — "otherwise all queries
 *     will continue to be executed only by the primary database";
 *   - every write goes to the primary ("All write queries are still forwarded to the primary");
 *   - `withSession("first-primary")`: the session's first query goes to the primary, later reads
 *     to a replica at least as up to date as the session's bookmark;
 *   - `withSession()` / `withSession("first-unconstrained")`: the first read may go to any
 *     instance — here the nearest replica, as is, however far behind it is;
 *   - `withSession(bookmark)`: reads go to a replica at least as up to date as the bookmark.
 * - **Replica lag**: D1 replicates asynchronously, "a read replica may be arbitrarily out of
 *   date". Each commit reaches the replica `lagMinMs`–`lagMaxMs` (uniform) after the primary
 *   applied it, in commit order. A read that needs a bookmark the replica does not have yet
 *   waits until it has — "the read replica will wait until it has been updated to be at least as
 *   up-to-date as the provided bookmark" (read-replication, "With Sessions API") — so a lagging
 *   replica costs time, not correctness, inside a session; outside one (first-unconstrained) a read
 *   right after another request's write can miss the row.
 * - **Latency**: a query costs one round trip to the instance that serves it (`primaryRttMs` or
 *   `replicaRttMs`); the statement executes at the midpoint (that is when a write commits and when
 *   a read takes its snapshot). A batch is one round trip. With a `wire` (createLatencyD1; the
 *   bench worker passes one when it has BENCH_D1_WIRE_URL, which bench/d1latency.ts sets by default)
 *   the round trip is one request to bench/wire-process.ts answered `rtt` after it arrived — I/O the
 *   isolate waits on, like production's D1 — and only the midpoint is a timer; without one, both
 *   halves are timers in the isolate, which other work there delays (FINDINGS, session 9).
 * - `meta.served_by_primary` / `meta.served_by_region` are filled in like D1 does remotely.
 *
 * Assumptions (what is not modelled): no jitter or queueing at the primary; the worker→replica
 * round trip does not grow when the replica forwards a write (writes cost one primary round trip);
 * the replica applies commits by replaying their statements in commit order (statement-based: SQL
 * that calls `unixepoch()`/`random()` would replay to a different value; the gateway binds its own
 * timestamps); reads and writes are told apart by their SQL (SELECT/WITH…SELECT/PRAGMA/EXPLAIN are
 * reads); concurrent writes get their commit order from when the local primary answered them.
 * The replica is advanced in the background (`waitUntil` of the request that wrote) when each
 * commit's lag has passed, so applying it is never charged to a reader's latency; on a loaded
 * machine it can fall further behind than modelled, which only makes misses likelier. Bookmarks are
 * this model's own strings (`bench-<seq>`), sortable like D1's.
 *
 * Every request in the isolate shares one replication log (module state): requests run in one
 * isolate, like one edge location's traffic does. Waiting on another request's work is done by
 * polling plain state with timers, never by awaiting a promise another request created (workerd
 * cancels continuations that cross request contexts).
 */

export interface D1LatencyModel {
  /** Round trip from the worker to the primary, ms (a distant region: ~100). */
  primaryRttMs: number;
  /** Round trip to the nearest read replica, ms (same region: ~5). */
  replicaRttMs: number;
  /** Each commit reaches the replica between `lagMinMs` and `lagMaxMs` after the primary applied it. */
  lagMinMs: number;
  lagMaxMs: number;
}

/** Issue 18's production model: primary 100 ms away, a replica 5 ms away, 0–50 ms of replica lag. */
export const PRODUCTION_D1: D1LatencyModel = { primaryRttMs: 100, replicaRttMs: 5, lagMinMs: 0, lagMaxMs: 50 };

/** The model from worker vars (`BENCH_D1_PRIMARY_MS`, `BENCH_D1_REPLICA_MS`, `BENCH_D1_LAG_MS` = "min-max"). */
export function d1ModelFromVars(vars: Record<string, unknown>): D1LatencyModel {
  const number = (name: string, fallback: number): number => {
    const raw = vars[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of milliseconds ≥ 0, got ${String(raw)}`);
    return value;
  };
  const [lagMinMs, lagMaxMs] =
    typeof vars.BENCH_D1_LAG_MS === "string" && vars.BENCH_D1_LAG_MS !== "" ? parseLagRange(vars.BENCH_D1_LAG_MS) : [PRODUCTION_D1.lagMinMs, PRODUCTION_D1.lagMaxMs];
  return { primaryRttMs: number("BENCH_D1_PRIMARY_MS", PRODUCTION_D1.primaryRttMs), replicaRttMs: number("BENCH_D1_REPLICA_MS", PRODUCTION_D1.replicaRttMs), lagMinMs, lagMaxMs };
}

/** "0-50" → [0, 50]; "20" → [20, 20]. */
export function parseLagRange(spec: string): [number, number] {
  const match = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(spec.trim());
  if (!match) throw new Error(`replica lag must look like 0-50 (ms), got ${JSON.stringify(spec)}`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (max < min) throw new Error(`replica lag range ${spec}: max < min`);
  return [min, max];
}

/** What one request's D1 traffic cost, split at the moment the worker returned its Response. */
export interface D1RequestTrace {
  primary: number;
  replica: number;
  /**
   * Of those, the queries that had *completed* before the worker's fetch handler returned its
   * Response: awaited on the way to the first byte. (A query started before and finished after —
   * e.g. a claim handed to `waitUntil` — is not on that path and counts as after.)
   */
  primaryBeforeResponse: number;
  replicaBeforeResponse: number;
  /** Summed duration of those queries (their round trips and any replica wait): D1 time on the path to the first byte. */
  msBeforeResponse: number;
  /** Time replica reads spent waiting for the replica to reach a bookmark. */
  replicaWaitMs: number;
  /** Replica reads served while commits were still on their way to the replica. */
  replicaBehindReads: number;
  responded: boolean;
}

export function emptyTrace(): D1RequestTrace {
  return { primary: 0, replica: 0, primaryBeforeResponse: 0, replicaBeforeResponse: 0, msBeforeResponse: 0, replicaWaitMs: 0, replicaBehindReads: 0, responded: false };
}

/** The request a query runs for: its trace (null: not traced) and its `ctx.waitUntil` (replication runs there). */
export interface D1RequestContext {
  trace: D1RequestTrace | null;
  waitUntil: (promise: Promise<unknown>) => void;
}

interface ReplayedStatement {
  sql: string;
  params: unknown[];
}

interface Commit {
  seq: number;
  /** The statements to replay on the replica, or an `exec()` script. */
  work: { statements: ReplayedStatement[] } | { exec: string };
  /** Time (ms, isolate clock) from which the replica has this commit. */
  visibleAt: number;
  state: "pending" | "applying";
  /** When a request started applying it (a request cancelled mid-apply is taken over after a while). */
  claimedAt: number;
}

/** The replication state shared by every request of the isolate: the primary's commit log, the replica's position. */
class ReplicationLog {
  /** Sequence number of the primary's last commit. */
  primarySeq = 0;
  /** Sequence number of the last commit the replica applied. */
  replicaSeq = 0;
  /** Commits the replica has not applied yet, in order. */
  pending: Commit[] = [];
  private lastVisibleAt = 0;

  constructor(private readonly model: D1LatencyModel) {}

  record(work: Commit["work"], committedAt: number): number {
    const lag = this.model.lagMinMs + Math.random() * (this.model.lagMaxMs - this.model.lagMinMs);
    // A replica applies commits in order: one that lags less than its predecessor still waits for it.
    this.lastVisibleAt = Math.max(this.lastVisibleAt, committedAt + lag);
    const seq = ++this.primarySeq;
    this.pending.push({ seq, work, visibleAt: this.lastVisibleAt, state: "pending", claimedAt: 0 });
    return seq;
  }

  /** When the replica will have commit `seq` (now or in the past if it has it already). */
  visibleAtOf(seq: number): number {
    return this.pending.find((commit) => commit.seq === seq)?.visibleAt ?? 0;
  }

  /** Whether commits exist that the replica will have later than `now` (it is behind the primary). */
  behindAt(now: number): boolean {
    return this.pending.some((commit) => commit.visibleAt > now);
  }
}

const TAKEOVER_MS = 2_000;

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

const READ_SQL = /^\s*(?:select\b|pragma\b|explain\b|with\b(?![\s\S]*\b(?:insert|update|delete|replace)\b))/i;

/** Whether a statement only reads (may be served by a replica). */
export function isReadOnlySql(sql: string): boolean {
  return READ_SQL.test(sql);
}

const BOOKMARK_PREFIX = "bench-";

function bookmarkOf(seq: number): string {
  return `${BOOKMARK_PREFIX}${seq.toString().padStart(12, "0")}`;
}

function parseBookmark(bookmark: string): number {
  if (!bookmark.startsWith(BOOKMARK_PREFIX)) throw new Error(`D1_ERROR: invalid bookmark ${JSON.stringify(bookmark)} (this model issues ${BOOKMARK_PREFIX}… bookmarks)`);
  const seq = Number(bookmark.slice(BOOKMARK_PREFIX.length));
  if (!Number.isInteger(seq) || seq < 0) throw new Error(`D1_ERROR: invalid bookmark ${JSON.stringify(bookmark)}`);
  return seq;
}

type Instance = "primary" | "replica";

/**
 * The routing of one query: which instance, and (replica) the commit it must have applied first.
 * `after` tells the session what the query observed.
 */
interface Route {
  instance: Instance;
  minSeq: number;
  after(observedSeq: number): void;
}

/** The engine behind the wrapper objects: executes a query on the instance a route names, with its latency. */
class LatencyEngine {
  readonly log: ReplicationLog;

  constructor(
    readonly primary: D1Database,
    readonly replica: D1Database,
    readonly model: D1LatencyModel,
    private readonly context: () => D1RequestContext | undefined,
    private readonly wire?: (ms: number) => Promise<void>,
  ) {
    this.log = new ReplicationLog(model);
  }

  /** Runs `execute` against the routed instance (a write: the primary, then replicated); returns its result. */
  async run<T>(route: Route, replayed: Commit["work"] | null, execute: (db: D1Database) => Promise<T>): Promise<T> {
    const context = this.context();
    const trace = context?.trace ?? null;
    const onPrimary = route.instance === "primary" || replayed !== null;
    const rtt = onPrimary ? this.model.primaryRttMs : this.model.replicaRttMs;
    const started = Date.now();
    // With a wire, the round trip is one request of the whole `rtt` to bench/wire-process.ts, which
    // the isolate waits on as it waits on production's D1. The query still runs at the trip's
    // midpoint (a timer: what the instance has then is what it answers); other work in the isolate
    // that delays that timer no longer delays the answer unless by more than half the trip.
    const trip = this.wire?.(rtt);
    trip?.catch(() => undefined); // awaited below
    await sleep(rtt / 2);
    let result: T;
    let observed: number;
    if (onPrimary) {
      result = await execute(this.primary);
      if (replayed) {
        observed = this.log.record(replayed, Date.now());
        this.replicate(observed, context);
      } else {
        observed = this.log.primarySeq;
      }
    } else {
      await this.awaitReplica(route.minSeq, trace);
      if (trace && this.log.behindAt(Date.now())) trace.replicaBehindReads++;
      result = await execute(this.replica);
      observed = this.log.replicaSeq;
    }
    if (trip) await trip;
    else await sleep(rtt / 2);
    if (trace) {
      if (onPrimary) trace.primary++;
      else trace.replica++;
      if (!trace.responded) {
        if (onPrimary) trace.primaryBeforeResponse++;
        else trace.replicaBeforeResponse++;
        trace.msBeforeResponse += Date.now() - started;
      }
    }
    route.after(observed);
    annotate(result, onPrimary);
    return result;
  }

  /**
   * Ships commit `seq` to the replica once its lag has passed, in the writer's `waitUntil` (so no
   * reader pays for applying it). Without a request context — a query from a WebSocket's message
   * handler, which the request's AsyncLocalStorage does not reach — the task runs on its own: the
   * open socket keeps the isolate's request alive, so its timer fires (a production replica catches
   * up whatever the worker does; leaving it to readers made every socket turn's replica read miss).
   * A task cut off when the socket closes is taken over by the next reader that needs the commit.
   */
  private replicate(seq: number, context: D1RequestContext | undefined): void {
    const task = (async () => {
      await sleep(this.log.visibleAtOf(seq) - Date.now());
      await this.applyThrough(seq);
    })().catch((error: unknown) => console.error(`d1-latency: replicating commit ${seq} failed: ${String(error)}`));
    context?.waitUntil(task);
  }

  /**
   * The replica at `minSeq` at least, as a read that needs it sees it: waits until that commit's
   * lag has passed and it has been applied (by its writer's background task; by this reader only
   * if that task is missing or stalled).
   */
  private async awaitReplica(minSeq: number, trace: D1RequestTrace | null): Promise<void> {
    if (minSeq <= this.log.replicaSeq) return;
    const started = Date.now();
    await sleep(this.log.visibleAtOf(minSeq) - Date.now());
    for (let polls = 0; this.log.replicaSeq < minSeq; polls++) {
      const next = this.log.pending[0];
      const stalled = next !== undefined && (next.state === "pending" ? Date.now() - next.visibleAt > TAKEOVER_MS : Date.now() - next.claimedAt > TAKEOVER_MS);
      if (stalled || polls > 20_000) await this.applyThrough(minSeq);
      else await sleep(0.5);
    }
    if (trace) trace.replicaWaitMs += Date.now() - started;
  }

  /** Applies pending commits in order up to `seq`, one request at a time (others poll, never await each other's promises). */
  private async applyThrough(seq: number): Promise<void> {
    for (let guard = 0; guard < 1_000_000 && this.log.replicaSeq < seq; guard++) {
      const next = this.log.pending[0];
      if (!next) return;
      if (next.state === "applying" && Date.now() - next.claimedAt < TAKEOVER_MS) {
        await sleep(0.5);
        continue;
      }
      next.state = "applying";
      next.claimedAt = Date.now();
      if ("exec" in next.work) await this.replica.exec(next.work.exec);
      else await this.replica.batch(next.work.statements.map((statement) => this.replica.prepare(statement.sql).bind(...statement.params)));
      if (this.log.pending[0] === next) {
        this.log.pending.shift();
        this.log.replicaSeq = next.seq;
      }
    }
  }
}

/** Fills `served_by_primary` / `served_by_region` into D1Results (a `run`/`all`/`batch` answer), as remote D1 does. */
function annotate(result: unknown, onPrimary: boolean): void {
  for (const item of Array.isArray(result) ? result : [result]) {
    if (typeof item !== "object" || item === null || !("success" in item) || !("meta" in item)) continue;
    const meta = (item as { meta: unknown }).meta;
    if (typeof meta === "object" && meta !== null) Object.assign(meta, { served_by_primary: onPrimary, served_by_region: onPrimary ? "BENCH-PRIMARY" : "BENCH-REPLICA" });
  }
}

/** Where a session (or the plain binding) sends its queries, and what it has seen. */
interface Router {
  route(readOnly: boolean): Route;
}

/** The plain binding: every query to the primary (no Sessions API, no replica). */
const PRIMARY_ONLY: Router = { route: () => ({ instance: "primary", minSeq: 0, after: () => undefined }) };

class SessionRouter implements Router {
  private first = true;
  /** Highest commit this session has observed (null: no query yet). */
  seen: number | null;

  constructor(
    private readonly constraint: "first-primary" | "first-unconstrained" | "bookmark",
    bookmarkSeq: number | null,
  ) {
    this.seen = bookmarkSeq;
  }

  route(readOnly: boolean): Route {
    const first = this.first;
    this.first = false;
    const instance: Instance = !readOnly || (first && this.constraint === "first-primary") ? "primary" : "replica";
    return {
      instance,
      minSeq: this.seen ?? 0,
      after: (observed) => {
        this.seen = Math.max(this.seen ?? 0, observed);
      },
    };
  }
}

class ModelStatement implements D1PreparedStatement {
  constructor(
    private readonly engine: LatencyEngine,
    private readonly router: Router,
    readonly sql: string,
    readonly params: unknown[],
  ) {}

  bind(...values: unknown[]): D1PreparedStatement {
    return new ModelStatement(this.engine, this.router, this.sql, values);
  }

  private execute<T>(call: (statement: D1PreparedStatement) => Promise<T>): Promise<T> {
    const readOnly = isReadOnlySql(this.sql);
    const route = this.router.route(readOnly);
    const replayed = readOnly ? null : { statements: [{ sql: this.sql, params: this.params }] };
    return this.engine.run(route, replayed, (db) => call(db.prepare(this.sql).bind(...this.params)));
  }

  first<T = unknown>(colName: string): Promise<T | null>;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  first<T>(colName?: string): Promise<T | null> {
    return this.execute((statement) => (colName === undefined ? statement.first<T>() : statement.first<T>(colName)));
  }

  run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    return this.execute((statement) => statement.run<T>());
  }

  all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    return this.execute((statement) => statement.all<T>());
  }

  raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>;
  raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>;
  raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[] | [string[], ...T[]]> {
    return this.execute((statement): Promise<T[] | [string[], ...T[]]> => (options?.columnNames ? statement.raw<T>({ columnNames: true }) : statement.raw<T>()));
  }
}

function batchOver(engine: LatencyEngine, router: Router, statements: D1PreparedStatement[]): Promise<D1Result[]> {
  const own = statements.map((statement) => {
    if (!(statement instanceof ModelStatement)) throw new Error("d1-latency: batch() takes statements prepared on the same binding");
    return statement;
  });
  const readOnly = own.every((statement) => isReadOnlySql(statement.sql));
  const route = router.route(readOnly);
  const replayed = readOnly ? null : { statements: own.map((statement) => ({ sql: statement.sql, params: statement.params })) };
  return engine.run(route, replayed, (db) => db.batch(own.map((statement) => db.prepare(statement.sql).bind(...statement.params))));
}

class ModelSession implements D1DatabaseSession {
  constructor(
    private readonly engine: LatencyEngine,
    private readonly router: SessionRouter,
  ) {}

  prepare(query: string): D1PreparedStatement {
    return new ModelStatement(this.engine, this.router, query, []);
  }

  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
    return batchOver(this.engine, this.router, statements) as Promise<D1Result<T>[]>;
  }

  getBookmark(): D1SessionBookmark | null {
    return this.router.seen === null ? null : bookmarkOf(this.router.seen);
  }
}

class ModelDatabase implements D1Database {
  constructor(private readonly engine: LatencyEngine) {}

  prepare(query: string): D1PreparedStatement {
    return new ModelStatement(this.engine, PRIMARY_ONLY, query, []);
  }

  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
    return batchOver(this.engine, PRIMARY_ONLY, statements) as Promise<D1Result<T>[]>;
  }

  exec(query: string): Promise<D1ExecResult> {
    const readOnly = isReadOnlySql(query);
    return this.engine.run(PRIMARY_ONLY.route(readOnly), readOnly ? null : { exec: query }, (db) => db.exec(query));
  }

  withSession(constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint): D1DatabaseSession {
    const spec = constraintOrBookmark ?? "first-unconstrained";
    const router =
      spec === "first-primary" || spec === "first-unconstrained" ? new SessionRouter(spec, null) : new SessionRouter("bookmark", parseBookmark(spec));
    return new ModelSession(this.engine, router);
  }

  dump(): Promise<ArrayBuffer> {
    return Promise.reject(new Error("d1-latency: dump() is deprecated in D1 and not modelled"));
  }
}

export interface LatencyD1 {
  /** The binding to hand the gateway in place of `RESPONSE_INDEX`. */
  database: D1Database;
  /** Replication state, for the bench's report. */
  state(): { primarySeq: number; replicaSeq: number; pending: number };
}

/**
 * Wraps two local D1 databases (same schema, both empty) as one D1 binding with production latency
 * and read replication. `context` returns the current request's trace and `waitUntil` (the bench
 * worker keeps them per request in an AsyncLocalStorage); without one, nothing is counted and a
 * commit reaches the replica when the next read needs it.
 *
 * @example
 * const d1 = createLatencyD1(env.INDEX_PRIMARY, env.INDEX_REPLICA, PRODUCTION_D1, () => requests.getStore());
 * await app.fetch(request, { ...env, RESPONSE_INDEX: d1.database }, ctx);
 */
export function createLatencyD1(
  primary: D1Database,
  replica: D1Database,
  model: D1LatencyModel,
  context: () => D1RequestContext | undefined = () => undefined,
  wire?: (ms: number) => Promise<void>,
): LatencyD1 {
  const engine = new LatencyEngine(primary, replica, model, context, wire);
  return {
    database: new ModelDatabase(engine),
    state: () => ({ primarySeq: engine.log.primarySeq, replicaSeq: engine.log.replicaSeq, pending: engine.log.pending.length }),
  };
}

export interface ModelCheck {
  what: string;
  pass: boolean;
  detail: string;
}

/**
 * Exercises the model's routing, lag and session rules on a scratch table of the two databases
 * (its own replication log, a fixed 30 ms lag so a miss is certain): what bench/d1latency.ts runs
 * before trusting the figures it takes with the model. Time checks are lower bounds only (a loaded
 * machine makes everything slower, never faster).
 */
export async function checkModel(primary: D1Database, replica: D1Database, waitUntil: (promise: Promise<unknown>) => void): Promise<ModelCheck[]> {
  // A lag far above a loaded machine's timer overshoot, so "still stale" checks are not races with the clock.
  const model: D1LatencyModel = { primaryRttMs: 40, replicaRttMs: 4, lagMinMs: 400, lagMaxMs: 400 };
  for (const db of [primary, replica]) {
    await db.prepare("CREATE TABLE IF NOT EXISTS bench_model_check (k TEXT PRIMARY KEY, v TEXT NOT NULL)").run();
    await db.prepare("DELETE FROM bench_model_check").run();
  }
  const context: D1RequestContext = { trace: null, waitUntil };
  const { database } = createLatencyD1(primary, replica, model, () => context);
  const checks: ModelCheck[] = [];
  const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = Date.now();
    const value = await work();
    return { value, ms: Date.now() - started };
  };
  const read = (db: D1Database | D1DatabaseSession, key: string) => db.prepare("SELECT v FROM bench_model_check WHERE k = ?1").bind(key).first<{ v: string }>();
  const check = (what: string, pass: boolean, detail: string): void => {
    checks.push({ what, pass, detail });
  };
  /**
   * A "the replica has not got it yet" observation is only evidence if it was made within the lag
   * of the write (a machine so loaded that timers overshoot by the whole lag makes it a race): up to
   * three attempts with fresh keys.
   */
  const withinLag = async (what: string, attempt: (key: string) => Promise<{ pass: boolean; detail: string; sinceWriteMs: number }>): Promise<void> => {
    let last = "";
    for (let i = 0; i < 3; i++) {
      const outcome = await attempt(`${what.length}-${i}-${Date.now()}`);
      if (outcome.sinceWriteMs < model.lagMinMs) return check(what, outcome.pass, outcome.detail);
      last = `inconclusive: ${outcome.sinceWriteMs} ms since the write ≥ lag ${model.lagMinMs} ms`;
    }
    check(what, false, last);
  };

  const write = await timed(() => database.prepare("INSERT INTO bench_model_check (k, v) VALUES (?1, ?2)").bind("a", "1").run());
  check("a write on the plain binding costs a primary round trip", write.ms >= model.primaryRttMs, `${write.ms} ms (primary ${model.primaryRttMs})`);
  check("a write is served by the primary (meta.served_by_primary)", write.value.meta.served_by_primary === true, String(write.value.meta.served_by_primary));

  await withinLag("a first-unconstrained read right after a write misses on the lagging replica", async (key) => {
    const started = Date.now();
    await database.prepare("INSERT INTO bench_model_check (k, v) VALUES (?1, ?2)").bind(key, "x").run();
    const stale = await database.withSession("first-unconstrained").prepare("SELECT v FROM bench_model_check WHERE k = ?1").bind(key).all<{ v: string }>();
    return { pass: stale.results.length === 0, detail: `rows ${JSON.stringify(stale.results)}`, sinceWriteMs: Date.now() - started };
  });
  const replicaRead = await timed(() => database.withSession("first-unconstrained").prepare("SELECT v FROM bench_model_check WHERE k = ?1").bind("a").all<{ v: string }>());
  check(
    "a first-unconstrained read is served by the replica and costs at least its round trip",
    replicaRead.value.meta.served_by_primary === false && replicaRead.ms >= model.replicaRttMs,
    `served_by_primary ${String(replicaRead.value.meta.served_by_primary)}, ${replicaRead.ms} ms`,
  );

  const fresh = await timed(() => read(database.withSession("first-primary"), "a"));
  check("a first-primary read right after the write finds the row", fresh.value?.v === "1", `row ${JSON.stringify(fresh.value)}, ${fresh.ms} ms`);
  const plain = await read(database, "a");
  check("a read on the plain binding (no session) goes to the primary and finds the row", plain?.v === "1", `row ${JSON.stringify(plain)}`);

  const session = database.withSession("first-unconstrained");
  const sessionWrite = Date.now();
  await session.prepare("INSERT INTO bench_model_check (k, v) VALUES (?1, ?2)").bind("b", "2").run();
  const own = await timed(() => read(session, "b"));
  check("a session reads its own write (the replica waits for the session's bookmark)", own.value?.v === "2", `row ${JSON.stringify(own.value)}`);
  check(
    "reading one's own write from a lagging replica waits for the lag",
    Date.now() - sessionWrite >= model.lagMinMs,
    `${Date.now() - sessionWrite} ms from the write to the read's answer (lag ${model.lagMinMs})`,
  );
  const bookmark = session.getBookmark();
  check("a session that has queried has a bookmark", bookmark !== null, String(bookmark));
  const viaBookmark = await read(database.withSession(bookmark ?? "first-unconstrained"), "b");
  check("a new session from that bookmark sees the write", viaBookmark?.v === "2", `row ${JSON.stringify(viaBookmark)}`);

  await database.prepare("INSERT INTO bench_model_check (k, v) VALUES (?1, ?2)").bind("c", "3").run();
  const latest = database.withSession("first-primary");
  check("withSession(first-primary) has no bookmark before its first query", latest.getBookmark() === null, String(latest.getBookmark()));
  const latestC = await read(latest, "c");
  check("a first-primary session sees the latest write", latestC?.v === "3", `row ${JSON.stringify(latestC)}`);

  await new Promise((resolve) => setTimeout(resolve, model.lagMaxMs + 20));
  const caughtUp = await read(database.withSession(), "a");
  check("once the lag has passed, an unconstrained replica read finds the row", caughtUp?.v === "1", `row ${JSON.stringify(caughtUp)}`);

  await withinLag("right after a delete, a lagging replica still returns the deleted row", async (key) => {
    await database.prepare("INSERT INTO bench_model_check (k, v) VALUES (?1, ?2)").bind(key, "d").run();
    await new Promise((resolve) => setTimeout(resolve, model.lagMaxMs + 20));
    const started = Date.now();
    await database.prepare("DELETE FROM bench_model_check WHERE k = ?1").bind(key).run();
    const ghost = await read(database.withSession(), key);
    return { pass: ghost?.v === "d", detail: `row ${JSON.stringify(ghost)}`, sinceWriteMs: Date.now() - started };
  });
  return checks;
}
