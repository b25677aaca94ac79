/// <reference types="vite/client" />
/**
 * Issue 19 (cold start): schemas are built on first use. `lazySchema` must be invisible to its callers
 * — the same parse results and issues, nesting, metadata, one identity for the API reference — and no
 * module of src/ may build a zod schema (or load node:zlib) while it evaluates: that is startup CPU
 * a fresh isolate pays before its first byte (the bench's startup budget measures it; this keeps the
 * rule from regressing between bench runs).
 */
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { registryToJsonSchema, schemaToJsonSchema } from "../../src/docs/openapi";
import { declaredSchema, lazySchema } from "../../src/lazy";

const sources = import.meta.glob<string>("../../src/**/*.ts", { query: "?raw", import: "default", eager: true });

describe("lazySchema", () => {
  it("builds once, on first use, and parses exactly like the schema it builds", () => {
    let builds = 0;
    const eager = z.object({ name: z.string().min(2), count: z.number().int().optional() }).loose();
    const lazy = lazySchema(() => {
      builds++;
      return z.object({ name: z.string().min(2), count: z.number().int().optional() }).loose();
    });
    expect(builds).toBe(0);
    for (const input of [{ name: "ab", count: 3, extra: true }, { name: "a" }, { name: "ab", count: 1.5 }, null, "x"]) {
      const got = lazy.safeParse(input);
      const want = eager.safeParse(input);
      expect(got.success).toBe(want.success);
      expect(got.success ? got.data : got.error.issues).toEqual(want.success ? want.data : want.error.issues);
    }
    expect(lazy.shape.name).toBeDefined();
    expect(builds).toBe(1);
  });

  it("nests inside other schemas, lazy or not, and keeps .describe() metadata under its own identity", () => {
    const Part = lazySchema(() => z.object({ type: z.literal("text"), text: z.string() }).describe("a text part"));
    const Message = lazySchema(() => z.object({ parts: z.array(Part).min(1) }));
    expect(Message.safeParse({ parts: [{ type: "text", text: "hi" }] }).success).toBe(true);
    const failed = Message.safeParse({ parts: [{ type: "text", text: 1 }] });
    expect(failed.success ? [] : failed.error.issues.map((issue) => issue.path.join("."))).toEqual(["parts.0.text"]);
    expect(z.optional(Part).safeParse(undefined).success).toBe(true);
    expect(z.globalRegistry.get(Part)?.description).toBe("a text part");
    expect(Part.description).toBe("a text part");
  });

  it("converts to the same JSON Schema as the eager schema through the API reference's conversions", () => {
    // Transforms and pipes are where zod's own conversion meets the built schema (its processors
    // close over it) while the nesting holds the proxy: `declaredSchema` makes them one entry.
    const Id = lazySchema(() => z.string().trim().pipe(z.string().min(1)));
    const build = (id: z.ZodType) => z.object({ id, tags: z.array(z.string()).optional() }).describe("an item");
    const params = { io: "input", unrepresentable: "any" } as const;
    const Item = lazySchema(() => build(Id));
    // zod's own conversion loses track of a lazy pipe (its processor looks up the built schema).
    expect(() => z.toJSONSchema(Id, params)).toThrow();
    expect(schemaToJsonSchema(Id, params)).toEqual(z.toJSONSchema(z.string().trim().pipe(z.string().min(1)), params));
    const List = lazySchema(() => z.object({ items: z.array(Item), next: Item.optional() }));
    const eagerItem = build(z.string().trim().pipe(z.string().min(1)));
    expect(schemaToJsonSchema(Item, params)).toEqual(z.toJSONSchema(eagerItem, params));
    const eagerList = z.object({ items: z.array(eagerItem), next: eagerItem.optional() });
    const registry = (item: z.ZodType, list: z.ZodType) => z.registry<{ id: string }>().add(item, { id: "Item" }).add(list, { id: "List" });
    const uri = (id: string) => `#/components/schemas/${id}`;
    expect(registryToJsonSchema(registry(Item, List), params, uri)).toEqual(z.toJSONSchema(registry(eagerItem, eagerList), { ...params, uri }).schemas);
    expect(declaredSchema(Item)).toBe(Item);
    const plain = z.string();
    expect(declaredSchema(plain)).toBe(plain);
  });
});

describe("no top-level startup work in src/ (issue 19)", () => {
  it("every top-level zod schema is built lazily (lazySchema / lazily), never while the module evaluates", () => {
    const eager: string[] = [];
    for (const [path, text] of Object.entries(sources)) {
      text.split("\n").forEach((line, index) => {
        if (/^(export )?(const|let|var) [A-Za-z_$][\w$]*(: [^=]+)? = z(\.|$)/.test(line)) eager.push(`${path.replace("../../", "")}:${index + 1}  ${line.trim()}`);
      });
    }
    expect(eager).toEqual([]);
  });

  it("node:zlib is imported on first use only (workerd evaluates a built-in and its node:* dependencies when first imported)", () => {
    const staticImports = Object.entries(sources)
      .filter(([, text]) => /^import [^;]*from "node:zlib";/m.test(text))
      .map(([path]) => path);
    expect(staticImports).toEqual([]);
  });
});
