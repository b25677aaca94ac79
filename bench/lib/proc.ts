/**
 * Processes the benchmark starts and watches: `wrangler dev` (and its workerd child), the emulator.
 * Linux /proc is read for RSS and CPU time; every wait has a deadline.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { ROOT, wranglerBin } from "./deps";

/** Process groups started here and not stopped yet: killed if the benchmark exits early (Ctrl-C, crash). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const started of live) {
      try {
        if (started.pid !== undefined) process.kill(-started.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `BENCH_PORTS=38700-38799`: the loopback ports this benchmark may listen on. On a machine shared
 * with other people's test servers, an ephemeral port the kernel hands out can be one another
 * process is about to bind; a private range avoids that. Unset: any free port (kernel's choice).
 */
export function benchPortRange(): { first: number; last: number } | null {
  const spec = process.env.BENCH_PORTS;
  if (!spec) return null;
  const match = /^(\d+)-(\d+)$/.exec(spec.trim());
  if (!match) throw new Error(`BENCH_PORTS must look like 38700-38799, got ${JSON.stringify(spec)}`);
  const first = Number(match[1]);
  const last = Number(match[2]);
  if (!(first > 0 && last >= first && last < 65536)) throw new Error(`BENCH_PORTS: bad range ${spec}`);
  return { first, last };
}

function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(null));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** Round-robin through the range, so two callers in a row never get the same port before either binds it. */
let nextInRange = 0;

/**
 * A free TCP port on 127.0.0.1 (bound and released; good enough on a quiet loopback): from
 * BENCH_PORTS when set, else any free port.
 */
export async function freePort(): Promise<number> {
  const range = benchPortRange();
  if (!range) {
    const port = await tryListen(0);
    if (port === null) throw new Error("no free loopback port");
    return port;
  }
  const size = range.last - range.first + 1;
  for (let attempt = 0; attempt < size; attempt++) {
    const port = range.first + (nextInRange++ % size);
    if ((await tryListen(port)) !== null) return port;
  }
  throw new Error(`no free port in BENCH_PORTS=${process.env.BENCH_PORTS}`);
}

/** A port to hand a server that can pick its own: one from BENCH_PORTS when set, else 0 (its choice). */
export async function serverPort(): Promise<number> {
  return benchPortRange() ? freePort() : 0;
}

/** `VmRSS` of a process in bytes, or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const CLOCK_TICKS = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number(out.stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** User + system CPU time of a process in milliseconds (resolution 1/CLK_TCK s), or null. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the comm: state(0) ppid(1) … utime(11) stime(12).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** TCP ports `pid` listens on (from /proc/<pid>/fd socket inodes and /proc/net/tcp). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match?.[1]) inodes.add(match[1]);
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const row of text.split("\n").slice(1)) {
      const fields = row.trim().split(/\s+/);
      // local_address(1) … st(3) … inode(9); st 0A = LISTEN
      if (fields[3] !== "0A" || !inodes.has(fields[9] ?? "")) continue;
      const port = Number.parseInt((fields[1] ?? "").split(":")[1] ?? "", 16);
      if (Number.isInteger(port)) ports.push(port);
    }
  }
  return ports;
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** Descendant pids of `root` whose command name is `name`. */
export function descendantsNamed(root: number, name: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || commOf(pid) !== name) continue;
    for (let at: number | null = pid, hops = 0; at !== null && at > 1 && hops < 16; at = parentOf(at), hops++) {
      if (at === root) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

/** Stops a process group this benchmark started (never anything else), waiting at most `ms`. */
export async function stopGroup(child: ChildProcess, ms = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timedOut = await Promise.race([exited.then(() => false), sleep(ms).then(() => true)]);
  if (timedOut) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await Promise.race([exited, sleep(2_000)]);
  }
}

export interface WranglerDev {
  /** wrangler dev's public URL (through its dev proxy). */
  proxyUrl: string;
  /**
   * The runtime workerd's own entry socket, serving the worker without wrangler's dev proxy in front.
   * The proxy is a dev-only JS worker in a second workerd that re-streams every body; on this machine
   * it costs more CPU than the gateway and buffers whole responses (bench/FINDINGS.md), so requests
   * measure the worker through this URL.
   */
  url: string;
  /** The wrangler CLI (node) process. */
  child: ChildProcess;
  /** The workerd process running the worker (wrangler's runtime instance). */
  workerdPid: number;
  /** wrangler's dev proxy, a second workerd that owns the public port and forwards to the runtime. */
  proxyPid: number;
  /** Milliseconds from spawn to the first successful readiness probe. */
  readyMs: number;
  log(): string;
  stop(): Promise<void>;
}

