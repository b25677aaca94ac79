/**
 * `npm run emulator`: the native API emulator for local development (the gateway's
 * `NATIVE_API_BASE_URL` defaults to http://127.0.0.1:8788, see wrangler.toml).
 */
import { EMULATOR_KEYS } from "./script";
import { autoToolCallsFromEnv, startEmulator } from "./server";

const port = Number.parseInt(process.env.EMULATOR_PORT ?? "8788", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`EMULATOR_PORT must be a port number, got ${JSON.stringify(process.env.EMULATOR_PORT)}`);
  process.exit(1);
}

const autoToolCalls = autoToolCallsFromEnv(process.env.EMULATOR_AUTO_TOOL_CALLS);
const emulator = await startEmulator({ port, host: "127.0.0.1", log: true, autoToolCalls });
if (autoToolCalls) console.log("EMULATOR_AUTO_TOOL_CALLS: tool_choice auto calls the first offered tool");
console.log(`1flowbase native API emulator listening on ${emulator.url}`);
console.log(`demo API key: ${EMULATOR_KEYS.demo}`);
console.log("try:");
console.log(
  `  curl -N ${emulator.url}/api/agent/v1/runs -H 'authorization: Bearer ${EMULATOR_KEYS.demo}' -d '{"query":"hello","response_mode":"streaming"}'`,
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping emulator`);
  await emulator.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
