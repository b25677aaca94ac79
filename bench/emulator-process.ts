/**
 * The native emulator for the end-to-end benchmark, in its own process: loopback, the port in
 * BENCH_EMULATOR_PORT (0 or unset: a free one), no request log, axum's default 15 s keepalive.
 * Prints `EMULATOR_URL=<origin>` once listening.
 */
import { startEmulator } from "../emulator/server";

const emulator = await startEmulator({ port: Number(process.env.BENCH_EMULATOR_PORT ?? "0"), host: "127.0.0.1" });
console.log(`EMULATOR_URL=${emulator.url}`);

const stop = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
