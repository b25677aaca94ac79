/**
 * Forced tool choice: what a real model does when the request forces a tool — it calls one, with
 * arguments that fit the tool's JSON schema. The compatibility adapters pass the client's
 * `tool_choice` and `tools` through as `inputs.tool_choice` / `inputs.tools = [{name, source,
 * description?, input_schema?}]` (native-api.md §1.4, §4.1, §4.3), so the emulated model reads them
 * there. This lets a client's local tool loop run with no `[[emu:…]]` directive.
 *
 * Forcing forms: OpenAI `"required"`, `{type:"function", name}` (Responses),
 * `{type:"function", function:{name}}` (Chat), `{type:"allowed_tools", mode:"required", tools}`,
 * legacy `function_call: {name}`; Anthropic `{type:"any"}`, `{type:"tool", name}`. `"auto"`,
 * `"none"`, `{type:"auto"|"none"}` and an absent choice force nothing: an agent that always sends
 * tools (Claude Code, Codex) would otherwise loop forever — unless the emulator runs with
 * `EMULATOR_AUTO_TOOL_CALLS` (`{auto: true}` here): then `"auto"`, `{type:"auto"}`, allowed_tools in
 * auto mode and an absent choice call the first offered tool too, so third-party conformance checks
 * that expect a tool call on `auto` (llmprobe, the Open Responses runner) can pass by hand.
 */
import * as z from "zod";
import type { ToolCall } from "./runs";

const NamedFunction = z.object({ name: z.string() });
const ToolDefinition = z.looseObject({
  name: z.string().optional(),
  function: z.looseObject({ name: z.string().optional(), parameters: z.unknown().optional() }).optional(),
  input_schema: z.unknown().optional(),
  parameters: z.unknown().optional(),
});
const ToolChoice = z.union([
  z.string(),
  z.looseObject({
    type: z.string().optional(),
    name: z.string().optional(),
    function: NamedFunction.optional(),
    mode: z.string().optional(),
    tools: z.array(z.looseObject({ name: z.string().optional(), function: NamedFunction.optional() })).optional(),
  }),
]);

/** The tool a forced choice selects: `first` for "required"/"any", else a name. */
type Forced = { kind: "first" } | { kind: "named"; name: string };

function forcedBy(choice: z.infer<typeof ToolChoice> | undefined, auto: boolean): Forced | null {
  if (choice === undefined) return auto ? { kind: "first" } : null;
  if (typeof choice === "string") return choice === "required" || choice === "any" || (auto && choice === "auto") ? { kind: "first" } : null;
  const type = choice.type;
  if (type === "none") return null;
  if (type === "auto") return auto ? { kind: "first" } : null;
  if (type === "any") return { kind: "first" };
  if (type === "allowed_tools") {
    if (choice.mode !== "required" && !(auto && choice.mode === "auto")) return null;
    const allowed = choice.tools?.[0];
    const name = allowed?.name ?? allowed?.function?.name;
    return name !== undefined ? { kind: "named", name } : { kind: "first" };
  }
  const name = choice.name ?? choice.function?.name;
  // `{type:"tool"|"function", name}`, `{type:"function", function:{name}}`, legacy `{name}`.
  if ((type === undefined || type === "tool" || type === "function") && name !== undefined) return { kind: "named", name };
  return null;
}

/**
 * The tool call a forced `tool_choice` makes on the run's first leg, or null when nothing is forced
 * (or nothing can be called: no tools for "required").
 */
