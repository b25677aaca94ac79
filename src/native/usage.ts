/**
 * Native usage → one normalized shape every protocol projects from, read leniently.
 *
 * Native reports `prompt_tokens/completion_tokens/total_tokens` plus optional `reasoning_tokens`,
 * `input_cache_hit_tokens`, `cache_read_tokens`, `cache_write_tokens` (fork), or the raw aliases
 * `input_tokens`, `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens` when a
 * flow's output usage is forwarded unnormalized (native-api.md §1.5, §2.2). The live
 * `run.completed.usage` is the flow's *raw* output usage (fork `sse.rs` ~90, errata 6): absent,
 * unknown keys and non-numeric values all happen, so numbers are taken and everything else is
 * ignored — a finished answer never becomes a fault because of its usage.
 */

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  /** Whether native reported a cache-read / cache-write count at all (Anthropic omits absent ones). */
  reportedCacheRead: boolean;
  reportedCacheWrite: boolean;
}

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  totalTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  reportedCacheRead: false,
  reportedCacheWrite: false,
});

/** A token count: a finite non-negative number (floored), or a string of digits; anything else is absent. */
function count(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  if (typeof value === "string" && /^\d{1,15}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

function first(source: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const value = count(source[key]);
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * Any JSON native put where usage goes → `Usage`, or null when it reports no token count at all
 * (absent, `null`, an all-null object, a string, an array…).
 *
 * @example
 * readUsage({ prompt_tokens: 3, completion_tokens: "2", cost: "0.1" }) // { inputTokens: 3, outputTokens: 2, totalTokens: 5, … }
 */
export function readUsage(raw: unknown): Usage | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const source = raw as Record<string, unknown>;
  const input = first(source, ["prompt_tokens", "input_tokens"]);
  const output = first(source, ["completion_tokens", "output_tokens"]);
  const total = first(source, ["total_tokens"]);
  if (input === undefined && output === undefined && total === undefined) return null;
  const cacheRead = first(source, ["cache_read_tokens", "input_cache_hit_tokens", "cache_read_input_tokens"]);
  const cacheWrite = first(source, ["cache_write_tokens", "cache_creation_input_tokens"]);
  const inputTokens = input ?? 0;
  const outputTokens = output ?? 0;
  return {
    inputTokens,
    outputTokens,
    totalTokens: total || inputTokens + outputTokens,
    cachedInputTokens: cacheRead ?? 0,
    cacheWriteTokens: cacheWrite ?? 0,
    reasoningTokens: first(source, ["reasoning_tokens"]) ?? 0,
    reportedCacheRead: cacheRead !== undefined,
    reportedCacheWrite: cacheWrite !== undefined,
  };
}
