/**
 * Idempotency cases, shared by every protocol's test file (`idempotency.test.ts` for Chat and
 * Anthropic, `idempotency-responses.test.ts` for Responses): a retried create with the same
 * `Idempotency-Key` answers the first attempt's native run — never a second run, never a second
 * execution of it — and a reused key with a different body is a 409 in the protocol's envelope.
 *
 * The emulator re-executes a replayed key of a run that is still running, exactly as the 1flowbase
 * fork does (native-api.md errata 2), so "one run" is checked twice: the emulator's request log has
 * exactly one native create for this test's nonce (retries attach to the recorded run instead of
 * posting again), and the emulator counts exactly one execution of that run.
 */
import { expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { create, emulatorExecutions, sleep, expectErrorResponse, expectStream, nativeCreatesWith, nonce, readBody } from "./helpers";
import type { ProtocolCase } from "./protocols";

/** The answer text of a create, blocking or streamed (the stream must end successfully). */
export async function answerText(protocol: ProtocolCase, response: Response, stream: boolean): Promise<string> {
  if (stream) {
    const outcome = await expectStream(protocol, response);
    expect(outcome.kind).toBe("success");
    return outcome.text;
  }
  const text = await readBody(response);
  expect(response.status, text).toBe(200);
  return protocol.blockingText(JSON.parse(text) as unknown);
}

/** The native creates of this test: exactly one, executed once, carrying the key and the stable trace id. */
export async function expectOneRun(marker: string): Promise<string> {
  const creates = await nativeCreatesWith(marker);
  expect(creates, "retries attach to the first attempt's run: one native create").toHaveLength(1);
  const runId = creates[0]?.run_id ?? "";
  expect(runId).toMatch(/^[0-9a-f-]{36}$/);
  const body = creates[0]?.body as { execution?: { idempotency_key?: string }; metadata?: { trace_id?: string } };
  expect(body.execution?.idempotency_key).toMatch(/\S/);
  expect(body.metadata?.trace_id).toMatch(/^idem-[0-9a-f]{32}$/);
  expect(await emulatorExecutions(runId), "the run was executed once").toBe(1);
  return runId;
}

/** Registers the idempotency cases for one protocol (call inside a `describe`). */
export function idempotencyCases(protocol: ProtocolCase): void {
  for (const stream of [false, true]) {
    const mode = stream ? "streaming" : "blocking";

    it(`${mode}: the same key and body twice → the first run, answered twice; no second run`, async () => {
      const marker = nonce();
      const key = `retry-${marker}`;
      const text = emu({ text: ["Hello ", marker] }, `idempotent ${marker}`);
      const first = await answerText(protocol, await create(protocol, text, stream, { headers: { "idempotency-key": key } }), stream);
      const second = await answerText(protocol, await create(protocol, text, stream, { headers: { "idempotency-key": key } }), stream);
      expect(first).toBe(`Hello ${marker}`);
      expect(second).toBe(first);
      await expectOneRun(marker);
    });

    it(`${mode}: a retry after the first attempt timed out answers the run that attempt started`, async () => {
      const marker = nonce();
      const key = `retry-${marker}`;
      // The first attempt gives up before native answers (the run is created anyway, then runs).
      const text = emu({ text: ["late ", marker], delay_ms: 400 }, `idempotent ${marker}`);
      const overrides = { NATIVE_HEADERS_TIMEOUT_MS: "100", NATIVE_BLOCKING_TIMEOUT_MS: "100" };
      const failed = await create(protocol, text, stream, { headers: { "idempotency-key": key }, overrides });
      await expectErrorResponse(failed, protocol.family, 504);
      expect(failed.headers.get("x-should-retry")).toBe("true");
      const retried = await create(protocol, text, stream, { headers: { "idempotency-key": key } });
      expect(await answerText(protocol, retried, stream)).toBe(`late ${marker}`);
      await expectOneRun(marker);
    });

    it(`${mode}: a retry while the first attempt's run is still running attaches to it — one execution, the same answer`, async () => {
      const marker = nonce();
      const key = `running-${marker}`;
      // The run takes ~1.5 s; the retry is sent while it runs (the SDK-timeout-then-retry case).
      const text = emu({ text: ["slow ", marker], delta_delay_ms: 500 }, `idempotent ${marker}`);
      const first = create(protocol, text, stream, { headers: { "idempotency-key": key } });
      await sleep(300);
      const retried = create(protocol, text, stream, { headers: { "idempotency-key": key } });
      const [a, b] = await Promise.all([first.then((response) => answerText(protocol, response, stream)), retried.then((response) => answerText(protocol, response, stream))]);
      expect(a).toBe(`slow ${marker}`);
      expect(b).toBe(a);
      await expectOneRun(marker);
    });
  }

  it("a reused key with a different body → 409 in the protocol's envelope, not a replay", async () => {
    const marker = nonce();
    const key = `reuse-${marker}`;
    await readBody(await create(protocol, `first ${marker}`, false, { headers: { "idempotency-key": key } }));
    const conflict = await create(protocol, `second ${marker}`, false, { headers: { "idempotency-key": key } });
    const envelope = await expectErrorResponse(conflict, protocol.family, 409);
    expect(envelope.message).toContain("Idempotency-Key");
    if (protocol.family === "openai") expect(envelope.code).toBe("idempotency_conflict");
    expect(conflict.headers.get("x-should-retry")).toBe("false");
  });

  it("the same key with only `stream` changed is a different request: 409", async () => {
    const marker = nonce();
    const key = `stream-${marker}`;
    const text = `same text ${marker}`;
    await readBody(await create(protocol, text, false, { headers: { "idempotency-key": key } }));
    await expectErrorResponse(await create(protocol, text, true, { headers: { "idempotency-key": key } }), protocol.family, 409);
  });

  it("without a key, two identical requests are two runs", async () => {
    const marker = nonce();
    for (let i = 0; i < 2; i++) await readBody(await create(protocol, `twice ${marker}`, false));
    const creates = await nativeCreatesWith(marker);
    expect(new Set(creates.map((request) => request.run_id)).size).toBe(2);
    for (const request of creates) expect((request.body as { execution?: unknown }).execution).toBeUndefined();
  });

  it("a malformed key (too long, control characters) → 400 naming Idempotency-Key, nothing sent to native", async () => {
    const marker = nonce();
    for (const key of ["k".repeat(256), "tab\there"]) {
      const response = await create(protocol, `bad key ${marker}`, false, { headers: { "idempotency-key": key } });
      const envelope = await expectErrorResponse(response, protocol.family, 400);
      expect(envelope.message).toContain("Idempotency-Key");
      if (protocol.family === "openai") expect(envelope.param).toBe("Idempotency-Key");
    }
    expect(await nativeCreatesWith(marker)).toHaveLength(0);
  });
}
