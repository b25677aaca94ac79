/**
 * `npm run dev`: the whole product on one machine, one command.
 *   1. checks its three loopback ports are free (one clear line naming the variable otherwise),
 *   2. applies local D1 migrations (the ownership index),
 *   3. starts the embedded 1flowbase emulator on 127.0.0.1:$EMULATOR_PORT (8788),
 *   4. starts the gateway with `wrangler dev` on 127.0.0.1:$GATEWAY_PORT (8787) pointed at the
 *      emulator, its inspector on 127.0.0.1:$INSPECTOR_PORT (9229) — set, so wrangler does not
 *      silently move it when another process holds 9229,
 *   5. waits for `GET /readyz`, then prints the demo API key and a curl that works right away.
 * Ctrl-C stops both.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { randomBytes } from "node:crypto";
import { autoToolCallsFromEnv, startEmulator } from "../emulator/server";
import { EMULATOR_KEYS } from "../emulator/script";

const npx = process.platform === "win32" ? "npx.cmd" : "npx";

function step(message: string): void {
  console.log(`\u001b[36m[dev]\u001b[0m ${message}`);
}

function fail(message: string): never {
  console.error(`\u001b[31m[dev]\u001b[0m ${message}`);
  process.exit(1);
}

/** A port from `variable`, or its default; a clear error for anything but 1–65535. */
function portFrom(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw.trim() === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${variable}=${raw} is not a port (1-65535)`);
  return port;
}

/** Whether nothing listens on 127.0.0.1:`port` (a bind that succeeds and is released at once). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

async function waitForReady(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
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
  const ports = [
    { variable: "GATEWAY_PORT", port: portFrom("GATEWAY_PORT", 8787), what: "the gateway (wrangler dev)" },
    { variable: "EMULATOR_PORT", port: portFrom("EMULATOR_PORT", 8788), what: "the 1flowbase emulator" },
    { variable: "INSPECTOR_PORT", port: portFrom("INSPECTOR_PORT", 9229), what: "the worker's inspector (wrangler dev --inspector-port)" },
  ] as const;
  const [gateway, emulatorPort, inspector] = ports;
  const clash = ports.find((entry, i) => ports.findIndex((other) => other.port === entry.port) !== i);
  if (clash) fail(`${clash.variable}=${clash.port} is also used for another of GATEWAY_PORT / EMULATOR_PORT / INSPECTOR_PORT`);
  for (const { variable, port, what } of ports) {
    if (!(await portIsFree(port))) {
      fail(`port ${port} on 127.0.0.1 is in use (${variable}, for ${what}); stop what holds it, or pick another: ${variable}=<port> npm run dev`);
    }
  }

  step("applying local D1 migrations (RESPONSE_INDEX)…");
  const migrate = spawnSync(npx, ["wrangler", "d1", "migrations", "apply", "RESPONSE_INDEX", "--local"], {
    stdio: "inherit",
    env: { ...process.env, CI: "true" },
  });
  if (migrate.status !== 0) fail("D1 migrations failed");

  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  try {
    emulator = await startEmulator({ port: emulatorPort.port, host: "127.0.0.1", autoToolCalls: autoToolCallsFromEnv(process.env.EMULATOR_AUTO_TOOL_CALLS) });
  } catch (error) {
    // Taken between the check above and now.
    const code = (error as { code?: string }).code;
    fail(code === "EADDRINUSE" ? `port ${emulatorPort.port} on 127.0.0.1 is in use (EMULATOR_PORT); pick another: EMULATOR_PORT=<port> npm run dev` : `the emulator did not start: ${String(error)}`);
  }
  step(`1flowbase emulator on ${emulator.url}`);

  const wrangler = spawn(
    npx,
    [
      "wrangler", "dev",
      "--ip", "127.0.0.1",
      "--port", String(gateway.port),
      "--inspector-port", String(inspector.port),
      "--var", `NATIVE_API_BASE_URL:${emulator.url}`,
      // Responses compaction signs its items; a fresh secret per dev session (the emulator's runs do
      // not outlive it either).
      "--var", `GATEWAY_SIGNING_SECRET:${randomBytes(32).toString("base64url")}`,
    ],
    { stdio: ["inherit", "inherit", "inherit"], env: process.env },
  );

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step("stopping…");
    wrangler.kill("SIGTERM");
    await emulator.close();
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  wrangler.on("exit", (code) => void stop(code ?? 0));

  const base = `http://127.0.0.1:${gateway.port}`;
  if (await waitForReady(`${base}/readyz`, wrangler, 120_000)) {
    console.log(`
\u001b[32mGateway ready\u001b[0m on ${base}  (native emulator: ${emulator.url}, inspector: 127.0.0.1:${inspector.port})
Demo API key: ${EMULATOR_KEYS.demo}

Try it:
  curl -s ${base}/v1/chat/completions \\
    -H "Authorization: Bearer ${EMULATOR_KEYS.demo}" -H "Content-Type: application/json" \\
    -d '{"model":"1flowbase","messages":[{"role":"user","content":"Hello!"}]}'

  curl -sN ${base}/v1/responses \\
    -H "Authorization: Bearer ${EMULATOR_KEYS.demo}" -H "Content-Type: application/json" \\
    -d '{"model":"1flowbase","input":"Hello!","stream":true}'

API reference: ${base}/docs
Local dev holds a few dozen concurrent streams, not hundreds: wrangler's dev proxy opens a loopback
connection per devtools message of the worker (README "Local load"). Press Ctrl-C to stop both.
`);
  } else if (!stopping) {
    console.error(`[dev] the gateway did not become ready (GET ${base}/readyz) within 120 s`);
    await stop(1);
  }
}

void main();
