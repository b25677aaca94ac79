/**
 * Helpers for the API reference tests: raw requests against the worker (`SELF.fetch`), SSE framing,
 * and validation of real answers against the *documented* schemas — both the zod documentation
 * schemas and the JSON Schema the published document carries (round-tripped with
 * `z.fromJSONSchema`), so neither the schemas nor their conversion can drift from what the worker sends.
 */
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import * as z from "zod";
import { EMULATOR_KEYS } from "../../emulator/script";
import { openApiDocument, operations, type OperationSpec } from "../../src/docs/openapi";

export const GATEWAY = "http://gw";
export const MODEL = "1flowbase";
export { EMULATOR_KEYS };

export function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${GATEWAY}${path}`, {
    method,
    headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export interface SseFrame {
  event: string | null;
  data: string;
}

/** Frames of an SSE body; comments (`: keepalive`) are dropped. Each frame has exactly one `data:` line. */
export function parseSse(text: string): SseFrame[] {
  return text
    .split("\n\n")
    .filter((chunk) => chunk.trim() !== "" && !chunk.startsWith(":"))
    .map((chunk) => {
      let event: string | null = null;
      const data: string[] = [];
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      expect(data, `one data line per frame: ${chunk}`).toHaveLength(1);
      return { event, data: data.join("\n") };
    });
}

export function operation(operationId: string): OperationSpec {
  const spec = operations().find((candidate) => candidate.operationId === operationId);
  if (!spec) throw new Error(`no documented operation ${operationId}`);
  return spec;
}

/** Component name → a zod schema rebuilt from the published JSON Schema (refs resolved through `$defs`). */
const published = new Map<string, z.ZodType>();
let defs: Record<string, unknown> | undefined;

export function publishedSchema(name: string): z.ZodType {
  let schema = published.get(name);
  if (!schema) {
    const components = (openApiDocument().components as { schemas: Record<string, unknown> }).schemas;
    defs ??= JSON.parse(JSON.stringify(components).replaceAll("#/components/schemas/", "#/$defs/")) as Record<string, unknown>;
    if (!(name in defs)) throw new Error(`component ${name} is not in the document`);
    schema = z.fromJSONSchema({ $defs: defs, $ref: `#/$defs/${name}` } as z.core.JSONSchema.JSONSchema);
    published.set(name, schema);
  }
  return schema;
}

function issues(result: { success: true } | { success: false; error: { issues: readonly z.core.$ZodIssue[] } }): string {
  return result.success ? "" : result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}

/**
 * Asserts `value` is valid for the documentation schema and for the component the document
 * publishes under `component`.
 */
export function expectDocumented(schema: z.core.$ZodType, component: string, value: unknown, label: string): void {
  // The worker's schemas are zod/mini ones (src/zod.ts): parsed with zod's function, not a classic method.
  const local = z.safeParse(schema, value);
  expect(local.success, `${label} vs documentation schema: ${issues(local)}\n${JSON.stringify(value)}`).toBe(true);
  const fromDocument = publishedSchema(component).safeParse(value);
  expect(fromDocument.success, `${label} vs published component ${component}: ${issues(fromDocument)}\n${JSON.stringify(value)}`).toBe(true);
}

/** The component a documented `$ref` names. */
export function refName(value: unknown): string {
  const target = (value as { $ref?: unknown } | undefined)?.$ref;
  if (typeof target !== "string" || !target.startsWith("#/components/schemas/")) throw new Error(`not a schema $ref: ${JSON.stringify(value)}`);
  return target.slice("#/components/schemas/".length);
}

/** Hono `/v1/models/:model{.+}` → OpenAPI `/v1/models/{model}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}");
}
