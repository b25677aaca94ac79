/**
 * `POST /v1/messages/count_tokens`: an estimate, without a native run.
 *
 * 1flowbase has no tokenizer endpoint and a flow may use any model, so an exact count is impossible
 * at the edge. We use the same documented estimate as 1flowbase's own adapter (native-api.md §4.3):
 * Σ ceil(characters / 4) over the system prompt, every message, the tools, `tool_choice` and
 * `thinking`, plus a fixed 500 when tools are present (the tool-use system prompt a model adds), and at
 * least 1. Two refinements keep it honest for media, which the character rule would wildly overcount
 * (a base64 image is megabytes of characters): an image counts as 1,600 tokens (Anthropic's figure
 * for a ~1.15-megapixel image) and a non-text document as 1,600 per block too. Claude Code only uses
 * the number to decide when to compact, so a stable, slightly generous estimate is what it needs
 * (a 404 here breaks it: anthropics/claude-code#12208).
 */
import type { CountTokensRequest, TokenCount } from "./schema";

export const TOOLS_OVERHEAD_TOKENS = 500;
export const MEDIA_BLOCK_TOKENS = 1600;

const estimate = (text: string): number => Math.ceil(text.length / 4);

function blockTokens(block: unknown): number {
  if (typeof block !== "object" || block === null) return estimate(String(block ?? ""));
  const record = block as Record<string, unknown>;
  switch (record["type"]) {
    case "text":
      return estimate(typeof record["text"] === "string" ? record["text"] : "");
    case "thinking":
      return estimate(typeof record["thinking"] === "string" ? record["thinking"] : "");
    case "redacted_thinking":
      return 0;
    case "image":
      return MEDIA_BLOCK_TOKENS;
    case "document": {
      const source = record["source"] as Record<string, unknown> | undefined;
      if (source && source["type"] === "text" && typeof source["data"] === "string") return estimate(source["data"]);
      return MEDIA_BLOCK_TOKENS;
    }
    case "tool_use":
      return estimate(`${String(record["name"] ?? "")}${JSON.stringify(record["input"] ?? {})}`);
    case "tool_result": {
      const content = record["content"];
      if (typeof content === "string") return estimate(content);
      if (Array.isArray(content)) return content.reduce((sum: number, part) => sum + blockTokens(part), 0);
      return 0;
    }
    default: {
      const { cache_control: _cacheControl, ...rest } = record;
      return estimate(JSON.stringify(rest));
    }
  }
}

/** The estimate for a parsed count_tokens body (also valid for a `/v1/messages` body). */
export function countInputTokens(body: CountTokensRequest): TokenCount {
  let total = 0;
  if (typeof body.system === "string") total += estimate(body.system);
  else if (Array.isArray(body.system)) for (const block of body.system) total += estimate(block.text);
  for (const message of body.messages) {
    if (typeof message.content === "string") total += estimate(message.content);
    else for (const block of message.content) total += blockTokens(block);
  }
  const tools = body.tools ?? [];
  if (tools.length > 0) {
    total += TOOLS_OVERHEAD_TOKENS;
    for (const tool of tools) {
      const { cache_control: _cacheControl, ...rest } = tool;
      total += estimate(JSON.stringify(rest));
    }
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) total += estimate(JSON.stringify(body.tool_choice));
  if (body.thinking !== undefined && body.thinking !== null) total += estimate(JSON.stringify(body.thinking));
  return { input_tokens: Math.max(1, total) };
}
