/**
 * Native accepts at most 2 MiB per request (the fork configures no body limit: axum's default,
 * native-api.md errata 3), and mapping can make a body larger than the client sent. The gateway
 * checks the *mapped* native body against `NATIVE_MAX_REQUEST_BYTES` before sending: a clean 413 in
 * the protocol's envelope that names the limit and the way out — never native's plain-text 413 from
 * deep inside a run. (Responses with `truncation: "auto"` drops turns instead: chain.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { create, expectErrorResponse, nativeCreatesWith, nonce } from "./helpers";
import { PROTOCOLS } from "./protocols";

describe.concurrent("the mapped native request over NATIVE_MAX_REQUEST_BYTES", () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name}: 413 naming the limit, nothing sent to native`, async () => {
      const marker = nonce();
      const response = await create(protocol, `${marker} ${"é".repeat(1_500)}`, false, { overrides: { NATIVE_MAX_REQUEST_BYTES: "2048" } });
      if (protocol.name === "responses") {
        // Responses says it in its own terms: the input is over the limit, truncation is the way out.
        const envelope = await expectErrorResponse(response, protocol.family, 400);
        expect(envelope.code).toBe("context_length_exceeded");
      } else {
        const envelope = await expectErrorResponse(response, protocol.family, 413);
        if (protocol.family === "anthropic") expect(envelope.type).toBe("request_too_large");
        else expect(envelope.code).toBe("native_request_too_large");
        expect(envelope.message).toContain("NATIVE_MAX_REQUEST_BYTES");
      }
      expect(response.headers.get("x-should-retry")).toBe("false");
      expect(await nativeCreatesWith(marker)).toHaveLength(0);
    });

    it(`${protocol.name}: just under the limit is sent (UTF-8 bytes are counted, not characters)`, async () => {
      const marker = nonce();
      const response = await create(protocol, `${marker} ${"é".repeat(300)}`, false, { overrides: { NATIVE_MAX_REQUEST_BYTES: "2048" } });
      expect(response.status, await response.clone().text()).toBe(200);
      expect(await nativeCreatesWith(marker)).toHaveLength(1);
    });
  }
});
