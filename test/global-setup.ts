/**
 * vitest globalSetup: starts the embedded native API emulator (a Node server) on a free loopback
 * port. vitest.config.ts injects its URL into the worker as NATIVE_API_BASE_URL. A short keepalive
 * interval keeps the keepalive tests fast.
 */
import type { TestProject } from "vitest/node";
import { startEmulator } from "../emulator/server";

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  const emulator = await startEmulator({ port: 0, keepaliveMs: 200 });
  provide("emulatorUrl", emulator.url);
  return async () => {
    await emulator.close();
  };
}
