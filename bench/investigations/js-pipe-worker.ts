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
 * - `translate`: the least any translating gateway does, on both sides: the client's body read whole,
 *   UTF-8 decoded (fatal), `JSON.parse`d, `JSON.stringify`d and encoded again for native (the
 *   gateway's request path without validation or mapping); native's answer decoded by the gateway's
 *   own `readNativeStream`, and every item re-encoded as one SSE frame by `JSON.stringify` (a
 *   projection that keeps nothing), the first item in a write of its own, the rest a batch per write;
 *   the Response is returned at native's headers (the chat route's shape). `translate-first`: the
 *   first item is read and written before the Response is returned (the Responses route's shape).
 *   `translate-request`: the request side only (native's answer returned untouched).
 * bench/investigations/stream-profile.ts --floors and ttfb.ts --floors drive it.
 */
import { NativeSseParser, readNativeItemBatches, readNativeStream, type NativeStreamItem } from "../../src/native/events";

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
    if (mode.startsWith("translate")) return translate(request, url, headers, env, mode);
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

/** The `translate` modes (see the header): parse and re-serialise the request, decode and re-encode every answer item. */
async function translate(request: Request, url: URL, headers: Headers, env: Env, mode: string): Promise<Response> {
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await request.arrayBuffer());
  const body = encoder.encode(JSON.stringify(JSON.parse(text) as unknown));
  headers.set("content-length", String(body.byteLength));
  const upstream = await fetch(new URL(url.pathname + url.search, env.NATIVE_API_BASE_URL), { method: request.method, headers, body });
  const body0 = upstream.body;
  if (mode === "translate-request" || !body0) return new Response(body0, { status: upstream.status, headers: upstream.headers });
  let batches: ReturnType<typeof readNativeItemBatches> | null = null;
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const frames = (items: readonly NativeStreamItem[]): Uint8Array => encoder.encode(items.map((item) => `event: ${item.event}\ndata: ${JSON.stringify(item)}\n\n`).join(""));
  /** Writes the batches to the end; the first batch's first item alone unless it went out already. */
  const pump = async (firstSent: boolean): Promise<void> => {
    const reader = (batches ??= readNativeItemBatches(readNativeStream(body0, { idleMs: 120_000, firstEventMs: 30_000, progressMs: 120_000 })));
    for (let batch = await reader.read(); batch; batch = await reader.read()) {
      if (!firstSent && batch.length > 0) {
        firstSent = true;
        await writer.write(frames(batch.slice(0, 1)));
        batch = batch.slice(1);
      }
      if (batch.length > 0) await writer.write(frames(batch));
    }
    await writer.close();
  };
  if (mode === "translate-first") {
    // The first item alone before the Response (readNativeStream's first read decodes its whole chunk; the rest waits in the reader).
    const items = readNativeStream(body0, { idleMs: 120_000, firstEventMs: 30_000, progressMs: 120_000 });
    const itemReader = items.getReader();
    const first = await itemReader.read();
    itemReader.releaseLock();
    batches = readNativeItemBatches(items);
    // The rest waits until the runtime has taken the first write (as src/http/sse.ts).
    const firstWrite = first.done ? Promise.resolve() : writer.write(frames([first.value]));
    void firstWrite.then(() => pump(true));
  } else void pump(false);
  return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
}
