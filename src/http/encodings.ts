/**
 * `br` and `zstd` request bodies.
 *
 * Codex compresses request bodies with zstd by default (anchors.md pain point 6), and
 * DecompressionStream in workerd only knows gzip/deflate. With `nodejs_compat`, workerd's
 * `node:zlib` has brotli and zstd, and `maxOutputLength` stops a decompression bomb at the cap
 * (it throws a RangeError instead of inflating further) — no extra dependency needed. The wire
 * body is already capped at MAX_BODY_BYTES before this runs.
 *
 * `node:zlib` is imported on the first br/zstd body, not at startup: workerd evaluates a built-in
 * module (and the node streams, events and buffer modules it pulls in) when it is first imported,
 * ~5 ms of a fresh isolate's CPU that no JSON, gzip or deflate request needs (issue 19). A built-in
 * is not bundled, so the dynamic import really defers it.
 */
import { malformedEncoding, registerBodyDecoder, tooLargeAfterDecoding, type BodyDecoder } from "./body";

type Decompress = (input: Uint8Array, options: { maxOutputLength: number }) => Uint8Array;

/** The module once loaded (not the import's promise: no request awaits a promise another created, run-steps.ts `applicationCatalog`). */
let zlib: typeof import("node:zlib") | undefined;

const zlibDecoder =
  (coding: string, decompressOf: (module: typeof import("node:zlib")) => Decompress): BodyDecoder =>
  async (input, limit) => {
    zlib ??= await import("node:zlib");
    const decompress = decompressOf(zlib);
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
  registerBodyDecoder("br", zlibDecoder("br", (module) => module.brotliDecompressSync));
  // @types/node 20 predates zlib's zstd functions; the pinned workerd provides them
  // (test/foundation/body.test.ts decodes zstd in it), so zstd is registered without loading zlib to look.
  registerBodyDecoder("zstd", zlibDecoder("zstd", (module) => (module as unknown as { zstdDecompressSync: Decompress }).zstdDecompressSync));
}
