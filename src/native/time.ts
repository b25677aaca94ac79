/**
 * Native timestamps → unix seconds: the one parser every protocol uses.
 *
 * SSE events carry RFC 3339 (`sse.rs` ~56–61); the blocking run record carries the `time` crate's
 * Display form, `2026-06-26 6:52:53.123456 +00:00:00` — hour not zero-padded, offset with seconds
 * (native-api.md §1.5, §6). Anything else parses with `Date.parse` or is unknown (null).
 */
const TIME_DISPLAY = /^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)? ([+-])(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

/**
 * @example
 * parseNativeTime("2026-06-26 6:52:53.123456 +00:00:00") // 1782456773
 * parseNativeTime("2026-06-26T06:52:53Z")               // 1782456773
 */
export function parseNativeTime(text: string | null | undefined): number | null {
  if (!text) return null;
  const display = TIME_DISPLAY.exec(text.trim());
  if (display) {
    const [, y, mo, d, h, mi, s, sign, oh, om, os] = display;
    const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
    const offset = (Number(oh) * 3600 + Number(om) * 60 + Number(os ?? 0)) * (sign === "-" ? -1 : 1);
    return Math.floor(utc - offset);
  }
  const parsed = Date.parse(text);
  return Number.isFinite(parsed) ? Math.floor(parsed / 1000) : null;
}
