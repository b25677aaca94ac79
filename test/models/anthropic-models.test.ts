/**
 * `GET /v1/models` for Anthropic clients: the Anthropic SDK (and Claude Code) send `anthropic-version`
 * and read Anthropic's list shape — `{data: [{type: "model", id, display_name, created_at}], has_more,
 * first_id, last_id}` — and Anthropic's error envelope. OpenAI clients keep OpenAI's shape on the same path.
 */
import Anthropic from "@anthropic-ai/sdk";
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EMULATOR_KEYS } from "../../emulator/script";
import { anthropicModelPage } from "../../src/protocols/models/anthropic-models";
import { anthropic } from "../anthropic/helpers";
import { openai } from "../chat/helpers";

describe("Anthropic clients on /v1/models", () => {
  it("models.list() pages through the catalog as Anthropic models", async () => {
    const models = [];
    for await (const model of anthropic().models.list({ limit: 1 })) models.push(model);
    expect(models.map((model) => model.id)).toEqual(["1flowbase", "emu-plain"]);
    for (const model of models) {
      expect(Object.keys(model).sort()).toEqual(["created_at", "display_name", "id", "type"]);
      expect(model).toMatchObject({ type: "model", created_at: "1970-01-01T00:00:00Z" });
      expect(model.display_name.length).toBeGreaterThan(0);
    }
  });

  it("one page carries has_more / first_id / last_id", async () => {
    const response = await SELF.fetch("http://gw/v1/models?limit=1", { headers: { "x-api-key": EMULATOR_KEYS.demo, "anthropic-version": "2023-06-01" } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      data: [expect.objectContaining({ type: "model", id: "1flowbase" })],
      has_more: true,
      first_id: "1flowbase",
      last_id: "1flowbase",
    });
  });

  it("models.retrieve(id) is one Anthropic model; an unknown id is a NotFoundError in Anthropic's envelope", async () => {
    const client = anthropic();
    expect(await client.models.retrieve("emu-plain")).toMatchObject({ type: "model", id: "emu-plain" });
    const error = await client.models.retrieve("no-such-model").then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect((error as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  });

  it("a bad key is Anthropic's authentication_error; a bad limit a 400 invalid_request_error", async () => {
    const unauthorized = await SELF.fetch("http://gw/v1/models", { headers: { "x-api-key": "sk-wrong", "anthropic-version": "2023-06-01" } });
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    const bad = await SELF.fetch("http://gw/v1/models?limit=0", { headers: { "x-api-key": EMULATOR_KEYS.demo, "anthropic-version": "2023-06-01" } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  it("the openai SDK on the same path still gets OpenAI's list", async () => {
    const page = await openai().models.list();
    expect(page.data[0]).toMatchObject({ object: "model", owned_by: "1flowbase" });
  });
});

describe("anthropicModelPage", () => {
  const catalog = { data: ["a", "b", "c", "a"].map((id) => ({ id, name: id === "b" ? "Model B" : null })) } as never;
  it("dedupes, pages forward with after_id and backward with before_id", () => {
    expect(anthropicModelPage(catalog, { limit: 2 })).toMatchObject({ data: [{ id: "a" }, { id: "b", display_name: "Model B" }], has_more: true, first_id: "a", last_id: "b" });
    expect(anthropicModelPage(catalog, { limit: 2, after_id: "b" })).toMatchObject({ data: [{ id: "c" }], has_more: false });
    expect(anthropicModelPage(catalog, { limit: 1, before_id: "c" })).toMatchObject({ data: [{ id: "b" }], has_more: true });
    expect(anthropicModelPage(catalog, { limit: 5, after_id: "zzz" })).toEqual({ data: [], has_more: false, first_id: null, last_id: null });
  });
});
