/**
 * The translating floor: the least any gateway that translates does, on both sides, with none of
 * the gateway's own work (validation, mapping, policy, logging, the ownership index):
 * - the request: the client's body read whole, UTF-8 decoded (fatal), `JSON.parse`d, `JSON.stringify`d
 *   and encoded again for native — what a 94 KB request costs before anything can be mapped;
 * - the answer: native's SSE decoded by the gateway's own `readNativeStream` (one `JSON.parse` per
 *   event) and every item written back as one SSE frame with the least a projection writes (the
 *   event's name; a delta's text, escaped once by `JSON.stringify`), the first item in a write of
 *   its own, the rest a batch per write.
 * Modes (`x-bench-mode`): `translate` (default) returns the Response at native's headers (the chat
 * and Messages routes' shape); `translate-first` reads and writes the first item before the Response
 * is returned (the Responses route's shape: an error before native's first event is the request's
 * HTTP error); `translate-request` translates the request only (native's answer returned untouched).
 * The clients send native requests to it (`{ query, response_mode }`), as to the pass-through worker.
 * bench/e2e.ts runs it next to the pass-through (the "translating floor" rows of bench/RESULTS.md);
 * bench/investigations/ttfb.ts --floors and js-pipe-worker.ts drive its modes.
 */
import { readNativeItemBatches, readNativeStream, type NativeStreamItem } from "../src/native/events";

interface Env {
  NATIVE_API_BASE_URL: string;
}

const encoder = new TextEncoder();

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const headers = new Headers(request.headers);
    const mode = headers.get("x-bench-mode") ?? "translate";
    headers.delete("x-bench-mode");
    return translate(request, new URL(request.url), headers, env.NATIVE_API_BASE_URL, mode);
  },
};

/** One request in `mode` (see the header); `headers` are the client's, minus the mode header. */
export async function translate(request: Request, url: URL, headers: Headers, nativeBaseUrl: string, mode: string): Promise<Response> {
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await request.arrayBuffer());
  const body = encoder.encode(JSON.stringify(JSON.parse(text) as unknown));
  headers.set("content-length", String(body.byteLength));
  const upstream = await fetch(new URL(url.pathname + url.search, nativeBaseUrl), { method: request.method, headers, body });
  const nativeBody = upstream.body;
  if (mode === "translate-request" || !nativeBody) return new Response(nativeBody, { status: upstream.status, headers: upstream.headers });
  const items = readNativeStream(nativeBody, { idleMs: 120_000, firstEventMs: 30_000, progressMs: 120_000 });
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  // The least a projector writes per event: its name, and a delta's text escaped once (a protocol
  // frame carries more around it); every other event an empty object.
  const frame = (item: NativeStreamItem): string =>
    `event: ${item.event}\ndata: ${item.event === "message.delta" || item.event === "reasoning.delta" ? JSON.stringify(item.data.delta) : "{}"}\n\n`;
  const frames = (batch: readonly NativeStreamItem[]): Uint8Array => encoder.encode(batch.map(frame).join(""));
  /** Writes the batches to the end: the first batch's first item alone, unless it went out already. */
  const pump = async (firstSent: boolean): Promise<void> => {
    const batches = readNativeItemBatches(items);
    for (let batch = await batches.read(); batch; batch = await batches.read()) {
      if (!firstSent && batch.length > 0) {
        firstSent = true;
        await writer.write(frames(batch.slice(0, 1)));
        batch = batch.slice(1);
      }
      if (batch.length > 0) await writer.write(frames(batch));
    }
    await writer.close();
  };
  const pumped = (firstSent: boolean): void => void pump(firstSent).catch(() => items.cancel().catch(() => undefined));
  if (mode === "translate-first") {
    // The first item before the Response (the first read decodes native's whole first chunk; the
    // rest waits in the stream for the batch reader).
    const itemReader = items.getReader();
    const first = await itemReader.read();
    itemReader.releaseLock();
    // The rest waits until the runtime has taken the first write (as src/http/sse.ts).
    const firstWrite = first.done ? Promise.resolve() : writer.write(frames([first.value]));
    void firstWrite.then(() => pumped(true), () => pumped(true));
  } else pumped(false);
  return new Response(readable, { status: upstream.status, headers: { "content-type": "text/event-stream" } });
}
