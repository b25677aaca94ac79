/**
 * Where the worker's startup CPU goes: `await import()` of an instrumented, unminified build of
 * src/index.ts in fresh workerd isolates (bench/lib/startup-attribution.ts), charged to
 *   1. the top-level statement of a src/ module that was running (its inclusive cost: the zod
 *      schema it builds, the Hono routes it registers, …), with file and line;
 *   2. the same summed per src/ file;
 *   3. what ran outside every src/ statement (library modules' own top level, workerd's built-in
 *      node:* modules and who imports them, V8's compile and GC);
 *   4. self time by module (which library code the statements spend their time in).
 *
 *   npx tsx bench/investigations/startup-profile.ts [--runs=7] [--top=25] [--entry=src/index.ts]
 */
import { attributeStartup, instrumentedBuild, type StartupCost } from "../lib/startup-attribution";
import { commandLine } from "../lib/cli";

const { option } = commandLine("npx tsx bench/investigations/startup-profile.ts [--runs=7] [--top=25] [--entry=src/index.ts]");
const runs = Number(option("runs", "7"));
const top = Number(option("top", "25"));

const build = await instrumentedBuild(option("entry", "src/index.ts"));
const map = await attributeStartup(runs, build);
const print = (title: string, rows: readonly StartupCost[]): void => {
  console.log(`\n${title}`);
  for (const row of rows.slice(0, top)) console.log(`${row.ms.toFixed(2).padStart(8)} ms  ${row.where}`);
};
const inStatements = map.srcFiles.reduce((sum, row) => sum + row.ms, 0);
console.log(
  `startup CPU of the instrumented build, median of ${runs} fresh isolates: ${map.totalMs.toFixed(1)} ms (runs ${map.totalsMs.map((t) => t.toFixed(0)).join(", ")}); ` +
    `${build.statements.size} top-level statements instrumented, ${inStatements.toFixed(1)} ms inside them`,
);
print("top-level statements of src/ (inclusive: the statement and everything it calls):", map.statements);
print("per src/ file (its statements summed):", map.srcFiles);
print("outside every src/ statement:", map.outside);
print("self time by module:", map.selfByModule);
