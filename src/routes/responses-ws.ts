/**
 * OpenAI Responses over WebSocket (OpenAI's "WebSocket mode"):
 *
 *   GET /v1/responses  with `Upgrade: websocket`   one socket, many responses
 *
 * The upgrade is authenticated like any request (`Authorization: Bearer` or `x-api-key`): no key, or
 * a key native refuses, is the usual HTTP 401 in OpenAI's envelope and no socket is opened. Then
 * each client message `{"type":"response.create", …create fields…}` is one create through the very
 * pipeline of `POST /v1/responses` (`startCreate`, responses.ts) and its events go back one JSON
 * message each — exactly the events of the SSE stream (same encoder: ids, `sequence_number`s, one
 * terminal event), without SSE's `[DONE]`.
 *
 * OpenAI's rules (developers.openai.com/api/reference/resources/responses/websocket-events, the
 * WebSocket mode guide, openai-node 7.57 `ResponsesClientEvent`), and how they map onto native runs:
 * - `stream` is implicit on a socket: ignored. `background` is not supported over WebSocket: `true`
 *   is an `error`. `generate: false` (warming up without generating) has no native counterpart —
 *   every native run generates — so it is an `error` naming `generate`.
 * - Turns with the same `stream_id` (or none) run in order, one at a time: a `response.create` sent
 *   while one is in flight waits behind it (FIFO), as OpenAI queues a lane. Different `stream_id`s
 *   are independent native runs and run side by side; their events echo the `stream_id`. At most
 *   `MAX_PENDING_TURNS` turns wait or run per socket.
 * - `response.steer` (queue input into a running response) has no native counterpart — a native run
 *   takes no input once started — and is answered `response.steer.failed` with
 *   `steering_not_supported`, returning the input. `response.processed` (the client acknowledging a
 *   response, Codex) needs nothing and is answered with nothing.
 * - `previous_response_id` continues stored responses from any socket (the ownership index, as over
 *   HTTP); a `store: false` response only on the socket that created it: the socket keeps response
 *   id → native run id (never content, invariant 1), and a continuation from it that fails evicts
 *   the entry, so a stale chain is not retried. Anywhere else the id is `previous_response_not_found`.
 * - Errors are `{"type":"error","status":…,"error":{type,code,message,param}}` and the socket stays
 *   usable; only a message over the size limit (1009), a client close, the idle timeout (1000) or a
 *   gateway fault (1011) end it.
 * - The client closing the socket cancels the native runs in flight (the HTTP path's cancel,
 *   run-steps.ts): each turn's caller has a signal that aborts on close while the turn runs — and
 *   never after it, so a run waiting for tool outputs outlives the socket.
 *
 * Limits: a message is at most `MAX_BODY_BYTES` (the HTTP body cap; UTF-8 bytes), binary messages are
 * refused, an idle socket closes after `WEBSOCKET_IDLE_TIMEOUT_MS`. Each turn writes its own request
 * log line (method `WS`, request id `<socket request id>.<turn>`).
 *
 * Lifetime: a socket lives at most `WEBSOCKET_MAX_CONNECTION_MS` (60 min, OpenAI's limit: "connections
 * are limited to 60 minutes", error `websocket_connection_limit_reached`, WebSocket mode guide). No
 * document says OpenAI cuts a response mid-stream at the limit, and Codex reads the code as "open a
 * new connection and send the turn again" (codex-rs/codex-api/src/endpoint/responses_websocket.rs,
 * openai/codex@00033d92: an `error` event in answer to a `response.create`, retryable). So a turn
 * already running at the limit streams to its end; every turn that would start later — queued before
 * the limit or sent after it — is answered with that `error` (status 400) instead; once no turn runs
 * the socket sends it (if it has not yet) and closes with 1000.
 */
import { lazySchema } from "../lazy";
import { Hono } from "hono/quick";
import * as z from "../zod";
import { parseJsonText } from "../http/body";
import { callerOf, type GatewayContext, type GatewayEnv } from "../http/context";
import { GatewayError, toGatewayError } from "../http/errors";
import { RequestLog } from "../http/log";
import { acceptSocket, CLOSE_CODES, isWebSocketUpgrade, pumpToSocket, readIncoming, upgradeResponse } from "../http/websocket";
import { connectionLimitReached, socketErrorEvent, steerFailedEvent, withStreamId } from "../protocols/openai-responses/socket-events";
import { ResponsesMessageProjector } from "../protocols/openai-responses/stream";
import { answerFirstItem, startCreate } from "./responses";
import { rejectInvalidKey, type ConnectionResponses } from "./responses-continuation";

