/**
 * The model check's catalog cache (routes/run-steps.ts `applicationCatalog`) shares only reads that
 * have completed: a request never awaits a promise another request's fetch will resolve. workerd runs
 * such a waiter in the creating request's context and cancels it when that request ends; `npm run
 * bench` (short answers, c = 8) saw the waiting requests hang into the runtime's 500.
 */
import { describe, expect, it } from "vitest";
import type { Caller } from "../../src/http/context";
import type { NativeModelList } from "../../src/native/schema";
import { applicationCatalog } from "../../src/routes/run-steps";

const CATALOG: NativeModelList = { object: "list", data: [{ id: "1flowbase" }] } as NativeModelList;

/** A caller whose catalog reads are counted and answered only when the test says so. */
function callerWithCatalog(fingerprint: string) {
  const reads: Array<(catalog: NativeModelList) => void> = [];
  const caller = {
    config: { NATIVE_API_BASE_URL: "https://native.test" },
    fingerprint: () => Promise.resolve(fingerprint),
    native: { listModels: () => new Promise<NativeModelList>((resolve) => reads.push(resolve)) },
  } as unknown as Caller;
  return { caller, reads };
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe("applicationCatalog", () => {
  it("two requests that miss together each read the catalog; a completed read then answers the next", async () => {
    const { caller, reads } = callerWithCatalog(`fp-${crypto.randomUUID()}`);
    const first = applicationCatalog(caller);
    const second = applicationCatalog(caller);
    await turns(10);
    // Sharing the first read's promise would leave one read here.
    expect(reads).toHaveLength(2);
    for (const answer of reads) answer(CATALOG);
    await expect(first).resolves.toEqual(CATALOG);
    await expect(second).resolves.toEqual(CATALOG);
    await expect(applicationCatalog(caller)).resolves.toEqual(CATALOG);
    expect(reads).toHaveLength(2);
  });

  it("a failed read is not kept", async () => {
    const fingerprint = `fp-${crypto.randomUUID()}`;
    let calls = 0;
    const caller = {
      config: { NATIVE_API_BASE_URL: "https://native.test" },
      fingerprint: () => Promise.resolve(fingerprint),
      native: {
        listModels: () => {
          calls++;
          return calls === 1 ? Promise.reject(new Error("native down")) : Promise.resolve(CATALOG);
        },
      },
    } as unknown as Caller;
    await expect(applicationCatalog(caller)).rejects.toThrow("native down");
    await expect(applicationCatalog(caller)).resolves.toEqual(CATALOG);
    await expect(applicationCatalog(caller)).resolves.toEqual(CATALOG);
    expect(calls).toBe(2);
  });
});
