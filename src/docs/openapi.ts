/**
 * The OpenAPI 3.1 document of the gateway, generated from the zod schemas the routes validate with
 * (requests: `io: "input"`, so clients see what they may send) and the documentation schemas of
 * `schemas.ts` (answers and stream events: `io: "output"`). zod 4's built-in `z.toJSONSchema` does
 * the conversion — no extra dependency. It runs at build time (`npm run build:docs`,
 * scripts/build-docs.ts): the worker serves the result as a static asset and never imports this file.
 *
 * `operations()` is the one list of documented operations; the document, the /docs page, the deploy
 * check and the tests (every mounted route documented and vice versa; real answers validate against
 * the documented schemas) all read it. The document is built on first use and kept: the conversion
 * walks every schema and costs a few milliseconds, which the tests should not pay per call.
 */
import * as z from "../zod";
// Named imports: `z.core.<function>` would make the bundler keep zod core's whole namespace (every locale).
import { JSONSchemaGenerator, extractDefs, finalize, initializeContext, process as processJsonSchema } from "zod/v4/core";
import { declaredSchema, lazily, lazySchema } from "../lazy";
import type { ParameterPolicy } from "../http/policy";
import { IGNORED_PARAMS_HEADER, POLICY_MODE_HEADER } from "../http/policy";
import { MESSAGES_POLICY } from "../protocols/anthropic/policy";
import { CountTokensRequest, MessageParam, MessagesRequest, ToolParam } from "../protocols/anthropic/schema";
import { CHAT_PARAMETER_POLICY, ChatCompletionRequest, ChatContentPart, ChatMessage, ChatTool, ChatToolChoice } from "../protocols/openai-chat/schema";
import { CompactRequest } from "../protocols/openai-responses/compaction";
import { RESPONSES_COMPACT_POLICY, RESPONSES_POLICY } from "../protocols/openai-responses/policy";
import {
  CompactionItem,
  ContentPart,
  CreateResponseRequest,
  FunctionCallItem,
  FunctionCallOutputItem,
  InputItemsQuery,
  ItemReference,
  MessageItem,
  ReasoningItem,
  Tool,
  ToolChoice,
} from "../protocols/openai-responses/schema";
import { POLICY_PREAMBLE, policyMarkdown } from "./policy-table";
import { documentedSchemas } from "./schemas";

/** A JSON value as the document holds it. */
export type Json = { [key: string]: unknown };

type Method = "get" | "post" | "delete";
export type ErrorFamily = "openai" | "anthropic";

/** How a streamed answer is framed: data-only (Chat) or `event:` + `data:` (Responses, Anthropic). */
export interface StreamSpec {
  framing: "data" | "named";
  /** Event name → schema of its `data:` JSON; for data-only framing the keys only label the payloads. */
  events: Readonly<Record<string, z.ZodMiniType>>;
  /** The component-name prefix of the event schemas. */
  prefix: string;
  /** When the route streams. */
  when: string;
}

