/**
 * How much of the gateway's end-to-end cost is merely JS touching the stream, before any decoding:
 * the pass-through worker's request forwarding, with native's body handled per `x-bench-mode`:
 * - `pipe`: returned unchanged (the pass-through worker: no JS touches the bytes);
 * - `js-copy`: read by JS (BYOB, one reused buffer, as src/native/events.ts) and each chunk written
 *   to an IdentityTransformStream body with an awaited write (as src/http/sse.ts did per frame);
 * - `js-decode`: the same plus a streaming TextDecoder and a TextEncoder per chunk (strings, no parse).
 * bench/investigations/stream-profile.ts --floors drives it.
 */
interface Env {
  NATIVE_API_BASE_URL: string;
}

const encoder = new TextEncoder();

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const mode = request.headers.get("x-bench-mode") ?? "pipe";
    const headers = new Headers(request.headers);
    headers.delete("x-bench-mode");
    const upstream = await fetch(new URL(url.pathname + url.search, env.NATIVE_API_BASE_URL), { method: request.method, headers, body: request.body });
    if (mode === "pipe" || !upstream.body) return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    const reader = upstream.body.getReader({ mode: "byob" });
    const { readable, writable } = new IdentityTransformStream();
    const writer = writable.getWriter();
    const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    void (async () => {
      let buffer = new Uint8Array(16 * 1024);
      for (;;) {
        const { value, done } = await reader.read(buffer);
        if (done || !value) break;
        if (mode === "js-decode") await writer.write(encoder.encode(decoder.decode(value, { stream: true })));
        else await writer.write(value.slice());
        buffer = new Uint8Array(value.buffer);
      }
      await writer.close();
    })();
    return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
  },
};
