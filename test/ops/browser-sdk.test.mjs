/**
 * The official SDKs in a real browser (issue 16, item 4), run by `npm run test:browser`: `openai`
 * and `@anthropic-ai/sdk`, bundled for the browser, on a page served from another origin than the
 * gateway's (SDK_PAGE_URL, listed in the gateway's CORS_ALLOW_ORIGINS). Every SDK call therefore
 * goes through Chromium's own CORS machinery: a real preflight for the headers the SDKs send, and
 * the `Access-Control-Expose-Headers` filter on what they read. No request interception anywhere in
 * this file — Playwright's routing answers preflights itself and would hide exactly this class of
 * bug; the page is kept off the internet by Chromium's host resolver rules instead.
 *
 * Checked: blocking and streamed calls of both SDKs (Chat Completions, Responses, models, Messages,
 * count_tokens) with their helpers; that preflights really happened (Chromium's network log); that
 * the SDKs read the exposed headers (request ids, `retry-after`, `x-should-retry` — the last one
 * changes how many attempts the SDK makes, counted at the emulator); the negative control (a page
 * on an origin not in the allowlist cannot call the gateway); and that every `x-stainless-*` header
 * in the installed SDK sources is allowed by the preflight.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const GATEWAY = process.env.GATEWAY_URL;
const PAGE = process.env.SDK_PAGE_URL;
const OTHER_PAGE = process.env.SDK_OTHER_PAGE_URL;
const EMULATOR = process.env.EMULATOR_URL;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const KEY = "sk-demo0000001-LocalDevelopmentKeyDoNotUseInProduction0001";
const MODEL = "1flowbase";

/** @type {import("playwright-core").Browser} */
let browser;
/** @type {import("playwright-core").Page} */
let page;
/** Chromium's own network log of the SDK page: every request, preflights included. */
const network = [];
/** @type {string[]} */
const pageErrors = [];

const nonce = () => `n${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const emu = (script) => `[[emu:${JSON.stringify(script)}]]`;

/** Native creates the emulator received whose body mentions `marker` (attempts the SDK made). */
async function nativeCreatesWith(marker) {
  const { requests } = await (await fetch(`${EMULATOR}/__emulator/requests?path=/api/agent/v1/runs`)).json();
  return requests.filter((request) => request.method === "POST" && JSON.stringify(request.body ?? "").includes(marker)).length;
}

async function openSdkPage(context, url) {
  const target = await context.newPage();
  target.on("pageerror", (error) => pageErrors.push(String(error)));
  await target.goto(url, { waitUntil: "load" });
  assert.equal(await target.evaluate(() => typeof window.SDKs?.OpenAI === "function" && typeof window.SDKs?.Anthropic === "function"), true);
  return target;
}

before(async () => {
  assert.ok(GATEWAY && PAGE && OTHER_PAGE && EMULATOR, "GATEWAY_URL, SDK_PAGE_URL, SDK_OTHER_PAGE_URL, EMULATOR_URL must be set (run through `npm run test:browser`)");
  assert.notEqual(new URL(PAGE).origin, new URL(GATEWAY).origin, "the SDK page must be cross-origin to the gateway");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      // Offline without interception: every host but loopback fails to resolve.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
  const context = await browser.newContext();
  page = await openSdkPage(context, PAGE);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  cdp.on("Network.requestWillBeSent", (event) => network.push({ method: event.request.method, url: event.request.url, type: event.type, headers: event.request.headers }));
});

after(async () => {
  await browser?.close();
});

/** Runs `fn(SDKs, config)` inside the SDK page and returns its JSON-able result. */
function inPage(fn, extra = {}) {
  return page.evaluate(
    async ({ source, config }) => {
      // eslint-disable-next-line no-new-func
      const body = new Function("SDKs", "config", `return (${source})(SDKs, config);`);
      return body(window.SDKs, config);
    },
    { source: fn.toString(), config: { gateway: GATEWAY, key: KEY, model: MODEL, ...extra } },
  );
}

test("openai in the browser: chat (blocking, streamed, ignored-params header), responses (create, stream helper), models", async () => {
  const result = await inPage(async (SDKs, config) => {
    const client = new SDKs.OpenAI({ apiKey: config.key, baseURL: `${config.gateway}/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 });
    const { data: completion, response, request_id } = await client.chat.completions
      .create({ model: config.model, messages: [{ role: "user", content: "Hello from the browser" }], temperature: 0.2 })
      .withResponse();
    const stream = await client.chat.completions.create({ model: config.model, messages: [{ role: "user", content: "Stream please" }], stream: true });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
    const created = await client.responses.create({ model: config.model, input: "Responses from the browser" });
    const helper = client.responses.stream({ model: config.model, input: "Responses stream helper" });
    let deltas = "";
    for await (const event of helper) if (event.type === "response.output_text.delta") deltas += event.delta;
    const final = await helper.finalResponse();
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    return {
      content: completion.choices[0].message.content,
      requestId: request_id,
      ignored: response.headers.get("x-1flowbase-ignored-params"),
      streamed,
      responseText: created.output_text,
      responseRequestId: created._request_id,
      deltas,
      finalText: final.output_text,
      models,
    };
  });
  assert.match(result.content, /Hello from the browser/);
  assert.match(result.requestId ?? "", /^req_[0-9a-f]{32}$/, "x-request-id is exposed");
  assert.match(result.ignored ?? "", /temperature/, "x-1flowbase-ignored-params is exposed");
  assert.match(result.streamed, /Stream please/);
  assert.match(result.responseText, /Responses from the browser/);
  assert.match(result.responseRequestId ?? "", /^req_/);
  assert.match(result.deltas, /Responses stream helper/);
  assert.equal(result.finalText, result.deltas);
  assert.ok(result.models.includes(MODEL));
});