/** One documented operation (several paths when the route has aliases). */
export interface OperationSpec {
  method: Method;
  /** OpenAPI paths; the first is canonical, the others are aliases with identical behaviour. */
  paths: readonly string[];
  operationId: string;
  tag: string;
  summary: string;
  description: string;
  /** Error envelope of the route; absent for routes that need no API key. */
  family?: ErrorFamily;
  /** Component id of the request body schema. */
  body?: string;
  policy?: ParameterPolicy;
  /** Query parameters: a zod object the route parses the query with. */
  query?: z.ZodMiniObject;
  /** The blocking 200 answer. */
  json?: z.ZodMiniType;
  stream?: StreamSpec;
  /** Other success media (the /docs page, the document itself). */
  media?: string;
  errors: readonly number[];
  /** Request headers the route reads besides auth. */
  headers?: readonly string[];
  /** A WebSocket upgrade: the success answer is `101 Switching Protocols`, then the socket's messages. */
  upgrade?: string;
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

const CHAT_PATHS = ["/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"];
const MODEL_BASES = ["/v1/models", "/models", "/openai/v1/models"];
const CREATE_ERRORS = [400, 401, 403, 404, 409, 413, 415, 429, 500, 502, 503, 504] as const;
const ANTHROPIC_ERRORS = [400, 401, 403, 404, 409, 413, 415, 429, 500, 502, 504, 529] as const;
const LIFECYCLE_ERRORS = [401, 404, 500, 502, 503, 504] as const;

function buildOperations(): readonly OperationSpec[] {
  const doc = documentedSchemas();
  const chatStream: StreamSpec = {
    framing: "data",
    events: { chunk: doc.ChatCompletionChunk, error: doc.OpenAiError, done: doc.ChatStreamDone },
    prefix: "ChatStream.",
    when: "`stream: true`",
  };

  const responsesStream = (when: string): StreamSpec => ({ framing: "named", events: { ...doc.RESPONSES_STREAM_EVENTS, done: doc.ResponsesStreamDone }, prefix: "ResponseStreamEvent.", when });

  return [
    {
      method: "post",
      paths: CHAT_PATHS,
      operationId: "createChatCompletion",
      tag: "Chat Completions",
      summary: "Create a chat completion",
      description:
        "Runs the 1flowbase application once: the last user message is the native `query`, earlier turns its `history`. " +
        "`tool` messages answering the gateway's `call_…` ids resume the native run that asked for them. " +
        "Streams with `stream: true` (data-only frames, then `data: [DONE]`; a failure after the headers is a `data: {\"error\":…}` frame).",
      family: "openai",
      body: "ChatCompletionRequest",
      policy: CHAT_PARAMETER_POLICY,
      json: doc.ChatCompletion,
      stream: chatStream,
      errors: CREATE_ERRORS,
      headers: [POLICY_MODE_HEADER],
    },
    {
      method: "get",
      // `/v1/chat/completions/models`: 1flowbase's own compatibility layer lists models there too.
      paths: [...MODEL_BASES, "/v1/chat/completions/models"],
      operationId: "listModels",
      tag: "Models",
      summary: "List models",
      description:
        "The application's published models (native `GET /models`), in OpenAI's list shape. On `/v1/models` a request with an `anthropic-version` header (the Anthropic SDK, Claude Code) gets Anthropic's shape instead: `{data: [{type: \"model\", id, display_name, created_at}], has_more, first_id, last_id}`, paginated with `limit`, `after_id`, `before_id`, and Anthropic's error envelope.",
      family: "openai",
      json: doc.ModelList,
      errors: [401, 403, 409, 429, 500, 502, 503, 504],
    },
    {
      method: "get",
      paths: MODEL_BASES.map((base) => `${base}/{model}`),
      operationId: "retrieveModel",
      tag: "Models",
      summary: "Retrieve a model",
      description: "One published model. Ids may contain `/` (send it percent-encoded or raw). With `anthropic-version` on `/v1/models/{model}`: Anthropic's model object and envelope.",
      family: "openai",
      json: doc.Model,
      errors: [401, 403, 404, 409, 429, 500, 502, 503, 504],
    },
    {
      method: "post",
      paths: ["/v1/responses"],
      operationId: "createResponse",
      tag: "Responses",
      summary: "Create a response",
      description:
        "Runs the 1flowbase application once. `previous_response_id` continues the previous response's native conversation " +
        "(it is a cursor, resolved through the ownership index; another key's id is `previous_response_not_found`). " +
        "`function_call_output` items answering the gateway's `call_…` ids resume the native run that asked for them, under a new response id. " +
        "Streams with `stream: true` (`event:` + `data:` frames, exactly one terminal event, then `data: [DONE]`).",
      family: "openai",
      body: "CreateResponseRequest",
      policy: RESPONSES_POLICY,
      json: doc.ResponseObject,
      stream: responsesStream("`stream: true`"),
      errors: CREATE_ERRORS,
      headers: [POLICY_MODE_HEADER],
    },
    {
      method: "get",
      paths: ["/v1/responses"],
      operationId: "connectResponsesWebSocket",
      tag: "Responses",
      summary: "Responses over WebSocket",
      description:
        "OpenAI's WebSocket mode: `GET /v1/responses` with `Upgrade: websocket`, authenticated by the upgrade's own headers (a missing or refused key is the HTTP 401, no socket). " +
        "Each client message `{\"type\": \"response.create\", …}` carries the `POST /v1/responses` body and starts one native run; its events come back one JSON message each — " +
        "exactly the events of the SSE stream (same ids, `sequence_number`s, one terminal event), no `[DONE]`. `stream` is implicit and ignored; `background: true` and `generate: false` are refused. " +
        "Turns with the same `stream_id` (or none) run one at a time, in order (a create sent while one runs waits); different `stream_id`s run side by side and their events echo the `stream_id`; at most 16 wait or run per socket. " +
        "`previous_response_id` continues stored responses from any socket, and `store: false` responses on the socket that created them only (elsewhere: `previous_response_not_found`; a continuation that fails forgets its id). " +
        "Errors are `{\"type\": \"error\", \"status\": …, \"error\": {type, code, message, param}}` and leave the socket usable; `response.steer` is answered `response.steer.failed` (`steering_not_supported`). " +
        "While native is silent the socket gets `{\"type\": \"keepalive\"}` messages. A message over `MAX_BODY_BYTES` closes the socket with 1009; an idle socket (no turn, no message for `WEBSOCKET_IDLE_TIMEOUT_MS`) closes with 1000; closing the socket cancels the native runs in flight (a run waiting for tool outputs is not in flight: it outlives the socket). " +
          "A socket lives at most `WEBSOCKET_MAX_CONNECTION_MS` (60 min, OpenAI's limit): a turn streaming then runs to its end, later turns get the `error` `websocket_connection_limit_reached` (status 400), and once none runs the socket closes with 1000. " +
          "`response.processed` (a client acknowledging a response) is answered with nothing.",
      family: "openai",
      upgrade: "Switching Protocols: the socket is open (`response.create` messages in, Responses stream events out)",
      errors: [401, 403, 426, 429, 500, 502, 503, 504],
      headers: [POLICY_MODE_HEADER],
    },
    {
      method: "get",
      paths: ["/v1/responses/{id}"],
      operationId: "getResponse",
      tag: "Responses",
      summary: "Retrieve a response",
      description: "Rebuilt from the native run record (the gateway stores no content). `?stream=true` replays a finished response as its event stream.",
      family: "openai",
      query: z.object({ stream: z.optional(z.enum(["true", "false"])).check(z.describe("`true`: replay the finished response as SSE")) }),
      json: doc.ResponseObject,
      stream: responsesStream("`?stream=true`"),
      errors: [400, ...LIFECYCLE_ERRORS],
    },
    {
      method: "delete",
      paths: ["/v1/responses/{id}"],
      operationId: "deleteResponse",
      tag: "Responses",
      summary: "Delete a response",
      description: "Removes the response id from the ownership index: it can no longer be retrieved or chained. The native run stays in 1flowbase.",
      family: "openai",
      json: doc.DeletedResponse,
      errors: LIFECYCLE_ERRORS,
    },
    {
      method: "get",
      paths: ["/v1/responses/{id}/input_items"],
      operationId: "listInputItems",
      tag: "Responses",
      summary: "List a response's input items",
      description: "The input the native run recorded (history, query, tool outputs), paginated.",
      family: "openai",
      query: InputItemsQuery,
      json: doc.InputItemList,
      errors: [400, ...LIFECYCLE_ERRORS],
    },
    {
      method: "post",
      paths: ["/v1/responses/{id}/cancel"],
      operationId: "cancelResponse",
      tag: "Responses",
      summary: "Cancel a response",
      description: "Cancels the native run. Only in-progress responses can be cancelled (`response_not_cancellable` otherwise).",
      family: "openai",
      json: doc.ResponseObject,
      errors: [400, ...LIFECYCLE_ERRORS],
    },
    {
      method: "post",
      paths: ["/v1/responses/compact"],
      operationId: "compactResponse",
      tag: "Responses",
      summary: "Compact a conversation",
      description:
        "Records the whole window — the `previous_response_id` chain rebuilt from its native runs, earlier compaction items, then `input` — as one " +
        "native run that is never executed, and answers with the window's user messages and one `compaction` item. Pass the output back " +
        "as-is (then your new turn) in a later create, with or without `store`: the create continues with the whole window, like " +
        "`previous_response_id`. No model pass summarises anything (`usage` is zero): the 1flowbase application manages its own context. " +
        "`encrypted_content` is an opaque reference signed for the API key that made it; any other key, an altered or a foreign item is " +
        "one 400 `invalid_encrypted_content`. Needs the `GATEWAY_SIGNING_SECRET` setting (a 400 naming it otherwise).",
      family: "openai",
      body: "CompactResponseRequest",
      policy: RESPONSES_COMPACT_POLICY,
      json: doc.CompactionResource,
      errors: CREATE_ERRORS,
      headers: [POLICY_MODE_HEADER],
    },
    {
      method: "post",
      paths: ["/v1/messages"],
      operationId: "createMessage",
      tag: "Messages",
      summary: "Create a message",
      description:
        "Runs the 1flowbase application once (Anthropic Messages). A `tool_result` turn answering the gateway's `toolu_…` ids resumes the native run. " +
        "Streams with `stream: true` (`ping` keepalives; a failure after the headers is one `error` event). `anthropic-version` and `anthropic-beta` are accepted, not required.",
      family: "anthropic",
      body: "MessagesRequest",
      policy: MESSAGES_POLICY,
      json: doc.AnthropicMessage,
      stream: { framing: "named", events: doc.ANTHROPIC_STREAM_EVENTS, prefix: "MessageStreamEvent.", when: "`stream: true`" },
      errors: ANTHROPIC_ERRORS,
      headers: [POLICY_MODE_HEADER, "anthropic-version", "anthropic-beta"],
    },
    {
      method: "post",
      paths: ["/v1/messages/count_tokens"],
      operationId: "countMessageTokens",
      tag: "Messages",
      summary: "Count input tokens",
      description:
        "An estimate (1flowbase has no tokenizer endpoint and a flow may use any model): Σ ceil(characters / 4) over system, messages, tools, " +
        "`tool_choice` and `thinking`, images and documents 1,600 each, +500 with tools. No run is created; the key is checked with native `GET /models`.",
      family: "anthropic",
      body: "CountTokensRequest",
      json: doc.TokenCount,
      errors: [400, 401, 403, 409, 413, 415, 429, 500, 502, 504, 529],
    },
    {
      method: "get",
      paths: ["/healthz"],
      operationId: "health",
      tag: "Operations",
      summary: "Health",
      description: "Liveness: the worker runs and its configuration is valid. Needs no API key and calls nothing (neither native nor D1).",
      json: doc.Health,
      errors: [],
    },
    {
      method: "get",
      paths: ["/readyz"],
      operationId: "readiness",
      tag: "Operations",
      summary: "Readiness",
      description:
        "Whether the deployment can serve runs: the D1 ownership index answers with its schema, and 1flowbase's `GET /health` answers ok. " +
        "For uptime monitors: needs no API key; each isolate probes at most once every 5 s and shares that result, so the route cannot flood native or D1.",
      json: doc.Readiness,
      errors: [500],
    },
    {
      method: "get",
      paths: ["/openapi.json"],
      operationId: "openApiDocument",
      tag: "Operations",
      summary: "This OpenAPI document",
      description: "OpenAPI 3.1, generated from the schemas the routes validate with. Needs no API key.",
      media: "application/json",
      errors: [500],
    },
    {
      method: "get",
      paths: ["/docs"],
      operationId: "apiReference",
      tag: "Operations",
      summary: "API reference page",
      description: "This document as a readable page, self-contained (no external assets). Needs no API key.",
      media: "text/html",
      errors: [500],
    },
  ];
}

let operationList: readonly OperationSpec[] | undefined;

/** Every documented operation (built on first use, like the schemas it references). */
export function operations(): readonly OperationSpec[] {
  return (operationList ??= buildOperations());
}

// ---------------------------------------------------------------------------------------------
// Components
// ---------------------------------------------------------------------------------------------

/**
 * Responses `input` items are validated one by one by the schema their `type` selects
 * (`parseInputItems`), after the top-level schema checked only "string or list of objects". The
 * document shows the per-item schemas, which is what a client needs to know.
 */
const ResponsesInputItem = lazySchema(() => z
  .union([MessageItem, FunctionCallItem, FunctionCallOutputItem, ReasoningItem, ItemReference, CompactionItem, z.looseObject({ type: z.string() })]).check(z.describe("`type` may be omitted on messages (with `role`) and item references. `custom_tool_call` / `custom_tool_call_output` replay as tool turns. A `compaction` item (from `/v1/responses/compact`) stands for its whole window; items before it are that window. Other item types (hosted-tool calls…) are accepted and not interpreted.")));

/** Request-side components (`io: "input"`). */
const REQUEST_COMPONENTS: ReadonlyArray<readonly [string, z.ZodMiniType, string?]> = [
  ["ChatCompletionRequest", ChatCompletionRequest, "`POST /v1/chat/completions` body."],
  ["ChatMessage", ChatMessage],
  ["ChatContentPart", ChatContentPart, "`input_audio`, `file` and `input_file` parts are a 400 `unsupported_feature`: native runs take text and images."],
  ["ChatTool", ChatTool, "A function tool, nested (Chat form) or flat (Responses form). `custom` tools are a 400."],
  ["ChatToolChoice", ChatToolChoice],
  ["CreateResponseRequest", CreateResponseRequest, "`POST /v1/responses` body."],
  ["ResponsesInputItem", ResponsesInputItem],
  ["CompactResponseRequest", CompactRequest, "`POST /v1/responses/compact` body."],
  ["ResponsesContentPart", ContentPart, "`input_file` and `input_audio` are a 400: native runs take text and images."],
  ["ResponsesTool", Tool, "Function tools are mapped; custom tools become a function with one string `input` (calls come back as `custom_tool_call`); hosted tools are accepted and reported as ignored."],
  ["ResponsesToolChoice", ToolChoice],
  ["MessagesRequest", MessagesRequest, "`POST /v1/messages` body."],
  ["CountTokensRequest", CountTokensRequest],
  ["AnthropicMessageParam", MessageParam, "Content blocks are checked one by one; a bad block is a 400 naming `messages[i].content[j]`."],
  ["AnthropicToolParam", ToolParam],
];

/** Answer-side components (`io: "output"`), plus every stream event under its operation's prefix. */
function responseComponents(): Array<readonly [string, z.ZodMiniType]> {
  const doc = documentedSchemas();
  const named: Array<readonly [string, z.ZodMiniType]> = [
    ["OpenAIError", doc.OpenAiError],
    ["AnthropicError", doc.AnthropicError],
    ["Health", doc.Health],
    ["HealthProblem", doc.HealthProblem],
    ["Readiness", doc.Readiness],
    ["ChatCompletion", doc.ChatCompletion],
    ["ChatCompletionChunk", doc.ChatCompletionChunk],
    ["ChatUsage", doc.ChatUsage],
    ["Model", doc.Model],
    ["ModelList", doc.ModelList],
    ["Response", doc.ResponseObject],
    ["ResponseOutputItem", doc.OutputItem],
    ["ResponseUsage", doc.ResponseUsage],
    ["DeletedResponse", doc.DeletedResponse],
    ["InputItemList", doc.InputItemList],
    ["CompactionResource", doc.CompactionResource],
    ["AnthropicMessage", doc.AnthropicMessage],
    ["AnthropicContentBlock", doc.AnthropicContentBlock],
    ["TokenCount", doc.TokenCount],
  ];
  const seen = new Set(named.map(([, schema]) => schema));
  for (const operation of operations()) {
    const stream = operation.stream;
    if (!stream) continue;
    for (const [event, schema] of Object.entries(stream.events)) {
      if (seen.has(schema)) continue;
      seen.add(schema);
      named.push([`${stream.prefix}${event}`, schema]);
    }
  }
  return named;
}

/** The component name under which `schema` was registered (answers and stream events). */
function componentNames(entries: ReadonlyArray<readonly [string, z.ZodMiniType]>): Map<z.ZodMiniType, string> {
  return new Map(entries.map(([name, schema]) => [schema, name]));
}

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/**
 * `z.number().int()` carries ±2^53−1 bounds into JSON Schema; they say nothing a reader needs (every
 * JSON integer client is bound by them anyway) and clutter every count in the reference.
 */
function dropSafeIntegerBounds({ jsonSchema }: { jsonSchema: { minimum?: number; maximum?: number } }): void {
  if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
  if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
}

/** What zod's conversion has seen, keyed by the schema as declared (`declaredSchema`, src/lazy.ts). */
class SeenByDeclaredSchema<V> extends Map<z.core.$ZodType, V> {
  override get(schema: z.core.$ZodType): V | undefined {
    return super.get(declaredSchema(schema));
  }
  override has(schema: z.core.$ZodType): boolean {
    return super.has(declaredSchema(schema));
  }
  override set(schema: z.core.$ZodType, value: V): this {
    return super.set(declaredSchema(schema), value);
  }
}

/**
 * zod's JSON Schema processor for each schema type. zod/mini schemas carry none of their own (classic
 * ones had `_zod.processJSONSchema`), so the context needs zod's table; zod exports it only inside its
 * generator (`allProcessors` is not in the package's exports), read from there once.
 */
const jsonSchemaProcessors = lazily(
  () => (new JSONSchemaGenerator() as unknown as { ctx: { processors: Record<string, z.core.Processor> } }).ctx.processors,
);

/**
 * `z.toJSONSchema(registry, params)` (zod/v4/core/json-schema-processors.js, registry case), step for
 * step, with one change: the schemas are built lazily (`lazySchema`), so one schema is reachable both
 * as its proxy (how other schemas nest it) and as the built object (what zod's per-schema methods
 * close over); keyed by `declaredSchema`, both are the same entry, as they were before laziness.
 */
export function registryToJsonSchema(
  registry: z.core.$ZodRegistry<{ id: string }>,
  params: Omit<z.core.JSONSchemaGeneratorParams, "processors" | "external">,
  uri: (id: string) => string,
): Record<string, z.core.JSONSchema.BaseSchema> {
  const ctx = initializeContext({ ...params, processors: jsonSchemaProcessors() });
  ctx.seen = new SeenByDeclaredSchema();
  for (const schema of registry._idmap.values()) processJsonSchema(schema, ctx);
  const defs: Record<string, z.core.JSONSchema.BaseSchema> = {};
  ctx.external = { registry, uri, defs };
  const schemas: Record<string, z.core.JSONSchema.BaseSchema> = {};
  for (const [id, schema] of registry._idmap.entries()) {
    extractDefs(ctx, schema);
    schemas[id] = finalize(ctx, schema);
  }
  if (Object.keys(defs).length > 0) schemas.__shared = { $defs: defs };
  return schemas;
}

/** `z.toJSONSchema(schema, params)` (the single-schema case) with the same keying as `registryToJsonSchema`. */
export function schemaToJsonSchema(schema: z.core.$ZodType, params: Omit<z.core.JSONSchemaGeneratorParams, "processors" | "external">): z.core.JSONSchema.BaseSchema {
  const ctx = initializeContext({ ...params, processors: jsonSchemaProcessors() });
  ctx.seen = new SeenByDeclaredSchema();
  processJsonSchema(schema, ctx);
  extractDefs(ctx, schema);
  return finalize(ctx, schema);
}

/** zod → JSON Schema for a set of named schemas, referencing each other by component name. */
function convert(entries: ReadonlyArray<readonly [string, z.ZodMiniType, string?]>, io: "input" | "output"): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of entries) registry.add(schema, { id });
  const schemas = registryToJsonSchema(registry, { io, unrepresentable: "any", override: dropSafeIntegerBounds }, (id) => `#/components/schemas/${id}`);
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // `$id`/`$schema` are per-file JSON Schema keywords; inside OpenAPI components they would only
    // confuse resolvers (the document's dialect is 2020-12 already).
    const { $id: _id, $schema: _schema, ...rest } = schema as Json;
    out[id] = rest;
  }
  for (const [id, , description] of entries) {
    const target = out[id];
    if (description && target) target.description = description;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: "Invalid or unsupported request (`param` names the field); a rejected parameter, or in strict mode an accepted one",
  401: "No API key, or 1flowbase rejected it",
  403: "1flowbase refused the key",
  404: "Not found — or owned by another key: ownership answers look like absence",
  409: "The application is not published, or the run waits for an action this protocol cannot express",
  413: "Body larger than `MAX_BODY_BYTES`, or decoded larger than `MAX_DECOMPRESSED_BYTES`",
  415: "Unsupported `Content-Encoding` (gzip, deflate, br and zstd are supported)",
  426: "`GET /v1/responses` without `Upgrade: websocket`",
  429: "Rate limited by 1flowbase (see `retry-after`)",
  500: "Gateway misconfigured (the message names the setting) or internal error",
  502: "1flowbase unreachable, its run failed, or its answer was invalid",
  503: "1flowbase or the ownership index unavailable (fails closed)",
  504: "1flowbase did not answer in time",
  529: "Overloaded (1flowbase answered 503): retry later",
};