export const responsesSocketRoutes = new Hono<GatewayEnv>();

const ROUTE = "/v1/responses";
/** Turns waiting or running on one socket, all lanes together. */
export const MAX_PENDING_TURNS = 16;
/** `store: false` responses one socket remembers (id → run id); the oldest is forgotten first. */
export const MAX_CONNECTION_RESPONSES = 1024;
const MAX_STREAM_ID_CHARS = 64;

/** The envelope every client event shares; the rest is the event's own. */
const ClientEvent = lazySchema(() => z.looseObject({ type: z.string() }));

const CreateEnvelope = lazySchema(() =>
  z.object({
    stream_id: z.optional(z.string().check(z.minLength(1), z.maxLength(MAX_STREAM_ID_CHARS))),
    generate: z.optional(z.boolean()),
    background: z.nullish(z.boolean()),
  }),
);

responsesSocketRoutes.get(ROUTE, async (c) => {
  if (!isWebSocketUpgrade(c.req.raw.headers)) {
    throw new GatewayError({
      status: 426,
      message: "GET /v1/responses opens a Responses WebSocket: send `Upgrade: websocket` (create a response over HTTP with POST /v1/responses)",
      code: "upgrade_required",
      headers: { upgrade: "websocket", connection: "Upgrade" },
    });
  }
  const caller = callerOf(c); // 401 without a key
  // A key native refuses is the upgrade's 401, not a socket whose every turn fails.
  await rejectInvalidKey(caller);
  const { client, server } = acceptSocket();
  new ResponsesSocket(c, server).start();
  return upgradeResponse(client);
});

/** One open socket: its lanes of turns, its own `store: false` responses, its limits. */
class ResponsesSocket implements ConnectionResponses {
  private readonly unstored = new Map<string, string>();
  private readonly lanes = new Map<string, Promise<void>>();
  /** Aborts when the socket is gone: every turn in flight stops and cancels its native run. */
  private readonly closing = new AbortController();
  private turns = 0;
  private pending = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private lifetimeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Past `WEBSOCKET_MAX_CONNECTION_MS`: no turn starts any more. */
  private expired = false;
  /** Whether `websocket_connection_limit_reached` went out since the limit (the closing frame need not repeat it). */
  private limitSent = false;

  constructor(
    private readonly c: GatewayContext,
    private readonly socket: WebSocket,
  ) {}

  start(): void {
    this.socket.addEventListener("message", (event) => this.received(event.data));
    this.socket.addEventListener("close", () => this.close(CLOSE_CODES.normal, "closed by the client"));
    this.socket.addEventListener("error", () => this.close(CLOSE_CODES.internalError, "socket error"));
    this.armIdle();
    this.lifetimeTimer = setTimeout(() => this.expire(), this.config.WEBSOCKET_MAX_CONNECTION_MS);
  }

  runOf(responseId: string): string | undefined {
    return this.unstored.get(responseId);
  }

  private get config() {
    return this.c.get("config");
  }

  private received(data: string | ArrayBuffer): void {
    if (this.closing.signal.aborted) return;
    this.armIdle();
    const maxBytes = this.config.MAX_BODY_BYTES;
    const incoming = readIncoming(data, maxBytes);
    if (incoming.kind === "too_large") {
      this.close(CLOSE_CODES.messageTooBig, `message over the ${maxBytes}-byte limit`);
      return;
    }
    try {
      if (incoming.kind === "binary") throw GatewayError.invalidRequest("binary messages are not supported: send each client event as JSON text", null, "invalid_event");
      const parsed = ClientEvent.safeParse(parseJsonText(incoming.text, "the message"));
      if (!parsed.success) throw GatewayError.invalidRequest("a client event is a JSON object with a string `type`", "type", "invalid_event");
      const event = parsed.data;
      if (event.type === "response.create") this.create(event);
      else if (event.type === "response.steer") this.refuseSteer(event);
      else if (event.type === "response.processed") this.acknowledged(event);
      else throw GatewayError.invalidRequest(`unknown client event type '${event.type.slice(0, 64)}': send 'response.create'`, "type", "unknown_event_type");
    } catch (error) {
      this.sendError(toGatewayError(error), undefined);
    }
  }

