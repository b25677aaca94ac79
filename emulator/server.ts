/**
 * The embedded 1flowbase native API emulator: a plain `node:http` server (byte-level control over
 * SSE framing, keepalives and socket faults) that implements the native public API contract in
 * shared/reference/native-api.md §1–§3 with upstream 0.3 strictness (§7), scripted through
 * `[[emu:{…}]]` directives (emulator/script.ts).
 *
 * It imports nothing from `src/`: the gateway must treat it exactly like a real native server.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ConversationStore, runConversationMessages } from "./conversations";
import { type RunRecord, type RunnerHost, type TaskRecord, cancelRun, durableTerminalEvent, executeLeg, isTerminal, newEventLog, runView } from "./runs";
import { EMULATOR_KEYS, type EmulatorScript, parseDirective } from "./script";
import { type KeyName, type KeySeed, findKey } from "./seed";
import { SseWriter } from "./sse";
import { NativeStream } from "./stream";
import { forcedToolCalls } from "./tool-choice";
import { type HistoryItem, type NativeRequest, checkReasoningAgainstCatalog, validateRunRequest } from "./validate";
import { canonicalJson, conversationId, isPlainObject, now, parseUuid, sha256Hex, sleep, uuidv7 } from "./util";

export interface EmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Idle interval before an SSE `:\n\n` keepalive comment; default 15000 like axum (§2.1). */
  keepaliveMs?: number;
  /** Print one line per request to stdout. */
  log?: boolean;
  /**
   * How often a live native stream reloads the durable run (the fork's `durable_terminal_check`,
   * 500 ms, sse.rs:382-383). A cancel reaches a stream only through this poll.
   */
  durablePollMs?: number;
  /** Request body limit of the body-reading routes; default axum 0.7's 2 MiB (no DefaultBodyLimit natively). */
  bodyLimitBytes?: number;
  /**
   * `EMULATOR_AUTO_TOOL_CALLS`: on `tool_choice` auto (or none given) with tools offered, the first
   * leg calls the first tool, as a real model often would (tool-choice.ts). Off by default: agents
   * that always send tools (Claude Code, Codex) would loop.
   */
  autoToolCalls?: boolean;
}

/** True when a run's turn is tool results only: no new user text, and the history ends with a tool message. */
function answersToolResults(query: string, history: readonly { role: string }[]): boolean {
  return query.trim() === "" && history[history.length - 1]?.role === "tool";
}

/** `EMULATOR_AUTO_TOOL_CALLS` as `npm run emulator` / `npm run dev` read it: `1`/`true`/`yes`/`on`. */
export function autoToolCallsFromEnv(value: string | undefined): boolean {
  return ["1", "true", "yes", "on"].includes((value ?? "").trim().toLowerCase());
}

export interface RunningEmulator {
  /** Origin, e.g. `http://127.0.0.1:8788` (no trailing slash). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** One incoming request as recorded for `GET /__emulator/requests`. */
export interface RecordedRequest {
  seq: number;
  received_at: string;
  method: string;
  path: string;
  query: string;
  /** Lower-cased header names; `authorization`/`x-api-key` redacted to the seeded key's name. */
  headers: Record<string, string>;
  /** Seeded key name the credentials resolved to, if any. */
  key: KeyName | null;
  /** Parsed JSON body; null when empty or not JSON (then see `raw_body`). */
  body: unknown;
  raw_body?: string;
  /** The run the request created or addressed. */
  run_id: string | null;
  /** Response status, once the response has finished. */
  status: number | null;
  /** When the connection for this exchange closed (response done, or the client went away). */
  closed_at: string | null;
  /** At close: true if the whole response was written, false if the client went away first. */
  completed: boolean | null;
  /** Which TCP connection carried the exchange (1, 2, … in the order the emulator accepted them). */
  connection: number;
  /** When that connection closed; null while it is open (a client that keeps it alive reuses it). */
  connection_closed_at: string | null;
}

/**
 * Headers a real api-server (or the proxy in front of it) adds to native answers. The gateway must
 * never pass them on to its clients (issue 7: no `set-cookie`, `server`, internal ids), so the
 * emulator sends them on every native response for the leak tests to look for.
 */
export const NATIVE_ONLY_HEADERS: Readonly<Record<string, string>> = {
  server: "1flowbase-emulator",
  "x-powered-by": "axum",
  "set-cookie": "native_session=emulator-session-cookie; Path=/; HttpOnly",
  "x-native-request-id": "emulator-internal-request-id",
};

/**
 * axum 0.7's default body limit: the fork configures no `DefaultBodyLimit` (`git grep` finds none
 * in api/apps/api-server), so `Bytes`/`Json` extractors stop at 2 MiB (§1.3).
 */
const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;
const MAX_RECORDED_REQUESTS = 1000;
/** Settled runs kept in memory (oldest evicted first; their ids then answer 404). */
const MAX_RUNS = 10_000;
const NATIVE_PREFIX = "/api/agent/v1";

interface BodyRead {
  tooLarge: boolean;
  text: string;
}

type Auth = { ok: true; key: KeySeed } | { ok: false; message: string };

class HttpError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emulator = new Emulator({
    keepaliveMs: options.keepaliveMs ?? 15_000,
    log: options.log ?? false,
    durablePollMs: options.durablePollMs ?? 500,
    bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    autoToolCalls: options.autoToolCalls ?? false,
  });
  const server = createServer((req, res) => {
    emulator.handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { code: "internal_error", message: String(error) });
      else res.destroy();
    });
  });
  // Node closes an idle keep-alive connection after 5 s; a client reusing it at that moment gets
  // "connection lost" on a fresh request (seen under load through workerd's connection pool). Native's
  // hyper server keeps idle connections far longer, so the emulator does too (close() still ends them).
  server.keepAliveTimeout = 0;
  const sockets = new Set<Socket>();
  let connections = 0;
  server.on("connection", (socket: Socket & { emulatorConnection?: number }) => {
    const connection = ++connections;
    socket.emulatorConnection = connection;
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      emulator.connectionClosed(connection);
    });
  });
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        emulator.shutdown();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Response helpers
// ---------------------------------------------------------------------------------------------

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** axum-style rejections (path/JSON extractors, body limit) are plain text (§1.3). */
function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Native error body `{code, message}` with no `status` field (§1.3). */
function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { code, message });
}