const REQUEST_HEADER_TEXT: Readonly<Record<string, string>> = {
  [POLICY_MODE_HEADER]: "`strict` or `lenient`: overrides the deployment's parameter policy for this request",
  "anthropic-version": "Accepted, not required",
  "anthropic-beta": "Accepted, not required",
};

function headerRef(name: string): Json {
  return { $ref: `#/components/headers/${name}` };
}

/** Operation ids of aliases: unique, and saying which base they serve. */
function aliasId(operationId: string, path: string): string {
  const suffix = path.startsWith("/openai/") ? "OpenAIPrefix" : path.startsWith("/v1/chat/completions/") ? "ChatCompletionsBase" : "Unversioned";
  return `${operationId}${suffix}`;
}

function parametersOf(spec: OperationSpec, path: string): Json[] {
  const parameters: Json[] = [];
  for (const match of path.matchAll(/\{([^}]+)\}/g)) {
    parameters.push({ name: match[1], in: "path", required: true, schema: { type: "string" } });
  }
  if (spec.query) {
    const schema = schemaToJsonSchema(spec.query, { io: "input", unrepresentable: "any", override: dropSafeIntegerBounds }) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      const { description, ...rest } = property;
      parameters.push({ name, in: "query", required: schema.required?.includes(name) ?? false, schema: rest, ...(description ? { description } : {}) });
    }
  }
  for (const name of spec.headers ?? []) {
    parameters.push({ name, in: "header", required: false, schema: { type: "string" }, description: REQUEST_HEADER_TEXT[name] });
  }
  return parameters;
}

