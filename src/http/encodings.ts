/**
 * `br` and `zstd` request bodies.
 *
 * Codex compresses request bodies with zstd by default (anchors.md pain point 6), and
 * DecompressionStream in workerd only knows gzip/deflate. With `nodejs_compat`, workerd's
 * `node:zlib` has brotli and zstd, and `maxOutputLength` stops a decompression bomb at the cap
 * (it throws a RangeError instead of inflating further) — no extra dependency needed. The wire
 * body is already capped at MAX_BODY_BYTES before this runs.
 */
import * as zlib from "node:zlib";
import { malformedEncoding, registerBodyDecoder, tooLargeAfterDecoding, type BodyDecoder } from "./body";

const zlibDecoder =
  (coding: string, decompress: (input: Uint8Array, options: { maxOutputLength: number }) => Uint8Array): BodyDecoder =>
  async (input, limit) => {
    try {
      return new Uint8Array(decompress(input, { maxOutputLength: limit }));
    } catch (error) {
      if (error instanceof RangeError) throw tooLargeAfterDecoding(limit);
      throw malformedEncoding(coding);
    }
  };

let registered = false;

/** Registers `br` and `zstd` with the body reader. Idempotent. */
export function registerExtraEncodings(): void {
  if (registered) return;
  registered = true;
  registerBodyDecoder("br", zlibDecoder("br", zlib.brotliDecompressSync));
  // @types/node 20 predates zlib's zstd functions; workerd provides them.
  const { zstdDecompressSync } = zlib as unknown as { zstdDecompressSync?: (input: Uint8Array, options: { maxOutputLength: number }) => Uint8Array };
  if (typeof zstdDecompressSync === "function") registerBodyDecoder("zstd", zlibDecoder("zstd", zstdDecompressSync));
}
