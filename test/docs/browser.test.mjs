/**
 * The /docs page in headless Chromium (run by `npm run test:browser`, which starts the gateway and
 * sets GATEWAY_URL; not part of the workerd suite).
 *
 * Checks what only a browser can: the page renders every operation of /openapi.json once (aliases
 * inside their operation), the inline script runs without errors (the filter box works), the layout
 * holds at desktop (1400 px) and phone (390 px) width — bounded height, no sideways scrolling, a
 * content column of at least 300 px on the phone — and the page makes no request outside the
 * gateway's own 127.0.0.1 origin: the reference must work on a machine with no internet access. Any
 * such request is also aborted, so a regression cannot leak traffic while it fails the test.
 * Screenshots go to /tmp/gateway-docs.png (desktop) and /tmp/gateway-docs-phone.png for a human look.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const BASE = process.env.GATEWAY_URL;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOT = process.env.DOCS_SCREENSHOT ?? "/tmp/gateway-docs.png";
const PHONE_SCREENSHOT = process.env.DOCS_PHONE_SCREENSHOT ?? "/tmp/gateway-docs-phone.png";

/** @type {import("playwright-core").Browser} */
let browser;
/** @type {import("playwright-core").Page} */
let page;
/** @type {string[]} */
const requests = [];
/** @type {string[]} */
const pageErrors = [];

const isLocal = (url) => {
  const { protocol, hostname } = new URL(url);
  return protocol === "data:" || protocol === "about:" || hostname === "127.0.0.1";
};

before(async () => {
  assert.ok(BASE, "GATEWAY_URL must be set (run through `npm run test:browser`)");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route("**/*", (route) => (isLocal(route.request().url()) ? route.continue() : route.abort()));
  page = await context.newPage();
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(`${BASE}/docs`, { waitUntil: "load" });
  await page.waitForSelector("article.op[data-op]");
});

after(async () => {
  await browser?.close();
});

test("every operation of /openapi.json is on the page once, visibly: canonical paths as entries, aliases inside them", async () => {
  const document = await (await fetch(`${BASE}/openapi.json`)).json();
  const operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
  );
  assert.ok(operations.length >= 19, `expected every route, got ${operations.length}`);
  for (const { key, operation } of operations) {
    const canonical = operation["x-alias-of"] ? `${key.split(" ")[0]} ${operation["x-alias-of"]}` : key;
    const article = page.locator(`article.op[data-op="${canonical}"]`);
    assert.equal(await article.count(), 1, `${key}: its entry is rendered once`);
    assert.ok(await article.isVisible(), `${key} visible`);
    const heading = await article.locator("h3").innerText();
    assert.ok(heading.includes(canonical.split(" ")[1]) && heading.includes(operation.summary), `${key} heading: ${heading}`);
    if (operation["x-alias-of"]) {
      assert.equal(await article.locator(`[data-alias="${key}"]`).count(), 1, `${key} listed as an alias of ${canonical}`);
      assert.equal(await page.locator(`article.op[data-op="${key}"]`).count(), 0, `${key} not repeated as an entry`);
    } else {
      assert.equal(await page.locator(`nav a[data-op="${key}"]`).count(), 1, `${key} in the navigation`);
      assert.equal(await article.locator(".ex pre").first().isVisible(), true, `${key} shows its example`);
    }
  }
  // The policy tables are real tables, folded, on the three create operations and on compact.
  assert.equal(await page.locator("details.policy table.policy").count(), 4);
});

test("the page's script works: the filter box narrows the list (aliases included), the examples name this gateway", async () => {
  await page.fill("#q", "/v1/messages");
  const visible = await page.locator("article.op:not(.hide)").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-op")));
  assert.deepEqual(visible.sort(), ["POST /v1/messages", "POST /v1/messages/count_tokens"]);
  await page.fill("#q", "/openai/v1/models");
  const byAlias = await page.locator("article.op:not(.hide)").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-op")));
  assert.deepEqual(byAlias.sort(), ["GET /v1/models", "GET /v1/models/{model}"]);
  await page.fill("#q", "");
  assert.equal(await page.locator("article.op.hide").count(), 0);
  assert.equal(await page.locator("#origin").innerText(), new URL(BASE).origin);
  assert.deepEqual(pageErrors, []);
});

