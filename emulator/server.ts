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
import {
  type RunRecord,
  type RunnerHost,
  type TaskRecord,
  cancelRun,
  executePhase,
  isTerminal,
  replayStream,
  runView,
  waitUntilSettled,
} from "./runs";
import { EMULATOR_KEYS, type EmulatorScript, parseDirective } from "./script";
import { type KeyName, type KeySeed, findKey } from "./seed";
import { NullSink, SseWriter } from "./sse";
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

/** axum 0.7's default body limit (no DefaultBodyLimit is configured natively, §1.3). */
const BODY_LIMIT = 2 * 1024 * 1024;
const MAX_RECORDED_REQUESTS = 1000;
/** Settled runs kept in memory (oldest evicted first; their ids then answer 404). */
const MAX_RUNS = 10_000;
/** Conversation history rehydration limit (§3.4). */
const REHYDRATE_LIMIT = 50;
const NATIVE_PREFIX = "/api/agent/v1";

interface ConversationTurn {
  role: "user" | "assistant";
  content: string;
}

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
  const emulator = new Emulator(options.keepaliveMs ?? 15_000, options.log ?? false);
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
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
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

function readBody(req: IncomingMessage): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers["content-length"] ?? 0) > BODY_LIMIT;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) tooLarge = true;
      // Keep draining an oversized body (so the 413 can be delivered) but stop storing it.
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", () => resolve({ tooLarge, text: tooLarge ? "" : Buffer.concat(chunks).toString("utf8") }));
    req.on("error", reject);
  });
}

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
  /** (api key id, external user, conversation id) → turns (§3.2, §3.4). */
  private conversations = new Map<string, ConversationTurn[]>();
  private requests: RecordedRequest[] = [];
  private requestSeq = 0;

  constructor(
    private readonly keepaliveMs: number,
    private readonly log: boolean,
  ) {}

  shutdown(): void {
    this.closeController.abort();
  }

  registerTask(task: TaskRecord): void {
    this.tasks.set(task.id, task);
  }

  onTurnFinished(run: RunRecord): void {
    if (!run.binding) return;
    const key = conversationKey(run.key.apiKeyId, run.binding.user, run.binding.id);
    const turns = this.conversations.get(key) ?? [];
    turns.push({ role: "user", content: run.request.query }, { role: "assistant", content: run.answer ?? "" });
    this.conversations.set(key, turns);
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
    };
    this.requests.push(record);
    if (this.requests.length > MAX_RECORDED_REQUESTS) this.requests.splice(0, this.requests.length - MAX_RECORDED_REQUESTS);
    return record;
  }

  private async readRecordedBody(req: IncomingMessage, record: RecordedRequest): Promise<BodyRead> {
    const body = await readBody(req);
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
      return sendJson(res, 200, { requests: list });
    }
    if (path === "/__emulator/reset" && method === "POST") {
      await readBody(req);
      for (const run of this.runs.values()) if (!isTerminal(run.status)) run.cancel.abort();
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
      return sendJson(res, 200, { data: runView(run, "durable"), meta: null, key: run.key.name, answer_truncated: run.answerTruncated });
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
          return this.replay(res, run, script);
        }
      }
    }

    const run = this.newRun(key, request, script, directive.text, fingerprint);
    record.run_id = run.id;
    if (request.idempotencyKey !== null && fingerprint !== null) {
      this.idempotency.set(`${key.apiKeyId}\u0000${request.idempotencyKey}`, { fingerprint, runId: run.id });
    }

    if (script?.delay_ms) await sleep(script.delay_ms, [this.closing]);
    if (this.closing.aborted) return;

    const phaseOptions = {
      emitStarted: true,
      defaultAnswer: () => echoAnswer(directive.text, run),
      inputChars: inputChars(directive.text, run),
      timing: { wait_ms: script?.wait_ms, delta_delay_ms: script?.delta_delay_ms, stall_ms: script?.stall_ms },
    };

    if (request.responseMode === "streaming") {
      const writer = new SseWriter(res, this.keepaliveMs, {
        drop_after: script?.drop_after,
        malformed: script?.malformed,
        end_without_terminal: script?.end_without_terminal,
      });
      await executePhase(this, run, script, writer, phaseOptions);
      await writer.end();
      return;
    }
    if (request.responseMode !== "blocking") {
      // Any other mode creates the run without executing it (fork: status queued, §1.4).
      run.status = "queued";
      return sendJson(res, 201, { data: runView(run, "create"), meta: null });
    }
    await executePhase(this, run, script, new NullSink(), phaseOptions);
    if (this.closing.aborted) return;
    // A blocking exchange has no events to count: `drop_after` resets the connection instead of
    // answering (native holds it for the whole run, §1.5, so that is where a reset hits).
    if (script?.drop_after !== undefined) {
      res.socket?.destroy();
      return;
    }
    if (script?.malformed_body) return sendText(res, 201, '{"data": {"id": "not json after all', { "content-type": "application/json" });
    sendJson(res, 201, { data: runView(run, "create"), meta: null });
  }

  /** Same idempotency key + same body: the existing run, no new run (§1.4.2). */
  private async replay(res: ServerResponse, run: RunRecord, script: EmulatorScript | null): Promise<void> {
    await waitUntilSettled(run);
    if (run.request.responseMode === "streaming") {
      const writer = new SseWriter(res, this.keepaliveMs, {});
      await replayStream(run, writer);
      await writer.end();
      return;
    }
    if (script?.malformed_body) return sendText(res, 201, '{"data": {"id": "not json after all', { "content-type": "application/json" });
    sendJson(res, 201, { data: runView(run, "create"), meta: null });
  }

  private newRun(key: KeySeed, request: NativeRequest, script: EmulatorScript | null, userText: string, fingerprint: string | null): RunRecord {
    const id = uuidv7();
    // Conversation binding (§3.4): only with an external user; expand_id wins over conversation.user.
    const nonEmpty = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? v : null);
    const externalUser = nonEmpty(request.expandId) ?? nonEmpty(request.conversation?.user);
    const clientConversationId = typeof request.conversation?.id === "string" ? request.conversation.id : null;
    const binding = externalUser !== null ? { user: externalUser, id: clientConversationId ?? conversationId() } : null;

    // Rehydration happens only when the request carries no history (§3.4).
    const history: HistoryItem[] = request.history.length === 0 && binding ? this.rehydrate(key, binding) : request.history;

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

    const conversationPayload = binding ? { ...(request.conversation ?? {}), id: binding.id, user: binding.user } : (request.conversation ?? {});
    const title = request.title ?? Array.from(request.query.trim()).slice(0, 255).join("");
    const common = {
      expand_id: request.expandId,
      external_user: binding?.user ?? null,
      external_conversation_id: binding?.id ?? null,
      external_trace_id: request.traceId,
      compatibility_mode: "native-v1",
      idempotency_key: request.idempotencyKey,
    };
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
      // Create-time metadata (§1.5).
      createMetadata: {
        model: request.model,
        execution: request.execution,
        metadata: request.metadata,
        title,
        expand_id: common.expand_id,
        compatibility_mode: common.compatibility_mode,
        idempotency_key: common.idempotency_key,
        external_user: common.external_user,
        external_conversation_id: common.external_conversation_id,
        external_trace_id: common.external_trace_id,
        request: { conversation: conversationPayload, response_mode: request.responseMode, stream_options: request.streamOptions ?? {} },
      },
      // Durable metadata on get/cancel/resume has fewer keys (§1.5).
      durableMetadata: {
        title,
        expand_id: common.expand_id,
        external_user: common.external_user,
        external_conversation_id: common.external_conversation_id,
        external_trace_id: common.external_trace_id,
        compatibility_mode: common.compatibility_mode,
        idempotency_key: common.idempotency_key,
        request: { conversation: { id: binding?.id ?? null, user: binding?.user ?? null } },
      },
      conversationPayload,
      binding,
      answer: null,
      segments: null,
      requiredAction: null,
      toolCalls: null,
      usage: null,
      error: null,
      pendingTask: null,
      phase: null,
      seq: 0,
      cancel: new AbortController(),
      waiters: [],
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

  /** Previous turns of the bound conversation, normalised as native does (§3.4). */
  private rehydrate(key: KeySeed, binding: { user: string; id: string }): HistoryItem[] {
    const turns = this.conversations.get(conversationKey(key.apiKeyId, binding.user, binding.id)) ?? [];
    const out: HistoryItem[] = [];
    for (const turn of turns.slice(-REHYDRATE_LIMIT)) {
      const content = stripHistoryMarkup(turn.content);
      if (content === "") continue;
      const previous = out[out.length - 1];
      if (turn.role === "user" && previous?.role === "user" && previous.content === content) continue;
      out.push({ role: turn.role, content });
    }
    return out;
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
    sendJson(res, 200, { data: runView(run, "durable"), meta: null });
  }

  private async cancel(req: IncomingMessage, res: ServerResponse, rawId: string, record: RecordedRequest): Promise<void> {
    await this.readRecordedBody(req, record);
    if (!pathUuidOk(res, rawId)) return;
    const { run } = this.ownedRun(req, rawId, record);
    // Cancellable from queued/running/waiting; terminal → invalid_state (§1.6).
    if (isTerminal(run.status)) return sendError(res, 409, "invalid_state", "run is not in a valid state for this operation");
    cancelRun(run);
    sendJson(res, 200, { data: runView(run, "durable"), meta: null });
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
    if (run.status !== "waiting" || run.pendingTask !== task) {
      return sendError(res, 409, "flow_run_not_waiting_callback", "flow run is not waiting for a callback");
    }

    const results = validateToolResults(responsePayload, task);
    if (typeof results === "string") return sendError(res, 400, "tool_results", results);

    task.state = "resuming";
    task.payloadFingerprint = payloadFingerprint;
    run.pendingTask = null;
    run.requiredAction = null;
    run.toolCalls = null;
    const rendered = results.map((r) => `${r.tool_call_id}=${typeof r.content === "string" ? r.content : JSON.stringify(r.content)}`);
    if (run.script?.resume_delay_ms) await sleep(run.script.resume_delay_ms, [this.closing]);
    await executePhase(this, run, run.script?.after_tools ?? null, new NullSink(), {
      emitStarted: false,
      defaultAnswer: () => `Tool results: ${rendered.join(", ")}`,
      inputChars: rendered.join("").length,
      timing: {},
    });
    const data = runView(run, "durable");
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

/** Strips `<think>`, `<system-reminder>`, `<tool_call>` blocks and keeps text after the beautified marker (§3.4). */
function stripHistoryMarkup(text: string): string {
  let out = text
    .replace(/<think>[\s\S]*?<\/think>/g, "")
    .replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, "")
    .replace(/<tool_call>[\s\S]*?<\/tool_call>/g, "");
  const marker = "下面是美化后内容";
  const at = out.indexOf(marker);
  if (at >= 0) out = out.slice(at + marker.length);
  return out.trim();
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

