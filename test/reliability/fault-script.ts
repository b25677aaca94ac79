/**
 * The contract between the fault-matrix tests (in workerd) and the misbehaving fake native server
 * (`fault-native.ts`, in Node): what the fake does, per endpoint, for one test case.
 *
 * A case's behaviour travels in the gateway's own setting: the test points NATIVE_API_BASE_URL at
 * `<fake>/f/<case id>/<base64url(JSON spec)>`, and the gateway appends `/api/agent/v1/...` as it does
 * for a real native server (invariant 6: no code path knows this is a fake). The fake records every
 * request and how its response ended, per case id, at `GET <fake>/__fault/log/<case id>`.
 *
 * Pure data and string helpers: imported by both sides, so nothing here may import `node:*` or
 * `cloudflare:test`.
 */

/** One SSE frame the fake sends as is (`event:` + one-line `data:`). */
export interface FaultFrame {
  event: string;
  data: Record<string, unknown>;
}

/** What one native endpoint does. */
export type FaultBehaviour =
  /** A 3xx whose Location is the fake's sink (`/sink/<case id>/…`), which answers a complete, valid run. */
  | { kind: "redirect"; status: number }
  /** 200 text/event-stream: `frames`, then `then` forever (or the end, for `end`). */
  | {
      kind: "sse";
      frames: FaultFrame[];
      then:
        | "end"
        /** `:` comments every `everyMs`. */
        | "keepalive"
        /** A well-formed event of a name native never sends, every `everyMs`. */
        | "unknown"
        /** One byte of `trickle` (a valid frame, cycled) every `everyMs`. */
        | "trickle"
        /** Nothing at all; the connection stays open. */
        | "silence"
        /** A valid `message.delta` (`delta`) every `everyMs`, never a terminal event. */
        | "deltas";
      everyMs?: number;
      trickle?: string;
      delta?: string;
    }
  /** An error status with a body of `bytes` bytes of `chunk` (produced on demand), or `body`. */
  | { kind: "error"; status: number; contentType?: string; body?: string; bytes?: number; chunk?: string }
  /** 200 JSON `{data: run, meta: null}`; `padBytes` pads the record with a long field (huge records). */
  | { kind: "record"; run: Record<string, unknown>; padBytes?: number };

/** The behaviour of each endpoint for one case; an endpoint without one answers 404 JSON. */
export interface FaultSpec {
  create?: FaultBehaviour;
  /** A create whose body carries `execution.model_parameters.max_output_tokens` (else `create`). */
  createWithOutputLimit?: FaultBehaviour;
  get?: FaultBehaviour;
  resume?: FaultBehaviour;
  cancel?: FaultBehaviour;
  models?: FaultBehaviour;
}

/** One request the fake saw, and how its response ended. */
export interface FaultLogEntry {
  /** `native` (the case's own paths) or `sink` (a redirect target). */
  where: "native" | "sink";
  method: string;
  path: string;
  bodyBytes: number;
  /** The request's `execution.model_parameters` (null when it had none or was not JSON). */
  modelParameters: unknown;
  /** Bytes of response body the fake handed to the socket. */
  sentBytes: number;
  /** The client (the gateway) closed the connection before the fake finished its answer. */
  closedByClient: boolean;
  /** Milliseconds from the request to the close of its connection; null while open. */
  closedAfterMs: number | null;
}

export const FAULT_RUN_ID = "0197a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
export const SINK_ANSWER = "an answer from the redirect target";

const created = "2026-06-26T14:52:53.101Z";

/** `run.started`, as native sends it first (native-api.md §2.2). */
export const startedFrame = (runId = FAULT_RUN_ID): FaultFrame => ({
  event: "run.started",
  data: { run_id: runId, status: "running", created_at: created, conversation: {}, metadata: {} },
});

export const deltaFrame = (delta: string, runId = FAULT_RUN_ID): FaultFrame => ({
  event: "message.delta",
  data: { run_id: runId, status: "running", created_at: created, delta },
});

/** `run.completed` without usage (the fork usually sends none, §2.5): the gateway then looks it up. */
export const completedFrame = (answer: string, runId = FAULT_RUN_ID): FaultFrame => ({
  event: "run.completed",
  data: { run_id: runId, status: "succeeded", created_at: created, answer, conversation: {}, metadata: {} },
});

/** A finished run record (`GET /runs/{id}`), with usage. */
export const runRecord = (answer: string, runId = FAULT_RUN_ID): Record<string, unknown> => ({
  id: runId,
  status: "succeeded",
  answer,
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  created_at: "2026-06-26 6:52:53.123456 +00:00:00",
});

export function encodeFrame(frame: FaultFrame): string {
  return `event: ${frame.event}\ndata: ${JSON.stringify(frame.data)}\n\n`;
}

/** `<fake>/f/<id>/<spec>`: the NATIVE_API_BASE_URL of one case. */
export function faultBaseUrl(fakeUrl: string, id: string, spec: FaultSpec): string {
  return `${fakeUrl}/f/${id}/${base64url(JSON.stringify(spec))}`;
}

export function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text: string): string {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}