export interface WranglerDevOptions {
  config: string;
  vars: Record<string, string>;
  persistTo: string;
  /** Path answered 200 once the worker is up. */
  readyPath: string;
  timeoutMs?: number;
}

/** Environment for wrangler runs: no prompts, no telemetry, no update check. */
export function wranglerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_UPDATE_NOTIFIER: "1", FORCE_COLOR: "0" };
}

/** Runs a wrangler command to completion (bounded), returning its output. */
export function wrangler(args: string[], timeoutMs = 180_000): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [wranglerBin(), ...args], { cwd: ROOT, env: wranglerEnv(), encoding: "utf8", timeout: timeoutMs });
  return { status: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}` };
}

/** `wrangler dev` on a free loopback port; resolves once `readyPath` answers 200. */
export async function startWranglerDev(options: WranglerDevOptions): Promise<WranglerDev> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    wranglerBin(),
    "dev",
    "--config",
    options.config,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    options.persistTo,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
  ];
  const vars = Object.entries(options.vars);
  if (vars.length > 0) args.push("--var", ...vars.map(([key, value]) => `${key}:${value}`));
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env: wranglerEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  track(child);
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = started + (options.timeoutMs ?? 120_000);
  let readyMs = -1;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${url}${options.readyPath}`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) {
        readyMs = Date.now() - started;
        break;
      }
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  if (readyMs < 0) {
    await stopGroup(child);
    throw new Error(`wrangler dev (${path.basename(options.config)}) did not become ready:\n${output}`);
  }
  // wrangler 4 runs two workerd processes: its dev proxy (bound to --port) and the runtime with the
  // user worker (ephemeral port, has the inspector). Memory and CPU of "the worker" are the latter's.
  const workerds = child.pid === undefined ? [] : descendantsNamed(child.pid, "workerd");
  const proxy = workerds.find((pid) => cmdlineOf(pid).includes(`--socket-addr=entry=127.0.0.1:${port}`));
  const runtime = workerds.filter((pid) => pid !== proxy);
  if (proxy === undefined || runtime.length !== 1) {
    await stopGroup(child);
    throw new Error(`expected wrangler's proxy and one runtime workerd, found ${workerds.length} workerd processes`);
  }
  const runtimePid = runtime[0] as number;
  let directUrl: string | null = null;
  for (const candidate of listeningPorts(runtimePid)) {
    try {
      const response = await fetch(`http://127.0.0.1:${candidate}${options.readyPath}`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) {
        directUrl = `http://127.0.0.1:${candidate}`;
        break;
      }
    } catch {
      // not the entry socket
    }
  }
  if (directUrl === null) {
    await stopGroup(child);
    throw new Error("could not find the runtime workerd's entry socket");
  }
  return {
    proxyUrl: url,
    url: directUrl,
    child,
    workerdPid: runtimePid,
    proxyPid: proxy,
    readyMs,
    log: () => output,
    stop: () => stopGroup(child),
  };
}

/** The emulator in its own Node process (bench/emulator-process.ts), so it never shares an event loop with the driver. */
export interface ScriptProcess {
  url: string;
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/**
 * A bench script in its own process group (`node --import tsx bench/<script>`: one process, where
 * the tsx CLI would add a second one around it), its port in `portVar`; resolves with the URL it
 * prints as `<urlMarker>=<origin>` once listening.
 */
async function startScriptProcess(script: string, portVar: string, urlMarker: string, timeoutMs: number): Promise<ScriptProcess> {
  const port = await serverPort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", script)], {
    cwd: ROOT,
    env: { ...process.env, [portVar]: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  track(child);
  let output = "";
  const marker = new RegExp(`${urlMarker}=(\\S+)`);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      const match = marker.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`${script} exited:\n${output}`));
    });
  });
  const pid = child.pid ?? -1;
  return { url, child, pid, stop: () => stopGroup(child) };
}

export function startEmulatorProcess(timeoutMs = 60_000): Promise<ScriptProcess> {
  return startScriptProcess("emulator-process.ts", "BENCH_EMULATOR_PORT", "EMULATOR_URL", timeoutMs);
}

/** The D1 model's wire (bench/wire-process.ts): a round trip of the asked length as real I/O. */
export function startWireProcess(timeoutMs = 30_000): Promise<ScriptProcess> {
  return startScriptProcess("wire-process.ts", "BENCH_WIRE_PORT", "WIRE_URL", timeoutMs);
}