export function forcedToolCalls(inputs: Record<string, unknown>, options: { auto?: boolean } = {}): ToolCall[] | null {
  const auto = options.auto === true;
  const choice = inputs.tool_choice === undefined || inputs.tool_choice === null ? undefined : ToolChoice.safeParse(inputs.tool_choice);
  if (choice && !choice.success) return null;
  const forced = forcedBy(choice?.data, auto);
  if (!forced) return null;
  const tools = z.array(z.unknown()).safeParse(inputs.tools);
  const definitions = (tools.success ? tools.data : []).flatMap((item) => {
    const parsed = ToolDefinition.safeParse(item);
    if (!parsed.success) return [];
    const name = parsed.data.name ?? parsed.data.function?.name;
    if (name === undefined) return [];
    return [{ name, schema: parsed.data.input_schema ?? parsed.data.parameters ?? parsed.data.function?.parameters }];
  });
  const tool = forced.kind === "first" ? definitions[0] : (definitions.find((d) => d.name === forced.name) ?? { name: forced.name, schema: undefined });
  if (!tool) return null;
  const args = exampleFromSchema(tool.schema, tool.schema, 0);
  return [{ id: "call_1", name: tool.name, arguments: isRecord(args) ? args : {} }];
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Placeholder strings for common formats (a model fills them plausibly, so do we). */
const FORMAT_EXAMPLES: Record<string, string> = {
  email: "user@example.com",
  uri: "https://example.com",
  url: "https://example.com",
  "date-time": "2026-01-01T00:00:00Z",
  date: "2026-01-01",
  time: "00:00:00",
  uuid: "00000000-0000-4000-8000-000000000000",
  hostname: "example.com",
  ipv4: "192.0.2.1",
};

const MAX_DEPTH = 8;

/**
 * A value that satisfies the schema's structure: required properties filled with type-appropriate
 * placeholders, `enum`/`const` → their (first) value, `default` used when given, numbers at their
 * minimum, arrays with `minItems` (at least one) items, local `$ref`s resolved, `anyOf`/`oneOf` →
 * the first alternative, `allOf` merged. Optional properties are left out.
 */
export function exampleFromSchema(schema: unknown, root: unknown, depth: number): unknown {
  if (!isRecord(schema) || depth > MAX_DEPTH) return depth === 0 ? {} : null;
  if (typeof schema.$ref === "string") return exampleFromSchema(resolveRef(schema.$ref, root), root, depth + 1);
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ("default" in schema) return schema.default;
  for (const key of ["anyOf", "oneOf"] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      const first = options.find((o) => !(isRecord(o) && o.type === "null")) ?? options[0];
      return exampleFromSchema(first, root, depth + 1);
    }
  }
  if (Array.isArray(schema.allOf)) {
    const merged: Record<string, unknown> = {};
    for (const part of schema.allOf) {
      const value = exampleFromSchema(part, root, depth + 1);
      if (isRecord(value)) Object.assign(merged, value);
    }
    return merged;
  }
  const declared = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  const type = typeof declared === "string" ? declared : isRecord(schema.properties) ? "object" : schema.items !== undefined ? "array" : undefined;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      const properties = isRecord(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === "string") : [];
      for (const name of required) out[name] = exampleFromSchema(properties[name] ?? {}, root, depth + 1) ?? "example";
      return out;
    }
    case "array": {
      const count = Math.max(1, typeof schema.minItems === "number" ? schema.minItems : 1);
      const items = Array.isArray(schema.items) ? schema.items : null;
      return Array.from({ length: count }, (_, i) => exampleFromSchema(items ? (items[i] ?? items[items.length - 1]) : schema.items, root, depth + 1));
    }
    case "string": {
      const format = typeof schema.format === "string" ? FORMAT_EXAMPLES[schema.format] : undefined;
      let text = format ?? "example";
      if (typeof schema.minLength === "number" && text.length < schema.minLength) text = text.padEnd(schema.minLength, "x");
      if (typeof schema.maxLength === "number" && text.length > schema.maxLength) text = text.slice(0, schema.maxLength);
      return text;
    }
    case "integer":
    case "number": {
      const min = typeof schema.minimum === "number" ? schema.minimum : typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum + 1 : 0;
      const max = typeof schema.maximum === "number" ? schema.maximum : undefined;
      const value = max !== undefined && min > max ? max : min;
      return type === "integer" ? Math.ceil(value) : value;
    }
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      // An untyped schema accepts anything; a string is what a model would most likely send.
      return depth === 0 ? {} : "example";
  }
}

/** Local JSON pointers only (`#/$defs/x`, `#/definitions/x`). */
function resolveRef(ref: string, root: unknown): unknown {
  if (!ref.startsWith("#")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split("/").filter((p) => p !== "")) {
    const part = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (!isRecord(node)) return undefined;
    node = node[part];
  }
  return node;
}