test("a schema link opens the schema it points at", async () => {
  await page.locator('#op-createMessage a[href="#schema-MessagesRequest"]').first().click();
  assert.equal(await page.locator("#schema-MessagesRequest").getAttribute("open"), "");
  await page.goto(`${BASE}/docs`, { waitUntil: "load" });
});

/** Layout figures of the page at the current viewport. */
function layout(target) {
  return target.evaluate(() => {
    const main = document.querySelector("main");
    const style = getComputedStyle(main);
    const articles = [...document.querySelectorAll("article.op")];
    return {
      height: document.documentElement.scrollHeight,
      viewport: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      contentWidth: main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      widestArticleRight: Math.max(...articles.map((node) => node.getBoundingClientRect().right)),
      // Text must not be clipped by a fixed sidebar: main starts at the left edge or right of the nav.
      mainLeft: main.getBoundingClientRect().left,
      navFixed: getComputedStyle(document.querySelector("nav")).position === "fixed",
    };
  });
}

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(buffer) {
  assert.equal(buffer.subarray(1, 4).toString("latin1"), "PNG");
  return { width: buffer.readUInt32BE(16), height: buffer.readUInt32BE(20) };
}

test("desktop (1400 px): one column of entries beside the sidebar, page height bounded", async () => {
  const figures = await layout(page);
  console.log(`desktop layout: ${JSON.stringify(figures)}`);
  // 31,811 px before aliases were folded into their operation and long tables into <details>;
  // 20,027 px once WebSocket mode's connection limit joined the settings (room for a few more).
  assert.ok(figures.height <= 21_000, `page height ${figures.height} px`);
  assert.ok(figures.scrollWidth <= figures.viewport, `no horizontal overflow (${figures.scrollWidth} > ${figures.viewport})`);
  assert.ok(figures.contentWidth >= 800, `content width ${figures.contentWidth} px`);
  const shot = await page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(pngSize(shot), { width: 1400, height: 900 });
  console.log(`screenshot: ${SCREENSHOT}`);
});

test("phone (390 px): readable, nothing sideways, the sidebar out of the way", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  await phone.route("**/*", (route) => (isLocal(route.request().url()) ? route.continue() : route.abort()));
  const small = await phone.newPage();
  small.on("pageerror", (error) => pageErrors.push(String(error)));
  await small.goto(`${BASE}/docs`, { waitUntil: "load" });
  const figures = await layout(small);
  console.log(`phone layout: ${JSON.stringify(figures)}`);
  assert.equal(figures.viewport, 390);
  assert.ok(figures.contentWidth >= 300, `content width ${figures.contentWidth} px (was ~90 beside a fixed sidebar)`);
  assert.equal(figures.navFixed, false, "the sidebar is not fixed over the content");
  assert.ok(figures.mainLeft >= 0 && figures.mainLeft < 20, `content starts at the left edge (${figures.mainLeft})`);
  assert.ok(figures.scrollWidth <= 390, `no horizontal overflow (${figures.scrollWidth} px)`);
  assert.ok(figures.widestArticleRight <= 390, `entries fit the screen (${figures.widestArticleRight} px)`);
  assert.ok(figures.height <= 32_000, `page height ${figures.height} px`);
  // The first entry and its example, as a phone shows them.
  await small.evaluate(() => document.getElementById("op-createChatCompletion").scrollIntoView());
  const shot = await small.screenshot({ path: PHONE_SCREENSHOT });
  assert.deepEqual(pngSize(shot), { width: 390, height: 844 });
  console.log(`screenshot: ${PHONE_SCREENSHOT}`);
  assert.deepEqual(pageErrors, []);
  await phone.close();
});

test("the page made no request outside 127.0.0.1", () => {
  assert.ok(requests.length >= 1);
  assert.deepEqual(requests.filter((url) => !isLocal(url)), []);
});
