/**
 * `npm run test:browser`: the /docs page in a real headless Chromium, against the real dev stack.
 *   1. starts the embedded 1flowbase emulator and `wrangler dev` on free loopback ports (as
 *      `npm run dev` does, with local state in a temporary directory),
 *   2. runs `node --test test/docs/browser.test.mjs` with GATEWAY_URL pointing at the gateway,
 *   3. stops both and exits with the test's status.
 * Needs Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`) or CHROMIUM_PATH.
 * Nothing here needs the internet; wrangler's telemetry is switched off.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmulator } from "../emulator/server";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return false;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: "inherit", env });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Stops wrangler and the workerd it started: it runs in its own process group for this. */
function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return Promise.resolve();
  }
  const force = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, 5_000);
  return exited.finally(() => clearTimeout(force));
}

async function main(): Promise<number> {
  const [gatewayPort, inspectorPort] = [await freePort(), await freePort()];
  const state = mkdtempSync(join(tmpdir(), "gateway-browser-test-"));
  const emulator = await startEmulator({ port: 0, host: "127.0.0.1" });
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  const wrangler = spawn(
    join("node_modules", ".bin", "wrangler"),
    [
      "dev",
      "--ip", "127.0.0.1",
      "--port", String(gatewayPort),
      "--inspector-port", String(inspectorPort),
      "--persist-to", state,
      "--show-interactive-dev-session=false",
      "--log-level", "warn",
      "--var", `NATIVE_API_BASE_URL:${emulator.url}`,
    ],
    { stdio: ["ignore", "inherit", "inherit"], env, detached: true },
  );
  const base = `http://127.0.0.1:${gatewayPort}`;
  try {
    if (!(await waitForHealth(`${base}/healthz`, wrangler, 120_000))) {
      console.error("[test:browser] wrangler dev did not become healthy within 120 s");
      return 1;
    }
    console.log(`[test:browser] gateway on ${base}, emulator on ${emulator.url}`);
    return await run(process.execPath, ["--test", "--test-reporter=spec", "test/docs/browser.test.mjs"], { ...env, GATEWAY_URL: base });
  } finally {
    await stopGroup(wrangler);
    await emulator.close();
    rmSync(state, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
