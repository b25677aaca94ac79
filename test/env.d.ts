import type { D1Migration } from "cloudflare:test";

declare module "vitest" {
  export interface ProvidedContext {
    emulatorUrl: string;
    faultNativeUrl: string;
    autoToolEmulatorUrl: string;
  }
}

declare global {
  namespace Cloudflare {
    interface Env {
      NATIVE_API_BASE_URL: string;
      RESPONSE_INDEX: D1Database;
      /** wrangler.toml [assets]: the generated API reference (test/global-setup.ts writes it). */
      ASSETS: Fetcher;
      TEST_MIGRATIONS: D1Migration[];
      FAULT_NATIVE_URL: string;
      AUTO_TOOL_EMULATOR_URL: string;
      FUZZ_SEED: string;
      FUZZ_RUNS: string;
    }
  }
}
export {};
