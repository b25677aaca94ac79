/**
 * Small helpers for the emulator: ids, the two time formats native uses, canonical JSON.
 * Nothing here is imported from `src/` — the emulator shares no code with the gateway.
 */
import { createHash, randomBytes } from "node:crypto";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** UUIDv7 (native run/key/task ids are `Uuid::now_v7()`, native-api.md §1.5, §6). */
export function uuidv7(): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes.writeUInt8((bytes.readUInt8(6) & 0x0f) | 0x70, 6);
  bytes.writeUInt8((bytes.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `conv_<uuidv7 simple hex>` (native-api.md §3.4). */
export function conversationId(): string {
  return `conv_${uuidv7().replaceAll("-", "")}`;
}

const UUID_HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const UUID_SIMPLE = /^[0-9a-fA-F]{32}$/;

/**
 * Parses a path/body UUID the way the `uuid` crate does (hyphenated or simple form) and returns the
 * canonical lowercase hyphenated string, or an error text shaped like the crate's (used for axum's
 * plain-text `Path<Uuid>` rejection, native-api.md §1.3).
 */
export function parseUuid(text: string): { ok: true; uuid: string } | { ok: false; error: string } {
  if (UUID_HYPHENATED.test(text)) return { ok: true, uuid: text.toLowerCase() };
  if (UUID_SIMPLE.test(text)) {
    const h = text.toLowerCase();
    return { ok: true, uuid: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` };
  }
  const bad = /[^0-9a-fA-F-]/.exec(text);
  if (bad) {
    return {
      ok: false,
      error: `UUID parsing failed: invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${bad[0]}\` at ${bad.index + 1}`,
    };
  }
  return { ok: false, error: `UUID parsing failed: invalid length: expected length 32 for simple format, found ${text.length}` };
}

/** A creation instant with microsecond precision (Postgres `timestamptz` keeps microseconds). */
export interface Instant {
  ms: number;
  micros: number;
}

let microCounter = 0;
export function now(): Instant {
  microCounter = (microCounter + 1) % 1000;
  return { ms: Date.now(), micros: microCounter };
}

/**
 * `time` 0.3 `OffsetDateTime` Display, which native uses for JSON `created_at` (native-api.md §1.5):
 * `YYYY-MM-DD H:MM:SS.f +HH:MM:SS` — hour not zero-padded, fraction trimmed of trailing zeros but
 * at least one digit, offset with seconds. Example: `2026-06-26 6:52:53.123456 +00:00:00`.
 */
export function timeDisplay(t: Instant): string {
  const d = new Date(t.ms);
  const pad2 = (n: number) => String(n).padStart(2, "0");
  const nanos = d.getUTCMilliseconds() * 1_000_000 + t.micros * 1_000;
  const fraction = String(nanos).padStart(9, "0").replace(/0+$/, "") || "0";
  const date = `${String(d.getUTCFullYear()).padStart(4, "0")}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  return `${date} ${d.getUTCHours()}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${fraction} +00:00:00`;
}

/** RFC 3339, used for SSE `created_at` (native-api.md §2.2). */
export function rfc3339(date = new Date()): string {
  return date.toISOString();
}

/** JSON with object keys sorted recursively (the idempotency fingerprint input, native-api.md §1.4.2). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Abortable sleep; resolves (never rejects) early when the signal aborts. */
export function sleep(ms: number, signals: AbortSignal[] = []): Promise<void> {
  if (ms <= 0 || signals.some((s) => s.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const s of signals) s.addEventListener("abort", done, { once: true });
  });
}

export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Splits into pieces of at most `size` code points (never splits a surrogate pair). */
export function chunkCodePoints(text: string, size: number): string[] {
  const points = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < points.length; i += size) out.push(points.slice(i, i + size).join(""));
  return out;
}
