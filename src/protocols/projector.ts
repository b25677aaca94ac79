/**
 * The seam between native streams and client protocols.
 *
 * A `StreamProjector` is a per-request state machine: native stream items in, complete SSE frames
 * out. It owns every protocol detail (ids, indexes, sequence numbers, terminal events); the shared
 * pipeline (`src/http/sse.ts`) owns transport (one enqueue per frame, keepalives while idle, closing
 * after the terminal frame, aborting upstream when the client goes away).
 *
 * Rules every projector keeps:
 * - exactly one terminal frame (protocol success or protocol error), after which `done` is true and
 *   `push` returns nothing;
 * - a `fault` item (cut stream, reset, idle timeout, malformed SSE) and native `run.failed` /
 *   `run.cancelled` become the protocol's terminal error frames — never a silent close;
 * - frames are complete (`event:`/`data:` lines + blank line) strings; JSON is single-line.
 */
import type { NativeStreamItem } from "../native/events";

export interface StreamProjector {
  /** Frames for one native stream item. May be async (ownership claim, usage lookup on the run). */
  push(item: NativeStreamItem): readonly string[] | Promise<readonly string[]>;
  /** A frame that keeps the connection alive while native is idle (an SSE comment or `ping`). */
  keepalive(): string;
  /** True once the terminal frame has been produced. */
  readonly done: boolean;
}

/** Formats one SSE frame with an event name (`event: x\ndata: {...}\n\n`). */
export function namedFrame(event: string, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}

/** Formats one data-only SSE frame (`data: {...}\n\n`), as Chat Completions requires. */
export function dataFrame(json: string): string {
  return `data: ${json}\n\n`;
}

/** SSE comment used as keepalive by the OpenAI protocols (ignored by every SSE parser). */
export const KEEPALIVE_COMMENT = ": keepalive\n\n";