  /** Queues one turn on its lane (FIFO), or refuses it at once. */
  private create(event: Record<string, unknown>): void {
    const envelope = CreateEnvelope.safeParse(event);
    if (!envelope.success) {
      const param = String(envelope.error.issues[0]?.path[0] ?? "type");
      throw GatewayError.invalidRequest(`invalid '${param}': ${envelope.error.issues[0]?.message ?? "invalid value"}`, param);
    }
    const streamId = envelope.data.stream_id;
    try {
      this.enqueue(event, envelope.data, streamId);
    } catch (error) {
      this.sendError(toGatewayError(error), streamId);
    }
  }

  private enqueue(event: Record<string, unknown>, envelope: z.infer<typeof CreateEnvelope>, streamId: string | undefined): void {
    if (this.expired) throw this.limitReached();
    if (envelope.background === true) throw GatewayError.invalidRequest("background is not supported over WebSocket: the answer always streams on the socket", "background", "unsupported_parameter");
    if (envelope.generate === false) {
      throw GatewayError.unsupported("generate: false (warming up without a response) is not supported: every 1flowbase run generates its answer", "generate");
    }
    if (this.pending >= MAX_PENDING_TURNS) {
      throw new GatewayError({ status: 429, message: `at most ${MAX_PENDING_TURNS} responses may wait or run on one socket; wait for a terminal event`, code: "too_many_pending_responses" });
    }
    // The WebSocket envelope is no create field; `stream` is implicit on a socket.
    const { type: _type, stream_id: _streamId, generate: _generate, stream: _stream, ...body } = event;
    const lane = streamId ?? "";
    const turn = (this.lanes.get(lane) ?? Promise.resolve()).then(() => this.runTurn(body, streamId));
    this.lanes.set(lane, turn);
    this.pending++;
    this.armIdle();
    void turn.finally(() => {
      this.pending--;
      if (this.lanes.get(lane) === turn) this.lanes.delete(lane);
      if (this.expired && this.pending === 0) this.endAtLimit();
      else this.armIdle();
    });
  }

  /** One create, start to terminal event; never rejects (its failures are the client's `error` message). */
  private async runTurn(body: Record<string, unknown>, streamId: string | undefined): Promise<void> {
    if (this.closing.signal.aborted) return;
    // Queued before the limit, starting after it: refused like a create sent now (never started, nothing to cut).
    if (this.expired) return this.sendError(this.limitReached(), streamId);
    const requestId = `${this.c.get("requestId")}.${++this.turns}`;
    const log = new RequestLog(requestId, "WS", ROUTE, () => this.config.LOG_LEVEL);
    const previousId = typeof body.previous_response_id === "string" ? body.previous_response_id : null;
    let failed = true;
    // The turn's own "client went away": the socket closing while the turn runs — not after. The
    // run's cancel-on-leave listens to it (run-steps.ts), and a run that ended its turn waiting for
    // tool outputs must outlive the socket: the client continues it from another socket or over
    // HTTP (a reconnect after the lifetime limit does exactly that), as an HTTP request's signal
    // stops mattering once its response is complete.
    const turnGone = new AbortController();
    const socketClosed = (): void => turnGone.abort();
    this.closing.signal.addEventListener("abort", socketClosed, { once: true });
    try {
      const caller = callerOf(this.c, { requestId, log, signal: turnGone.signal });
      const created = await startCreate(caller, body, { idempotency: null, headers: this.c.req.raw.headers, connection: this });
      const unstored = created.request.store === false;
      const context = created.context;
      const projector = new ResponsesMessageProjector({
        ...context,
        onStart: (start) => {
          context.onStart?.(start);
          if (unstored) this.remember(start.responseId, start.runId);
        },
      });
      if (created.readFirst) await answerFirstItem(created.items, projector, created.claim);
      const logged = log.streamStarted();
      log.responded(200, ROUTE, true);
      const outcome = await pumpToSocket(created.items, projector, {
        send: (message) => this.send(message, streamId),
        signal: turnGone.signal,
        keepaliveMs: this.config.KEEPALIVE_INTERVAL_MS,
        onFirstMessage: logged.firstBytes,
      });
      if (outcome.end === "client_closed") created.run?.clientLeft();
      logged.ended(outcome.end, outcome.fault);
      failed = outcome.end !== "completed" || projector.encoder.failure !== null;
    } catch (error) {
      const gatewayError = toGatewayError(error);
      log.failed(gatewayError, error);
      log.responded(gatewayError.status, ROUTE, false);
      this.sendError(gatewayError, streamId);
    } finally {
      this.closing.signal.removeEventListener("abort", socketClosed);
      // A continuation that failed does not stay continuable from here (OpenAI evicts it too).
      if (failed && previousId !== null) this.unstored.delete(previousId);
    }
  }