test("@anthropic-ai/sdk in the browser: messages (blocking, stream helper), count_tokens, request-id", async () => {
  const result = await inPage(async (SDKs, config) => {
    const client = new SDKs.Anthropic({ apiKey: config.key, baseURL: config.gateway, dangerouslyAllowBrowser: true, maxRetries: 0 });
    const { data: message, request_id } = await client.messages
      .create({ model: config.model, max_tokens: 256, messages: [{ role: "user", content: "Hello Claude-style" }] })
      .withResponse();
    const stream = client.messages.stream({ model: config.model, max_tokens: 256, messages: [{ role: "user", content: "Stream Claude-style" }] });
    let streamed = "";
    stream.on("text", (text) => {
      streamed += text;
    });
    const final = await stream.finalMessage();
    const tokens = await client.messages.countTokens({ model: config.model, messages: [{ role: "user", content: "count me" }] });
    return {
      text: message.content.find((block) => block.type === "text")?.text,
      requestId: request_id,
      streamed,
      finalText: final.content.find((block) => block.type === "text")?.text,
      finalRequestId: final._request_id ?? null,
      tokens: tokens.input_tokens,
    };
  });
  assert.match(result.text ?? "", /Hello Claude-style/);
  assert.match(result.requestId ?? "", /^req_[0-9a-f]{32}$/, "request-id is exposed");
  assert.match(result.streamed, /Stream Claude-style/);
  assert.equal(result.finalText, result.streamed);
  assert.ok(result.tokens > 0);
});

