/**
 * An unknown `model` on a create is a 404 `model_not_found` in each protocol's envelope, checked
 * against the application's catalog before any native run (native itself runs any model string,
 * native-api.md §1.4); `MODEL_ALIASES` maps the names clients send by default (wrangler.toml's dev
 * default: `claude-*`, `gpt-*`, `o1*`/`o3*`/`o4*`, `codex-*` → `1flowbase`) onto catalog ids.
 */
import { APIError as AnthropicAPIError, NotFoundError as AnthropicNotFound } from "@anthropic-ai/sdk";
import { env } from "cloudflare:test";
import { NotFoundError } from "openai";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { loadConfig, type Env } from "../../src/config";
import { resolveModelId } from "../../src/native/catalog";
import { anthropic, nativeCreateBody as anthropicNativeBody } from "../anthropic/helpers";
import { nativeCreateBody as chatNativeBody, openai } from "../chat/helpers";

/** How many native creates carried `marker` (none for a request refused at the edge). */
async function createsWith(marker: string): Promise<number> {
  const response = await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/requests?path=${encodeURIComponent("/api/agent/v1/runs")}`);
  const { requests } = (await response.json()) as { requests: Array<{ method: string; body: { query?: unknown } | null }> };
  return requests.filter((request) => request.method === "POST" && typeof request.body?.query === "string" && request.body.query.includes(marker)).length;
}

describe("an unknown model is a 404 model_not_found before any run", () => {
  it("Chat Completions and Responses: OpenAI's envelope, param model", async () => {
    const marker = `unknown-model-${crypto.randomUUID()}`;
    const chat = await openai().chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: marker }] }).catch((error: unknown) => error);
    expect(chat).toBeInstanceOf(NotFoundError);
    expect(chat).toMatchObject({ status: 404, code: "model_not_found", param: "model", type: "invalid_request_error" });
    const responses = await openai().responses.create({ model: "no-such-model", input: marker, stream: true }).catch((error: unknown) => error);
    expect(responses).toBeInstanceOf(NotFoundError);
    expect(responses).toMatchObject({ status: 404, code: "model_not_found", param: "model" });
    expect(await createsWith(marker)).toBe(0);
  });

  it("Anthropic Messages: Anthropic's envelope (not_found_error)", async () => {
    const marker = `unknown-model-${crypto.randomUUID()}`;
    const error = await anthropic().messages.create({ model: "no-such-model", max_tokens: 16, messages: [{ role: "user", content: marker }] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AnthropicNotFound);
    expect((error as AnthropicAPIError).type).toBe("not_found_error");
    expect((error as AnthropicAPIError).apiMessage).toMatch(/no-such-model/);
    expect(await createsWith(marker)).toBe(0);
  });

  it("catalog ids pass as they are; aliased client defaults reach native as the catalog id and are echoed as sent", async () => {
    const plain = await openai().chat.completions.create({ model: "emu-plain", messages: [{ role: "user", content: emu({ text: ["ok"] }, "hi") }] });
    expect((await chatNativeBody(plain.id))["model"]).toBe("emu-plain");

    const codex = await openai().chat.completions.create({ model: "gpt-5.1-codex", messages: [{ role: "user", content: emu({ text: ["ok"] }, "hi") }] });
    expect(codex.model).toBe("gpt-5.1-codex");
    expect((await chatNativeBody(codex.id))["model"]).toBe("1flowbase");

    const claude = await anthropic().messages.create({ model: "claude-sonnet-4-5", max_tokens: 64, messages: [{ role: "user", content: emu({ text: ["ok"] }, "hi") }] });
    expect(claude.model).toBe("claude-sonnet-4-5");
    expect((await anthropicNativeBody(claude.id))["model"]).toBe("1flowbase");
  });
});

describe("MODEL_ALIASES", () => {
  const catalog = { object: "list" as const, data: [{ id: "1flowbase" }, { id: "writer" }] } as Parameters<typeof resolveModelId>[0];
  const aliases = (value: string) => {
    const result = loadConfig({ NATIVE_API_BASE_URL: "https://flow.example.com", RESPONSE_INDEX: env.RESPONSE_INDEX, MODEL_ALIASES: value } as Env);
    if (!result.ok) throw new Error(result.problems.join("; "));
    return result.config.MODEL_ALIASES;
  };

  it("exact names and prefixes, first match wins, a target outside the catalog names nothing", () => {
    const list = aliases("gpt-4o = writer, gpt-*=1flowbase, claude-*=gone");
    expect(list).toEqual([
      { pattern: "gpt-4o", prefix: false, target: "writer" },
      { pattern: "gpt-", prefix: true, target: "1flowbase" },
      { pattern: "claude-", prefix: true, target: "gone" },
    ]);
    expect(resolveModelId(catalog, "gpt-4o", list)).toBe("writer");
    expect(resolveModelId(catalog, "gpt-4o-mini", list)).toBe("1flowbase");
    expect(resolveModelId(catalog, "writer", list)).toBe("writer");
    expect(resolveModelId(catalog, "claude-opus-4", list)).toBeNull();
    expect(resolveModelId(catalog, "llama", list)).toBeNull();
    expect(aliases("")).toEqual([]);
  });

  it("a malformed entry is a configuration problem naming the setting", () => {
    const result = loadConfig({ NATIVE_API_BASE_URL: "https://flow.example.com", RESPONSE_INDEX: env.RESPONSE_INDEX, MODEL_ALIASES: "gpt-*" } as Env);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join("; ")).toMatch(/^MODEL_ALIASES entry 'gpt-\*' must be/);
  });
});
