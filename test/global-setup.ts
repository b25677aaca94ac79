/**
 * vitest globalSetup: starts the embedded native API emulator (a Node server) on a free loopback
 * port. vitest.config.ts injects its URL into the worker as NATIVE_API_BASE_URL. A short keepalive
 * interval keeps the keepalive tests fast. Next to it, a misbehaving fake native server for the fault
 * matrix (test/reliability/fault-native.ts). First of all it generates the API reference the worker
 * serves from static assets (scripts/build-docs.ts), so `npx vitest run` on a fresh clone serves a
 * reference built from the schemas as they are now.
 */
import type { TestProject } from "vitest/node";
import { startEmulator } from "../emulator/server";
import { writeReference } from "../scripts/build-docs";
import { startFaultNative } from "./reliability/fault-native";

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  writeReference();
  const emulator = await startEmulator({ port: 0, keepaliveMs: 200 });
  provide("emulatorUrl", emulator.url);
  // The same emulator with EMULATOR_AUTO_TOOL_CALLS on (test/emulator/auto-tool-calls.test.ts).
  const autoToolEmulator = await startEmulator({ port: 0, keepaliveMs: 200, autoToolCalls: true });
  provide("autoToolEmulatorUrl", autoToolEmulator.url);
  // A misbehaving native for the fault matrix (test/reliability/fault-matrix.test.ts).
  const faultNative = await startFaultNative();
  provide("faultNativeUrl", faultNative.url);
  return async () => {
    await Promise.all([emulator.close(), autoToolEmulator.close(), faultNative.close()]);
  };
}
