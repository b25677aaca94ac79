/**
 * `npm run test:browser`: the gateway in a real headless Chromium, against the real dev stack.
 *   1. starts the embedded 1flowbase emulator and `wrangler dev` on free loopback ports (as
 *      `npm run dev` does, with local state in a temporary directory), with CORS_ALLOW_ORIGINS set to
 *      the origin of a small page server started here,
 *   2. bundles the official `openai` and `@anthropic-ai/sdk` packages for the browser (esbuild, as a
 *      browser app's bundler would) and serves them from that page server — another origin than the
 *      gateway's, so every SDK call goes through a real CORS preflight — and from a second one that is
 *      not allowed (the negative control),
 *   3. runs `node --test` on the /docs page test (test/docs/browser.test.mjs) and the browser SDK
 *      test (test/ops/browser-sdk.test.mjs), with GATEWAY_URL, SDK_PAGE_URL, SDK_OTHER_PAGE_URL and
 *      EMULATOR_URL set,
 *   4. stops everything and exits with the tests' status.
 * Needs Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`) or CHROMIUM_PATH.
 * Nothing here needs the internet; wrangler's telemetry is switched off.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
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

/** Both SDKs as one browser script: `window.SDKs.OpenAI`, `window.SDKs.Anthropic`. */
async function bundleSdks(): Promise<string> {
  const result = await build({
    entryPoints: ["test/ops/browser-sdk-entry.mjs"],
    bundle: true,
    format: "iife",
    globalName: "SDKs",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "warning",
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error("esbuild produced no SDK bundle");
  return output.text;
}

const SDK_PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>SDK page</title><script src="/sdks.js"></script></head><body>SDK page</body></html>';

/** A static origin for the SDK page: `/` (the page) and `/sdks.js` (the bundle). */
function startPageServer(bundle: string): Promise<{ url: string; server: Server }> {
  const server = createHttpServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://page").pathname;
    if (path === "/") response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(SDK_PAGE);
    else if (path === "/sdks.js") response.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(bundle);
    else response.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (typeof address === "object" && address) resolve({ url: `http://127.0.0.1:${address.port}`, server });
      else reject(new Error("page server has no port"));
    });
  });
}

async function main(): Promise<number> {
  const [gatewayPort, inspectorPort] = [await freePort(), await freePort()];
  const state = mkdtempSync(join(tmpdir(), "gateway-browser-test-"));
  const emulator = await startEmulator({ port: 0, host: "127.0.0.1" });
  const bundle = await bundleSdks();
  const page = await startPageServer(bundle);
  const otherPage = await startPageServer(bundle);
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  // The temporary state starts empty: apply the index migrations to it, as `npm run dev` does.
  // Quiet unless it fails: its output says nothing the test needs.
  const migrate = spawnSync(join("node_modules", ".bin", "wrangler"), ["d1", "migrations", "apply", "RESPONSE_INDEX", "--local", "--persist-to", state], {
    env,
    encoding: "utf8",
  });
  if (migrate.status !== 0) {
    console.error(`[test:browser] local D1 migrations failed:\n${migrate.stdout}${migrate.stderr}`);
    return 1;
  }
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
      // Only the SDK page's origin: the other page server is the negative control.
      "--var", `CORS_ALLOW_ORIGINS:${page.url}`,
    ],
    { stdio: ["ignore", "inherit", "inherit"], env, detached: true },
  );
  const base = `http://127.0.0.1:${gatewayPort}`;
  try {
    // Readiness, not liveness: the tests need the index schema and the emulator, not just a worker.
    if (!(await waitForHealth(`${base}/readyz`, wrangler, 120_000))) {
      console.error("[test:browser] wrangler dev did not become ready (GET /readyz) within 120 s");
      return 1;
    }
    console.log(`[test:browser] gateway on ${base}, emulator on ${emulator.url}`);
    return await run(process.execPath, ["--test", "--test-reporter=spec", "test/docs/browser.test.mjs", "test/ops/browser-sdk.test.mjs"], {
      ...env,
      GATEWAY_URL: base,
      SDK_PAGE_URL: page.url,
      SDK_OTHER_PAGE_URL: otherPage.url,
      EMULATOR_URL: emulator.url,
    });
  } finally {
    await stopGroup(wrangler);
    await emulator.close();
    page.server.close();
    otherPage.server.close();
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
