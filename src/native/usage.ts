/**
 * Native usage → one normalized shape every protocol projects from.
 *
 * Native reports `prompt_tokens/completion_tokens/total_tokens` plus optional `reasoning_tokens`,
 * `input_cache_hit_tokens`, `cache_read_tokens`, `cache_write_tokens` (fork), or the raw aliases
 * `input_tokens`, `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens` when a
 * flow's output usage is forwarded unnormalized (native-api.md §1.5, §2.2).
 */
import type { NativeUsage } from "./schema";

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  totalTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
});

const n = (...values: Array<number | null | undefined>): number => {
  for (const value of values) if (typeof value === "number" && Number.isFinite(value)) return value;
  return 0;
};

/** True when native reported at least one token count (an all-null usage counts as absent). */
export function hasUsage(usage: NativeUsage | null | undefined): usage is NativeUsage {
  if (!usage) return false;
  return [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.input_tokens, usage.output_tokens].some(
    (value) => typeof value === "number",
  );
}

export function normalizeUsage(usage: NativeUsage | null | undefined): Usage {
  if (!usage) return { ...ZERO_USAGE };
  const inputTokens = n(usage.prompt_tokens, usage.input_tokens);
  const outputTokens = n(usage.completion_tokens, usage.output_tokens);
  return {
    inputTokens,
    outputTokens,
    totalTokens: n(usage.total_tokens) || inputTokens + outputTokens,
    cachedInputTokens: n(usage.cache_read_tokens, usage.input_cache_hit_tokens, usage.cache_read_input_tokens),
    cacheWriteTokens: n(usage.cache_write_tokens, usage.cache_creation_input_tokens),
    reasoningTokens: n(usage.reasoning_tokens),
  };
}
