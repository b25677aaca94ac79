/**
 * `Idempotency-Key` on `POST /v1/responses` — the same cases as Chat and Anthropic
 * (idempotency-cases.ts), plus the Responses-specific one: the retried create answers the same
 * response id, and that id stays owned, chainable and retrievable.
 *
 * The `POST /v1/responses` handler reads the key with `readIdempotency` and applies it last with
 * `applyIdempotency` (src/http/idempotency.ts), exactly as the Chat and Messages routes do.
 */
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { create, gateway, EMULATOR_KEYS, nonce, readBody } from "./helpers";
import { expectOneRun, idempotencyCases } from "./idempotency-cases";
import { RESPONSES } from "./protocols";

describe("Responses: Idempotency-Key", () => {
  idempotencyCases(RESPONSES);

  for (const stream of [false, true]) {
    it(`${stream ? "streaming" : "blocking"}: a retried create answers the same response id, which is owned and chainable`, async () => {
      const marker = nonce();
      const headers = { "idempotency-key": `resp-${marker}` };
      const text = emu({ text: ["chained ", marker] }, `idempotent ${marker}`);
      const ids: string[] = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        const body = await readBody(await create(RESPONSES, text, stream, { headers }));
        const id = stream ? /"id":"(resp_[0-9a-f]+)"/.exec(body)?.[1] : (JSON.parse(body) as { id: string }).id;
        ids.push(id ?? "");
      }
      expect(ids[0]).toMatch(/^resp_[0-9a-f]{32}$/);
      expect(ids[1]).toBe(ids[0]);
      await expectOneRun(marker);

      const auth = { authorization: `Bearer ${EMULATOR_KEYS.demo}` };
      const retrieved = await gateway(`/v1/responses/${ids[0]}`, { headers: auth });
      expect(retrieved.status).toBe(200);
      await readBody(retrieved);
      const chained = await gateway("/v1/responses", {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ model: "1flowbase", input: "and then?", previous_response_id: ids[0] }),
      });
      expect(chained.status, await chained.clone().text()).toBe(200);
      await readBody(chained);
    });
  }
});
