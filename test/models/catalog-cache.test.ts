/**
 * The model check's catalog cache (routes/run-steps.ts `applicationCatalog`) shares only reads that
 * have completed: a request never awaits a promise another request's fetch will resolve. workerd runs
 * such a waiter in the creating request's context and cancels it when that request ends; `npm run
 * bench` (short answers, c = 8) saw the waiting requests hang into the runtime's 500.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Caller } from "../../src/http/context";
import type { NativeModelList } from "../../src/native/schema";
import { GatewayError } from "../../src/http/errors";
import { applicationCatalog, catalogModel, prefetchCatalog } from "../../src/routes/run-steps";

const CATALOG: NativeModelList = { object: "list", data: [{ id: "1flowbase" }] } as NativeModelList;

const PUBLISHED: NativeModelList = { object: "list", data: [{ id: "1flowbase" }, { id: "published-later" }] } as NativeModelList;

/** A caller whose catalog reads are counted and answered only when the test says so; `background` work is collected. */
function callerWithCatalog(fingerprint: string) {
  const reads: Array<{ resolve: (catalog: NativeModelList) => void; reject: (error: Error) => void }> = [];
  const background: Array<Promise<unknown>> = [];
  const native = { listModels: () => new Promise<NativeModelList>((resolve, reject) => reads.push({ resolve, reject })) };
  const caller = {
    config: { NATIVE_API_BASE_URL: "https://native.test", MODEL_ALIASES: [] },
    fingerprint: () => Promise.resolve(fingerprint),
    background: (work: Promise<unknown>) => background.push(work.catch(() => undefined)),
    native,
    // The background refresh's client (not tied to the request's signal); the same reads here.
    detachedNative: () => native,
  } as unknown as Caller;
  return { caller, reads, background };
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
    for (const answer of reads) answer.resolve(CATALOG);
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

  describe("past its 30 s (stale-while-revalidate)", () => {
    afterEach(() => vi.useRealTimers());

    /** A caller whose catalog was read at the fake clock's start, and the clock moved `ms` on. */
    async function staleBy(ms: number) {
      vi.useFakeTimers({ toFake: ["Date"] });
      const fixture = callerWithCatalog(`fp-${crypto.randomUUID()}`);
      const first = applicationCatalog(fixture.caller);
      await turns(10);
      fixture.reads[0]?.resolve(CATALOG);
      await first;
      vi.setSystemTime(Date.now() + ms);
      return fixture;
    }

    /** The background refresh starts on the next macrotask (after the request's own native call). */
    const nextMacrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

    /** Resolves with "pending" when `promise` has not settled within a few turns. */
    async function settledSoon<T>(promise: Promise<T>): Promise<T | "pending"> {
      return Promise.race([promise, turns(20).then(() => "pending" as const)]);
    }

    it("answers a listed model at once and reads a fresh catalog alongside, once for requests that find it stale together", async () => {
      const { caller, reads, background } = await staleBy(31_000);
      expect(await settledSoon(applicationCatalog(caller))).toEqual(CATALOG);
      expect(await settledSoon(applicationCatalog(caller))).toEqual(CATALOG);
      expect(reads).toHaveLength(1);
      await nextMacrotask();
      // One read in the background (the first request's), none awaited by either request.
      expect(reads).toHaveLength(2);
      expect(background).toHaveLength(1);
      reads[1]?.resolve(PUBLISHED);
      await Promise.all(background);
      expect(await settledSoon(applicationCatalog(caller))).toEqual(PUBLISHED);
      expect(reads).toHaveLength(2);
    });

    it("checks a model the stale catalog does not list against a fresh read before the 404", async () => {
      const { caller, reads } = await staleBy(31_000);
      const found = catalogModel(caller, "published-later");
      await turns(20);
      // The request's own fresh read; the background refresh follows on the next macrotask.
      expect(reads).toHaveLength(2);
      reads[1]?.resolve(PUBLISHED);
      await expect(found).resolves.toBe("published-later");
      await nextMacrotask();
      expect(reads).toHaveLength(3);
    });

    it("after that fresh read, the request's later steps (its reasoning decision) read the fresh catalog too", async () => {
      const { caller, reads } = await staleBy(31_000);
      prefetchCatalog(caller); // as the create routes do: the request's own catalog is the stale one
      const found = catalogModel(caller, "published-later");
      await turns(20);
      reads[1]?.resolve(PUBLISHED);
      await expect(found).resolves.toBe("published-later");
      expect(await settledSoon(applicationCatalog(caller))).toEqual(PUBLISHED);
    });

    it("answers 404 for a model a fresh catalog does not list, without another read", async () => {
      const { caller, reads } = await staleBy(1_000);
      const missing = catalogModel(caller, "no-such-model");
      await expect(missing).rejects.toBeInstanceOf(GatewayError);
      await expect(missing).rejects.toMatchObject({ status: 404, code: "model_not_found" });
      expect(reads).toHaveLength(1);
    });

    it("keeps the stale catalog when the background read fails, and the next request tries again", async () => {
      const { caller, reads, background } = await staleBy(31_000);
      expect(await settledSoon(applicationCatalog(caller))).toEqual(CATALOG);
      await nextMacrotask();
      reads[1]?.reject(new Error("native down"));
      await Promise.all(background);
      expect(await settledSoon(applicationCatalog(caller))).toEqual(CATALOG);
      await nextMacrotask();
      expect(reads).toHaveLength(3);
    });

    it("waits for a fresh read once the catalog is more than 5 minutes past its 30 s", async () => {
      const { caller, reads } = await staleBy(30_000 + 5 * 60_000 + 1);
      const read = applicationCatalog(caller);
      expect(await settledSoon(read)).toBe("pending");
      reads[1]?.resolve(PUBLISHED);
      await expect(read).resolves.toEqual(PUBLISHED);
    });
  });
});
