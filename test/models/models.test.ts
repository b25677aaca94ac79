/**
 * `GET /v1/models`, `/openai/v1/models`, `/models` (and `…/models/{id}`): the application's published
 * catalog (native `GET /models`, native-api.md §3.5) in OpenAI's list shape (client-protocols.md §4.4),
 * through the real `openai` SDK on all three bases.
 */
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";
import type { NativeModelList } from "../../src/native/schema";
import { openAiModelList } from "../../src/protocols/models/openai-models";
import { BASES, GATEWAY, openai } from "../chat/helpers";
import { SELF } from "cloudflare:test";

describe.each(BASES)("models at %s", (baseURL) => {
  it("models.list() returns the catalog as OpenAI models", async () => {
    const models = [];
    for await (const model of openai({ baseURL }).models.list()) models.push(model);
    expect(models.map((model) => model.id)).toEqual(["1flowbase", "emu-plain"]);
    for (const model of models) expect(model).toMatchObject({ object: "model", created: 0, owned_by: "1flowbase" });
    // Catalog metadata clients such as Codex read is kept (fork parity, native-api.md §4.6).
    expect(models[0]).toMatchObject({
      context_window: 257000,
      max_output_tokens: 32000,
      capabilities: { reasoning: true, tool_call: true },
      reasoning: { default_effort: "medium", supported_efforts: ["minimal", "low", "medium", "high", "xhigh"] },
    });
  });

  it("models.retrieve(id) returns one model; an unknown id is 404 model_not_found", async () => {
    const client = openai({ baseURL });
    expect(await client.models.retrieve("emu-plain")).toMatchObject({ id: "emu-plain", object: "model", name: "Emulator plain model", owned_by: "1flowbase" });
    const error = await client.models.retrieve("gpt-9").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error).toMatchObject({ status: 404, code: "model_not_found", type: "invalid_request_error" });
  });
});

describe("model list errors", () => {
  it("an unpublished application → 409; an unknown key → 401; no key → 401", async () => {
    const unpublished = await openai({ apiKey: EMULATOR_KEYS.unpublished }).models.list().catch((caught: unknown) => caught);
    expect(unpublished).toBeInstanceOf(OpenAI.ConflictError);
    expect(unpublished).toMatchObject({ code: "application_not_published" });

    const unknown = await openai({ apiKey: "sk-unknown0000-NotARealKeyNotARealKeyNotARealKey0000" }).models.list().catch((caught: unknown) => caught);
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);

    const anonymous = await SELF.fetch(`${GATEWAY}/v1/models`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toContain("application/json");
    expect(await anonymous.json()).toMatchObject({ error: { type: "authentication_error" } });
  });

  it("a model id with a slash, percent-encoded or not, is looked up whole", async () => {
    for (const path of ["/v1/models/vendor%2Fmodel", "/v1/models/vendor/model"]) {
      const response = await SELF.fetch(`${GATEWAY}${path}`, { headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}` } });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: "model_not_found", message: "The model 'vendor/model' does not exist" } });
    }
  });

  it("1flowbase's own alias /v1/chat/completions/models lists the same catalog", async () => {
    const response = await SELF.fetch(`${GATEWAY}/v1/chat/completions/models`, { headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: Array<{ id: string }> }).data.map((model) => model.id)).toEqual(["1flowbase", "emu-plain"]);
  });

  it("x-api-key is accepted like Bearer", async () => {
    const response = await SELF.fetch(`${GATEWAY}/openai/v1/models`, { headers: { "x-api-key": EMULATOR_KEYS.demo } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { object: string }).object).toBe("list");
  });
});

describe("openAiModelList", () => {
  it("copies only the documented fields (never a native object wholesale) and drops duplicate ids", () => {
    const native: NativeModelList = {
      object: "list",
      data: [
        { id: "a", name: "A", context_window: 10, capabilities: { reasoning: false, secret_flag: true }, internal_route: "https://provider.internal" },
        { id: "a", name: "duplicate" },
        { id: "b/with-slash", reasoning: { supported_efforts: ["low"] } },
      ],
    };
    expect(openAiModelList(native)).toEqual({
      object: "list",
      data: [
        { id: "a", object: "model", created: 0, owned_by: "1flowbase", name: "A", context_window: 10, capabilities: { reasoning: false } },
        { id: "b/with-slash", object: "model", created: 0, owned_by: "1flowbase", reasoning: { supported_efforts: ["low"] } },
      ],
    });
    expect(JSON.stringify(openAiModelList(native))).not.toContain("internal");
  });
});
