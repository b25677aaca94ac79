/**
 * The pass-through worker, except that it reads the whole request body before calling native — as
 * any gateway must, since it parses the client's JSON before it can build native's request. The
 * difference between this and bench/passthrough-worker.ts (which streams the client's body to native
 * as it arrives) is what buffering alone costs a large request's first byte
 * (bench/investigations/buffered-passthrough.ts).
 */
interface Env {
  NATIVE_API_BASE_URL: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const body = await request.arrayBuffer();
    const upstream = await fetch(new URL(url.pathname + url.search, env.NATIVE_API_BASE_URL), { method: request.method, headers: request.headers, body });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  },
};
