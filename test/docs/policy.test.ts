/**
 * Parameter policy tables (ARCHITECTURE.md, "Parameter policy is data"):
 * - the table rendered into each operation's description is the table in code, row for row;
 * - every policy key is a top-level property of the request schema the route validates with, and
 *   every top-level property of that schema has a policy row.
 * A failure of the second kind is a disagreement between a protocol's table and its schema (the
 * protocol owns both): the message names the fields.
 */
import { describe, expect, it } from "vitest";
import type { ParameterPolicy } from "../../src/http/policy";
import { COUNT_TOKENS_FIELDS, MESSAGES_POLICY } from "../../src/protocols/anthropic/policy";
import { CountTokensRequest, MessagesRequest } from "../../src/protocols/anthropic/schema";
import { CHAT_PARAMETER_POLICY, ChatCompletionRequest } from "../../src/protocols/openai-chat/schema";
import { CompactRequest } from "../../src/protocols/openai-responses/compaction";
import { RESPONSES_COMPACT_POLICY, RESPONSES_POLICY } from "../../src/protocols/openai-responses/policy";
import { CreateResponseRequest } from "../../src/protocols/openai-responses/schema";
import { openApiDocument, operations } from "../../src/docs/openapi";
import { refName } from "./helpers";

interface Operation {
  operationId: string;
  description: string;
  requestBody?: { content: Record<string, { schema: unknown }> };
}

function operationsById(): Map<string, Operation> {
  const out = new Map<string, Operation>();
  for (const item of Object.values(openApiDocument().paths as Record<string, Record<string, Operation>>)) {
    for (const operation of Object.values(item)) out.set(operation.operationId, operation);
  }
  return out;
}

/** The policy table of a description, parsed back: field → "kind: text". */
function renderedPolicy(description: string): Record<string, string> {
  const rows = description.split("\n").filter((line) => /^\| `/.test(line));
  const out: Record<string, string> = {};
  for (const row of rows) {
    const cells = row
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim().replace(/\\\|/g, "|"));
    const [field = "", kind = "", text = ""] = cells;
    out[field.replace(/^`|`$/g, "")] = `${kind}: ${text}`;
  }
  return out;
}

function codePolicy(policy: ParameterPolicy): Record<string, string> {
  return Object.fromEntries(Object.entries(policy).map(([field, rule]) => [field, `${rule.kind}: ${rule.kind === "mapped" ? rule.to : rule.why}`]));
}

const PROTOCOLS = [
  { name: "Chat Completions", operationIds: ["createChatCompletion", "createChatCompletionUnversioned", "createChatCompletionOpenAIPrefix"], policy: CHAT_PARAMETER_POLICY, schema: ChatCompletionRequest },
  { name: "Responses", operationIds: ["createResponse"], policy: RESPONSES_POLICY, schema: CreateResponseRequest },
  { name: "Responses compaction", operationIds: ["compactResponse"], policy: RESPONSES_COMPACT_POLICY, schema: CompactRequest },
  { name: "Anthropic Messages", operationIds: ["createMessage"], policy: MESSAGES_POLICY, schema: MessagesRequest },
] as const;

describe("parameter policy tables", () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol.name}: the table in the document is the table in code`, () => {
      const operations = operationsById();
      for (const id of protocol.operationIds) {
        const operation = operations.get(id);
        expect(operation, id).toBeDefined();
        expect(renderedPolicy(operation?.description ?? ""), id).toEqual(codePolicy(protocol.policy));
        // Row order is the code's order (the table reads like the code).
        expect(Object.keys(renderedPolicy(operation?.description ?? ""))).toEqual(Object.keys(protocol.policy));
      }
    });

    it(`${protocol.name}: policy keys and top-level request schema properties are the same set`, () => {
      const schemaKeys = Object.keys(protocol.schema.shape);
      const policyKeys = Object.keys(protocol.policy);
      const withoutSchemaProperty = policyKeys.filter((key) => !schemaKeys.includes(key));
      const withoutPolicyRow = schemaKeys.filter((key) => !policyKeys.includes(key));
      expect({ withoutSchemaProperty, withoutPolicyRow }, `${protocol.name}: policy table and request schema disagree`).toEqual({
        withoutSchemaProperty: [],
        withoutPolicyRow: [],
      });
    });

    it(`${protocol.name}: the documented request body has the schema's properties`, () => {
      const operation = operationsById().get(protocol.operationIds[0]);
      const component = refName(operation?.requestBody?.content["application/json"]?.schema);
      const schemas = (openApiDocument().components as { schemas: Record<string, { properties: Record<string, unknown> }> }).schemas;
      expect(Object.keys(schemas[component]?.properties ?? {})).toEqual(Object.keys(protocol.schema.shape));
    });
  }

  it("count_tokens: the fields the estimate reads are the request schema's properties (no policy table: nothing is applied)", () => {
    expect([...COUNT_TOKENS_FIELDS].sort()).toEqual(Object.keys(CountTokensRequest.shape).sort());
    expect(operations().find((operation) => operation.operationId === "countMessageTokens")?.policy).toBeUndefined();
  });

  it("only operations with a request body carry a policy table, and every create operation does", () => {
    for (const operation of operations()) {
      if (operation.policy) expect(operation.body, operation.operationId).toBeDefined();
    }
    expect(operations().filter((operation) => operation.policy).map((operation) => operation.operationId).sort()).toEqual(
      ["createChatCompletion", "createMessage", "createResponse", "compactResponse"].sort(),
    );
  });
});
