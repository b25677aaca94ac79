/**
 * CI check of the deploy path (run by scripts/check-bundles.sh; there is no Cloudflare account in
 * CI, so nothing here talks to Cloudflare). For every [env.<tenant>] of wrangler.toml, read the way
 * wrangler itself reads it (`unstable_readConfig`: inheritance, defaults, validation):
 *   - every host its routes name serves every documented operation path (src/docs/openapi.ts), with
 *     Cloudflare's route matching (a `*` only at the start of the host or the end of the path; a
 *     path without `*` matches itself only; a custom domain takes the whole host);
 *   - `workers_dev` is set explicitly (a forgotten *.workers.dev URL is a second, unprotected entry
 *     point), and the worker is reachable somewhere;
 *   - the retention cron is scheduled, RESPONSE_INDEX is bound with the migrations directory, and
 *     NATIVE_API_BASE_URL is an https origin (the deploy script's own checks, placeholder D1 ids
 *     aside: the examples keep those on purpose, and the script must refuse them);
 *   - the API reference is deployed: `[assets]` (inherited from the top level, or the tenant's own)
 *     names the directory scripts/build-docs.ts writes, binds it as ASSETS and runs the worker first
 *     (the reference routes add the request id and the tenant's CORS), and `[build]` regenerates it;
 * and that `npm run deploy` / `npm run build` without `--env` refuse with a clear message.
 * The dry-run deploy of each tenant (`npm run deploy -- --env <tenant> --dry-run`) is run by
 * check-bundles.sh, which also measures its bundle.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { unstable_readConfig } from "wrangler";
import { operations } from "../src/docs/openapi";
import { REFERENCE_DIR } from "../src/routes/docs";
import { type D1Entry, deployProblems, tenantsOf } from "./deploy";

type Route = string | { pattern: string; custom_domain?: boolean; zone_name?: string; zone_id?: string };

/** A concrete request path for each documented path (a model id may contain `/`). */
export function samplePaths(): string[] {
  const paths = operations().flatMap((spec) => spec.paths);
  return [...new Set(paths.flatMap((path) => (path.includes("{model}") ? [path.replace("{model}", "1flowbase"), path.replace("{model}", "org/model")] : [path.replace(/\{[^}]+\}/g, "resp_0123")])))];
}