function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers["content-length"] ?? 0) > limit;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      // Keep draining an oversized body (so the 413 can be delivered) but stop storing it.
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", () => resolve({ tooLarge, text: tooLarge ? "" : Buffer.concat(chunks).toString("utf8") }));
    req.on("error", reject);
  });
}

/**
 * axum-core 0.4.5 `BytesRejection::FailedToBufferBody(LengthLimitError)`: 413, plain text, the
 * rejection's body text plus the `http_body_util::LengthLimitError` display.
 */
function sendTooLarge(res: ServerResponse): void {
  sendText(res, 413, "Failed to buffer the request body: length limit exceeded", { connection: "close" });
}

// ---------------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------------

class Emulator implements RunnerHost {
  private readonly closeController = new AbortController();
  readonly closing = this.closeController.signal;
  private runs = new Map<string, RunRecord>();
  private tasks = new Map<string, TaskRecord>();
  /** (api key id, idempotency key) → run (§1.4.2). */
  private idempotency = new Map<string, { fingerprint: string; runId: string }>();
  /** Keyed by (api key id, external user, conversation id) (§3.2, §3.4). */
  private conversations = new ConversationStore();
  private requests: RecordedRequest[] = [];
  private requestSeq = 0;
  private readonly keepaliveMs: number;
  private readonly log: boolean;
  private readonly durablePollMs: number;
  private readonly bodyLimit: number;
  private readonly autoToolCalls: boolean;

  constructor(options: { keepaliveMs: number; log: boolean; durablePollMs: number; bodyLimitBytes: number; autoToolCalls: boolean }) {
    this.autoToolCalls = options.autoToolCalls;
    this.keepaliveMs = options.keepaliveMs;
    this.log = options.log;
    this.durablePollMs = options.durablePollMs;
    this.bodyLimit = options.bodyLimitBytes;
  }

  shutdown(): void {
    this.closeController.abort();
  }

  registerTask(task: TaskRecord): void {
    this.tasks.set(task.id, task);
  }

  /** When each closed TCP connection closed, by `RecordedRequest.connection` (recorded requests' `connection_closed_at`). */
  private readonly closedConnections = new Map<number, string>();

  connectionClosed(connection: number): void {
    this.closedConnections.set(connection, new Date().toISOString());
    // Bounded like the request log: only connections a recorded request may still name matter.
    if (this.closedConnections.size > MAX_RECORDED_REQUESTS) this.closedConnections.delete(this.closedConnections.keys().next().value as number);
  }

