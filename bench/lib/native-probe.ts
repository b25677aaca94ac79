/**
 * A timing proxy in front of the emulator, for investigations: every native request a worker makes is
 * recorded with when it reached native and when native's first response byte came back, relative to
 * the moment the driver started the client request it belongs to (`startCase`). The driver and the
 * proxy share one Node process and one clock (performance.now, µs resolution), which workerd's own
 * clock (whole milliseconds, advancing only with I/O) cannot give inside the worker.
 *
 * Requests are attributed to the case started last: the driver must run one client request at a
 * time (the D1 bench does), and work a worker leaves for after its response (a usage lookup) is
 * counted under the case that caused it as long as no other case has started.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { percentile } from "./stats";
import { answerAfterWire, WIRE_PATH } from "./wire";

export interface NativeProbeRow {
  /** The case label given to `startCase`. */
  label: string;
  /** `METHOD /path` with UUIDs replaced by `{id}` and without the query. */
  request: string;
  /** The n-th request of this kind within one case (1 = the first). */
  ordinal: number;
  count: number;
  arriveP50: number;
  firstByteP50: number;
}

export interface NativeProbe {
  /** Point the workers here instead of at native. */
  url: string;
  /** The D1 model's wire served and timed by the probe (bench/lib/wire.ts). */
  wireUrl: string;
  /** The driver is about to send the client request of `label`: the clock restarts. */
  startCase(label: string): void;
  rows(): NativeProbeRow[];
  /** TCP connections the workers opened to the probe, per case label (a worker that reuses its connections opens few). */
  connections(): Map<string, number>;
  stop(): Promise<void>;
}

export interface NativeProbeOptions {
  /**
   * Native far away: every request is forwarded this many ms after it has arrived, so its first byte
   * comes back one round trip later than native's own (a stream's later bytes keep their spacing).
   * New connections are not charged a handshake.
   */
  roundTripMs?: number;
}

export async function startNativeProbe(nativeUrl: string, probeOptions: NativeProbeOptions = {}): Promise<NativeProbe> {
  const roundTripMs = probeOptions.roundTripMs ?? 0;
  const upstream = new URL(nativeUrl);
  const agent = new http.Agent({ keepAlive: true });
  let current: { label: string; startedAt: number; seen: Map<string, number> } | null = null;
  const samples = new Map<string, { label: string; request: string; ordinal: number; arrive: number[]; firstByte: number[] }>();
  const server = http.createServer((request, response) => {
    const owner = current;
    const arrivedAt = performance.now();
    const kind = `${request.method ?? "?"} ${(request.url ?? "").split("?")[0]?.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "{id}")}`;
    const ordinal = owner ? (owner.seen.get(kind) ?? 0) + 1 : 0;
    owner?.seen.set(kind, ordinal);
    const record = (): void => {
      if (!owner) return;
      const key = `${owner.label}\u0000${kind}\u0000${ordinal}`;
      let entry = samples.get(key);
      if (!entry) samples.set(key, (entry = { label: owner.label, request: kind, ordinal, arrive: [], firstByte: [] }));
      entry.arrive.push(arrivedAt - owner.startedAt);
      entry.firstByte.push(performance.now() - owner.startedAt);
    };
    // The D1 model's round trips, when the probe is its wire: answered here, timed like native's.
    if (request.url?.startsWith(WIRE_PATH)) {
      answerAfterWire(request, response, arrivedAt, record);
      return;
    }
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => (roundTripMs > 0 ? setTimeout(forward, roundTripMs) : forward()));
    const forward = (): void => {
      const forwarded = http.request({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers, agent }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        let first = true;
        answer.on("data", (chunk: Buffer) => {
          if (first) record();
          first = false;
          response.write(chunk);
        });
        answer.on("end", () => response.end());
        answer.on("error", () => response.destroy());
      });
      forwarded.on("error", () => response.destroy());
      forwarded.end(Buffer.concat(chunks));
    };
  });
  const connections = new Map<string, number>();
  server.on("connection", () => {
    const label = current?.label ?? "(warm-up)";
    connections.set(label, (connections.get(label) ?? 0) + 1);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("native probe: no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    wireUrl: `http://127.0.0.1:${address.port}${WIRE_PATH}`,
    startCase: (label) => {
      current = { label, startedAt: performance.now(), seen: new Map() };
    },
    rows: () =>
      [...samples.values()].map((entry) => ({
        label: entry.label,
        request: entry.request,
        ordinal: entry.ordinal,
        count: entry.arrive.length,
        arriveP50: percentile(entry.arrive, 50),
        firstByteP50: percentile(entry.firstByte, 50),
      })),
    connections: () => new Map(connections),
    stop: async () => {
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
