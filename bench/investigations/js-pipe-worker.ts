/**
 * How much of the gateway's end-to-end cost is merely JS touching the stream, before any decoding:
 * the pass-through worker's request forwarding, with native's body handled per `x-bench-mode`:
 * - `pipe`: returned unchanged (the pass-through worker: no JS touches the bytes);
 * - `js-copy`: read by JS (BYOB, one reused buffer, as src/native/events.ts) and each chunk written
 *   to an IdentityTransformStream body with an awaited write (as src/http/sse.ts did per frame);
 * - `js-decode`: the same plus a streaming TextDecoder and a TextEncoder per chunk (strings, no parse);
 * - `js-first`: `js-copy`, but native's first chunk is read and written before the Response is
 *   returned (what a Responses create does: its status waits for native's first event);
 * - `js-first-stream`: `js-first`, with the chunks read through a pull-based JS `ReadableStream`
 *   wrapping the BYOB reader (the shape of src/native/events.ts `readNativeStream`);
 * - `js-first-native`: native's body decoded by the gateway's own `readNativeStream`, its first item
 *   read before the Response is returned, each item written back as its event name
 *   (`js-first-native-idle`: with the idle limit only; `js-first-batch`: the first items through
 *   `readNativeItemBatches` instead of a stream read).
 * - `translate`, `translate-first`, `translate-request`: bench/translating-floor-worker.ts.
 * bench/investigations/stream-profile.ts --floors and ttfb.ts --floors drive it.
 */
import { NativeSseParser, readNativeItemBatches, readNativeStream } from "../../src/native/events";
import { translate } from "../translating-floor-worker";

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
    if (mode.startsWith("translate")) return translate(request, url, headers, env.NATIVE_API_BASE_URL, mode);
    const upstream = await fetch(new URL(url.pathname + url.search, env.NATIVE_API_BASE_URL), { method: request.method, headers, body: request.body });
    if (mode === "pipe" || !upstream.body) return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    if (mode === "js-first-batch") {
      // As js-first-native, but the first item comes from the batch reader (no ReadableStream read).
      const batches = readNativeItemBatches(readNativeStream(upstream.body, { idleMs: 120_000, firstEventMs: 30_000, progressMs: 120_000 }));
      const firstBatch = await batches.read();
      const { readable, writable } = new IdentityTransformStream();
      const writer = writable.getWriter();
      if (firstBatch) void writer.write(encoder.encode(firstBatch.map((item) => `event: ${item.event}\n`).join("")));
      void (async () => {
        for (let batch = await batches.read(); batch; batch = await batches.read()) {
          await writer.write(encoder.encode(batch.map((item) => `event: ${item.event}\n`).join("")));
        }
        await writer.close();
      })();
      return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
    }
    if (mode.startsWith("js-first-native")) {
      const items = readNativeStream(upstream.body, mode === "js-first-native-idle" ? { idleMs: 120_000 } : { idleMs: 120_000, firstEventMs: 30_000, progressMs: 120_000 });
      const itemReader = items.getReader();
      const first = await itemReader.read();
      itemReader.releaseLock();
      const { readable, writable } = new IdentityTransformStream();
      const writer = writable.getWriter();
      if (!first.done) void writer.write(encoder.encode(`event: ${first.value.event}\n`));
      void (async () => {
        const batches = readNativeItemBatches(items);
        for (let batch = await batches.read(); batch; batch = await batches.read()) {
          await writer.write(encoder.encode(batch.map((item) => `event: ${item.event}\n`).join("")));
        }
        await writer.close();
      })();
      return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
    }
    const reader = upstream.body.getReader({ mode: "byob" });
    const { readable, writable } = new IdentityTransformStream();
    const writer = writable.getWriter();
    const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    let buffer = new Uint8Array(16 * 1024);
    if (mode === "js-first-stream") {
      const chunks = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await reader.read(buffer);
          if (done || !value) return controller.close();
          controller.enqueue(value.slice());
          buffer = new Uint8Array(value.buffer);
        },
      });
      const chunkReader = chunks.getReader();
      const first = await chunkReader.read();
      if (!first.done) void writer.write(first.value);
      void (async () => {
        for (;;) {
          const { value, done } = await chunkReader.read();
          if (done) break;
          await writer.write(value);
        }
        await writer.close();
      })();
      return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
    }
    if (mode === "js-first" || mode === "js-first-parse") {
      const { value, done } = await reader.read(buffer);
      if (mode === "js-first-parse" && value) new NativeSseParser(() => undefined).push(value);
      if (!done && value) {
        void writer.write(value.slice());
        buffer = new Uint8Array(value.buffer);
      }
    }
    void (async () => {
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

