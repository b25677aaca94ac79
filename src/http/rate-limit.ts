/**
 * Native's rate-limit signals, passed on in each protocol's convention (issue 16 point 10).
 *
 * The fork's public API has no rate limiting of its own (native-api.md §6, "Rate limits": a grep for
 * `rate_limit`/`429` in the public-API code finds nothing; a provider's 429 surfaces inside a failed
 * run, and its `retry-after` reaches clients through the run's failure class, native/errors.ts). A
 * newer 1flowbase (its run scheduler, native-api.md open question 7) or a proxy in front of it may
 * send OpenAI-style `x-ratelimit-*` headers; when it does, clients see them:
 *
 * - OpenAI family: as they are — `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
 *   (https://platform.openai.com/docs/guides/rate-limits, "Rate limits in headers"); `reset` is a
 *   duration such as `6m0s` or `20ms`.
 * - Anthropic: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`
 *   (https://docs.anthropic.com/en/api/rate-limits, "Response headers"); `reset` is an RFC 3339 time,
 *   so native's duration is added to the time the header arrived.
 *
 * Only well-formed values pass (digits; a duration): a header becomes client-facing, so nothing else
 * of native's headers is repeated. `retry-after` travels with the error it belongs to (http/errors.ts).
 */
import type { ProtocolFamily } from "./errors";

const RESOURCES = ["requests", "tokens"] as const;
const FIELDS = ["limit", "remaining", "reset"] as const;
type Resource = (typeof RESOURCES)[number];
type Field = (typeof FIELDS)[number];

const COUNT = /^\d{1,15}$/;
/** OpenAI's reset durations (`1s`, `6m0s`, `1h2m3.5s`, `20ms`), or plain seconds. */
const DURATION = /^(?:(\d{1,6})h)?(?:(\d{1,6})m(?!s))?(?:(\d{1,9}(?:\.\d{1,6})?)s)?(?:(\d{1,9})ms)?$/;
const SECONDS = /^\d{1,9}(?:\.\d{1,6})?$/;

/** A reset duration in milliseconds, or null when it is not one. */
export function parseResetDuration(value: string): number | null {
  if (SECONDS.test(value)) return Math.round(Number(value) * 1000);
  const match = DURATION.exec(value);
  if (!match || value === "") return null;
  const [, hours, minutes, seconds, millis] = match;
  return Math.round(Number(hours ?? 0) * 3_600_000 + Number(minutes ?? 0) * 60_000 + Number(seconds ?? 0) * 1000 + Number(millis ?? 0));
}

interface Limit {
  value: string;
  /** When the header arrived (a reset is relative to it). */
  at: number;
}

/**
 * The last well-formed rate-limit headers native sent during one request (every native answer is
 * read: the run's stream, a record, the model list, an error).
 */
export class RateLimitCapture {
  private readonly limits = new Map<`${Field}-${Resource}`, Limit>();

  /** The native client's `onResponse` hook. */
  readonly read = (headers: Headers): void => {
    for (const field of FIELDS) {
      for (const resource of RESOURCES) {
        const value = headers.get(`x-ratelimit-${field}-${resource}`)?.trim();
        if (value === undefined) continue;
        const wellFormed = field === "reset" ? parseResetDuration(value) !== null : COUNT.test(value);
        if (wellFormed) this.limits.set(`${field}-${resource}`, { value, at: Date.now() });
      }
    }
  };

  /** The headers of the gateway's answer, in `family`'s convention (empty when native sent none). */
  headersFor(family: ProtocolFamily): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, limit] of this.limits) {
      const [field, resource] = name.split("-") as [Field, Resource];
      if (family === "openai") {
        out[`x-ratelimit-${name}`] = limit.value;
        continue;
      }
      const anthropicName = `anthropic-ratelimit-${resource}-${field}`;
      if (field !== "reset") out[anthropicName] = limit.value;
      else {
        const ms = parseResetDuration(limit.value);
        if (ms !== null) out[anthropicName] = new Date(limit.at + ms).toISOString().replace(/\.\d{3}Z$/, "Z");
      }
    }
    return out;
  }
}
