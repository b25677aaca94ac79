/**
 * The Responses parameter policy (ARCHITECTURE.md, "Parameter policy is data").
 *
 * Lenient by default because Codex and agent SDKs always send fields a 1flowbase flow decides for
 * itself (client-protocols.md §1.3, Codex request shape): `accepted` fields are echoed in the
 * Response where OpenAI echoes them and reported in `x-1flowbase-ignored-params`; strict mode
 * (deployment or per-request header) turns every one of them into a 400.
 *
 * Some decisions depend on the value, not the field, and are made in to-native.ts through
 * `ignoreOrReject` (src/http/policy.ts: same reporting, same strict-mode rule): hosted tools inside `tools`
 * (accepted — Codex sends them — but a `tool_choice` forcing one is a 400), `reasoning.effort` for a
 * model whose catalog entry cannot take it, input item types native cannot carry.
 */
import type { ParameterPolicy, PolicyMode } from "../../http/policy";
import { GatewayError } from "../../http/errors";
import { enforcePolicy, OUTPUT_LIMIT_TARGET } from "../../http/policy";

const FLOW_DECIDES = "the 1flowbase application's flow decides it";

export const RESPONSES_POLICY: ParameterPolicy = {
  model: { kind: "mapped", to: "model" },
  input: { kind: "mapped", to: "query + history (last user message → query)" },
  instructions: { kind: "mapped", to: "system (not carried over by previous_response_id)" },
  previous_response_id: { kind: "mapped", to: "conversation (the previous run's native conversation)" },
  tools: { kind: "mapped", to: "inputs.tools (function tools; custom tools as a function with one string `input`; hosted tools are reported as ignored)" },
  tool_choice: { kind: "mapped", to: "inputs.tool_choice" },
  stream: { kind: "mapped", to: "projection: SSE events or one Response (native response_mode is always streaming)" },
  store: { kind: "mapped", to: "the response index (false: not retrievable, not chainable)" },
  user: { kind: "mapped", to: "conversation.user" },
  reasoning: { kind: "mapped", to: "execution.model_parameters.reasoning.effort (when the model's catalog entry supports it)" },
  metadata: { kind: "mapped", to: "Response.metadata (echoed in this response; not kept for GET)" },
  background: { kind: "rejected", why: "background mode is not available; use stream: true" },
  conversation: { kind: "rejected", why: "OpenAI conversation ids do not exist here; chain with previous_response_id" },
  prompt: { kind: "rejected", why: "stored prompt templates do not exist here; send input and instructions" },
  // Asks for moderated input and output and a `moderation` result in the Response: a different
  // output contract, so refused rather than reported as ignored (the parameter principle).
  moderation: { kind: "rejected", why: "moderated completions are not available: a 1flowbase application applies its own content policy and reports no moderation results" },
  include: { kind: "accepted", why: "no encrypted reasoning, logprobs or hosted-tool results exist to include" },
  parallel_tool_calls: { kind: "accepted", why: FLOW_DECIDES },
  text: {
    kind: "accepted",
    why: "verbosity is decided by the flow; format must be {type: 'text'}: json_schema / json_object are a 400 (an application decides its own output format — JSON mode is never claimed while prose comes back)",
  },
  truncation: { kind: "mapped", to: "gateway: fitting the 1flowbase request body limit — auto drops the oldest turns, disabled answers 400 context_length_exceeded" },
  temperature: { kind: "accepted", why: FLOW_DECIDES },
  top_p: { kind: "accepted", why: FLOW_DECIDES },
  presence_penalty: { kind: "accepted", why: FLOW_DECIDES },
  frequency_penalty: { kind: "accepted", why: FLOW_DECIDES },
  top_logprobs: { kind: "rejected", why: "native runs report no token log probabilities (only 0 is accepted)" },
  max_output_tokens: { kind: "mapped", to: OUTPUT_LIMIT_TARGET },
  max_tool_calls: { kind: "accepted", why: "no hosted tools run here" },
  service_tier: { kind: "accepted", why: "one service tier" },
  prompt_cache_key: { kind: "accepted", why: "native manages prompt caching" },
  prompt_cache_retention: { kind: "accepted", why: "native manages prompt caching" },
  safety_identifier: { kind: "accepted", why: "not forwarded" },
  stream_options: { kind: "accepted", why: "delta obfuscation is never added" },
  context_management: {
    kind: "rejected",
    why: "server-side compaction inside a create is not available: call POST /v1/responses/compact and pass its compaction item back in input (a 1flowbase flow manages its own context window)",
  },
};

