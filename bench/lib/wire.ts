/**
 * The D1 latency model's wire (bench/lib/d1-latency.ts): a request `GET <wire>/?ms=N` answered with
 * an empty 200 N milliseconds after it arrived, so the model's round trip is I/O the isolate waits
 * on — as it waits on production's D1 — not a timer in the isolate, whose firing other work in the
 * isolate delays (a native read alongside a timer-modelled replica read: ≈ 0.9 ms; FINDINGS,
 * session 9). Served by bench/wire-process.ts, or by the native probe (bench/lib/native-probe.ts),
 * which then times the model's round trips on the driver's clock too.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";

/** Path prefix the native probe answers as the wire instead of forwarding to native. */
export const WIRE_PATH = "/__wire";

/** Below this much time left, poll instead of setting a timer (Node's timers count whole ms and overshoot ≈ 0.1–1 ms). */
const POLL_BELOW_MS = 1.2;

/** Answers `request` (its `?ms=`) that long after `arrivedAt` (performance.now()); calls `answered` as it does. */
export function answerAfterWire(request: IncomingMessage, response: ServerResponse, arrivedAt: number, answered: () => void = () => undefined): void {
  const ms = Number(new URL(request.url ?? "/", "http://wire").searchParams.get("ms"));
  const deadline = arrivedAt + (Number.isFinite(ms) && ms > 0 ? ms : 0);
  const answer = (): void => {
    answered();
    response.writeHead(200, { "content-length": "0" });
    response.end();
  };
  // The last stretch polls performance.now with setImmediate: at most ≈ 1.2 ms of polling a trip.
  const poll = (): void => {
    if (performance.now() >= deadline) answer();
    else setImmediate(poll);
  };
  const coarse = Math.floor(deadline - performance.now() - POLL_BELOW_MS);
  if (coarse >= 1) setTimeout(poll, coarse);
  else poll();
  request.resume();
}
