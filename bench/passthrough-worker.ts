/**
 * The reference pass-through worker: the physical limit of streaming native SSE through workerd.
 * It forwards the request to native unchanged and returns native's body unchanged (no decoding, no
 * projection, no JS touching the bytes), so "gateway ÷ pass-through" isolates what the gateway adds.
 * Run with `wrangler dev --config bench/wrangler.passthrough.toml`.
 */
interface Env {
  NATIVE_API_BASE_URL: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__ready") return new Response("ok");
    const upstream = await fetch(new URL(url.pathname + url.search, env.NATIVE_API_BASE_URL), {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  },
};