/**
 * `POST /v1/responses/compact` (compaction.ts): the window is recorded in native, never summarised
 * by a model pass, so the model and prompt-cache fields only label the record or are not applied.
 */
export const RESPONSES_COMPACT_POLICY: ParameterPolicy = {
  model: { kind: "mapped", to: "model (recorded with the window; no model pass runs)" },
  input: { kind: "mapped", to: "history of a record-only native run (every item; compaction items expand to their window)" },
  previous_response_id: { kind: "mapped", to: "history (the chain, rebuilt from its native run records)" },
  instructions: { kind: "mapped", to: "system of the record run (not carried into later turns, like previous_response_id)" },
  prompt_cache_key: { kind: "accepted", why: "native manages prompt caching" },
  prompt_cache_retention: { kind: "accepted", why: "native manages prompt caching" },
  prompt_cache_options: { kind: "accepted", why: "native manages prompt caching" },
  service_tier: { kind: "accepted", why: "one service tier" },
  image: { kind: "accepted", why: "images are recorded as sent; no compression pass runs" },
};

/** Values that are exactly what the gateway does anyway, so nothing is ignored by accepting them. */
function isDefault(field: string, value: unknown): boolean {
  switch (field) {
    case "parallel_tool_calls":
      return value === true;
    case "include":
    case "tools":
    case "context_management":
      return Array.isArray(value) && value.length === 0;
    case "stream_options":
      return typeof value === "object" && value !== null && (value as { include_obfuscation?: unknown }).include_obfuscation === false;
    case "text": {
      const text = value as { format?: { type?: unknown }; verbosity?: unknown };
      return (text.format === undefined || text.format?.type === "text") && (text.verbosity === undefined || text.verbosity === null);
    }
    case "service_tier":
      return value === "auto" || value === "default";
    case "top_logprobs":
      return value === 0;
    default:
      return false;
  }
}

/**
 * Applies the table to the raw body. `background: false` is the only value of `background` that
 * exists here, so it is not treated as a use of a rejected field. Returns the ignored field names.
 */
export function enforceResponsesPolicy(body: Record<string, unknown>, mode: PolicyMode): string[] {
  refuseUnhonourableValues(body);
  const effective = body.background === false ? { ...body, background: undefined } : body;
  return enforcePolicy(RESPONSES_POLICY, effective, mode, isDefault);
}

/**
 * Values that would change the output's contract and cannot be honoured: refused with a 400 naming
 * the parameter, in both policy modes (a structured-output format the application cannot be made to
 * follow; logprobs native never reports).
 */
function refuseUnhonourableValues(body: Record<string, unknown>): void {
  const text = body.text;
  if (typeof text === "object" && text !== null) {
    const format = (text as { format?: unknown }).format;
    const type = typeof format === "object" && format !== null ? (format as { type?: unknown }).type : undefined;
    if (type !== undefined && type !== null && type !== "text") {
      throw GatewayError.unsupported(
        `'text.format' of type '${String(type).slice(0, 64)}' is not supported by this gateway: a 1flowbase application decides its own output format and cannot be made to return JSON per request; send {type: 'text'} or omit it`,
        "text.format",
      );
    }
  }
  const include = body.include;
  if (Array.isArray(include) && include.some((entry) => typeof entry === "string" && entry.includes("logprobs"))) {
    throw GatewayError.unsupported("'include' asks for logprobs, which native runs never report", "include");
  }
}