  /** A terminal run (re)stores its own turn in its conversation (conversations.ts). */
  onRunSettled(run: RunRecord): void {
    // A run forgotten by /__emulator/reset may still finish in the background: it stores nothing.
    if (!run.binding || this.runs.get(run.id) !== run) return;
    const startNode = run.nodeInput["node-start"];
    const messages = runConversationMessages(isPlainObject(startNode) ? startNode : {}, run.output, run.errorPayload);
    this.conversations.store(conversationKey(run.key.apiKeyId, run.binding.user, run.binding.id), run.id, run.createdAt, messages);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://emulator");
    const method = req.method ?? "GET";
    if (this.log) {
      res.on("finish", () => console.log(`${method} ${url.pathname}${url.search} → ${res.statusCode} (${Date.now() - started} ms)`));
    }
    if (url.pathname === "/__emulator" || url.pathname.startsWith("/__emulator/")) return this.introspect(req, res, url);

    const record = this.record(req, url);
    record.connection = (req.socket as Socket & { emulatorConnection?: number }).emulatorConnection ?? 0;
    res.on("close", () => {
      record.status = res.statusCode;
      record.closed_at = new Date().toISOString();
      record.completed = res.writableFinished;
    });
    for (const [name, value] of Object.entries(NATIVE_ONLY_HEADERS)) res.setHeader(name, value);

    if (url.pathname === "/health" && method === "GET") {
      return sendJson(res, 200, { service: "api-server", status: "ok", version: "0.3.6-emulator" });
    }
    if (!url.pathname.startsWith(`${NATIVE_PREFIX}/`)) {
      res.writeHead(404, { "content-length": 0 });
      res.end();
      return;
    }
    let route: string[];
    try {
      route = url.pathname.slice(NATIVE_PREFIX.length).split("/").slice(1).map(decodeURIComponent);
    } catch {
      route = [""];
    }
    if (route.some((segment) => segment === "")) {
      // axum has no trailing-slash routes: `/runs/` is a 404 like any unknown path.
      res.writeHead(404, { "content-length": 0 });
      res.end();
      return;
    }
    const allow = (methods: string): boolean => {
      if (methods.split(",").includes(method)) return true;
      res.writeHead(405, { allow: methods, "content-length": 0 });
      res.end();
      return false;
    };

    try {
      if (route.length === 1 && route[0] === "models") {
        if (allow("GET")) await this.listModels(req, res);
      } else if (route.length === 1 && route[0] === "runs") {
        if (allow("POST")) await this.createRun(req, res, record);
      } else if (route.length === 1 && route[0] === "files") {
        if (allow("POST")) {
          const auth = authenticate(req);
          if (!auth.ok) return sendError(res, 401, "not_authenticated", auth.message);
          sendError(res, 501, "not_implemented", "the emulator does not implement file uploads");
        }
      } else if (route.length === 2 && route[0] === "runs") {
        if (allow("GET")) await this.getRun(req, res, route[1] ?? "", record);
      } else if (route.length === 3 && route[0] === "runs" && route[2] === "cancel") {
        if (allow("POST")) await this.cancel(req, res, route[1] ?? "", record);
      } else if (route.length === 3 && route[0] === "runs" && route[2] === "resume") {
        if (allow("POST")) await this.resume(req, res, route[1] ?? "", record);
      } else {
        res.writeHead(404, { "content-length": 0 });
        res.end();
      }
    } catch (error) {
      if (error instanceof HttpError) {
        if (!res.headersSent) sendError(res, error.status, error.code, error.message);
        return;
      }
      throw error;
    }
  }

  // ---- recording -------------------------------------------------------------------------

