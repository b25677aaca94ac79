/**
 * Answer text, answer segments and usage as native derives them from a flow's output payload
 * (control-plane `run_service/native_results.rs`, orchestration-runtime `answer_projection.rs`).
 */

export type SegmentKind = "reasoning" | "message";

export interface Segment {
  kind: SegmentKind;
  text: string;
}

/**
 * Splits text on literal `<think>…</think>` (answer_projection.rs:35-53 when `merge`;
 * stream_terminal_fallback.rs:308-340 — no merging — otherwise). Empty parts are dropped.
 */
export function splitThinkTags(text: string, merge: boolean): Segment[] {
  const out: Segment[] = [];
  let remaining = text;
  let inside = false;
  const push = (part: string) => {
    if (part === "") return;
    const kind: SegmentKind = inside ? "reasoning" : "message";
    const last = out[out.length - 1];
    if (merge && last && last.kind === kind) last.text += part;
    else out.push({ kind, text: part });
  };
  while (remaining !== "") {
    const tag = inside ? "</think>" : "<think>";
    const at = remaining.indexOf(tag);
    if (at < 0) {
      push(remaining);
      break;
    }
    push(remaining.slice(0, at));
    remaining = remaining.slice(at + tag.length);
    inside = !inside;
  }
  return out;
}

/** The text outside `<think>` blocks (answer_presentation.rs `visible_answer_text`). */
export function visibleText(text: string): string {
  return splitThinkTags(text, false)
    .filter((s) => s.kind === "message")
    .map((s) => s.text)
    .join("");
}

/** `extract_answer`: `answer`, else `text`, else `output`, when it is a string (native_results.rs:153-160). */
export function extractAnswer(output: Record<string, unknown>): string | null {
  for (const key of ["answer", "text", "output"] as const) {
    if (key in output) {
      const value = output[key];
      return typeof value === "string" ? value : null;
    }
  }
  return null;
}

/** `extract_answer_segments` + `answer_segments_from_value`: well-formed, non-empty items only. */
export function extractSegments(output: Record<string, unknown>): Segment[] | null {
  const raw = output.answer_segments;
  if (!Array.isArray(raw)) return null;
  const segments: Segment[] = [];
  for (const item of raw) {
    if (typeof item !== "object" || item === null) continue;
    const { kind, text } = item as { kind?: unknown; text?: unknown };
    if ((kind === "reasoning" || kind === "message") && typeof text === "string" && text !== "") segments.push({ kind, text });
  }
  return segments.length > 0 ? segments : null;
}

/** `NativeUsage` (§1.5): the first three always present (maybe null), the rest omitted when absent. */
export interface NativeUsage {
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  reasoning_tokens?: number | null;
  input_cache_hit_tokens?: number | null;
  input_cache_miss_tokens?: number | null;
  cache_read_tokens?: number | null;
  cache_write_tokens?: number | null;
}

type UsageKey = keyof NativeUsage;
const OPTIONAL_USAGE_KEYS = ["reasoning_tokens", "input_cache_hit_tokens", "input_cache_miss_tokens", "cache_read_tokens", "cache_write_tokens"] as const;
const ALL_USAGE_KEYS: readonly UsageKey[] = ["prompt_tokens", "completion_tokens", "total_tokens", ...OPTIONAL_USAGE_KEYS];

/** Native's aliases, in lookup order (native_results.rs:213-229). */
const USAGE_SOURCES: Record<UsageKey, readonly string[]> = {
  prompt_tokens: ["prompt_tokens", "input_tokens"],
  completion_tokens: ["completion_tokens", "output_tokens"],
  total_tokens: ["total_tokens"],
  reasoning_tokens: ["reasoning_tokens"],
  input_cache_hit_tokens: ["input_cache_hit_tokens"],
  input_cache_miss_tokens: ["input_cache_miss_tokens"],
  cache_read_tokens: ["cache_read_tokens", "cache_read_input_tokens"],
  cache_write_tokens: ["cache_write_tokens", "cache_creation_input_tokens"],
};

/** serde_json `as_u64`: a non-negative integer (JS cannot tell `5.0` from `5`; both count). */
const asU64 = (value: unknown): number | undefined => (typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined);

/**
 * `usage_from_payload` (native_results.rs:213-229): only u64 fields count, the first alias wins,
 * nothing is computed; no token field at all → null. Used for a flow output's raw `usage`.
 */
export function usageFromPayload(raw: unknown): NativeUsage | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const source = raw as Record<string, unknown>;
  const found: Partial<Record<UsageKey, number>> = {};
  for (const key of ALL_USAGE_KEYS) {
    for (const alias of USAGE_SOURCES[key]) {
      const value = asU64(source[alias]);
      if (value !== undefined) {
        found[key] = value;
        break;
      }
    }
  }
  if (Object.keys(found).length === 0) return null;
  const usage: NativeUsage = {
    prompt_tokens: found.prompt_tokens ?? null,
    completion_tokens: found.completion_tokens ?? null,
    total_tokens: found.total_tokens ?? null,
  };
  for (const key of OPTIONAL_USAGE_KEYS) if (found[key] !== undefined) usage[key] = found[key];
  return usage;
}

/** `usage_with_total` (native_results.rs:236-246). */
export function withTotal(usage: NativeUsage): NativeUsage {
  if (usage.total_tokens !== null || usage.prompt_tokens === null || usage.completion_tokens === null) return usage;
  return { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
}

/** `merge_usage`: node usages are summed field by field (native_results.rs:259-280). */
export function mergeUsage(target: NativeUsage | null, delta: NativeUsage): NativeUsage {
  const delta2 = withTotal(delta);
  const out: NativeUsage = target ? { ...target } : { prompt_tokens: null, completion_tokens: null, total_tokens: null };
  for (const key of ALL_USAGE_KEYS) {
    const add = delta2[key];
    if (add === undefined || add === null) continue;
    out[key] = (out[key] ?? 0) + add;
  }
  return out;
}

/**
 * A script's node usage → `NativeUsage`: native's aliases apply, unknown keys are dropped, and a
 * missing total is prompt + completion (node usage is aggregated with `usage_with_total`).
 */
export function normalizeUsage(raw: Record<string, number | null>): NativeUsage {
  const collected: Partial<Record<UsageKey, number | null>> = {};
  for (const key of ALL_USAGE_KEYS) {
    for (const alias of USAGE_SOURCES[key]) {
      if (alias in raw) {
        collected[key] = raw[alias] ?? null;
        break;
      }
    }
  }
  const usage: NativeUsage = {
    prompt_tokens: collected.prompt_tokens ?? null,
    completion_tokens: collected.completion_tokens ?? null,
    total_tokens: collected.total_tokens ?? null,
  };
  for (const key of OPTIONAL_USAGE_KEYS) if (key in collected) usage[key] = collected[key] ?? null;
  return "total_tokens" in collected ? usage : withTotal(usage);
}
