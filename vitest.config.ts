import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Tests run inside workerd. The embedded 1flowbase emulator is a Node server started by
// `test/global-setup.ts` on a free loopback port; its URL reaches the worker as NATIVE_API_BASE_URL,
// exactly like a real native server (invariant 6: no code path special-cases the emulator).
export default defineConfig({
  plugins: [
    cloudflareTest(async ({ inject }) => ({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          NATIVE_API_BASE_URL: inject("emulatorUrl"),
          // Test-only: the fault matrix's misbehaving native, and the fuzz seed and run multiplier (`FUZZ_SEED=… FUZZ_RUNS=… npm test`).
          FAULT_NATIVE_URL: inject("faultNativeUrl"),
          AUTO_TOOL_EMULATOR_URL: inject("autoToolEmulatorUrl"),
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
          FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
          // Request log lines are tested directly; keep test output readable.
          LOG_LEVEL: "off",
          // Responses compaction signs its items (src/http/signing.ts); a test-only secret.
          GATEWAY_SIGNING_SECRET: "test-only-signing-secret-0123456789abcdef",
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
        },
      },
    })),
  ],
  test: {
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/apply-migrations.ts"],
    include: ["test/**/*.test.ts", "src/**/*.test.ts", "emulator/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
