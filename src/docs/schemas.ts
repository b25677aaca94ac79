/**
 * Every answer shape the API reference documents, gathered from where each is declared once: the
 * protocols' output schemas (`chatOutputSchemas`, `responsesOutputSchemas`, `anthropicOutputSchemas`),
 * the models list, the error envelopes (src/http/errors.ts) — the code builds its answers with the
 * types those schemas infer, so the document cannot drift from them — plus the health answer, which
 * only this document describes.
 *
 * Nothing on a request path calls this: the schemas are built on first use by `GET /openapi.json`,
 * `GET /docs` and the doc tests (`test/docs/responses.test.ts` validates real answers against them).
 */
import { lazily } from "../lazy";
import * as z from "../zod";
import { errorEnvelopeSchemas } from "../http/errors";
import { anthropicOutputSchemas } from "../protocols/anthropic/schema";
import { modelOutputSchemas } from "../protocols/models/openai-models";
import { chatOutputSchemas } from "../protocols/openai-chat/schema";
import { compactionOutputSchemas } from "../protocols/openai-responses/compaction";
import { responsesOutputSchemas } from "../protocols/openai-responses/schema";

function buildDocumentedSchemas() {
  const Health = z
    .strictObject({ status: z.literal("ok") }).check(z.describe("Liveness: the worker runs and its configuration is valid. Calls nothing, reveals nothing about the deployment"));
  const checkState = (states: readonly [string, ...string[]], text: string) => z.enum(states).check(z.describe(text));
  const Readiness = z
    .strictObject({
      status: z.enum(["ready", "not_ready"]),
      checks: z.strictObject({
        index: checkState(["ok", "schema_missing", "unavailable"], "The D1 ownership index: `schema_missing` = the migrations were not applied"),
        native: checkState(["ok", "unhealthy", "unreachable", "timeout"], "1flowbase's `GET /health`: `unhealthy` = it answered, but not 2xx with `status: \"ok\"`"),
      }),
      checked_at: z.string().check(z.describe("When this isolate ran the checks; answers within 5 s reuse them")),
    }).check(z.describe("Readiness: both checks `ok` → 200 `ready`, else 503 `not_ready`. Details of a failure go to the log, not the answer"));
  const HealthProblem = z
    .strictObject({ status: z.literal("misconfigured"), problems: z.array(z.string()).check(z.describe("One line per invalid or missing setting")) }).check(z.describe("A setting is missing or malformed; every other route answers a 500 naming it"));
  const chat = chatOutputSchemas();
  const responses = responsesOutputSchemas();
  const anthropic = anthropicOutputSchemas();
  return {
    ...errorEnvelopeSchemas(),
    Health,
    Readiness,
    HealthProblem,
    ...chat,
    ...modelOutputSchemas(),
    ResponseObject: responses.ResponseObject,
    OutputItem: responses.OutputItem,
    ResponseUsage: responses.ResponseUsage,
    DeletedResponse: responses.DeletedResponse,
    InputItemList: responses.InputItemList,
    CompactionResource: compactionOutputSchemas().CompactionResource,
    RESPONSES_STREAM_EVENTS: responses.STREAM_EVENTS,
    ResponsesStreamDone: responses.StreamDone,
    AnthropicMessage: anthropic.AnthropicMessage,
    AnthropicContentBlock: anthropic.ContentBlock,
    TokenCount: anthropic.TokenCount,
    ANTHROPIC_STREAM_EVENTS: anthropic.STREAM_EVENTS,
  };
}

/** The documented answer schemas, built on first use (`lazily`). */
export const documentedSchemas = lazily(buildDocumentedSchemas);

export type StreamEventTable = Readonly<Record<string, z.ZodMiniType>>;
