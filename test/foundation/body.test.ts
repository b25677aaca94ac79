import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, readJsonBody } from "../../src/http/body";
import { GatewayError } from "../../src/http/errors";

const limits = { maxBytes: 1024, maxDecompressedBytes: 4096 };

async function compress(text: string, format: "gzip" | "deflate"): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function failure(request: Request): Promise<GatewayError> {
  try {
    await readJsonBody(request, limits);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error("expected readJsonBody to fail");
}

describe("request bodies", () => {
  it("parses plain JSON, with a declared length (read in one call) or without one (read in chunks under the cap)", async () => {
    expect(await readJsonBody(new Request("http://x", { method: "POST", body: '{"a":1}', headers: { "content-length": "7" } }), limits)).toEqual({ a: 1 });
    expect(await readJsonBody(new Request("http://x", { method: "POST", body: '{"a":1}' }), limits)).toEqual({ a: 1 });
  });

  it("decodes gzip and deflate", async () => {
    for (const format of ["gzip", "deflate"] as const) {
      const body = await compress('{"hello":"world"}', format);
      const request = new Request("http://x", { method: "POST", body, headers: { "content-encoding": format } });
      expect(await readJsonBody(request, limits)).toEqual({ hello: "world" });
    }
  });

  it("rejects an oversized body with 413 while reading (no content-length)", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(200));
        controller.close();
      },
    });
    const error = await failure(new Request("http://x", { method: "POST", body: stream, duplex: "half" } as RequestInit));
    expect(error.status).toBe(413);
  });

  it("caps the decompressed size (decompression bomb) with 413", async () => {
    const body = await compress(JSON.stringify({ pad: "x".repeat(10_000) }), "gzip");
    expect(body.byteLength).toBeLessThan(limits.maxBytes);
    const error = await failure(new Request("http://x", { method: "POST", body, headers: { "content-encoding": "gzip" } }));
    expect(error.status).toBe(413);
  });

  it("answers malformed encodings with 400 and unknown encodings with 415", async () => {
    const malformed = await failure(new Request("http://x", { method: "POST", body: "not gzip at all", headers: { "content-encoding": "gzip" } }));
    expect(malformed.status).toBe(400);
    const unknown = await failure(new Request("http://x", { method: "POST", body: "{}", headers: { "content-encoding": "compress" } }));
    expect(unknown.status).toBe(415);
  });

  it("answers malformed JSON and empty bodies with 400", async () => {
    expect((await failure(new Request("http://x", { method: "POST", body: "{nope" }))).status).toBe(400);
    expect((await failure(new Request("http://x", { method: "POST", body: "" }))).status).toBe(400);
  });

  it(`accepts exactly ${MAX_JSON_DEPTH} levels of arrays and objects, rejects ${MAX_JSON_DEPTH + 1}; brackets in strings do not count`, async () => {
    const nested = (levels: number) => {
      let text = '"[{[{"';
      for (let level = 0; level < levels; level++) text = level % 2 === 0 ? `[${text}]` : `{"k":${text}}`;
      return text;
    };
    const wide = { maxBytes: 1 << 20, maxDecompressedBytes: 1 << 20 };
    const body = (levels: number) => new Request("http://x", { method: "POST", body: nested(levels) });
    await expect(readJsonBody(body(MAX_JSON_DEPTH), wide)).resolves.toBeDefined();
    const error = await readJsonBody(body(MAX_JSON_DEPTH + 1), wide).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(400);
    expect((error as GatewayError).message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
  });
});

describe("br and zstd request bodies (Codex sends zstd)", async () => {
  const zlib = await import("node:zlib");
  const { registerExtraEncodings } = await import("../../src/http/encodings");
  registerExtraEncodings();
  const zstd = zlib as unknown as { zstdCompressSync(input: Uint8Array): Uint8Array };

  it("decodes br and zstd", async () => {
    const json = JSON.stringify({ model: "m", input: "hi" });
    for (const [coding, body] of [["br", zlib.brotliCompressSync(Buffer.from(json))], ["zstd", zstd.zstdCompressSync(Buffer.from(json))]] as const) {
      const request = new Request("http://x", { method: "POST", body, headers: { "content-encoding": coding } });
      expect(await readJsonBody(request, limits)).toEqual({ model: "m", input: "hi" });
    }
  });

  it("caps decoded br/zstd size with 413 and rejects garbage with 400", async () => {
    const big = Buffer.from(JSON.stringify({ pad: "y".repeat(20_000) }));
    for (const [coding, body] of [["br", zlib.brotliCompressSync(big)], ["zstd", zstd.zstdCompressSync(big)]] as const) {
      expect(body.byteLength).toBeLessThan(limits.maxBytes);
      expect((await failure(new Request("http://x", { method: "POST", body, headers: { "content-encoding": coding } }))).status).toBe(413);
      expect((await failure(new Request("http://x", { method: "POST", body: "garbage!", headers: { "content-encoding": coding } }))).status).toBe(400);
    }
  });
});
