/**
 * `npm run dev`: the whole product on one machine, one command.
 *   1. applies local D1 migrations (the ownership index),
 *   2. starts the embedded 1flowbase emulator on 127.0.0.1:8788,
 *   3. starts the gateway with `wrangler dev` on 127.0.0.1:8787 pointed at the emulator,
 *   4. prints the demo API key and a curl that works right away.
 * Ctrl-C stops both. Ports: GATEWAY_PORT / EMULATOR_PORT.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { startEmulator } from "../emulator/server";
import { EMULATOR_KEYS } from "../emulator/script";

const gatewayPort = Number(process.env.GATEWAY_PORT ?? 8787);
const emulatorPort = Number(process.env.EMULATOR_PORT ?? 8788);
const npx = process.platform === "win32" ? "npx.cmd" : "npx";

function step(message: string): void {
  console.log(`\u001b[36m[dev]\u001b[0m ${message}`);
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const response = await fetch(url);
      if (response.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return false;
}

async function main(): Promise<void> {
  step("applying local D1 migrations (RESPONSE_INDEX)…");
  const migrate = spawnSync(npx, ["wrangler", "d1", "migrations", "apply", "RESPONSE_INDEX", "--local"], {
    stdio: "inherit",
    env: { ...process.env, CI: "true" },
  });
  if (migrate.status !== 0) {
    console.error("[dev] D1 migrations failed");
    process.exit(migrate.status ?? 1);
  }

  const emulator = await startEmulator({ port: emulatorPort, host: "127.0.0.1" });
  step(`1flowbase emulator on ${emulator.url}`);

  const gateway = spawn(
    npx,
    ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(gatewayPort), "--var", `NATIVE_API_BASE_URL:${emulator.url}`],
    { stdio: ["inherit", "inherit", "inherit"], env: process.env },
  );

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step("stopping…");
    gateway.kill("SIGTERM");
    await emulator.close();
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  gateway.on("exit", (code) => void stop(code ?? 0));

  const base = `http://127.0.0.1:${gatewayPort}`;
  if (await waitForHealth(`${base}/healthz`, gateway, 120_000)) {
    console.log(`
\u001b[32mGateway ready\u001b[0m on ${base}  (native emulator: ${emulator.url})
Demo API key: ${EMULATOR_KEYS.demo}

Try it:
  curl -s ${base}/v1/chat/completions \\
    -H "Authorization: Bearer ${EMULATOR_KEYS.demo}" -H "Content-Type: application/json" \\
    -d '{"model":"1flowbase","messages":[{"role":"user","content":"Hello!"}]}'

  curl -sN ${base}/v1/responses \\
    -H "Authorization: Bearer ${EMULATOR_KEYS.demo}" -H "Content-Type: application/json" \\
    -d '{"model":"1flowbase","input":"Hello!","stream":true}'

Press Ctrl-C to stop both.
`);
  } else if (!stopping) {
    console.error("[dev] the gateway did not become healthy within 120 s");
    await stop(1);
  }
}

void main();
