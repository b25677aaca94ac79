/**
 * Keeps the Node.js promise of the README true (CI runs it right after `npm ci`):
 *   1. the running Node satisfies package.json `engines.node`;
 *   2. every locked package that declares a Node range excluding the running Node is one of the
 *      test-only SDK clients (`openai`, `ai`, `@ai-sdk/*`), and nothing outside test/ imports them:
 *      they run inside workerd (vitest-pool-workers) and Chromium (test:browser), never under
 *      Node, so their `node >= 22` does not apply here — the suite passing on Node 20 shows it;
 *   3. given the log of that `npm ci`, it printed no warning but those packages' EBADENGINE.
 * Anything else — a Node-22-only package that does run under Node, a deprecation, an unreviewed
 * install script — fails with the line that caused it.
 *
 * Usage: tsx scripts/check-node.ts [npm-install.log]
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Test-only SDK clients: run by the suite inside workerd and Chromium, never by Node. */
const TEST_ONLY_CLIENT = /^(openai|ai|@ai-sdk\/[a-z0-9-]+)$/;

type Version = [number, number, number];

const parse = (text: string): Version => {
  const [major = 0, minor = 0, patch = 0] = text.replace(/^v/, "").split(".").map((part) => Number.parseInt(part, 10) || 0);
  return [major, minor, patch];
};
const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** npm's engine ranges as packages write them: `||` of space-separated `>=x`, `>x`, `<x`, `^x`, `~x`, `x`. */
export function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  // `>= 20` is written with a space by some packages; npm reads it as `>=20`.
  return range.replace(/(>=|<=|>|<|\^|~|=)\s+/g, "$1").split("||").some((alternative) =>
    alternative
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .every((comparator) => {
        const match = /^(>=|<=|>|<|\^|~|=)?v?(\d+(?:\.\d+){0,2})(?:\.x)?$/.exec(comparator);
        if (!match) return comparator === "*" || comparator === "x";
        const [, op = "=", raw = "0"] = match;
        const bound = parse(raw);
        const parts = raw.split(".").length;
        switch (op) {
          case ">=":
            return compare(v, bound) >= 0;
          case ">":
            return compare(v, bound) > 0;
          case "<=":
            return compare(v, bound) <= 0;
          case "<":
            return compare(v, bound) < 0;
          case "^":
            return compare(v, bound) >= 0 && v[0] === bound[0];
          case "~":
            return compare(v, bound) >= 0 && v[0] === bound[0] && (parts < 2 || v[1] === bound[1]);
          default:
            return parts === 1 ? v[0] === bound[0] : parts === 2 ? v[0] === bound[0] && v[1] === bound[1] : compare(v, bound) === 0;
        }
      }),
  );
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  engines?: { node?: string } | string[];
}

/** Files under `dir` (node_modules and dot-directories skipped). */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (/\.(m?[jt]s)$/.test(entry)) out.push(path);
  }
  return out;
}

function main(log: string | undefined): number {
  const problems: string[] = [];
  const node = process.version;
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { engines?: { node?: string } };
  const wanted = pkg.engines?.node ?? "";
  if (!satisfies(node, wanted)) problems.push(`Node ${node} does not satisfy package.json engines.node "${wanted}" (see README, "Node.js")`);

  const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as { packages: Record<string, LockEntry> };
  const excluded = new Map<string, string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
    // npm does not check the engines of optional (platform) packages, and neither does this.
    if (!path || !range || entry.optional || satisfies(node, range)) continue;
    const name = path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    if (TEST_ONLY_CLIENT.test(name) && entry.dev) excluded.set(name, range);
    else problems.push(`${name}@${entry.version ?? "?"} declares node "${range}", which excludes ${node}, and is not a test-only client`);
  }

  for (const dir of ["src", "scripts", "emulator", "bench"]) {
    for (const file of files(dir)) {
      const text = readFileSync(file, "utf8");
      // Import statements only (a snippet in a string, like the /docs examples, is not an import).
      for (const match of text.matchAll(/^\s*(?:import|export)\b[^;='"`]*?\bfrom\s+["']((?:@ai-sdk\/[a-z0-9-]+|openai|ai))(?:\/[^"']*)?["']|\bimport\(\s*["']((?:@ai-sdk\/[a-z0-9-]+|openai|ai))["']/gm)) {
        problems.push(`${file} imports ${match[1] ?? match[2]}: the Node-22-only SDK clients must stay in test/ (they are excused from Node's engine check only because Node never runs them)`);
      }
    }
  }

  if (log) {
    const lines = readFileSync(log, "utf8").split("\n");
    let inEngineBlock = false;
    for (const line of lines) {
      const warning = /^npm warn(?:ing)?\s+(\S+)\s*(.*)$/i.exec(line.trim());
      if (!warning) continue;
      const [, code = "", rest = ""] = warning;
      if (code === "EBADENGINE") {
        if (rest.startsWith("Unsupported engine")) inEngineBlock = true;
        const named = /package: '((?:@[^/']+\/)?[^@']+)@/.exec(rest);
        if (named && !excluded.has(named[1] ?? "")) problems.push(`npm ci: EBADENGINE for ${named[1]}, which is not a test-only client`);
        if (rest === "}") inEngineBlock = false;
        continue;
      }
      problems.push(`npm ci printed a warning: ${line.trim()}`);
      inEngineBlock = false;
    }
    if (inEngineBlock) problems.push("npm ci: an EBADENGINE block was not closed (log cut?)");
  }

  if (problems.length > 0) {
    console.error(`node/install check failed:\n  - ${problems.join("\n  - ")}`);
    return 1;
  }
  const excusedList = [...excluded].map(([name, range]) => `${name} (${range})`).join(", ");
  console.log(`node ${node} satisfies "${wanted}"; ${excluded.size ? `EBADENGINE only for test-only clients run in workerd/Chromium: ${excusedList}` : "no package excludes it"}`);
  return 0;
}

process.exit(main(process.argv[2]));
