/**
 * One request and one answer per documented operation, for the /docs page: curl, and the official
 * SDK call where there is one. The answers are real answers of the gateway against the emulator
 * (ids shortened); `test/docs/examples.test.ts` validates each JSON answer against the operation's
 * documented schema and checks every curl names the operation's own path, so an example cannot drift
 * from what the gateway sends.
 *
 * Snippets use `$GATEWAY` / `GATEWAY` (the gateway's URL; the page fills in its own origin),
 * `$KEY` / `KEY` (a 1flowbase application key), `$ID` (a response id, like the one in the answers),
 * and the SDK clients of `SDK_SETUP`.
 */

import { lazily } from "../lazy";

export interface OperationExample {
  /** A curl command that works as is once GATEWAY and KEY are set. */
  curl: string;
  /** The SDK call, when an official SDK has one (the client comes from `SDK_SETUP`). */
  sdk?: { label: "openai" | "@anthropic-ai/sdk"; code: string };
  /** The answer to `curl`. JSON bodies are objects (pretty-printed on the page). */
  response: { status: number; contentType: "application/json" | "text/html" | "WebSocket messages"; body: unknown };
  /** The same request with `stream: true`, as it arrives (SSE), when the operation streams. */
  stream?: { curl: string; body: string };
}

/** How the SDK snippets build their clients. */
export const SDK_SETUP: Readonly<Record<"openai" | "@anthropic-ai/sdk", string>> = {
  openai: 'import OpenAI from "openai";\nconst client = new OpenAI({ baseURL: `${GATEWAY}/v1`, apiKey: KEY });',
  "@anthropic-ai/sdk": 'import Anthropic from "@anthropic-ai/sdk";\nconst anthropic = new Anthropic({ baseURL: GATEWAY, apiKey: KEY });',
};

// One option per line: the page shows them at phone width without sideways scrolling.
const AUTH = '\\\n  -H "Authorization: Bearer $KEY"';
const JSON_BODY = `${AUTH} \\\n  -H "Content-Type: application/json"`;
const ANTHROPIC_JSON = '\\\n  -H "x-api-key: $KEY" \\\n  -H "Content-Type: application/json"';

const RESPONSE_ID = "resp_01a2355834b675d38c0973a8da897bfd";
const MESSAGE_ITEM_ID = "msg_01a2355834b675d38c0973a8da897bfd_0";

const usage = { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };

const model = {
  id: "1flowbase",
  object: "model",
  created: 0,
  owned_by: "1flowbase",
  context_window: 257000,
  max_output_tokens: 32000,
  capabilities: { reasoning: true, tool_call: true, multimodal: true, structured_output: true },
  reasoning: { default_effort: "medium", supported_efforts: ["minimal", "low", "medium", "high", "xhigh"] },
};

/** A Responses object, as create / retrieve / cancel answer it. */
function responseObject(status: "completed" | "cancelled", text: string | null): Record<string, unknown> {
  return {
    id: RESPONSE_ID,
    object: "response",
    created_at: 1796191302,
    status,
    background: false,
    completed_at: status === "completed" ? 1796191302 : null,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    max_tool_calls: null,
    model: "1flowbase",
    output:
      text === null
        ? []
        : [{ id: MESSAGE_ITEM_ID, type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [], logprobs: [] }] }],
    parallel_tool_calls: true,
    previous_response_id: null,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: "default",
    store: true,
    temperature: 1,
    presence_penalty: 0,
    frequency_penalty: 0,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_logprobs: 0,
    top_p: 1,
    truncation: "disabled",
    usage:
      text === null
        ? null
        : { input_tokens: 2, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 6 },
    metadata: {},
  };
}

const sse = (frames: ReadonlyArray<readonly [string | null, unknown]>): string =>
  frames.map(([event, data]) => `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`).join("");

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-01a23558-348d-7426-b403-0fe7640c742a",
  object: "chat.completion.chunk",
  created: 1796191302,
  model: "1flowbase",
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

const textEvent = (type: string, sequence: number, extra: Record<string, unknown>) => ({ type, sequence_number: sequence, item_id: MESSAGE_ITEM_ID, output_index: 0, content_index: 0, ...extra });

