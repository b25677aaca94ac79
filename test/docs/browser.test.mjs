/**
 * The /docs page in headless Chromium (run by `npm run test:browser`, which starts the gateway and
 * sets GATEWAY_URL; not part of the workerd suite).
 *
 * Checks what only a browser can: the page renders every operation of /openapi.json, the inline
 * script runs without errors (the filter box works), and the page makes no request outside the
 * gateway's own 127.0.0.1 origin — the reference must work on a machine with no internet access.
 * Any such request is also aborted, so a regression cannot leak traffic while it fails the test.
 * A screenshot goes to /tmp/gateway-docs.png for a human look.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const BASE = process.env.GATEWAY_URL;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOT = process.env.DOCS_SCREENSHOT ?? "/tmp/gateway-docs.png";

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

test("every operation of /openapi.json is on the page, visibly, with its summary", async () => {
  const document = await (await fetch(`${BASE}/openapi.json`)).json();
  const operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
  );
  assert.ok(operations.length >= 18, `expected every route, got ${operations.length}`);
  for (const { key, operation } of operations) {
    const article = page.locator(`article.op[data-op="${key}"]`);
    assert.equal(await article.count(), 1, `${key} rendered once`);
    assert.ok(await article.isVisible(), `${key} visible`);
    const heading = await article.locator("h3").innerText();
    assert.ok(heading.includes(key.split(" ")[1]) && heading.includes(operation.summary), `${key} heading: ${heading}`);
    assert.equal(await page.locator(`nav a[data-op="${key}"]`).count(), 1, `${key} in the navigation`);
  }
  // The policy tables are real tables, on the three create operations and the Chat aliases.
  assert.equal(await page.locator("table.policy").count(), 5);
});

test("the page's script works: the filter box narrows the list", async () => {
  await page.fill("#q", "/v1/messages");
  const visible = await page.locator("article.op:not(.hide)").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-op")));
  assert.deepEqual(visible.sort(), ["POST /v1/messages", "POST /v1/messages/count_tokens"]);
  await page.fill("#q", "");
  assert.equal(await page.locator("article.op.hide").count(), 0);
  assert.deepEqual(pageErrors, []);
});

test("a schema link opens the schema it points at", async () => {
  await page.locator('#op-createMessage a[href="#schema-MessagesRequest"]').first().click();
  assert.equal(await page.locator("#schema-MessagesRequest").getAttribute("open"), "");
  await page.goto(`${BASE}/docs`, { waitUntil: "load" });
});

test("screenshot for a human look", async () => {
  await page.screenshot({ path: SCREENSHOT });
  console.log(`screenshot: ${SCREENSHOT}`);
});

test("the page made no request outside 127.0.0.1", () => {
  assert.ok(requests.length >= 1);
  assert.deepEqual(requests.filter((url) => !isLocal(url)), []);
});
