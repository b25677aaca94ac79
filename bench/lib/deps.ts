/**
 * The tools the benchmark drives come with the pinned toolchain: wrangler brings miniflare (workerd),
 * esbuild and undici. They are resolved *through wrangler* so `npm run bench` uses exactly the
 * versions wrangler runs the worker with, and keeps working whether npm hoists them or not.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const fromRoot = createRequire(path.join(ROOT, "package.json"));
const fromWrangler = createRequire(fromRoot.resolve("wrangler/package.json"));
const fromMiniflare = createRequire(fromWrangler.resolve("miniflare/package.json"));

export type MiniflareModule = typeof import("miniflare");
export type EsbuildModule = typeof import("esbuild");

export function loadMiniflare(): MiniflareModule {
  return fromWrangler("miniflare") as MiniflareModule;
}

export function loadEsbuild(): EsbuildModule {
  return fromWrangler("esbuild") as EsbuildModule;
}

/** undici's WebSocket (Node 20 has no global one), for the V8 inspector protocol. */
export function loadWebSocket(): typeof WebSocket {
  const undici = fromMiniflare("undici") as { WebSocket: typeof WebSocket };
  return undici.WebSocket;
}

/**
 * Absolute path of the wrangler CLI entry (spawned with `node`, no npx resolution involved).
 * `WRANGLER_BIN=/elsewhere/node_modules/wrangler/bin/wrangler.js` runs the same benchmark or load
 * test against another wrangler (installed outside the repo) without touching the pinned one.
 */
export function wranglerBin(): string {
  if (process.env.WRANGLER_BIN) return path.resolve(process.env.WRANGLER_BIN);
  return path.join(path.dirname(fromRoot.resolve("wrangler/package.json")), "bin", "wrangler.js");
}

/** Versions of the pinned toolchain, for the report. */
export function toolVersions(): { wrangler: string; miniflare: string; workerd: string } {
  const version = (req: NodeRequire, name: string): string => (req(`${name}/package.json`) as { version: string }).version;
  return {
    wrangler: version(fromRoot, "wrangler"),
    miniflare: version(fromWrangler, "miniflare"),
    workerd: version(fromMiniflare, "workerd"),
  };
}
