/**
 * The gateway as measured: built once per benchmark run with `wrangler deploy --dry-run` (the
 * minified production bundle) and served by `wrangler dev --no-bundle` from a temp directory.
 *
 * Why not `wrangler dev` on src/index.ts: wrangler dev watches its sources and reloads the worker on
 * every change, which cuts in-flight streams — on a shared checkout where others edit src/ that turns
 * into random "stream ended early" failures, and a benchmark should measure one fixed build anyway.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./deps";
import { wrangler } from "./proc";

export interface GatewaySnapshot {
  dir: string;
  /** A wrangler.toml for the snapshot: the project's, with `main` → the bundle and `no_bundle`. */
  config: string;
  /** `wrangler deploy --dry-run` output (sizes are parsed from it). */
  buildOutput: string;
}

export function buildGatewaySnapshot(): GatewaySnapshot {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-gateway-"));
  const build = wrangler(["deploy", "--dry-run", "--outdir", dir]);
  if (build.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${build.output}`);
  const original = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  if (!/^main = "src\/index\.ts"$/m.test(original)) throw new Error('wrangler.toml: expected `main = "src/index.ts"`');
  const config = original
    .replace(/^main = "src\/index\.ts"$/m, 'main = "index.js"\nno_bundle = true')
    .replace(/^migrations_dir = "migrations"$/gm, `migrations_dir = ${JSON.stringify(path.join(ROOT, "migrations"))}`);
  const configPath = path.join(dir, "wrangler.toml");
  writeFileSync(configPath, config);
  return { dir, config: configPath, buildOutput: build.output };
}
