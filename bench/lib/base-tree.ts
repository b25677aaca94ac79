/**
 * A copy of the repository's `src/` at a git revision (plus named files from the working tree), in a
 * temp dir, so an A/B can bundle the same entry against two versions of the gateway's code.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./deps";

/** Returns the temp root holding `src/` at `rev` and `workingFiles` (repo-relative) as they are now. */
export function sourceTreeAt(rev: string, workingFiles: readonly string[] = []): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "bench-ab-"));
  execFileSync("sh", ["-c", `git archive ${JSON.stringify(rev)} src | tar -x -C ${JSON.stringify(root)}`], { cwd: ROOT });
  for (const file of workingFiles) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    cpSync(path.join(ROOT, file), path.join(root, file));
  }
  return root;
}
