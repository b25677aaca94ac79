/**
 * Request bodies: read with a size cap enforced while reading (not after buffering), decoded from
 * `Content-Encoding` with a cap on the decoded size, parsed as JSON. Every failure is a 4xx in the
 * route's envelope: 413 too large, 415 unknown encoding, 400 malformed encoding or JSON.
 */
import { GatewayError } from "./errors";

export interface BodyLimits {
  maxBytes: number;
  maxDecompressedBytes: number;
}

const tooLarge = (limit: number, what: string) =>
  new GatewayError({
    status: 413,
    message: `request ${what} exceeds the limit of ${limit} bytes`,
    code: "request_too_large",
    headers: { "x-should-retry": "false" },
  });

/** Reads `stream` fully, failing as soon as more than `limit` bytes arrive. */
async function readCapped(stream: ReadableStream<Uint8Array>, limit: number, what: string, onError: (error: unknown) => GatewayError): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        void reader.cancel().catch(() => undefined);
        throw tooLarge(limit, what);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw onError(error);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Decodes one content coding of `input`, failing with 413 past `limit` decoded bytes and with
 * 400 when the data is not valid for the coding.
 */
export type BodyDecoder = (input: Uint8Array, limit: number) => Promise<Uint8Array>;

const malformed = (coding: string) =>
  GatewayError.invalidRequest(`the request body is not valid ${coding} data`, null, "invalid_content_encoding");

/** gzip/deflate via the runtime's DecompressionStream, read through the same cap. */
const streamDecoder =
  (format: "gzip" | "deflate"): BodyDecoder =>
  (input, limit) =>
    readCapped(new Blob([input]).stream().pipeThrough(new DecompressionStream(format)), limit, "body after decoding", () => malformed(format));

const decoders = new Map<string, BodyDecoder>([
  ["gzip", streamDecoder("gzip")],
  ["x-gzip", streamDecoder("gzip")],
  ["deflate", streamDecoder("deflate")],
]);

/** Adds a content coding (see encodings.ts for br and zstd). */
export function registerBodyDecoder(coding: string, decoder: BodyDecoder): void {
  decoders.set(coding, decoder);
}

export function supportedContentEncodings(): string[] {
  return ["identity", ...decoders.keys()];
}

export function tooLargeAfterDecoding(limit: number): GatewayError {
  return tooLarge(limit, "body after decoding");
}

export { malformed as malformedEncoding };

/**
 * Deepest array/object nesting a request body may have. Recursive code downstream (V8's
 * `JSON.stringify` of the native request, the emulator's and native's serializers) overflows its
 * stack on pathological nesting — a 200 KB body of `[[[[…` made every route answer 500 — and native
 * itself stops at serde_json's recursion limit of 128 (our mapping adds a level or two). Real
 * requests, tool JSON Schemas included, stay far below 100.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * True when the parsed JSON `value` nests arrays/objects deeper than `limit` (its depth in the text,
 * brackets inside strings excluded). Walks the parsed values, not the text's characters: a request is
 * mostly string content (prompts, conversation history), which a per-character scan had to visit one
 * by one — a fifth of the worker's time for a 94 KB prompt (bench/request.ts --prompt-bytes=94000).
 * Recursion stops at `limit`, so a hostile depth cannot overflow the stack here.
 */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestsDeeperThan(item, limit - 1)) return true;
    return false;
  }
  for (const key in value) if (nestsDeeperThan((value as Record<string, unknown>)[key], limit - 1)) return true;
  return false;
}

/** Reads and JSON-parses a request body. Empty body → 400. */
export async function readJsonBody(request: Request, limits: BodyLimits): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooLarge(limits.maxBytes, "body");
  if (!request.body) throw GatewayError.invalidRequest("request body is required (JSON)", null, "invalid_json");

  const codings = (request.headers.get("content-encoding") ?? "")
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding && coding !== "identity");

  const unreadable = () => GatewayError.invalidRequest("could not read the request body", null, "invalid_body");
  // A declared length within the cap bounds the body already (HTTP framing ends it there), so the
  // runtime reads it in one native call; JS chunk-by-chunk reading is for bodies of unknown length
  // (chunked), where the cap must be enforced while reading. Agents send contexts of 100s of KB.
  let raw: Uint8Array;
  if (Number.isFinite(declared)) {
    try {
      raw = new Uint8Array(await request.arrayBuffer());
    } catch {
      throw unreadable();
    }
    if (raw.byteLength > limits.maxBytes) throw tooLarge(limits.maxBytes, "body");
  } else {
    raw = await readCapped(request.body, limits.maxBytes, "body", unreadable);
  }
  // Codings apply in order; decode in reverse (RFC 9110 §8.4).
  for (const coding of [...codings].reverse()) {
    const decoder = decoders.get(coding);
    if (!decoder) {
      throw new GatewayError({
        status: 415,
        message: `unsupported Content-Encoding '${coding}'; supported: ${supportedContentEncodings().join(", ")}`,
        code: "unsupported_content_encoding",
      });
    }
    raw = await decoder(raw, limits.maxDecompressedBytes);
  }
  if (raw.byteLength === 0) throw GatewayError.invalidRequest("request body is required (JSON)", null, "invalid_json");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    throw GatewayError.invalidRequest("request body is not valid UTF-8", null, "invalid_json");
  }
  return parseJsonText(text, "request body");
}

/** Parses JSON text a client sent (a body, a WebSocket message: `what`), within `MAX_JSON_DEPTH`; 400 otherwise. */
export function parseJsonText(text: string, what: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (error) {
    throw GatewayError.invalidRequest(`${what} is not valid JSON: ${(error as Error).message}`, null, "invalid_json");
  }
  if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) {
    throw GatewayError.invalidRequest(`${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`, null, "invalid_json");
  }
  return parsed;
}