/** operationId → its example; built on first use (the API reference and its tests), not at startup. */
export const examples = lazily((): Readonly<Record<string, OperationExample>> => ({
  createChatCompletion: {
    curl: `curl $GATEWAY/v1/chat/completions ${JSON_BODY} \\\n  -d '{"model": "1flowbase",\n       "messages": [{"role": "user", "content": "Hello!"}]}'`,
    sdk: {
      label: "openai",
      code: 'const completion = await client.chat.completions.create({\n  model: "1flowbase",\n  messages: [{ role: "user", content: "Hello!" }],\n});\nconsole.log(completion.choices[0].message.content);',
    },
    response: {
      status: 200,
      contentType: "application/json",
      body: {
        id: "chatcmpl-01a23558-3455-7a72-be69-7b8c837f6db9",
        object: "chat.completion",
        created: 1796191302,
        model: "1flowbase",
        choices: [{ index: 0, message: { role: "assistant", content: "You said: Hello!", refusal: null }, logprobs: null, finish_reason: "stop" }],
        usage,
      },
    },
    stream: {
      curl: `curl -N $GATEWAY/v1/chat/completions ${JSON_BODY} \\\n  -d '{"model": "1flowbase", "stream": true,\n       "messages": [{"role": "user", "content": "Hello!"}]}'`,
      body: sse([
        [null, chunk({ role: "assistant" })],
        [null, chunk({ content: "You said" })],
        [null, chunk({ content: ": Hello!" })],
        [null, chunk({}, "stop")],
        [null, "[DONE]"],
      ]),
    },
  },
  listModels: {
    curl: `curl $GATEWAY/v1/models ${AUTH}`,
    sdk: { label: "openai", code: "for await (const model of client.models.list()) console.log(model.id);" },
    response: { status: 200, contentType: "application/json", body: { object: "list", data: [model] } },
  },
  retrieveModel: {
    curl: `curl $GATEWAY/v1/models/1flowbase ${AUTH}`,
    sdk: { label: "openai", code: 'const model = await client.models.retrieve("1flowbase");' },
    response: { status: 200, contentType: "application/json", body: model },
  },
  createResponse: {
    curl: `curl $GATEWAY/v1/responses ${JSON_BODY} \\\n  -d '{"model": "1flowbase", "input": "Hello!"}'`,
    sdk: {
      label: "openai",
      code: 'const response = await client.responses.create({ model: "1flowbase", input: "Hello!" });\nconsole.log(response.output_text);\n// Next turn: previous_response_id continues the native conversation.\nawait client.responses.create({ model: "1flowbase", input: "And in French?", previous_response_id: response.id });',
    },
    response: { status: 200, contentType: "application/json", body: responseObject("completed", "You said: Hello!") },
    stream: {
      curl: `curl -N $GATEWAY/v1/responses ${JSON_BODY} \\\n  -d '{"model": "1flowbase", "input": "Hello!", "stream": true}'`,
      body: sse([
        ["response.created", '{"type":"response.created","sequence_number":0,"response":{"id":"resp_01a2…","status":"in_progress",…}}'],
        ["response.in_progress", '{"type":"response.in_progress","sequence_number":1,"response":{…}}'],
        ["response.output_item.added", { type: "response.output_item.added", sequence_number: 2, output_index: 0, item: { id: MESSAGE_ITEM_ID, type: "message", status: "in_progress", role: "assistant", content: [] } }],
        ["response.content_part.added", textEvent("response.content_part.added", 3, { part: { type: "output_text", text: "", annotations: [], logprobs: [] } })],
        ["response.output_text.delta", textEvent("response.output_text.delta", 4, { logprobs: [], delta: "You said" })],
        ["response.output_text.delta", textEvent("response.output_text.delta", 5, { logprobs: [], delta: ": Hello!" })],
        ["response.output_text.done", textEvent("response.output_text.done", 6, { text: "You said: Hello!", logprobs: [] })],
        ["response.content_part.done", '{"type":"response.content_part.done","sequence_number":7,…}'],
        ["response.output_item.done", '{"type":"response.output_item.done","sequence_number":8,…}'],
        ["response.completed", '{"type":"response.completed","sequence_number":9,"response":{"id":"resp_01a2…","status":"completed",…}}'],
        [null, "[DONE]"],
      ]),
    },
  },
  connectResponsesWebSocket: {
    // The handshake: curl shows the 101; a WebSocket client (openai's `ResponsesWS` from
    // "openai/resources/responses/ws", websocat) then talks. No SDK snippet: `ResponsesWS` is no `client.…` method.
    curl: `curl -i -N $GATEWAY/v1/responses ${AUTH} \\\n  -H "Connection: Upgrade" \\\n  -H "Upgrade: websocket" \\\n  -H "Sec-WebSocket-Version: 13" \\\n  -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="`,
    response: {
      status: 101,
      contentType: "WebSocket messages",
      body: [
        '→ {"type":"response.create","model":"1flowbase","input":"Hello!"}',
        `← {"type":"response.created","sequence_number":0,"response":{"id":"${RESPONSE_ID}","status":"in_progress",…}}`,
        '← {"type":"response.in_progress","sequence_number":1,"response":{…}}',
        `← {"type":"response.output_text.delta","item_id":"${MESSAGE_ITEM_ID}","output_index":0,"content_index":0,"logprobs":[],"sequence_number":4,"delta":"You said"}`,
        "← …",
        `← {"type":"response.completed","sequence_number":9,"response":{"id":"${RESPONSE_ID}","status":"completed",…}}`,
        `→ {"type":"response.create","model":"1flowbase","input":"And in French?","previous_response_id":"${RESPONSE_ID}"}`,
      ].join("\n"),
    },
  },
  getResponse: {
    curl: `curl $GATEWAY/v1/responses/$ID ${AUTH}`,
    sdk: { label: "openai", code: `const response = await client.responses.retrieve("${RESPONSE_ID}");` },
    response: { status: 200, contentType: "application/json", body: responseObject("completed", "You said: Hello!") },
  },
  deleteResponse: {
    curl: `curl -X DELETE $GATEWAY/v1/responses/$ID ${AUTH}`,
    sdk: { label: "openai", code: `await client.responses.delete("${RESPONSE_ID}");` },
    response: { status: 200, contentType: "application/json", body: { id: RESPONSE_ID, object: "response", deleted: true } },
  },
  listInputItems: {
    curl: `curl "$GATEWAY/v1/responses/$ID/input_items?order=asc&limit=20" ${AUTH}`,
    sdk: { label: "openai", code: `for await (const item of client.responses.inputItems.list("${RESPONSE_ID}")) console.log(item.type);` },
    response: {
      status: 200,
      contentType: "application/json",
      body: {
        object: "list",
        data: [{ id: `${MESSAGE_ITEM_ID.slice(0, -2)}_in_0`, type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "Hello!" }] }],
        first_id: `${MESSAGE_ITEM_ID.slice(0, -2)}_in_0`,
        last_id: `${MESSAGE_ITEM_ID.slice(0, -2)}_in_0`,
        has_more: false,
      },
    },
  },
  cancelResponse: {
    curl: `curl -X POST $GATEWAY/v1/responses/$ID/cancel ${AUTH}`,
    sdk: { label: "openai", code: `const cancelled = await client.responses.cancel("${RESPONSE_ID}");` },
    response: { status: 200, contentType: "application/json", body: responseObject("cancelled", null) },
  },
  compactResponse: {
    curl: `curl $GATEWAY/v1/responses/compact ${JSON_BODY} \\\n  -d '{"model": "1flowbase", "previous_response_id": "${RESPONSE_ID}"}'`,
    sdk: {
      label: "openai",
      code: `const compacted = await client.responses.compact({ model: "1flowbase", previous_response_id: "${RESPONSE_ID}" });\n// Continue with the whole window: the output as-is, then the new turn.\nconst next = await client.responses.create({\n  model: "1flowbase",\n  input: [...compacted.output, { role: "user", content: "And then?" }],\n});`,
    },
    response: {
      status: 200,
      contentType: "application/json",
      body: {
        id: "resp_k019ae4b1c2d37e8f9a0b1c2d3e4f5a6b",
        object: "response.compaction",
        created_at: 1796191310,
        output: [
          { id: "msg_k019ae4b1c2d37e8f9a0b1c2d3e4f5a6b_in_0", type: "message", role: "user", status: "completed", content: [{ type: "input_text", text: "Hello!" }] },
          { id: "cmp_019ae4b1c2d37e8f9a0b1c2d3e4f5a6b", type: "compaction", encrypted_content: "AZrksMLTfo-aCxwtPk9aa1mU0n2f0hC3hM4o1xZ1cWQ2tG8pR3bFw9eN5yU7vK2a", created_by: "1flowbase-gateway" },
        ],
        usage: { input_tokens: 0, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 },
      },
    },
  },
  createMessage: {
    curl: `curl $GATEWAY/v1/messages ${ANTHROPIC_JSON} \\\n  -d '{"model": "1flowbase", "max_tokens": 1024,\n       "messages": [{"role": "user", "content": "Hello!"}]}'`,
    sdk: {
      label: "@anthropic-ai/sdk",
      code: 'const message = await anthropic.messages.create({\n  model: "1flowbase",\n  max_tokens: 1024,\n  messages: [{ role: "user", content: "Hello!" }],\n});\nconsole.log(message.content);',
    },
    response: {
      status: 200,
      contentType: "application/json",
      body: {
        id: "msg_01a23558356978c7916eba6299765dab",
        type: "message",
        role: "assistant",
        model: "1flowbase",
        content: [{ type: "text", text: "You said: Hello!" }],
        stop_reason: "end_turn",
        stop_sequence: null,
        stop_details: null,
        usage: { input_tokens: 2, output_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    },
    stream: {
      curl: `curl -N $GATEWAY/v1/messages ${ANTHROPIC_JSON} \\\n  -d '{"model": "1flowbase", "max_tokens": 1024, "stream": true,\n       "messages": [{"role": "user", "content": "Hello!"}]}'`,
      body: sse([
        ["message_start", '{"type":"message_start","message":{"id":"msg_01a2…","type":"message","role":"assistant","content":[],…}}'],
        ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
        ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "You said" } }],
        ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: ": Hello!" } }],
        ["content_block_stop", { type: "content_block_stop", index: 0 }],
        ["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null, stop_details: null }, usage: { input_tokens: 2, output_tokens: 4 } }],
        ["message_stop", { type: "message_stop" }],
      ]),
    },
  },
  countMessageTokens: {
    curl: `curl $GATEWAY/v1/messages/count_tokens ${ANTHROPIC_JSON} \\\n  -d '{"model": "1flowbase",\n       "messages": [{"role": "user", "content": "Hello!"}]}'`,
    sdk: {
      label: "@anthropic-ai/sdk",
      code: 'const { input_tokens } = await anthropic.messages.countTokens({\n  model: "1flowbase",\n  messages: [{ role: "user", content: "Hello!" }],\n});',
    },
    response: { status: 200, contentType: "application/json", body: { input_tokens: 2 } },
  },
  health: {
    curl: "curl $GATEWAY/healthz",
    response: { status: 200, contentType: "application/json", body: { status: "ok" } },
  },
  readiness: {
    curl: "curl $GATEWAY/readyz",
    response: { status: 200, contentType: "application/json", body: { status: "ready", checks: { index: "ok", native: "ok" }, checked_at: "2026-12-02T05:41:11.000Z" } },
  },
  openApiDocument: {
    curl: "curl $GATEWAY/openapi.json",
    // Abbreviated: the real answer is the whole document this page is rendered from.
    response: { status: 200, contentType: "application/json", body: '{"openapi":"3.1.0","info":{"title":"1flowbase edge gateway",…},"paths":{…},"components":{…}}' },
  },
  apiReference: {
    curl: "curl $GATEWAY/docs",
    response: { status: 200, contentType: "text/html", body: "<!doctype html><html lang=\"en\">…this page…</html>" },
  },
}));
