/**
 * Probe for bench/investigations/stream-retention.ts: answers `GET /?mode=&chunks=` with a body of `chunks` 302-byte
 * SSE-sized chunks produced three ways — a JS `ReadableStream` with `pull` (what the gateway used to
 * return), the same as a byte stream, and an `IdentityTransformStream` written by a loop (what
 * src/http/sse.ts returns now).
 */
const CHUNK = new TextEncoder().encode(`data: ${"x".repeat(294)}\n\n`);

export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
    const mode = url.searchParams.get("mode") ?? "js-stream";
    let left = Number(url.searchParams.get("chunks") ?? "1000");
    const headers = { "content-type": "text/event-stream" };
    if (mode === "js-stream") {
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await Promise.resolve();
          if (left-- <= 0) controller.close();
          else controller.enqueue(CHUNK.slice());
        },
      });
      return new Response(body, { headers });
    }
    if (mode === "byte-stream") {
      const body = new ReadableStream({
        type: "bytes",
        async pull(controller: ReadableByteStreamController) {
          await Promise.resolve();
          if (left-- <= 0) controller.close();
          else controller.enqueue(CHUNK.slice());
        },
      });
      return new Response(body, { headers });
    }
    const { readable, writable } = new IdentityTransformStream({ highWaterMark: 64 * 1024 });
    void (async () => {
      const writer = writable.getWriter();
      while (left-- > 0) {
        if (mode === "identity-await") {
          await writer.write(CHUNK.slice());
        } else {
          // src/http/sse.ts's pattern: paced by `ready`, the write's own promise only caught.
          await writer.ready;
          writer.write(CHUNK.slice()).catch(() => undefined);
        }
      }
      await writer.close();
    })();
    return new Response(readable, { headers });
  },
};
