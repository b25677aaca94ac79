/**
 * The one golden regeneration tool: rewrites `test/fixtures/golden/<name>.{chat,responses,anthropic}.sse`
 * and `<name>.json` from every `test/fixtures/native/<name>.native.sse` (see table.ts).
 *
 *   npx tsx test/answers/regenerate.ts
 *
 * Review `git diff test/fixtures/golden` before committing: a golden is a claim about the wire.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { goldenJson, projectRow, PROTOCOLS } from "./table";

const nativeDir = join(import.meta.dirname, "../fixtures/native");
const goldenDir = join(import.meta.dirname, "../fixtures/golden");

for (const file of readdirSync(nativeDir).filter((name) => name.endsWith(".native.sse")).sort()) {
  const name = file.replace(/\.native\.sse$/, "");
  const overridePath = join(nativeDir, `${name}.record.json`);
  const override = existsSync(overridePath) ? (JSON.parse(readFileSync(overridePath, "utf8")) as Record<string, unknown>) : {};
  const row = await projectRow(readFileSync(join(nativeDir, file), "utf8"), override);
  for (const protocol of PROTOCOLS) writeFileSync(join(goldenDir, `${name}.${protocol}.sse`), row[protocol].stream);
  writeFileSync(join(goldenDir, `${name}.json`), goldenJson(row));
  console.log(`${name}: ${PROTOCOLS.map((protocol) => `${protocol} ${row[protocol].stream.split("\n\n").length - 1} frames`).join(", ")}`);
}
