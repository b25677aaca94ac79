/**
 * The gateway keeps its connection to native reusable: a run's body is read to its end after the
 * terminal event, not cancelled under it (src/native/events.ts `releaseBody`). A fetch body
 * cancelled before its end closes its HTTP/1.1 connection, and native's terminal event arrives a
 * read before the body's end — so every run used to cost the next native request a new connection
 * (to a real 1flowbase across the internet: a TCP and TLS handshake). The emulator numbers the
 * connections it accepts and records when each closes (emulator/README.md, introspection).
 */
import { describe, expect, it } from "vitest";
import { create, expectStream, nativeCreatesWith, nonce, readBody, sleep, type RecordedNativeRequest } from "./helpers";
import { PROTOCOLS } from "./protocols";

/** The native create of `marker`, once the emulator has written its whole answer. */
async function answeredCreate(marker: string): Promise<RecordedNativeRequest> {
  for (let waited = 0; waited < 5_000; waited += 20) {
    const [create] = await nativeCreatesWith(marker);
    if (create?.completed === true) return create;
    await sleep(20);
  }
  throw new Error(`no finished native create for ${marker}`);
}

describe("the connection to native outlives each run", () => {
  for (const protocol of PROTOCOLS) {
    for (const stream of [true, false]) {
      it(`${protocol.name} ${stream ? "stream" : "blocking"}: native's connection is still open after the answer`, async () => {
        const marker = `keep-alive ${nonce()}`;
        const response = await create(protocol, marker, stream);
        expect(response.status).toBe(200);
        if (stream) expect((await expectStream(protocol, response)).kind).toBe("success");
        else await readBody(response);
        const native = await answeredCreate(marker);
        expect(native.connection).toBeGreaterThan(0);
        // A cancelled body closes its connection within a few ms; give it ten times that.
        await sleep(150);
        const [after] = await nativeCreatesWith(marker);
        expect(after?.connection).toBe(native.connection);
        expect(after).toHaveProperty("connection_closed_at", null);
      });
    }
  }
});