function streamContent(stream: StreamSpec, names: Map<z.ZodMiniType, string>): Json {
  const events: Json = {};
  for (const [event, schema] of Object.entries(stream.events)) events[event] = ref(names.get(schema) ?? event);
  return {
    schema: { oneOf: Object.values(events) },
    "x-sse-framing": stream.framing === "data" ? "data-only" : "event+data",
    "x-sse-events": events,
  };
}

function successResponse(spec: OperationSpec, names: Map<z.ZodMiniType, string>): Json {
  const content: Json = {};
  if (spec.json) content["application/json"] = { schema: ref(names.get(spec.json) ?? "") };
  if (spec.stream) content["text/event-stream"] = streamContent(spec.stream, names);
  if (spec.media === "text/html") content["text/html"] = { schema: { type: "string" } };
  if (spec.media === "application/json") content["application/json"] = { schema: { type: "object" } };
  const headers: Json = { "x-request-id": headerRef("RequestId") };
  if (spec.policy) headers[IGNORED_PARAMS_HEADER] = headerRef("IgnoredParams");
  if (spec.family === "anthropic") headers["request-id"] = headerRef("RequestId");
  const streamNote = spec.stream
    ? ` — JSON, or an SSE stream with ${spec.stream.when} (${spec.stream.framing === "data" ? "data-only frames" : "`event:` = the JSON `type`"}; keepalives while native is idle)`
    : "";
  return { description: `OK${streamNote}`, headers, content };
}

