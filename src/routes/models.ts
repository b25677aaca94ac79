/**
 * `GET /v1/models`, `/models`, `/openai/v1/models` (and `…/models/{id}`): the application's published
 * model catalog from native `GET /models`, in OpenAI's list shape (invariant 5 keeps all three bases:
 * the `openai` SDK with `baseURL` `…/v1`, `…/openai/v1` or the bare origin).
 */
import { Hono } from "hono/quick";
import { callerOf, type GatewayEnv } from "../http/context";
import { GatewayError } from "../http/errors";
import { parseRequest } from "../http/policy";
import { anthropicModel, anthropicModelPage, anthropicModelSchemas } from "../protocols/models/anthropic-models";
import { openAiModelList } from "../protocols/models/openai-models";

export const modelRoutes = new Hono<GatewayEnv>();

const MODEL_LIST_PATHS = ["/v1/models", "/models", "/openai/v1/models"] as const;

for (const path of MODEL_LIST_PATHS) {
  registerModelRoutes(path);
}

// 1flowbase's own compatibility layer also lists models here (native-api.md §4.6); kept so clients
// configured against it keep working (invariant 5).
modelRoutes.get("/v1/chat/completions/models", async (c) => c.json(openAiModelList(await callerOf(c).native.listModels())));

function registerModelRoutes(path: string): void {
  modelRoutes.get(path, async (c) => {
    const { native } = callerOf(c);
    // Anthropic clients (the SDK's models.list(), Claude Code) send `anthropic-version`; they get
    // Anthropic's list shape and envelope (app.ts familyFor), everyone else OpenAI's.
    if (c.get("family") === "anthropic") {
      const query = parseRequest(anthropicModelSchemas().AnthropicModelsQuery, c.req.query());
      return c.json(anthropicModelPage(await native.listModels(), query));
    }
    return c.json(openAiModelList(await native.listModels()));
  });

  // `{.+}`: model ids may contain `/` (e.g. `openai/gpt-4o`); the SDK percent-encodes it, curl may not.
  modelRoutes.get(`${path}/:model{.+}`, async (c) => {
    const { native } = callerOf(c);
    const id = c.req.param("model");
    const catalog = await native.listModels();
    const model = openAiModelList(catalog).data.find((entry) => entry.id === id);
    if (!model) {
      throw new GatewayError({ status: 404, message: `The model '${id}' does not exist`, code: "model_not_found", param: "model" });
    }
    if (c.get("family") === "anthropic") {
      const native = catalog.data.find((entry) => entry.id === id);
      if (native) return c.json(anthropicModel(native));
    }
    return c.json(model);
  });
}
