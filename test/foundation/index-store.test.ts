import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { GatewayError, toGatewayError } from "../../src/http/errors";
import { createOwnershipIndex, IndexUnavailableError } from "../../src/index-store";

const OWNER_A = "a".repeat(64);
const OWNER_B = "b".repeat(64);

describe("ownership index (D1)", () => {
  it("a DELETE's tombstone wins over a claim that lands after it, and is the owner's alone", async () => {
    const index = createOwnershipIndex(env.RESPONSE_INDEX, 3600);
    // The claim still in flight: the tombstone goes in first (ownership vouched for by native).
    expect(await index.remove("resp_tomb", OWNER_B, "run-t")).toBe(true);
    await index.claim("resp_tomb", "run-t", OWNER_B);
    expect(await index.lookup("resp_tomb", OWNER_B)).toEqual({ kind: "deleted" });
    expect(await index.resolve("resp_tomb", OWNER_B)).toBeNull();
    expect(await index.remove("resp_tomb", OWNER_B)).toBe(false); // already deleted
    expect(await index.remove("resp_tomb", OWNER_B, "run-t")).toBe(false);
    // Another owner sees absence, not a tombstone, and cannot tombstone it either.
    expect(await index.lookup("resp_tomb", OWNER_A)).toEqual({ kind: "absent" });
    expect(await index.remove("resp_tomb", OWNER_A, "run-t")).toBe(false);
    // A live row is tombstoned in place.
    await index.claim("resp_live", "run-l", OWNER_A);
    expect(await index.lookup("resp_live", OWNER_A)).toMatchObject({ kind: "owned", row: { nativeRunId: "run-l" } });
    expect(await index.remove("resp_live", OWNER_B, "run-l")).toBe(false);
    expect(await index.remove("resp_live", OWNER_A)).toBe(true);
    expect(await index.lookup("resp_live", OWNER_A)).toEqual({ kind: "deleted" });
  });

  it("claims, resolves for the owner only, and deletes", async () => {
    const index = createOwnershipIndex(env.RESPONSE_INDEX, 3600);
    await index.claim("resp_owned", "run-1", OWNER_A);
    expect(await index.resolve("resp_owned", OWNER_A)).toMatchObject({ responseId: "resp_owned", nativeRunId: "run-1" });
    // Another owner's row is indistinguishable from a missing one.
    expect(await index.resolve("resp_owned", OWNER_B)).toBeNull();
    expect(await index.resolve("resp_missing", OWNER_A)).toBeNull();
    expect(await index.remove("resp_owned", OWNER_B)).toBe(false);
    expect(await index.resolve("resp_owned", OWNER_A)).not.toBeNull();
    expect(await index.remove("resp_owned", OWNER_A)).toBe(true);
    expect(await index.resolve("resp_owned", OWNER_A)).toBeNull();
  });

  it("a claim still in flight is read from this isolate, by its owner only, and can be tombstoned before it lands", async () => {
    const real = env.RESPONSE_INDEX;
    let land: (() => void) | undefined;
    let failClaims = false;
    // D1 with the claim's INSERT held until `land()` (or failing at once when `failClaims`); the rest is real.
    const held = new Proxy(real, {
      get(target, property) {
        if (property !== "prepare") {
          const value = Reflect.get(target, property) as unknown;
          return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        }
        return (sql: string) => {
          const statement = target.prepare(sql);
          if (!/^INSERT INTO response_index \(response_id, native_run_id, owner_fingerprint, created_at, expires_at\) VALUES/.test(sql)) return statement;
          return {
            bind: (...values: unknown[]) => ({
              run: () =>
                failClaims
                  ? Promise.reject(new Error("D1_ERROR: primary unavailable"))
                  : new Promise<void>((resolve) => (land = resolve)).then(() => statement.bind(...values).run()),
            }),
          };
        };
      },
    }) as D1Database;
    const index = createOwnershipIndex(held, 3600);
    const claimed = index.claim("resp_flight", "run-f", OWNER_A);
    expect(await real.prepare("SELECT 1 FROM response_index WHERE response_id = 'resp_flight'").first()).toBeNull();
    expect(await index.lookup("resp_flight", OWNER_A)).toMatchObject({ kind: "owned", row: { nativeRunId: "run-f" } });
    expect(await index.lookup("resp_flight", OWNER_B)).toEqual({ kind: "absent" });
    // DELETE while in flight: the tombstone goes in first, and the late claim loses to it.
    expect(await index.remove("resp_flight", OWNER_A)).toBe(true);
    land?.();
    await claimed;
    expect(await real.prepare("SELECT deleted_at FROM response_index WHERE response_id = 'resp_flight'").first()).toMatchObject({ deleted_at: expect.any(Number) });
    expect(await index.lookup("resp_flight", OWNER_A)).toEqual({ kind: "deleted" });
    // A claim that fails is not remembered as owned.
    failClaims = true;
    await expect(index.claim("resp_lost", "run-l", OWNER_A)).rejects.toBeInstanceOf(IndexUnavailableError);
    expect(await index.lookup("resp_lost", OWNER_A)).toEqual({ kind: "absent" });
  });

  it("never lets a second claim take over another owner's row", async () => {
    const index = createOwnershipIndex(env.RESPONSE_INDEX, 3600);
    await index.claim("resp_contested", "run-a", OWNER_A);
    await index.claim("resp_contested", "run-b", OWNER_B);
    expect(await index.resolve("resp_contested", OWNER_B)).toBeNull();
    expect(await index.resolve("resp_contested", OWNER_A)).toMatchObject({ nativeRunId: "run-a" });
  });

  it("treats expired rows as absent", async () => {
    let clock = 1_000;
    const index = createOwnershipIndex(env.RESPONSE_INDEX, 60, () => clock);
    await index.claim("resp_expiring", "run-x", OWNER_A);
    expect(await index.resolve("resp_expiring", OWNER_A)).not.toBeNull();
    clock += 61;
    expect(await index.resolve("resp_expiring", OWNER_A)).toBeNull();
  });

  it("stores no key and no content: only id, run id, fingerprint, timestamps (the tombstone is one)", async () => {
    const columns = await env.RESPONSE_INDEX.prepare("PRAGMA table_info(response_index)").all<{ name: string }>();
    expect(columns.results.map((column) => column.name).sort()).toEqual(
      ["created_at", "deleted_at", "expires_at", "native_run_id", "owner_fingerprint", "response_id"].sort(),
    );
  });

  it("fails closed with a 503 when D1 errors", async () => {
    const broken = {
      prepare() {
        throw new Error("D1_ERROR: database unavailable");
      },
    } as unknown as D1Database;
    const index = createOwnershipIndex(broken, 3600);
    const failures = [
      await index.resolve("resp_x", OWNER_A).catch((error: unknown) => error),
      await index.claim("resp_x", "run", OWNER_A).catch((error: unknown) => error),
      await index.remove("resp_x", OWNER_A).catch((error: unknown) => error),
    ];
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(IndexUnavailableError);
      // The index knows no HTTP: src/http/errors.ts answers its error as a retryable 503.
      expect(failure).not.toBeInstanceOf(GatewayError);
      expect((failure as IndexUnavailableError).cause).toBeInstanceOf(Error);
      const answered = toGatewayError(failure);
      expect(answered).toBeInstanceOf(GatewayError);
      expect({ status: answered.status, code: answered.code, type: answered.type }).toEqual({ status: 503, code: "index_unavailable", type: "server_error" });
      expect(answered.headers["x-should-retry"]).toBe("true");
      expect(answered.message).toBe("the response index is unavailable; try again shortly");
    }
  });

  it("fails closed when a D1 statement rejects (not only when prepare throws)", async () => {
    const rejecting = {
      prepare() {
        const statement = {
          bind: () => statement,
          run: () => Promise.reject(new Error("D1_ERROR: network connection lost")),
          first: () => Promise.reject(new Error("D1_ERROR: network connection lost")),
        };
        return statement;
      },
    } as unknown as D1Database;
    const index = createOwnershipIndex(rejecting, 3600);
    await expect(index.resolve("resp_x", OWNER_A)).rejects.toBeInstanceOf(IndexUnavailableError);
    await expect(index.claim("resp_x", "run", OWNER_A)).rejects.toBeInstanceOf(IndexUnavailableError);
    await expect(index.remove("resp_x", OWNER_A)).rejects.toBeInstanceOf(IndexUnavailableError);
  });
});
