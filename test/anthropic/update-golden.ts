/**
 * Rewrites the expected Anthropic SSE of every golden fixture: `npx tsx test/anthropic/update-golden.ts`.
 * Review `git diff test/fixtures/anthropic` before committing.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectFixture } from "./golden";

const dir = join(import.meta.dirname, "../fixtures/anthropic");
for (const file of readdirSync(dir).filter((name) => name.endsWith(".native.sse")).sort()) {
  const output = await projectFixture(readFileSync(join(dir, file), "utf8"));
  writeFileSync(join(dir, file.replace(/\.native\.sse$/, ".anthropic.sse")), output);
  console.log(`${file} → ${output.split("\n\n").length - 1} frames`);
}
