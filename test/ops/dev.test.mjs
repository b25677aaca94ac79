/**
 * `npm run dev` on a shared host (issue 16, item 8), run by `npm run test:dev` (CI runs it): the
 * three ports come from GATEWAY_PORT / EMULATOR_PORT / INSPECTOR_PORT, a busy or malformed one is a
 * one-line error naming its variable (no EADDRINUSE stack, nothing started), and with free ports the
 * whole stack comes up where it was told to — readiness on the gateway port, the emulator's health
 * on its port, the inspector listening on its port — and Ctrl-C stops all of it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { test } from "node:test";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function occupy(port) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Starts `npm run dev` (as `tsx scripts/dev.ts`) in its own process group with `env` added. */
function dev(env) {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/dev.ts"], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk) => (output.stdout += chunk));
  child.stderr.on("data", (chunk) => (output.stderr += chunk));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  return { child, output, exited };
}

async function ports() {
  return { GATEWAY_PORT: String(await freePort()), EMULATOR_PORT: String(await freePort()), INSPECTOR_PORT: String(await freePort()) };
}

for (const variable of ["GATEWAY_PORT", "EMULATOR_PORT", "INSPECTOR_PORT"]) {
  test(`a busy ${variable} is one clear line, and nothing starts`, async () => {
    const env = await ports();
    const holder = await occupy(Number(env[variable]));
    try {
      const run = dev(env);
      assert.equal(await run.exited, 1);
      const lines = run.output.stderr.trim().split("\n");
      assert.equal(lines.length, 1, run.output.stderr);
      assert.match(lines[0], new RegExp(`port ${env[variable]} on 127\\.0\\.0\\.1 is in use \\(${variable}`));
      assert.doesNotMatch(run.output.stderr + run.output.stdout, /EADDRINUSE|\n\s+at /);
      assert.doesNotMatch(run.output.stdout, /migrations|emulator on/);
    } finally {
      holder.close();
    }
  });
}

test("a malformed or clashing port is named", async () => {
  const bad = dev({ ...(await ports()), GATEWAY_PORT: "eighty" });
  assert.equal(await bad.exited, 1);
  assert.match(bad.output.stderr, /GATEWAY_PORT=eighty is not a port/);
  const env = await ports();
  const clash = dev({ ...env, INSPECTOR_PORT: env.GATEWAY_PORT });
  assert.equal(await clash.exited, 1);
  assert.match(clash.output.stderr, /INSPECTOR_PORT=\d+ is also used/);
});

test("with free ports everything listens where it was told to, and Ctrl-C stops it all", { timeout: 150_000 }, async () => {
  const env = await ports();
  const run = dev(env);
  try {
    const deadline = Date.now() + 120_000;
    while (!run.output.stdout.includes("Gateway ready") && Date.now() < deadline && run.child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.match(run.output.stdout, /Gateway ready/, run.output.stdout + run.output.stderr);
    assert.match(run.output.stdout, new RegExp(`on http://127\\.0\\.0\\.1:${env.GATEWAY_PORT} .*inspector: 127\\.0\\.0\\.1:${env.INSPECTOR_PORT}`));
    const ready = await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).status, "ready");
    assert.equal((await fetch(`http://127.0.0.1:${env.EMULATOR_PORT}/health`)).status, 200);
    assert.equal(await listening(Number(env.INSPECTOR_PORT)), true, "the inspector listens on INSPECTOR_PORT");
  } finally {
    // Ctrl-C reaches the whole foreground process group; so does this.
    try {
      process.kill(-run.child.pid, "SIGINT");
    } catch {
      // already gone
    }
    const stopped = await Promise.race([run.exited, new Promise((resolve) => setTimeout(() => resolve("timeout"), 20_000))]);
    if (stopped === "timeout") process.kill(-run.child.pid, "SIGKILL");
    assert.notEqual(stopped, "timeout", "npm run dev stops on Ctrl-C");
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const variable of ["GATEWAY_PORT", "EMULATOR_PORT", "INSPECTOR_PORT"]) {
    assert.equal(await listening(Number(env[variable])), false, `${variable} released after Ctrl-C`);
  }
});
