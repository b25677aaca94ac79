/// <reference types="vite/client" />
/**
 * The layering of `src/` (ARCHITECTURE.md "Layers and folders"), checked on the source itself:
 * `native/` knows only 1flowbase (nothing of HTTP envelopes, protocols, routes or the index),
 * `index-store/` knows only D1, `http/` knows no protocol, protocols know no route, and no two
 * modules import each other through any path (type-only imports included: a cycle of types is
 * still a cycle a reader has to untangle).
 */
import { describe, expect, it } from "vitest";

const sources = import.meta.glob<string>("../../src/**/*.ts", { query: "?raw", import: "default", eager: true });

/** `../../src/native/answer.ts` → `native/answer.ts`. */
const moduleOf = (path: string): string => path.replace(/^\.\.\/\.\.\/src\//, "");
const layerOf = (module: string): string => (module.includes("/") ? (module.split("/")[0] ?? module) : module.replace(/\.ts$/, ""));

function resolve(from: string, specifier: string): string | null {
  if (!specifier.startsWith(".")) return null;
  const parts = from.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  const base = parts.join("/");
  if (`../../src/${base}.ts` in sources) return `${base}.ts`;
  if (`../../src/${base}/index.ts` in sources) return `${base}/index.ts`;
  throw new Error(`${from}: cannot resolve ${specifier}`);
}

const imports = new Map<string, string[]>();
for (const [path, text] of Object.entries(sources)) {
  const module = moduleOf(path);
  const targets: string[] = [];
  for (const match of text.matchAll(/\bfrom\s+"([^"]+)"/g)) {
    const target = resolve(module, match[1] ?? "");
    if (target) targets.push(target);
  }
  imports.set(module, targets);
}

/** Which layers each layer must never import. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  native: ["http", "protocols", "routes", "index-store", "docs", "app"],
  "index-store": ["native", "http", "protocols", "routes", "docs", "app"],
  http: ["protocols", "routes", "docs", "app"],
  protocols: ["routes", "docs", "app"],
  routes: ["app"],
};

describe("src/ layering", () => {
  it("reads the whole tree", () => {
    expect(imports.size).toBeGreaterThan(30);
    expect(imports.get("native/answer.ts")).toContain("native/events.ts");
  });

  it("no upward import", () => {
    const upward: string[] = [];
    for (const [module, targets] of imports) {
      const forbidden = FORBIDDEN[layerOf(module)] ?? [];
      for (const target of targets) if (forbidden.includes(layerOf(target))) upward.push(`${module} → ${target}`);
    }
    expect(upward).toEqual([]);
  });

  it("no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (module: string): void => {
      state.set(module, "visiting");
      stack.push(module);
      for (const target of imports.get(module) ?? []) {
        if (state.get(target) === "visiting") cycles.push([...stack.slice(stack.indexOf(target)), target].join(" → "));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(module, "done");
    };
    for (const module of imports.keys()) if (!state.has(module)) visit(module);
    expect(cycles).toEqual([]);
  });
});
