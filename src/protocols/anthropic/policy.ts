/**
 * The Anthropic Messages parameter policy (ARCHITECTURE.md "Parameter policy is data").
 *
 * Every top-level field of `POST /v1/messages` (client-protocols.md §5.1) is `mapped` to a native
 * field, `accepted` (valid, not applied: the 1flowbase flow decides it) or `rejected`. Lenient mode
 * reports accepted fields in `x-1flowbase-ignored-params`; strict mode turns them into 400s.
 *
 * Two fields need more than the table says; `to-native.ts` applies these rules:
 * - **`max_tokens`** is *required* by the protocol and applied: native's own output limit where
 *   native takes one (upstream 0.3), else enforced at the edge (`stop_reason: "max_tokens"`).
 * - **`thinking`** is mapped to `execution.model_parameters.reasoning` only when the application's
 *   catalog says the requested model supports reasoning (`GET /models`, native-api.md §3.5); otherwise
 *   it is treated as `accepted` (reported, or a 400 in strict mode). `{type:"disabled"}` needs nothing.
 * - **`output_config`**: only `effort`, with `thinking: {type: "adaptive"}`, is applied (as the reasoning
 *   effort, when the catalog lists it for the model); otherwise the field is reported like `accepted`.
 * - **`tools[i]`** of an Anthropic server-tool type (`web_search_20250305`, `code_execution_…`) cannot
 *   run inside a 1flowbase flow; each such entry is treated as `accepted` under the name `tools[i]`.
 */
import { OUTPUT_LIMIT_TARGET, STOP_TARGET, type ParameterPolicy } from "../../http/policy";

const FLOW_DECIDES = "the 1flowbase flow decides sampling and generation settings";

export const MESSAGES_POLICY: ParameterPolicy = {
  model: { kind: "mapped", to: "model" },
  messages: { kind: "mapped", to: "query (last user turn) + history (earlier turns) / resume (tool_result turn)" },
  system: { kind: "mapped", to: "system" },
  stream: { kind: "mapped", to: "response_mode" },
  metadata: { kind: "mapped", to: "conversation.user (from metadata.user_id)" },
  tools: { kind: "mapped", to: "inputs.tools" },
  tool_choice: { kind: "mapped", to: "inputs.tool_choice" },
  thinking: { kind: "mapped", to: "execution.model_parameters.reasoning (when the model supports reasoning)" },
  max_tokens: { kind: "mapped", to: OUTPUT_LIMIT_TARGET },
  temperature: { kind: "accepted", why: FLOW_DECIDES },
  top_p: { kind: "accepted", why: FLOW_DECIDES },
  top_k: { kind: "accepted", why: FLOW_DECIDES },
  stop_sequences: { kind: "mapped", to: `${STOP_TARGET}; stop_reason "stop_sequence" with the sequence` },
  service_tier: { kind: "accepted", why: "1flowbase has no service tiers" },
  inference_geo: { kind: "accepted", why: "1flowbase decides where the model runs" },
  container: { kind: "accepted", why: "Anthropic code-execution containers do not exist in 1flowbase" },
  context_management: { kind: "accepted", why: "the 1flowbase flow manages its own context" },
  mcp_servers: { kind: "accepted", why: "MCP servers are configured in the 1flowbase application, not per request" },
  output_config: { kind: "mapped", to: "execution.model_parameters.reasoning.effort (output_config.effort with adaptive thinking, when the model lists that effort)" },
  output_format: {
    kind: "rejected",
    why: "structured outputs: a 1flowbase application decides its own output format and cannot be made to follow a JSON schema per request",
  },
  cache_control: { kind: "accepted", why: "prompt caching is decided by the flow's model provider" },
};

/** Fields of the count_tokens body that the estimate reads (all others are ignored silently). */
export const COUNT_TOKENS_FIELDS = ["model", "messages", "system", "tools", "tool_choice", "thinking"] as const;

/** `tools[i].type` values that are client-side tools (no type, or `custom`). */
export function isCustomTool(type: string | null | undefined): boolean {
  return type === undefined || type === null || type === "custom";
}
