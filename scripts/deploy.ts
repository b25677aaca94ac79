/**
 * `npm run deploy -- --env <tenant>` and `npm run build -- --env <tenant>`: one command per tenant.
 *
 *   deploy: 1. checks the tenant's configuration (a real D1 id, an https native origin),
 *           2. applies the D1 migrations to the tenant's remote database
 *              (`wrangler d1 migrations apply RESPONSE_INDEX --remote --env <tenant>`), first — a
 *              worker deployed before its schema answers 503 on every create —,
 *           3. deploys (`wrangler deploy --env <tenant>`, with any other flags passed through).
 *           With `--dry-run`, step 2 is skipped (it needs an account) and step 3 is wrangler's own
 *           dry run: CI runs exactly this path for every tenant.
 *   build:  the tenant's deployable bundle into dist/ (`wrangler deploy --dry-run --outdir dist`).
 *
 * Without `--env` both refuse: the top level of wrangler.toml is the local development
 * configuration (emulator origin, placeholder D1 id), never something to deploy. npm's own
 * `predeploy` hook cannot do step 2, because npm passes `-- --env <tenant>` to the main script only.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { unstable_readConfig } from "wrangler";

const WRANGLER = join("node_modules", ".bin", process.platform === "win32" ? "wrangler.cmd" : "wrangler");
const CONFIG = "wrangler.toml";

/** `[env.<name>]` tables of wrangler.toml: the tenants. */
export function tenantsOf(toml: string): string[] {
  return [...new Set([...toml.matchAll(/^\[env\.([A-Za-z0-9_-]+)\]\s*$/gm)].map((match) => match[1] ?? ""))].filter(Boolean);
}

/** `--env x`, `--env=x`, `-e x`, and the other arguments, in order. */
export function splitEnv(args: readonly string[]): { env: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let env: string | undefined;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? "";
    if (arg === "--env" || arg === "-e") {
      env = args[i + 1];
      i += 1;
    } else if (arg.startsWith("--env=")) env = arg.slice(6);
    else rest.push(arg);
  }
  return { env: env === "" ? undefined : env, rest };
}

/** A `[[d1_databases]]` entry as wrangler reads it. */
export interface D1Entry {
  binding: string;
  database_name?: string;
  database_id?: string;
  migrations_dir?: string;
}

/** Ids like the examples' 1111…/2222…/0000…: a database that was never created. */
const PLACEHOLDER_ID = /^([0-9a-f])\1{7}-\1{4}-[0-9a-f]\1{3}-[0-9a-f]\1{3}-\1{12}$/i;

/** What stops a real deploy of `env`; empty when it may go ahead. */
export function deployProblems(env: string): string[] {
  const config = unstable_readConfig({ config: CONFIG, env }, { hideWarnings: true });
  const problems: string[] = [];
  const index = (config.d1_databases as D1Entry[]).find((database) => database.binding === "RESPONSE_INDEX");
  if (!index) problems.push(`[env.${env}] has no [[env.${env}.d1_databases]] with binding = "RESPONSE_INDEX"`);
  else if (!index.database_id || PLACEHOLDER_ID.test(index.database_id)) {
    problems.push(
      `[env.${env}] RESPONSE_INDEX database_id is a placeholder (${index.database_id ?? "missing"}): run \`npx wrangler d1 create ${index.database_name ?? `oneflowbase-gateway-${env}-index`}\` and put the id it prints into wrangler.toml`,
    );
  }
  const origin = config.vars.NATIVE_API_BASE_URL;
  if (typeof origin !== "string" || origin === "") {
    problems.push(`[env.${env}.vars] NATIVE_API_BASE_URL is missing (or set it as a secret: npx wrangler secret put NATIVE_API_BASE_URL --env ${env})`);
  } else if (!/^https:\/\//.test(origin) || /^https?:\/\/(127\.|localhost|\[::1\])/.test(origin)) {
    problems.push(`[env.${env}.vars] NATIVE_API_BASE_URL must be the https origin of the tenant's 1flowbase api-server, not ${origin}`);
  }
  return problems;
}

function run(args: readonly string[]): number {
  console.log(`\u001b[36m[deploy]\u001b[0m wrangler ${args.join(" ")}`);
  const result = spawnSync(WRANGLER, args, { stdio: "inherit", env: process.env, shell: process.platform === "win32" });
  if (result.error) {
    console.error(`[deploy] could not run wrangler: ${result.error.message}`);
    return 1;
  }
  return result.status ?? 1;
}

function refuse(message: string): number {
  console.error(`\u001b[31m[deploy]\u001b[0m ${message}`);
  return 2;
}

export function main(argv: readonly string[]): number {
  const [command, ...args] = argv;
  if (command !== "deploy" && command !== "build") return refuse("usage: tsx scripts/deploy.ts deploy|build --env <tenant> [wrangler flags]");
  const tenants = tenantsOf(readFileSync(CONFIG, "utf8"));
  const { env, rest } = splitEnv(args);
  const example = `npm run ${command} -- --env ${tenants[0] ?? "<tenant>"}`;
  if (!env) {
    return refuse(
      `npm run ${command} needs --env <tenant> (${tenants.join(", ") || "no [env.<tenant>] in wrangler.toml yet"}), e.g. \`${example}\`. ` +
        "The top level of wrangler.toml is the local development configuration (the emulator's origin, a placeholder D1 database); it is never deployed.",
    );
  }
  if (!tenants.includes(env)) return refuse(`no [env.${env}] in wrangler.toml; tenants: ${tenants.join(", ") || "none"}. README "First deploy" adds one.`);

  if (command === "build") {
    const outdir = rest.includes("--outdir") ? [] : ["--outdir", "dist"];
    return run(["deploy", "--dry-run", "--env", env, ...outdir, ...rest]);
  }

  const dryRun = rest.includes("--dry-run");
  if (!dryRun) {
    const problems = deployProblems(env);
    if (problems.length > 0) return refuse(`not deploying ${env}:\n  - ${problems.join("\n  - ")}`);
  }
  const migrate = ["d1", "migrations", "apply", "RESPONSE_INDEX", "--remote", "--env", env];
  if (dryRun) {
    console.log(`\u001b[36m[deploy]\u001b[0m dry run: skipping \`wrangler ${migrate.join(" ")}\` (it needs a Cloudflare account)`);
  } else {
    const status = run(migrate);
    if (status !== 0) return refuse(`migrations failed for ${env} (exit ${status}); nothing was deployed`);
  }
  return run(["deploy", "--env", env, ...rest]);
}

// Run as a script (not when a check imports the helpers above).
if (process.argv[1] && /(^|[\\/])deploy\.ts$/.test(process.argv[1])) process.exit(main(process.argv.slice(2)));
