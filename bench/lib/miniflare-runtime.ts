/**
 * The same worker in workerd without wrangler dev's devtools: Miniflare (what wrangler dev runs the
 * worker with) and no inspector. wrangler dev always attaches its inspector proxy to the runtime; on
 * this machine its devtools traffic costs the worker's workerd ~25 % more CPU per streamed request and
 * a second workerd more CPU than the worker itself (bench/FINDINGS.md), which a 2-core box cannot hide.
 * This runtime is the secondary e2e measurement; `wrangler dev` stays the primary one.
 */
import path from "node:path";
import { loadMiniflare } from "./deps";
import { descendantsNamed, serverPort } from "./proc";
import type { GatewaySnapshot } from "./snapshot";
import { bundleWorker, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from "./workerd";

export interface MiniflareWorker {
  url: string;
  workerdPid: number;
  /** The worker isolate's inspector (DevTools protocol over WebSocket), when started with `inspect`. */
  inspectorUrl: string | null;
  stop(): Promise<void>;
}

/**
 * `inspect`: open the runtime's inspector port, for the memory phase to read the isolate's heap.
 * An inspector that nobody talks to costs nothing; the e2e timing runs start without one anyway.
 */
async function start(scriptPath: string, bindings: Record<string, string>, d1Persist: string | null, inspect: boolean): Promise<MiniflareWorker> {
  const { Miniflare } = loadMiniflare();
  const before = new Set(descendantsNamed(process.pid, "workerd"));
  const mf = new Miniflare({
    name: WORKER_NAME,
    ...(inspect ? { inspectorPort: await serverPort() } : {}),
    modules: true,
    scriptPath,
    modulesRoot: path.dirname(scriptPath),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    bindings,
    ...(d1Persist ? { d1Databases: { RESPONSE_INDEX: "00000000-0000-0000-0000-000000000000" }, d1Persist } : {}),
    host: "127.0.0.1",
    port: await serverPort(),
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const started = descendantsNamed(process.pid, "workerd").filter((pid) => !before.has(pid));
  if (started.length !== 1) {
    await mf.dispose();
    throw new Error(`expected one new workerd for Miniflare, found ${started.length}`);
  }
  const inspectorUrl = inspect ? new URL(`/core:user:${WORKER_NAME}`, (await mf.getInspectorURL()).href).href : null;
  return { url, workerdPid: started[0] as number, inspectorUrl, stop: () => mf.dispose() };
}

const WORKER_NAME = "bench-subject";

/** The gateway snapshot; `persistDir` is the one `wrangler d1 migrations apply --persist-to` wrote. */
export function startMiniflareGateway(snapshot: GatewaySnapshot, emulatorUrl: string, persistDir: string, inspect = false): Promise<MiniflareWorker> {
  return start(path.join(snapshot.dir, "index.js"), { NATIVE_API_BASE_URL: emulatorUrl, LOG_LEVEL: "off" }, path.join(persistDir, "v3", "d1"), inspect);
}

/**
 * The gateway over `root`'s src/ (esbuild, unminified — so a base tree and the working tree are built
 * alike, for A/B investigations), with the request log off and the D1 `persistDir` migrated.
 */
export async function startMiniflareGatewayFromSource(root: string, emulatorUrl: string, persistDir: string): Promise<MiniflareWorker> {
  const bundle = await bundleWorker(path.join(root, "src", "index.ts"));
  return start(bundle, { NATIVE_API_BASE_URL: emulatorUrl, LOG_LEVEL: "off" }, path.join(persistDir, "v3", "d1"), false);
}

export async function startMiniflarePassthrough(emulatorUrl: string, inspect = false, entry = "bench/passthrough-worker.ts"): Promise<MiniflareWorker> {
  return start(await bundleWorker(entry), { NATIVE_API_BASE_URL: emulatorUrl }, null, inspect);
}
