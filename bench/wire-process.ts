/**
 * The D1 latency model's wire in its own process (bench/lib/wire.ts): `GET /?ms=2.5` answers an
 * empty 200 that long after it arrived. Loopback, the port in BENCH_WIRE_PORT (0 or unset: a free
 * one); prints `WIRE_URL=<origin>` once listening.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { answerAfterWire } from "./lib/wire";

const server = http.createServer((request, response) => answerAfterWire(request, response, performance.now()));
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.BENCH_WIRE_PORT ?? "0"), "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("wire: no TCP address");
  console.log(`WIRE_URL=http://127.0.0.1:${address.port}`);
});

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