test("the SDKs read retry-after, x-should-retry and the request id of an error", async () => {
  const marker = nonce();
  const limited = emu({ http_error: { status: 429, code: "rate_limited", message: "slow down", retry_after: "7" } });
  const result = await inPage(
    async (SDKs, config) => {
      const openai = new SDKs.OpenAI({ apiKey: config.key, baseURL: `${config.gateway}/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 });
      const anthropic = new SDKs.Anthropic({ apiKey: config.key, baseURL: config.gateway, dangerouslyAllowBrowser: true, maxRetries: 0 });
      const seen = {};
      try {
        await openai.chat.completions.create({ model: config.model, messages: [{ role: "user", content: `${config.marker} ${config.limited}` }] });
      } catch (error) {
        seen.openai = { rateLimit: error instanceof SDKs.OpenAI.RateLimitError, status: error.status, retryAfter: error.headers?.get("retry-after"), shouldRetry: error.headers?.get("x-should-retry"), requestId: error.requestID };
      }
      try {
        await anthropic.messages.create({ model: config.model, max_tokens: 64, messages: [{ role: "user", content: `${config.marker} ${config.limited}` }] });
      } catch (error) {
        seen.anthropic = { rateLimit: error instanceof SDKs.Anthropic.RateLimitError, status: error.status, retryAfter: error.headers?.get("retry-after"), shouldRetry: error.headers?.get("x-should-retry"), requestId: error.requestID };
      }
      return seen;
    },
    { marker, limited },
  );
  for (const sdk of ["openai", "anthropic"]) {
    const seen = result[sdk];
    assert.ok(seen, `${sdk} threw`);
    assert.equal(seen.rateLimit, true, `${sdk}: ${JSON.stringify(seen)}`);
    assert.equal(seen.status, 429);
    assert.equal(seen.retryAfter, "7", `${sdk}: retry-after is exposed`);
    assert.equal(seen.shouldRetry, "true", `${sdk}: x-should-retry is exposed`);
    assert.match(seen.requestId ?? "", /^req_/, `${sdk}: the request id of an error is exposed`);
  }
});

test("x-should-retry: false reaches the SDKs' retry logic: one attempt, not 1 + maxRetries", async () => {
  // Native answers a 500: the gateway maps it to a 502 with x-should-retry: false. An SDK that could
  // not read the header would retry the 502 (both retry every 5xx by default).
  for (const sdk of ["openai", "anthropic"]) {
    const marker = nonce();
    const failing = emu({ http_error: { status: 500, code: "internal_error", message: "boom" } });
    const status = await inPage(
      async (SDKs, config) => {
        const options = { apiKey: config.key, dangerouslyAllowBrowser: true, maxRetries: 2 };
        try {
          if (config.sdk === "openai") {
            await new SDKs.OpenAI({ ...options, baseURL: `${config.gateway}/v1` }).chat.completions.create({ model: config.model, messages: [{ role: "user", content: `${config.marker} ${config.failing}` }] });
          } else {
            await new SDKs.Anthropic({ ...options, baseURL: config.gateway }).messages.create({ model: config.model, max_tokens: 64, messages: [{ role: "user", content: `${config.marker} ${config.failing}` }] });
          }
          return "no error";
        } catch (error) {
          return error.status;
        }
      },
      { sdk, marker, failing },
    );
    assert.equal(status, 502, sdk);
    assert.equal(await nativeCreatesWith(marker), 1, `${sdk}: exactly one attempt`);
  }
});

test("every SDK call above was preflighted by Chromium itself", () => {
  const preflights = network.filter((request) => request.method === "OPTIONS" && request.url.startsWith(GATEWAY));
  const paths = new Set(preflights.map((request) => new URL(request.url).pathname));
  for (const path of ["/v1/chat/completions", "/v1/responses", "/v1/models", "/v1/messages", "/v1/messages/count_tokens"]) {
    assert.ok(paths.has(path), `a preflight for ${path} (saw ${[...paths].join(", ")})`);
  }
  const sent = network.filter((request) => request.method !== "OPTIONS" && request.url.startsWith(GATEWAY));
  const stainless = new Set(sent.flatMap((request) => Object.keys(request.headers).map((name) => name.toLowerCase()).filter((name) => name.startsWith("x-stainless-"))));
  assert.ok(stainless.has("x-stainless-retry-count") && stainless.has("x-stainless-helper-method"), `the SDKs sent their x-stainless headers (${[...stainless].join(", ")})`);
  assert.ok(sent.some((request) => request.headers["anthropic-dangerous-direct-browser-access"] === "true"), "the Anthropic SDK sent its browser header");
  assert.deepEqual(pageErrors, []);
});

test("negative control: a page on an origin not in CORS_ALLOW_ORIGINS cannot call the gateway", async () => {
  const other = await openSdkPage(page.context(), OTHER_PAGE);
  const outcome = await other.evaluate(
    async ({ gateway, key, model }) => {
      const client = new window.SDKs.OpenAI({ apiKey: key, baseURL: `${gateway}/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 });
      try {
        await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
        return "succeeded";
      } catch (error) {
        return error instanceof window.SDKs.OpenAI.APIConnectionError ? "connection error" : String(error);
      }
    },
    { gateway: GATEWAY, key: KEY, model: MODEL },
  );
  assert.equal(outcome, "connection error");
  await other.close();
});

/** `x-stainless-*` header names in the installed SDK sources (what a future SDK version adds shows up here). */
function stainlessHeadersInSources(packageDir) {
  const names = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "src") walk(path);
      } else if (entry.name.endsWith(".mjs")) {
        for (const match of readFileSync(path, "utf8").matchAll(/['"`](x-stainless-[a-z0-9-]+)['"`]/gi)) names.add(match[1].toLowerCase());
      }
    }
  };
  walk(packageDir);
  return names;
}

test("the preflight allows every x-stainless-* header the installed SDKs can send", async () => {
  const names = new Set([...stainlessHeadersInSources("node_modules/openai"), ...stainlessHeadersInSources("node_modules/@anthropic-ai/sdk")]);
  assert.ok(names.size >= 10, `found ${[...names].join(", ")}`);
  const requested = [...names, "authorization", "content-type", "anthropic-dangerous-direct-browser-access", "anthropic-version", "openai-organization", "openai-project", "idempotency-key"];
  const preflight = await fetch(`${GATEWAY}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: { origin: new URL(PAGE).origin, "access-control-request-method": "POST", "access-control-request-headers": requested.join(",") },
  });
  assert.equal(preflight.status, 204);
  const allowed = new Set((preflight.headers.get("access-control-allow-headers") ?? "").split(",").map((name) => name.trim().toLowerCase()));
  assert.deepEqual(requested.filter((name) => !allowed.has(name)), []);
});
