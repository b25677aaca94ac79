/**
 * Native model catalog (`GET /api/agent/v1/models`, native-api.md §3.5) → OpenAI `GET /v1/models`
 * (client-protocols.md §4.4): `{object:"list", data:[{id, object:"model", created, owned_by}]}`.
 *
 * The catalog metadata the fork's own model list adds (name, context windows, capabilities,
 * reasoning efforts; native-api.md §4.6) is kept: clients such as Codex and opencode read it, and
 * OpenAI's SDK passes unknown fields through. Only the fields listed here are copied — a native
 * model object is never forwarded wholesale.
 *
 * `created` is 0 for every model: native gives no per-model time (the fork used the publication's
 * `created_at`, which native's `/models` does not expose), and a stable constant keeps the list
 * identical across calls instead of inventing a date that changes with each deploy.
 */
import { lazily } from "../../lazy";
import * as z from "../../zod";
import type { NativeModel, NativeModelList } from "../../native/schema";

export const MODEL_CREATED_UNKNOWN = 0;
export const MODEL_OWNER = "1flowbase";

function buildModelSchemas() {
  const str = z.string();
  const Model = z
    .strictObject({
      id: str,
      object: z.literal("model"),
      created: z.number().check(z.int(), z.describe("Always 0: native publishes no per-model time")),
      owned_by: str,
      name: z.optional(str),
      context_window: z.optional(z.number()),
      max_context_window: z.optional(z.number()),
      max_output_tokens: z.optional(z.number()),
      auto_compact_token_limit: z.optional(z.number()),
      capabilities: z.optional(z
        .strictObject({ reasoning: z.optional(z.boolean()), tool_call: z.optional(z.boolean()), multimodal: z.optional(z.boolean()), structured_output: z.optional(z.boolean()) })),
      reasoning: z.optional(z.strictObject({ default_effort: z.optional(z.nullable(str)), supported_efforts: z.optional(z.array(str)) })),
    }).check(z.describe("A published model of the 1flowbase application, with the catalog metadata native exposes"));
  const ModelList = z.strictObject({ object: z.literal("list"), data: z.array(Model) });
  return { Model, ModelList };
}

/** The OpenAI model shapes as zod (the API reference and its tests), built on first use (`lazily`). */
export const modelOutputSchemas = lazily(buildModelSchemas);

export type OpenAiModel = z.infer<ReturnType<typeof buildModelSchemas>["Model"]>;
export type OpenAiModelList = z.infer<ReturnType<typeof buildModelSchemas>["ModelList"]>;

const finite = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined);

export function openAiModel(model: NativeModel): OpenAiModel {
  const out: OpenAiModel = { id: model.id, object: "model", created: MODEL_CREATED_UNKNOWN, owned_by: MODEL_OWNER };
  if (typeof model.name === "string") out.name = model.name;
  const numbers = {
    context_window: finite(model.context_window),
    max_context_window: finite(model.max_context_window),
    max_output_tokens: finite(model.max_output_tokens),
    auto_compact_token_limit: finite((model as { auto_compact_token_limit?: unknown }).auto_compact_token_limit),
  };
  for (const [key, value] of Object.entries(numbers)) if (value !== undefined) out[key as keyof typeof numbers] = value;
  if (model.capabilities) {
    const capabilities: NonNullable<OpenAiModel["capabilities"]> = {};
    for (const key of ["reasoning", "tool_call", "multimodal", "structured_output"] as const) {
      const value = model.capabilities[key];
      if (typeof value === "boolean") capabilities[key] = value;
    }
    out.capabilities = capabilities;
  }
  if (model.reasoning) {
    out.reasoning = {};
    if (model.reasoning.default_effort !== undefined) out.reasoning.default_effort = model.reasoning.default_effort;
    if (model.reasoning.supported_efforts) out.reasoning.supported_efforts = [...model.reasoning.supported_efforts];
  }
  return out;
}

/** The catalog with duplicate ids dropped, first wins (native already dedupes, §3.5; this keeps ids unique regardless). */
export function uniqueModels(list: NativeModelList): NativeModel[] {
  const seen = new Set<string>();
  return list.data.filter((model) => !seen.has(model.id) && seen.add(model.id) !== undefined);
}

export function openAiModelList(list: NativeModelList): OpenAiModelList {
  return { object: "list", data: uniqueModels(list).map(openAiModel) };
}
