/**
 * `npm run build:docs`: generates the API reference — `/openapi.json` and the `/docs` page — from
 * src/docs (the zod schemas the routes validate with) into generated/reference/ (git-ignored), which
 * wrangler deploys as Workers Static Assets and src/routes/docs.ts serves. Issue 19: the reference and
 * the JSON Schema conversion behind it stay out of the worker bundle.
 *
 * Always fresh, whatever the entry point:
 *   - wrangler.toml `[build] command` runs it before every `wrangler dev` / `wrangler deploy` (so
 *     `npm run dev`, `npm run build` / `deploy`, scripts/check-bundles.sh and the bench), and again
 *     on every change under src/ while `wrangler dev` runs;
 *   - the vitest globalSetup (test/global-setup.ts) calls `writeReference()` before the workers start.
 * A file whose content did not change is not rewritten: `wrangler dev` reloads on asset changes.
 *
 * Usage: tsx scripts/build-docs.ts [--out=<dir>]
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openApiDocument, openApiJson } from "../src/docs/openapi";
import { renderDocsPage } from "../src/docs/page";
import { REFERENCE_ASSETS, REFERENCE_DIR } from "../src/routes/docs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface WrittenReference {
  dir: string;
  /** Asset path → bytes, and whether this run rewrote it. */
  files: Array<{ asset: string; bytes: number; changed: boolean }>;
}

/** Writes both files into `dir` (default: the one wrangler.toml `[assets] directory` names). */
export function writeReference(dir: string = join(ROOT, REFERENCE_DIR)): WrittenReference {
  mkdirSync(dir, { recursive: true });
  const contents: Record<string, string> = {
    [REFERENCE_ASSETS.document]: openApiJson(),
    [REFERENCE_ASSETS.page]: renderDocsPage(openApiDocument()),
  };
  const files = Object.entries(contents).map(([asset, text]) => {
    const target = join(dir, asset);
    const changed = !existsSync(target) || readFileSync(target, "utf8") !== text;
    if (changed) {
      // Written aside and renamed: `wrangler dev` watches the directory and must never read half a file.
      const temporary = `${target}.${process.pid}.tmp`;
      writeFileSync(temporary, text);
      renameSync(temporary, target);
    }
    return { asset, bytes: Buffer.byteLength(text), changed };
  });
  return { dir, files };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv.slice(2).find((arg) => arg.startsWith("--out="))?.slice("--out=".length);
  const written = writeReference(out ? resolve(out) : undefined);
  const summary = written.files.map((file) => `${file.asset.slice(1)} ${(file.bytes / 1024).toFixed(1)} KiB${file.changed ? "" : " (unchanged)"}`).join(", ");
  console.log(`[build:docs] ${written.dir}: ${summary}`);
}
