/**
 * Rewrites the expected Chat SSE of every golden fixture: `npx tsx test/chat/update-golden.ts`.
 * Review `git diff test/fixtures/chat` before committing.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectFixture } from "./golden";

const dir = join(import.meta.dirname, "../fixtures/chat");
for (const file of readdirSync(dir).filter((name) => name.endsWith(".native.sse")).sort()) {
  const name = file.replace(/\.native\.sse$/, "");
  const output = await projectFixture(name, readFileSync(join(dir, file), "utf8"));
  writeFileSync(join(dir, `${name}.chat.sse`), output);
  console.log(`${file} → ${output.split("\n\n").length - 1} frames`);
}
