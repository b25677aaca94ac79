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

type Decoder = (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;

/** Content codings we decode. `br`/`zstd` are added by `registerBodyDecoder` where available. */
const decoders = new Map<string, Decoder>([
  ["gzip", (input) => input.pipeThrough(new DecompressionStream("gzip"))],
  ["x-gzip", (input) => input.pipeThrough(new DecompressionStream("gzip"))],
  ["deflate", (input) => input.pipeThrough(new DecompressionStream("deflate"))],
]);

export function registerBodyDecoder(coding: string, decoder: Decoder): void {
  decoders.set(coding, decoder);
}

export function supportedContentEncodings(): string[] {
  return ["identity", ...decoders.keys()];
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

  let stream: ReadableStream<Uint8Array> = request.body;
  let raw: Uint8Array;
  if (codings.length === 0) {
    raw = await readCapped(stream, limits.maxBytes, "body", () => GatewayError.invalidRequest("could not read the request body", null, "invalid_body"));
  } else {
    // Codings apply in order; decode in reverse (RFC 9110 §8.4).
    const wire = await readCapped(stream, limits.maxBytes, "body", () => GatewayError.invalidRequest("could not read the request body", null, "invalid_body"));
    stream = new Blob([wire]).stream();
    for (const coding of [...codings].reverse()) {
      const decoder = decoders.get(coding);
      if (!decoder) {
        throw new GatewayError({
          status: 415,
          message: `unsupported Content-Encoding '${coding}'; supported: ${supportedContentEncodings().join(", ")}`,
          code: "unsupported_content_encoding",
          param: null,
        });
      }
      stream = decoder(stream);
    }
    raw = await readCapped(stream, limits.maxDecompressedBytes, "body after decoding", () =>
      GatewayError.invalidRequest(`the request body is not valid ${codings.join("+")} data`, null, "invalid_content_encoding"),
    );
  }
  if (raw.byteLength === 0) throw GatewayError.invalidRequest("request body is required (JSON)", null, "invalid_json");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw GatewayError.invalidRequest("request body is not valid UTF-8", null, "invalid_json");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw GatewayError.invalidRequest(`request body is not valid JSON: ${(error as Error).message}`, null, "invalid_json");
  }
}
