/**
 * `GET /openapi.json` and `GET /docs` as served by the worker: no API key needed, the page is
 * self-contained (a CSP that forbids every external source, no external URL anywhere in the HTML)
 * and lists every operation of the document with its policy table.
 */
import { describe, expect, it } from "vitest";
import { SELF } from "cloudflare:test";
import { openApiDocument, operations as documentedOperations } from "../../src/docs/openapi";
import { markdown } from "../../src/docs/page";
import { GATEWAY } from "./helpers";

function operations(): Array<{ method: string; path: string; operationId: string; summary: string }> {
  return Object.entries(openApiDocument().paths as Record<string, Record<string, { operationId: string; summary: string }>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method, path, operationId: operation.operationId, summary: operation.summary })),
  );
}

describe("GET /openapi.json", () => {
  it("answers the document without an API key", async () => {
    const response = await SELF.fetch(`${GATEWAY}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("x-request-id")).toBeTruthy();
    const document = (await response.json()) as { openapi: string; paths: object };
    expect(document.openapi).toBe("3.1.0");
    expect(document).toEqual(openApiDocument());
  });

  it("is built once per isolate", () => {
    expect(openApiDocument()).toBe(openApiDocument());
  });
});

describe("GET /docs", () => {
  it("answers a self-contained HTML page without an API key", async () => {
    const response = await SELF.fetch(`${GATEWAY}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    const html = await response.text();
    // Nothing to fetch from elsewhere: no external src/href, no @import, no url() to a host.
    expect(html).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(\s*["']?(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
  });

  it("lists every operation once, its aliases inside it, with method, path, summary and example, and renders the policy tables", async () => {
    const html = await (await SELF.fetch(`${GATEWAY}/docs`)).text();
    const document = openApiDocument().paths as Record<string, Record<string, { "x-alias-of"?: string }>>;
    for (const operation of operations()) {
      const key = `${operation.method.toUpperCase()} ${operation.path}`;
      const aliasOf = document[operation.path]?.[operation.method]?.["x-alias-of"];
      // A canonical path is an entry of its own; an alias is listed in its canonical entry, not repeated.
      expect(html.split(aliasOf ? `data-alias="${key}"` : `data-op="${key}"`).length - 1, key).toBe(aliasOf ? 1 : 2); // article + nav link
      expect(html, operation.operationId).toContain(`id="op-${operation.operationId}"`);
      expect(html).toContain(operation.summary);
    }
    expect(html.match(/<article class="op"/g)?.length).toBe(documentedOperations().length);
    expect(html.match(/<div class="ex">/g)?.length).toBe(documentedOperations().length);
    // The three create operations and compact carry their rendered policy table (folded), once each.
    expect(html.match(/<table class="policy">/g)?.length).toBe(4);
    expect(html.match(/<details class="policy"><summary>Parameter policy: \d+ mapped · \d+ accepted · \d+ rejected<\/summary>/g)?.length).toBe(4);
    expect(html).toContain("<td><code>temperature</code></td><td>accepted</td>");
    // Both auth schemes and both error envelopes are on the page.
    expect(html).toContain("x-api-key");
    expect(html).toContain('id="schema-OpenAIError"');
    expect(html).toContain('id="schema-AnthropicError"');
  });

  it("escapes what it renders", () => {
    expect(markdown("a `<think>` b | c")).toBe("<p>a <code>&lt;think&gt;</code> b | c</p>");
    expect(markdown("| A | B |\n|---|---|\n| `x\\|y` | *z* |")).toBe(
      '<table class="policy"><thead><tr><th>A</th><th>B</th></tr></thead><tbody><tr><td><code>x|y</code></td><td><em>z</em></td></tr></tbody></table>',
    );
  });
});