function errorResponses(spec: OperationSpec): Json {
  const out: Json = {};
  const envelope = spec.family === "anthropic" ? "AnthropicError" : "OpenAIError";
  for (const status of spec.errors) {
    out[String(status)] = {
      description: ERROR_TEXT[status] ?? "Error",
      headers: { "x-request-id": headerRef("RequestId"), "x-should-retry": headerRef("ShouldRetry") },
      content: { "application/json": { schema: ref(envelope) } },
    };
  }
  if (spec.operationId === "health") {
    out["500"] = { description: "Misconfigured", content: { "application/json": { schema: ref("HealthProblem") } } };
  }
  if (spec.operationId === "readiness") {
    out["503"] = { description: "Not ready: a check failed (`checks` says which)", content: { "application/json": { schema: ref("Readiness") } } };
  }
  return out;
}

function describeOperation(spec: OperationSpec, canonical: string, path: string): string {
  const parts: string[] = [];
  if (path !== canonical) parts.push(`Alias of \`${spec.method.toUpperCase()} ${canonical}\`: same request, answers and errors.`);
  parts.push(spec.description);
  if (spec.policy) parts.push(POLICY_PREAMBLE, policyMarkdown(spec.policy));
  return parts.join("\n\n");
}

function buildDocument(): Json {
  const requestSchemas = convert(REQUEST_COMPONENTS, "input");
  // `input`'s list items: the per-item schemas (see ResponsesInputItem).
  const input = (requestSchemas.CreateResponseRequest?.properties as Record<string, Json> | undefined)?.input;
  const list = (input?.anyOf as Json[] | undefined)?.find((branch) => branch.type === "array");
  if (list) list.items = ref("ResponsesInputItem");

  const answers = responseComponents();
  const names = componentNames(answers);
  const schemas = { ...requestSchemas, ...convert(answers, "output") };

  const paths: Record<string, Json> = {};
  for (const spec of operations()) {
    const canonical = spec.paths[0] ?? "";
    for (const path of spec.paths) {
      const operation: Json = {
        operationId: path === canonical ? spec.operationId : aliasId(spec.operationId, path),
        tags: [spec.tag],
        summary: spec.summary,
        description: describeOperation(spec, canonical, path),
      };
      const parameters = parametersOf(spec, path);
      if (parameters.length > 0) operation.parameters = parameters;
      if (spec.body) operation.requestBody = { required: true, content: { "application/json": { schema: ref(spec.body) } } };
      const success = spec.upgrade ? { "101": { description: spec.upgrade, headers: { "x-request-id": headerRef("RequestId") } } } : { "200": successResponse(spec, names) };
      operation.responses = { ...success, ...errorResponses(spec) };
      // Routes without a family need no key; the others accept either scheme.
      operation.security = spec.family ? [{ bearerAuth: [] }, { apiKeyAuth: [] }] : [];
      if (path !== canonical) operation["x-alias-of"] = canonical;
      (paths[path] ??= {})[spec.method] = operation;
    }
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "1flowbase edge gateway",
      version: "0.1.0",
      description:
        "OpenAI Responses, Chat Completions (+ models) and Anthropic Messages, each a projection of one native 1flowbase run. " +
        "Authenticate with a 1flowbase application key (`sk-…`) as `Authorization: Bearer` or `x-api-key`; it is forwarded to native, never stored. " +
        "Every answer carries `x-request-id` (yours or a minted one), also sent to native as the run's trace id.",
    },
    servers: [{ url: "/" }],
    tags: ["Chat Completions", "Models", "Responses", "Messages", "Operations"].map((name) => ({ name })),
    security: [{ bearerAuth: [] }, { apiKeyAuth: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "`Authorization: Bearer <1flowbase application key>` (OpenAI SDKs)" },
        apiKeyAuth: { type: "apiKey", in: "header", name: "x-api-key", description: "`x-api-key: <1flowbase application key>` (Anthropic SDKs)" },
      },
      headers: {
        RequestId: { description: "The request id: the client's `x-request-id`, or a minted one", schema: { type: "string" } },
        IgnoredParams: { description: "Comma-separated request fields that were accepted but not applied (lenient policy)", schema: { type: "string" } },
        ShouldRetry: { description: "`true` when a retry may succeed (SDKs honour it)", schema: { type: "string", enum: ["true", "false"] } },
      },
    },
  };
}

let cached: Json | undefined;
let cachedText: string | undefined;

/** The document, built on first use and kept for the isolate's lifetime. */
export function openApiDocument(): Json {
  return (cached ??= buildDocument());
}

/** The document serialized once (it is immutable once built). */
export function openApiJson(): string {
  return (cachedText ??= JSON.stringify(openApiDocument()));
}
