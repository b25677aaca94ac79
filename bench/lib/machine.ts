/** The machine and the conditions a run was measured under. */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { toolVersions } from "./deps";

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  workerd: string;
  wrangler: string;
  miniflare: string;
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? "unknown";
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match?.[1]) cpuModel = match[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  const versions = toolVersions();
  return {
    cpuModel,
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    workerd: versions.workerd,
    wrangler: versions.wrangler,
    miniflare: versions.miniflare,
  };
}

/** The code measured: commit, and whether src/ had uncommitted changes (then the numbers are of those). */
export function codeVersion(root: string): { commit: string; dirtySrc: boolean } {
  const git = (...args: string[]): string => spawnSync("git", args, { cwd: root, encoding: "utf8" }).stdout?.trim() ?? "";
  return { commit: git("rev-parse", "--short", "HEAD") || "unknown", dirtySrc: git("status", "--porcelain", "--", "src").length > 0 };
}

export interface Conditions {
  at: string;
  loadAverage: [number, number, number];
  /** Other vitest processes on the machine (other helpers' test runs compete for the 2 cores). */
  otherVitestProcesses: number;
}

export function conditions(): Conditions {
  let vitest = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes("vitest")) vitest++;
    } catch {
      // gone
    }
  }
  const [one, five, fifteen] = os.loadavg();
  return { at: new Date().toISOString(), loadAverage: [one ?? 0, five ?? 0, fifteen ?? 0], otherVitestProcesses: vitest };
}