  private record(req: IncomingMessage, url: URL): RecordedRequest {
    const headers: Record<string, string> = {};
    let key: KeyName | null = null;
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      let text = Array.isArray(value) ? value.join(", ") : value;
      if (name === "authorization") {
        const token = text.startsWith("Bearer ") ? text.slice(7).trim() : null;
        const seeded = token ? findKey(token) : undefined;
        if (seeded) key = seeded.name;
        text = seeded ? `Bearer ${seeded.name}` : token ? "Bearer [unknown key]" : "[redacted]";
      } else if (name === "x-api-key") {
        const seeded = findKey(text.trim());
        if (seeded) key ??= seeded.name;
        text = seeded ? seeded.name : "[unknown key]";
      }
      headers[name] = text;
    }
    const record: RecordedRequest = {
      seq: ++this.requestSeq,
      received_at: new Date().toISOString(),
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search,
      headers,
      key,
      body: null,
      run_id: null,
      status: null,
      closed_at: null,
      completed: null,
      connection: 0,
      connection_closed_at: null,
    };
    this.requests.push(record);
    if (this.requests.length > MAX_RECORDED_REQUESTS) this.requests.splice(0, this.requests.length - MAX_RECORDED_REQUESTS);
    return record;
  }

  private async readRecordedBody(req: IncomingMessage, record: RecordedRequest): Promise<BodyRead> {
    const body = await readBody(req, this.bodyLimit);
    if (body.text !== "") {
      try {
        record.body = JSON.parse(body.text) as unknown;
      } catch {
        record.raw_body = body.text.length > 65536 ? `${body.text.slice(0, 65536)}…` : body.text;
      }
    }
    return body;
  }

  /** Test-only introspection, deliberately outside `/api` (no auth). */
  private async introspect(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "");
    if (path === "/__emulator/requests" && method === "GET") {
      const runId = url.searchParams.get("run_id");
      const last = url.searchParams.get("last");
      const pathFilter = url.searchParams.get("path");
      let list = this.requests;
      if (runId) list = list.filter((r) => r.run_id === runId);
      if (pathFilter) list = list.filter((r) => r.path === pathFilter || r.path.startsWith(`${pathFilter}/`));
      if (last) list = list.slice(-Math.max(0, Number.parseInt(last, 10) || 0));
      const withConnections = list.map((r) => ({ ...r, connection_closed_at: this.closedConnections.get(r.connection) ?? null }));
      return sendJson(res, 200, { requests: withConnections });
    }
    if (path === "/__emulator/reset" && method === "POST") {
      await readBody(req, this.bodyLimit);
      this.runs.clear();
      this.tasks.clear();
      this.idempotency.clear();
      this.conversations.clear();
      this.requests = [];
      return sendJson(res, 200, { ok: true });
    }
    const runMatch = /^\/__emulator\/runs\/([^/]+)$/.exec(path);
    if (runMatch && method === "GET") {
      const run = this.runs.get(runMatch[1]?.toLowerCase() ?? "");
      if (!run) return sendError(res, 404, "application_run_not_found", "run was not found");
      return sendJson(res, 200, {
        data: runView(run, run.durableMetadata),
        meta: null,
        key: run.key.name,
        answer_truncated: run.answerTruncated,
        // Flow executions started for this run: 1, plus one per idempotent replay while it was running.
        executions: run.executions,
      });
    }
    if (path === "/__emulator" && method === "GET") {
      return sendJson(res, 200, {
        endpoints: ["GET /__emulator/requests?run_id=&last=&path=", "POST /__emulator/reset", "GET /__emulator/runs/:id"],
        keys: EMULATOR_KEYS,
      });
    }
    res.writeHead(404, { "content-length": 0 });
    res.end();
  }

  // ---- native routes ---------------------------------------------------------------------

  private async listModels(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const key = requireKey(req);
    requirePublished(key);
    // Bare list, no `{data, meta}` envelope (§1.3, §3.5).
    sendJson(res, 200, { object: "list", data: key.app.models });
  }

  private async createRun(req: IncomingMessage, res: ServerResponse, record: RecordedRequest): Promise<void> {
    const body = await this.readRecordedBody(req, record);
    if (body.tooLarge) return sendTooLarge(res);
    const key = requireKey(req);

    let parsed: unknown;
    try {
      parsed = JSON.parse(body.text) as unknown;
    } catch {
      return sendError(res, 400, "json", "invalid JSON body");
    }
    const validated = validateRunRequest(parsed);
    if (!validated.ok) return sendError(res, validated.error.status, validated.error.code, validated.error.message);
    const request = validated.value;
    requirePublished(key);
    const catalogError = checkReasoningAgainstCatalog(request, key.app);
    if (catalogError) return sendError(res, catalogError.status, catalogError.code, catalogError.message);

    const directive = parseDirective(request.query);
    if (directive.error !== undefined) return sendError(res, 400, "emulator_script", directive.error);
    const script = directive.script;

    // http_error: the exchange fails instead of running (no run is created).
    if (script?.http_error) {
      if (script.delay_ms) await sleep(script.delay_ms, [this.closing]);
      const e = script.http_error;
      const headers: Record<string, string> = e.retry_after !== undefined ? { "retry-after": e.retry_after } : {};
      if (e.plain_text !== undefined) return sendText(res, e.status, e.plain_text, headers);
      return sendJson(res, e.status, { code: e.code ?? "emulated_error", message: e.message ?? "emulated HTTP error" }, headers);
    }

    // Conversation binding happens before the idempotency lookup (run_service.rs:106-108, 123-140).
    const binding = this.bind(request);
    // Idempotency (§1.4.2): fingerprint of the canonical client body, before conversation binding.
    let fingerprint: string | null = null;
    if (request.idempotencyKey !== null) {
      fingerprint = `sha256:${sha256Hex(canonicalJson(request.raw))}`;
      const existing = this.idempotency.get(`${key.apiKeyId}\u0000${request.idempotencyKey}`);
      if (existing) {
        if (existing.fingerprint !== fingerprint) {
          return sendError(res, 409, "idempotency_conflict", "idempotency key was already used with a different request");
        }
        const run = this.runs.get(existing.runId);
        if (run) {
          record.run_id = run.id;
          return this.replay(res, run, request, script, createMetadata(request, binding));
        }
      }
    }

    const run = this.newRun(key, request, script, directive.text, fingerprint, binding);
    record.run_id = run.id;
    if (request.idempotencyKey !== null && fingerprint !== null) {
      this.idempotency.set(`${key.apiKeyId}\u0000${request.idempotencyKey}`, { fingerprint, runId: run.id });
    }

    if (script?.delay_ms) await sleep(script.delay_ms, [this.closing]);
    if (this.closing.aborted) return;

    if (request.responseMode === "streaming") {
      const stream = this.openStream(res, run, run.createMetadata, {
        drop_after: script?.drop_after,
        malformed: script?.malformed,
        end_without_terminal: script?.end_without_terminal,
      });
      // Like the route, the execution runs on its own (native.rs:615-666): the response ends when
      // the stream does, the run goes on.
      void this.execute(run);
      await stream.done;
      return;
    }
    if (request.responseMode !== "blocking") {
      // Any other mode creates the run without executing it (fork: status queued, §1.4).
      run.status = "queued";
      return sendJson(res, 201, { data: runView(run, run.createMetadata, "flow_run"), meta: null });
    }
    await this.execute(run);
    if (this.closing.aborted) return;
    // A blocking exchange has no events to count: `drop_after` resets the connection instead of
    // answering (native holds it for the whole run, §1.5, so that is where a reset hits).
    if (script?.drop_after !== undefined) {
      res.socket?.destroy();
      return;
    }
    if (script?.malformed_body) return sendText(res, 201, '{"data": {"id": "not json after all', { "content-type": "application/json" });
    sendJson(res, 201, { data: runView(run, run.createMetadata), meta: null });
  }

  /** One execution of the flow from its start (`start_published_flow_run`). */
  private execute(run: RunRecord): Promise<void> {
    run.executions += 1;
    const script = run.script;
    return executeLeg(this, run, script, {
      emitStarted: true,
      defaultAnswer: () => echoAnswer(run.userText, run),
      inputChars: inputChars(run.userText, run),
      timing: { wait_ms: script?.wait_ms, delta_delay_ms: script?.delta_delay_ms, stall_ms: script?.stall_ms },
      // The opt-in auto mode calls a tool on `auto` — except on a turn that only carries tool results
      // (empty query, history ending with a tool message), where a model answers from them; calling
      // again there loops a client's tool loop (llmprobe's "tool results are accepted back").
      forcedToolCalls: forcedToolCalls(run.request.inputs, { auto: this.autoToolCalls && !answersToolResults(run.request.query, run.request.history) }),
    }).catch((error: unknown) => {
      console.error(`emulator: execution of run ${run.id} failed`, error);
    });
  }

  /** An SSE response subscribed to the run's event log (`start_native_run_stream`, native.rs:591-679). */
  private openStream(res: ServerResponse, run: RunRecord, metadata: Record<string, unknown>, faults: ConstructorParameters<typeof SseWriter>[2]): NativeStream {
    run.log.reopenIfClosed();
    const writer = new SseWriter(res, this.keepaliveMs, faults);
    const stream = new NativeStream(writer, {
      runId: run.id,
      metadata,
      workflowEvents: run.request.workflowEvents,
      pollMs: this.durablePollMs,
      durableTerminal: () => durableTerminalEvent(run),
    });
    stream.start(run.log);
    return stream;
  }

  /**
   * Same idempotency key + same body (§1.4.2): the existing run comes back, and the route then
   * calls `start_published_flow_run` on it (native.rs:548-571). That *executes the run again* while
   * it is `running` (orchestration_runtime.rs:597-617, 664-670): a second concurrent execution
   * whose events interleave with the first one's on every stream of the run. A run in any other
   * status is returned as it is (lines 620-626). A streaming replay subscribes from sequence 0
   * (replaying what the log retained) and otherwise relies on the durable fallback; a blocking one
   * answers with the durable run once its execution — if any — has ended.
   */
  private async replay(res: ServerResponse, run: RunRecord, request: NativeRequest, script: EmulatorScript | null, metadata: Record<string, unknown>): Promise<void> {
    const reexecute = run.status === "running";
    if (request.responseMode === "streaming") {
      const stream = this.openStream(res, run, metadata, {});
      if (reexecute) void this.execute(run);
      await stream.done;
      return;
    }
    if (request.responseMode !== "blocking") return sendJson(res, 201, { data: runView(run, metadata, "flow_run"), meta: null });
    if (reexecute) await this.execute(run);
    if (script?.malformed_body) return sendText(res, 201, '{"data": {"id": "not json after all', { "content-type": "application/json" });
    sendJson(res, 201, { data: runView(run, metadata), meta: null });
  }

  /**
   * Conversation binding (run_service.rs:492-541): any string `expand_id`, else any string
   * `conversation.user`, binds — an empty string too; the id is the client's or a new `conv_…`.
   */
  private bind(request: NativeRequest): { user: string; id: string } | null {
    const user = request.expandId ?? (typeof request.conversation?.user === "string" ? request.conversation.user : null);
    if (user === null) return null;
    const clientId = request.conversation?.id;
    return { user, id: typeof clientId === "string" ? clientId : conversationId() };
  }

  private newRun(key: KeySeed, request: NativeRequest, script: EmulatorScript | null, userText: string, fingerprint: string | null, binding: { user: string; id: string } | null): RunRecord {
    const id = uuidv7();
    // Rehydration happens only when the request sent no history at all — decided before system
    // items are hoisted out of it (run_service.rs:524-539).
    const history: HistoryItem[] =
      request.sentHistoryLength === 0 && binding ? this.conversations.history(conversationKey(key.apiKeyId, binding.user, binding.id)) : request.history;

    const nodeStart: Record<string, unknown> = { query: request.query };
    if (request.model !== null) nodeStart.model = request.model;
    nodeStart.history = history;
    if (request.system !== null) nodeStart.system = request.system;
    nodeStart.files = request.attachments;
    Object.assign(nodeStart, request.inputs);
    // Whenever model_parameters were sent, the start node gets `reasoning_effort` — empty when no
    // effort was given (run_input.rs:24-32, 47-69).
    if (request.modelParameters !== null) nodeStart.reasoning_effort = request.reasoning?.effort ?? "";
    const sys: Record<string, unknown> = {};
    if (request.modelParameters !== null) sys.model_parameters = request.modelParameters;
    if (fingerprint !== null) sys.public_run_idempotency_fingerprint = fingerprint;

    const title = runTitle(request);
    const run: RunRecord = {
      id,
      key,
      createdAt: now(),
      status: "running",
      request,
      script,
      userText,
      // `env` holds application env vars (a secret the gateway must never forward, §1.5).
      nodeInput: { "node-start": nodeStart, env: { ...key.app.env }, sys },
      createMetadata: createMetadata(request, binding),
      // Durable metadata on get/cancel/resume has fewer keys (native.rs:605-621); `expand_id` is the row's external user.
      durableMetadata: {
        title,
        expand_id: binding?.user ?? null,
        external_user: binding?.user ?? null,
        external_conversation_id: binding?.id ?? null,
        external_trace_id: request.traceId,
        compatibility_mode: "native-v1",
        idempotency_key: request.idempotencyKey,
        request: { conversation: { id: binding?.id ?? null, user: binding?.user ?? null } },
      },
      binding,
      output: {},
      errorPayload: null,
      nodeUsage: null,
      tasks: [],
      log: newEventLog(),
      executions: 0,
      usageAcc: { prompt: 0, completion: 0, reasoning: 0 },
      answerTruncated: false,
    };
    this.runs.set(id, run);
    this.evictOldRuns();
    return run;
  }

  /** Bounds memory in long dev sessions: forget the oldest settled runs beyond MAX_RUNS. */
  private evictOldRuns(): void {
    if (this.runs.size <= MAX_RUNS) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= MAX_RUNS) break;
      if (!isTerminal(run.status)) continue;
      this.runs.delete(id);
      for (const [taskId, task] of this.tasks) if (task.runId === id) this.tasks.delete(taskId);
    }
  }

  /** Path id → run owned by this key, or the documented error (§1.6, §3.2). */
  private ownedRun(req: IncomingMessage, rawId: string, record: RecordedRequest): { run: RunRecord; key: KeySeed } {
    const key = requireKey(req);
    const parsed = parseUuid(rawId);
    if (!parsed.ok) throw new HttpError(404, "application_run_not_found", "run was not found");
    record.run_id = parsed.uuid;
    const run = this.runs.get(parsed.uuid);
    if (!run) throw new HttpError(404, "application_run_not_found", "run was not found");
    if (run.key.apiKeyId !== key.apiKeyId) throw new HttpError(403, "application_run_forbidden", "run does not belong to this application API key");
    return { run, key };
  }

  private async getRun(req: IncomingMessage, res: ServerResponse, rawId: string, record: RecordedRequest): Promise<void> {
    if (!pathUuidOk(res, rawId)) return;
    const { run } = this.ownedRun(req, rawId, record);
    sendJson(res, 200, { data: runView(run, run.durableMetadata), meta: null });
  }

  private async cancel(req: IncomingMessage, res: ServerResponse, rawId: string, record: RecordedRequest): Promise<void> {
    await this.readRecordedBody(req, record);
    if (!pathUuidOk(res, rawId)) return;
    const { run } = this.ownedRun(req, rawId, record);
    // Cancellable from queued/running/waiting; terminal → invalid_state (§1.6).
    if (isTerminal(run.status)) return sendError(res, 409, "invalid_state", "run is not in a valid state for this operation");
    // cancel_race: the run completes between the cancel's read and its conditional update, which
    // then matches nothing; the route answers 200 with the row it read (run_service.rs:223-234,
    // `unwrap_or_else(|| flow_run.clone())`) — still `running` — and the run finishes normally.
    if (!(run.script?.cancel_race && run.status === "running")) cancelRun(this, run);
    // The cancel answer is `native_result_from_flow_run` (native.rs:525-528): no required action,
    // no aggregated node usage.
    sendJson(res, 200, { data: runView(run, run.durableMetadata, "flow_run"), meta: null });
  }

  private async resume(req: IncomingMessage, res: ServerResponse, rawId: string, record: RecordedRequest): Promise<void> {
    // axum extractor order: Path, then Json (content type, body, deserialisation), then the
    // handler's own auth — so the plain-text rejections come first (§1.3, §1.6).
    if (!pathUuidOk(res, rawId)) return;
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const isJson = contentType === "application/json" || (contentType.startsWith("application/") && contentType.endsWith("+json"));
    if (!isJson) {
      await this.readRecordedBody(req, record);
      return sendText(res, 415, "Expected request with `Content-Type: application/json`");
    }
    const body = await this.readRecordedBody(req, record);
    if (body.tooLarge) return sendTooLarge(res);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.text) as unknown;
    } catch (error) {
      return sendText(res, 400, `Failed to parse the request body as JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    const deserializeError = (detail: string) => sendText(res, 422, `Failed to deserialize the JSON body into the target type: ${detail}`);
    if (!isPlainObject(parsed)) return deserializeError("invalid type: expected struct NativeResumeRequest");
    if (!("callback_task_id" in parsed)) return deserializeError("missing field `callback_task_id`");
    if (typeof parsed.callback_task_id !== "string") return deserializeError("callback_task_id: invalid type: expected a UUID string");
    const taskId = parseUuid(parsed.callback_task_id);
    if (!taskId.ok) return deserializeError(`callback_task_id: ${taskId.error}`);
    if ("response_mode" in parsed && parsed.response_mode !== null && typeof parsed.response_mode !== "string") {
      return deserializeError("response_mode: invalid type: expected a string");
    }
    const responsePayload = parsed.response_payload ?? null;

    const { run } = this.ownedRun(req, rawId, record);
    const task = this.tasks.get(taskId.uuid);
    if (!task) return sendError(res, 404, "callback_task", "callback task was not found");
    if (task.runId !== run.id) return sendError(res, 403, "callback_task_flow_run", "callback task does not belong to this run");

    // Per-task idempotency (§1.6): identical repeat → stored result; different payload → conflict.
    const payloadFingerprint = canonicalJson(responsePayload);
    if (task.state === "completed" || task.state === "resuming") {
      if (task.payloadFingerprint !== payloadFingerprint) {
        return sendError(res, 409, "callback_resume_payload_conflict", "callback task was already resumed with a different payload");
      }
      if (task.state === "resuming" || !task.result) return sendError(res, 409, "callback_resume_not_completed", "callback resume has not completed yet");
      return sendJson(res, 200, { data: task.result, meta: null });
    }
    if (task.state === "cancelled") return sendError(res, 409, "callback_task_not_pending", "callback task is not pending");
    if (run.status !== "waiting" || task.state !== "pending") {
      return sendError(res, 409, "flow_run_not_waiting_callback", "flow run is not waiting for a callback");
    }

    const results = validateToolResults(responsePayload, task);
    if (typeof results === "string") return sendError(res, 400, "tool_results", results);

    task.state = "resuming";
    task.payloadFingerprint = payloadFingerprint;
    run.status = "running";
    const rendered = results.map((r) => `${r.tool_call_id}=${typeof r.content === "string" ? r.content : JSON.stringify(r.content)}`);
    if (run.script?.resume_delay_ms) await sleep(run.script.resume_delay_ms, [this.closing]);
    // After the tool results the model answers: a forced tool_choice is not forced again (only a
    // scripted `after_tools.tool_calls` asks for tools again), so a client's tool loop ends.
    await executeLeg(this, run, run.script?.after_tools ?? null, {
      emitStarted: false,
      defaultAnswer: () => `Tool results: ${rendered.join(", ")}`,
      inputChars: rendered.join("").length,
      timing: {},
      forcedToolCalls: null,
    });
    const data = runView(run, run.durableMetadata);
    task.state = "completed";
    task.result = data;
    // Resume is JSON only, never SSE, whatever response_mode says (§1.6).
    sendJson(res, 200, { data, meta: null });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Bearer-only auth for native routes (§1.2). */
function authenticate(req: IncomingMessage): Auth {
  const header = req.headers.authorization;
  if (header === undefined) return { ok: false, message: "missing Authorization bearer token" };
  if (!header.startsWith("Bearer ")) return { ok: false, message: "invalid Authorization bearer token" };
  const token = header.slice("Bearer ".length).trim();
  if (token === "") return { ok: false, message: "invalid Authorization bearer token" };
  // The `sk-` prefix is checked before any lookup (§1.2).
  if (!token.startsWith("sk-")) return { ok: false, message: "invalid application API key" };
  const key = findKey(token);
  if (!key) return { ok: false, message: "invalid application API key" };
  return { ok: true, key };
}

function requireKey(req: IncomingMessage): KeySeed {
  const auth = authenticate(req);
  if (!auth.ok) throw new HttpError(401, "not_authenticated", auth.message);
  return auth.key;
}

/** Publication gate (§1.2). */
function requirePublished(key: KeySeed): void {
  if (key.app.publicationVersionId === null) {
    throw new HttpError(409, "application_not_published", "application has no active published public API version");
  }
}

/** axum `Path<Uuid>` rejection: plain-text 400 (§1.3). */
function pathUuidOk(res: ServerResponse, rawId: string): boolean {
  const parsed = parseUuid(rawId);
  if (parsed.ok) return true;
  sendText(res, 400, `Invalid URL: ${parsed.error}`);
  return false;
}

function conversationKey(apiKeyId: string, user: string, id: string): string {
  return `${apiKeyId}\u0000${user}\u0000${id}`;
}

/** `build_flow_run_title` (flow_run_title/mod.rs:7-32): trimmed title, else trimmed query, ≤255 chars, else "Untitled run". */
function runTitle(request: NativeRequest): string {
  const normalize = (value: string | null) => {
    const trimmed = value?.trim() ?? "";
    return trimmed === "" ? null : Array.from(trimmed).slice(0, 255).join("");
  };
  return normalize(request.title) ?? normalize(request.query) ?? "Untitled run";
}

/** Create-time metadata (control-plane native.rs:575-603), as the create and its replays see it. */
function createMetadata(request: NativeRequest, binding: { user: string; id: string } | null): Record<string, unknown> {
  const conversation = binding ? { ...(request.conversation ?? {}), id: binding.id, user: binding.user } : (request.conversation ?? {});
  return {
    model: request.model,
    execution: request.execution,
    metadata: request.metadata,
    title: runTitle(request),
    // `expand_id` echoes the external user, whichever field bound it (native.rs:578-591).
    expand_id: binding?.user ?? null,
    compatibility_mode: "native-v1",
    idempotency_key: request.idempotencyKey,
    external_user: binding?.user ?? null,
    external_conversation_id: binding?.id ?? null,
    external_trace_id: request.traceId,
    request: { conversation, response_mode: request.responseMode, stream_options: request.streamOptions ?? {} },
  };
}

function runHistory(run: RunRecord): HistoryItem[] {
  const nodeStart = run.nodeInput["node-start"];
  return isPlainObject(nodeStart) && Array.isArray(nodeStart.history) ? (nodeStart.history as HistoryItem[]) : [];
}

/** The documented default answer (emulator/script.ts header). */
function echoAnswer(userText: string, run: RunRecord): string {
  const history = runHistory(run);
  const system = run.request.system;
  return (
    `You said: ${userText}` +
    (system ? ` [system: ${system}]` : "") +
    (history.length ? ` [history: ${history.map((h) => `${h.role}: ${h.content}`).join(" | ")}]` : "")
  );
}

function inputChars(userText: string, run: RunRecord): number {
  return userText.length + (run.request.system?.length ?? 0) + runHistory(run).reduce((n, h) => n + h.content.length, 0);
}

/** `llm_tool_calls` resume payload: exactly one result per requested call (§1.6, §1.3 messages). */
function validateToolResults(payload: unknown, task: TaskRecord): Array<{ tool_call_id: string; content: unknown }> | string {
  if (!isPlainObject(payload) || !Array.isArray(payload.tool_results)) return "llm tool callback response requires tool_results";
  const expected = new Set(task.toolCalls.map((c) => c.id));
  const seen = new Set<string>();
  const results: Array<{ tool_call_id: string; content: unknown }> = [];
  for (const item of payload.tool_results) {
    if (!isPlainObject(item) || typeof item.tool_call_id !== "string") return "llm tool callback result is missing tool_call_id";
    const id = item.tool_call_id;
    if (!expected.has(id)) return `unexpected tool result for ${id}`;
    if (seen.has(id)) return `duplicate tool result for ${id}`;
    seen.add(id);
    // NUL characters are escaped before storage (§1.6).
    const content = typeof item.content === "string" ? item.content.replaceAll("\u0000", "\\u0000") : (item.content ?? null);
    results.push({ tool_call_id: id, content });
  }
  for (const id of expected) if (!seen.has(id)) return `missing tool result for ${id}`;
  return results;
}

