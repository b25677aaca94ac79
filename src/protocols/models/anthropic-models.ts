/**
 * Native model catalog → Anthropic `GET /v1/models` (docs.anthropic.com "List Models"):
 * `{data: [{type: "model", id, display_name, created_at}], has_more, first_id, last_id}`, paginated
 * with `limit` (1–1000, default 20), `after_id` and `before_id`. The Anthropic SDK's
 * `models.list()` reads exactly this shape (and pages on `has_more` / `last_id`).
 *
 * `created_at` is the Unix epoch for every model, the RFC 3339 twin of the OpenAI list's `created: 0`:
 * native publishes no per-model time (see openai-models.ts).
 */
import * as z from "../../zod";
import { lazily } from "../../lazy";
import type { NativeModel, NativeModelList } from "../../native/schema";
import { uniqueModels } from "./openai-models";

export const ANTHROPIC_MODEL_CREATED_AT = "1970-01-01T00:00:00Z";

function buildAnthropicModelSchemas() {
  const str = z.string();
  const AnthropicModel = z
    .strictObject({ type: z.literal("model"), id: str, display_name: str, created_at: str.check(z.describe("Always the epoch: native publishes no per-model time")) }).check(z.describe("A published model of the 1flowbase application, in Anthropic's shape"));
  const AnthropicModelList = z.strictObject({ data: z.array(AnthropicModel), has_more: z.boolean(), first_id: z.nullable(str), last_id: z.nullable(str) });
  const AnthropicModelsQuery = z.object({
    limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(1000)), 20),
    after_id: z.optional(z.string().check(z.minLength(1))),
    before_id: z.optional(z.string().check(z.minLength(1))),
  });
  return { AnthropicModel, AnthropicModelList, AnthropicModelsQuery };
}

export const anthropicModelSchemas = lazily(buildAnthropicModelSchemas);

export type AnthropicModel = z.infer<ReturnType<typeof buildAnthropicModelSchemas>["AnthropicModel"]>;
export type AnthropicModelList = z.infer<ReturnType<typeof buildAnthropicModelSchemas>["AnthropicModelList"]>;
export type AnthropicModelsQuery = z.infer<ReturnType<typeof buildAnthropicModelSchemas>["AnthropicModelsQuery"]>;

export function anthropicModel(model: NativeModel): AnthropicModel {
  const name = typeof model.name === "string" && model.name.trim() !== "" ? model.name : model.id;
  return { type: "model", id: model.id, display_name: name, created_at: ANTHROPIC_MODEL_CREATED_AT };
}

/**
 * One page of the catalog (duplicate ids dropped, first wins, as in the OpenAI list). An `after_id` /
 * `before_id` that is not in the catalog gives an empty page, as a cursor past the end would.
 */
export function anthropicModelPage(list: NativeModelList, query: AnthropicModelsQuery): AnthropicModelList {
  const all = uniqueModels(list).map(anthropicModel);
  let start = 0;
  let end = all.length;
  if (query.after_id !== undefined) {
    const at = all.findIndex((model) => model.id === query.after_id);
    start = at < 0 ? all.length : at + 1;
  }
  if (query.before_id !== undefined) {
    const at = all.findIndex((model) => model.id === query.before_id);
    end = at < 0 ? start : at;
  }
  // before_id pages backwards: the `limit` models just before it.
  const window = all.slice(start, Math.max(start, end));
  const data = query.before_id !== undefined && query.after_id === undefined ? window.slice(-query.limit) : window.slice(0, query.limit);
  const has_more = query.before_id !== undefined && query.after_id === undefined ? window.length > data.length : start + data.length < end;
  return { data, has_more, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
