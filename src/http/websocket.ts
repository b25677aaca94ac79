/**
 * The WebSocket transport: accepting a socket on a Workers `WebSocketPair`, reading client messages
 * within the size limit, and pumping one answer's projected events out as messages.
 *
 * What workerd's WebSocket gives a worker, and what follows from it:
 * - `send()` is synchronous and returns nothing; the runtime has no `bufferedAmount` and no write
 *   promise (workers-types `WebSocket`), so a worker cannot see a slow reader. The pump therefore
 *   keeps nothing of its own: each native chunk's events are handed to the runtime as they are
 *   projected, and the worker's JS heap holds at most one chunk's messages. What a reader that stops
 *   reading costs is the runtime's own outgoing queue (outside the isolate's heap) — bounded by one
 *   answer, which native bounds — and not the worker's memory. The SSE transport, whose body is a
 *   byte stream with backpressure, slows native down instead (http/sse.ts); a socket cannot.
 * - A worker cannot send protocol pings (no `ping()`); the runtime answers the client's own pings.
 *   While native is silent the pump sends `{"type":"keepalive"}` messages every `keepaliveMs`, so
 *   proxies and idle timers between the client and the edge see traffic (the SSE transport's
 *   `: keepalive` comment, client-protocols.md §3.1). Clients skip event types they do not know
 *   (openai-node's `ResponsesWS` emits them as plain events).
 * - Close codes (RFC 6455 §7.4.1): 1000 normal (client's close echoed, idle timeout), 1003 is not
 *   used (a binary message is answered with an `error` and the socket stays usable), 1008 a policy
 *   violation, 1009 a message over the size limit, 1011 a gateway fault.
 */
import { readNativeItemBatches, type NativeStreamItem } from "../native/events";
import type { StreamEnd } from "./log";
import { endWithGatewayFault } from "./sse";

/** RFC 6455 §7.4.1 close codes the gateway sends. */
export const CLOSE_CODES = {
  normal: 1000,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
} as const;

/** The keepalive message: a type no Responses client acts on. */
export const KEEPALIVE_MESSAGE = JSON.stringify({ type: "keepalive" });

/** True for a WebSocket upgrade request (`Upgrade: websocket`, RFC 6455 §4.2.1; case-insensitive). */
export function isWebSocketUpgrade(headers: Headers): boolean {
  return (headers.get("upgrade") ?? "").trim().toLowerCase() === "websocket";
}

/** A new socket: `client` goes out in the 101 response, `server` is the worker's end, already accepted. */
export function acceptSocket(): { client: WebSocket; server: WebSocket } {
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  return { client, server };
}

/** The 101 answer that hands `client` to the runtime. */
export function upgradeResponse(client: WebSocket): Response {
  return new Response(null, { status: 101, webSocket: client });
}

/** One client message, as far as the transport judges it. */
export type IncomingMessage = { kind: "text"; text: string } | { kind: "binary" } | { kind: "too_large"; bytes: number };

const encoder = new TextEncoder();

/**
 * Classifies a received message against `maxBytes` (UTF-8 bytes of a text message; the runtime's own
 * limit is larger). Text is measured only when it could be too large: a UTF-16 unit is at most 3
 * UTF-8 bytes.
 */
export function readIncoming(data: string | ArrayBuffer, maxBytes: number): IncomingMessage {
  if (typeof data !== "string") return data.byteLength > maxBytes ? { kind: "too_large", bytes: data.byteLength } : { kind: "binary" };
  if (data.length * 3 <= maxBytes) return { kind: "text", text: data };
  const bytes = data.length > maxBytes ? data.length : encoder.encode(data).byteLength;
  return bytes > maxBytes ? { kind: "too_large", bytes } : { kind: "text", text: data };
}

/** What the pump drives: one answer's reader and encoder, producing whole JSON messages. */
export interface MessageProjector {
  /** Reads one native item; its messages wait until `take`. A promise while the item needs the run record. */
  push(item: NativeStreamItem): void | PromiseLike<void>;
  /** The messages produced since the last call. */
  take(): string[];
  /** True once the terminal event has been produced. */
  readonly done: boolean;
}

export interface SocketPumpOptions {
  /** Hands one message to the runtime; false once the socket can take no more (closed). */
  send(message: string): boolean;
  /** Aborts when the client has gone away: the pump stops reading native at once. */
  signal: AbortSignal;
  /** Longest silence towards the client while native is idle. */
  keepaliveMs: number;
  /** Called once, when the first message is handed to the runtime (time to first byte). */
  onFirstMessage?: () => void;
}

/** How a pumped answer ended, and what a projector threw (a gateway fault) if it did. */
export interface SocketPumpEnd {
  end: StreamEnd;
  fault?: unknown;
}

/**
 * Sends the messages `projector` makes of `items` (messages it already holds first) until its
 * terminal event, the client going away, or a fault. A projector that throws still ends the answer
 * with its own terminal error events when it can — the client is never left waiting on the socket.
 */
export async function pumpToSocket(items: ReadableStream<NativeStreamItem>, projector: MessageProjector, options: SocketPumpOptions): Promise<SocketPumpEnd> {
  const reader = readNativeItemBatches(items);
  let lastSentAt = Date.now();
  let open = true;
  let firstMessage = options.onFirstMessage;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const send = (messages: readonly string[]): void => {
    for (const message of messages) {
      if (!open) return;
      if (!options.send(message)) {
        open = false;
        return;
      }
      lastSentAt = Date.now();
      firstMessage?.();
      firstMessage = undefined;
    }
  };
  const gone = (): boolean => !open || options.signal.aborted;
  const stopReading = (): void => {
    void reader.cancel().catch(() => undefined);
  };
  options.signal.addEventListener("abort", stopReading, { once: true });

  // One timer per idle period (as in http/sse.ts): a send only records its time, and a timer that
  // fires early re-arms for the rest.
  const scheduleKeepalive = (delayMs: number): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (gone() || projector.done) return;
      const idleMs = Date.now() - lastSentAt;
      if (idleMs < options.keepaliveMs) return scheduleKeepalive(options.keepaliveMs - idleMs);
      send([KEEPALIVE_MESSAGE]);
      scheduleKeepalive(options.keepaliveMs);
    }, delayMs);
  };

  try {
    send(projector.take());
    scheduleKeepalive(options.keepaliveMs);
    while (!projector.done) {
      if (gone()) return { end: "client_closed" };
      const batch = await reader.read();
      if (gone()) return { end: "client_closed" };
      // readNativeStream always ends with a terminal event or a fault.
      if (batch === null) return { end: projector.done ? "completed" : "error" };
      for (const item of batch) {
        // Await only real promises: nearly every item is answered synchronously.
        const pending = projector.push(item);
        if (pending) {
          send(projector.take());
          await pending;
          if (gone()) return { end: "client_closed" };
        }
        if (projector.done) break;
      }
      send(projector.take());
    }
    return { end: gone() ? "client_closed" : "completed" };
  } catch (error) {
    if (gone()) return { end: "client_closed" };
    await endWithGatewayFault(projector, send);
    return { end: "error", fault: error };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal.removeEventListener("abort", stopReading);
    stopReading();
  }
}