  private remember(responseId: string, runId: string): void {
    this.unstored.delete(responseId);
    this.unstored.set(responseId, runId);
    if (this.unstored.size > MAX_CONNECTION_RESPONSES) {
      const oldest = this.unstored.keys().next();
      if (!oldest.done) this.unstored.delete(oldest.value);
    }
  }

  /**
   * `response.processed {response_id}`: the client saying it has handled a response (Codex sends it,
   * codex-rs/codex-api/src/common.rs `ResponsesWsRequest::ResponseProcessed`, openai/codex@00033d92).
   * It asks for no answer and changes no output: nothing to do here — the socket keeps only run ids,
   * bounded by `MAX_CONNECTION_RESPONSES` — so it is validated and answered with silence. An `error`
   * in reply would be read by Codex as the failure of its next turn.
   */
  private acknowledged(event: Record<string, unknown>): void {
    if (typeof event.response_id !== "string" || event.response_id === "") {
      throw GatewayError.invalidRequest("response.processed names the response it acknowledges: a string `response_id`", "response_id", "invalid_event");
    }
  }

  /** Native runs take no input once started: steering is refused, its input handed back. */
  private refuseSteer(event: Record<string, unknown>): void {
    this.send(steerFailedEvent(typeof event.previous_response_id === "string" ? event.previous_response_id : "", event.input ?? null), undefined);
  }

  private sendError(error: GatewayError, streamId: string | undefined): void {
    this.send(socketErrorEvent(error), streamId);
  }

  /** Sends one event's JSON, with the lane's `stream_id` when the create named one. False once the socket is gone. */
  private send(message: string, streamId: string | undefined): boolean {
    if (this.closing.signal.aborted) return false;
    const laned = withStreamId(message, streamId);
    try {
      this.socket.send(laned);
      return true;
    } catch {
      this.close(CLOSE_CODES.internalError, "send failed");
      return false;
    }
  }

  private limitReached(): GatewayError {
    this.limitSent = true;
    return connectionLimitReached(this.config.WEBSOCKET_MAX_CONNECTION_MS);
  }

  /** The lifetime limit: nothing new starts; the socket ends now if idle, else when its last turn ends. */
  private expire(): void {
    this.lifetimeTimer = undefined;
    if (this.closing.signal.aborted) return;
    this.expired = true;
    if (this.pending === 0) this.endAtLimit();
  }

  /** Tells the client why (unless a refused turn already did) and closes normally. */
  private endAtLimit(): void {
    if (!this.limitSent) this.sendError(this.limitReached(), undefined);
    this.close(CLOSE_CODES.normal, "websocket_connection_limit_reached");
  }

  /** While no turn waits or runs, the socket closes after `WEBSOCKET_IDLE_TIMEOUT_MS` without a client message. */
  private armIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.pending > 0 || this.closing.signal.aborted) return;
    this.idleTimer = setTimeout(() => this.close(CLOSE_CODES.normal, "idle timeout"), this.config.WEBSOCKET_IDLE_TIMEOUT_MS);
  }

  /** Ends the socket once: turns in flight stop and cancel their native runs. */
  private close(code: number, reason: string): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.lifetimeTimer !== undefined) clearTimeout(this.lifetimeTimer);
    this.lifetimeTimer = undefined;
    try {
      this.socket.close(code, reason);
    } catch {
      // already closed by the other side
    }
  }
}