/** Cloudflare's route matching for one pattern, scheme and query ignored. */
export function routeMatches(route: Route, host: string, path: string): boolean {
  const pattern = (typeof route === "string" ? route : route.pattern).replace(/^https?:\/\//, "");
  const custom = typeof route === "object" && route.custom_domain === true;
  const slash = pattern.indexOf("/");
  const hostPattern = custom || slash < 0 ? pattern : pattern.slice(0, slash);
  const pathPattern = custom || slash < 0 ? "/*" : pattern.slice(slash);
  const hostOk = hostPattern.startsWith("*") ? host.endsWith(hostPattern.slice(1)) : host === hostPattern;
  const pathOk = pathPattern.endsWith("*") ? path.startsWith(pathPattern.slice(0, -1)) : path === pathPattern;
  return hostOk && pathOk;
}

/** A host each route's host pattern stands for (`*.example.com` → `sample.example.com`). */
function hostsOf(routes: readonly Route[]): string[] {
  return [
    ...new Set(
      routes.map((route) => {
        const pattern = (typeof route === "string" ? route : route.pattern).replace(/^https?:\/\//, "");
        const host = typeof route === "object" && route.custom_domain ? pattern : pattern.split("/")[0] ?? "";
        return host.startsWith("*.") ? `sample${host.slice(1)}` : host.startsWith("*") ? host.slice(1) : host;
      }),
    ),
  ];
}

/** The keys of TOML table `[name]` itself: from its header to the next table header. */
function tableText(raw: string, name: string): string {
  const lines = raw.split("\n");
  const start = lines.findIndex((line) => line.trim() === `[${name}]`);
  if (start < 0) return "";
  const end = lines.findIndex((line, i) => i > start && line.trimStart().startsWith("["));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

function checkTenant(env: string, raw: string): string[] {
  const problems: string[] = [];
  const config = unstable_readConfig({ config: "wrangler.toml", env }, { hideWarnings: true });
  const routes = (config.routes ?? []) as Route[];
  for (const host of hostsOf(routes)) {
    const missing = samplePaths().filter((path) => !routes.some((route) => routeMatches(route, host, path)));
    if (missing.length > 0) problems.push(`routes leave ${missing.map((path) => `${host}${path}`).join(", ")} outside the worker`);
  }
  if (!/^workers_dev\s*=\s*(true|false)\s*$/m.test(tableText(raw, `env.${env}`))) problems.push(`set workers_dev = false (or true, deliberately) in [env.${env}]`);
  if (routes.length === 0 && config.workers_dev !== true) problems.push("no routes and workers_dev is not true: the worker would be reachable nowhere");
  if (!config.triggers?.crons?.length) problems.push("no [triggers] crons: expired index rows would never be purged");
  const index = (config.d1_databases as D1Entry[]).find((database) => database.binding === "RESPONSE_INDEX");
  if (index?.migrations_dir !== "migrations") problems.push('RESPONSE_INDEX needs migrations_dir = "migrations"');
  const assets = config.assets;
  if (assets?.directory !== REFERENCE_DIR || assets.binding !== "ASSETS" || assets.run_worker_first !== true) {
    problems.push(`[assets] must be { directory = "${REFERENCE_DIR}", binding = "ASSETS", run_worker_first = true } (src/routes/docs.ts serves /docs and /openapi.json from it), got ${JSON.stringify(assets ?? null)}`);
  }
  if (!config.build?.command?.includes("build:docs")) problems.push("[build] command must run `npm run build:docs`, or the deploy carries a stale or missing API reference");
  const deployable = deployProblems(env);
  problems.push(...deployable.filter((problem) => !problem.includes("database_id is a placeholder")));
  return problems;
}

function refuses(args: string[], expected: RegExp): string | null {
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/deploy.ts", ...args], { encoding: "utf8" });
  if (result.status !== 2) return `\`deploy.ts ${args.join(" ")}\` exited ${result.status}, expected a refusal (2)`;
  if (!expected.test(result.stderr)) return `\`deploy.ts ${args.join(" ")}\` did not say ${expected}: ${result.stderr.trim()}`;
  return null;
}

function main(): number {
  const raw = readFileSync("wrangler.toml", "utf8");
  const tenants = tenantsOf(raw);
  const problems: string[] = [];
  if (tenants.length === 0) problems.push("wrangler.toml has no [env.<tenant>]");
  for (const env of tenants) {
    const found = checkTenant(env, raw);
    console.log(`-- deploy config: env ${env}: ${found.length === 0 ? "ok" : `${found.length} problem(s)`}`);
    problems.push(...found.map((problem) => `[env.${env}] ${problem}`));
  }
  const placeholder = tenants.find((env) => deployProblems(env).some((problem) => problem.includes("database_id is a placeholder")));
  for (const failure of [
    refuses(["deploy"], /needs --env <tenant>/),
    refuses(["build"], /needs --env <tenant>/),
    refuses(["deploy", "--env", "no-such-tenant"], /no \[env\.no-such-tenant\]/),
    placeholder ? refuses(["deploy", "--env", placeholder], /database_id is a placeholder/) : null,
  ]) {
    if (failure) problems.push(failure);
  }
  console.log(`-- deploy script: bare deploy/build refuse${placeholder ? `, placeholder D1 id of ${placeholder} refused` : ""}`);
  if (problems.length > 0) {
    console.error(`deploy check failed:\n  - ${problems.join("\n  - ")}`);
    return 1;
  }
  console.log(`deploy config ok (${samplePaths().length} paths on every routed host)`);
  return 0;
}

process.exit(main());
