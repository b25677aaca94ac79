/**
 * The /docs examples (src/docs/examples.ts) cannot drift from the gateway: every operation has one;
 * each curl names its operation's method and path; each JSON answer is valid for the operation's
 * documented schema (the zod documentation schema and the published component); each streamed
 * example uses only the operation's documented events; and each SDK snippet calls a method the
 * installed SDK really has.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { examples } from "../../src/docs/examples";
import { openApiDocument, operations } from "../../src/docs/openapi";
import { expectDocumented, refName } from "./helpers";

type Operation = { operationId: string; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };

function documented(operationId: string): Operation {
  for (const item of Object.values(openApiDocument().paths as Record<string, Record<string, Operation>>)) {
    for (const operation of Object.values(item)) if (operation.operationId === operationId) return operation;
  }
  throw new Error(`${operationId} is not in the document`);
}

/** The URL path a curl command requests, with `$GATEWAY` / `$ID` / the model id put back as path templates. */
function curlPath(curl: string): string {
  const url = /\$GATEWAY(\/[^\s"?]*)/.exec(curl)?.[1] ?? "";
  return url.replace(/\$ID/g, "{id}").replace(/\/models\/1flowbase$/, "/models/{model}");
}

function curlMethod(curl: string): string {
  const explicit = /-X (\w+)/.exec(curl)?.[1];
  if (explicit) return explicit.toLowerCase();
  return / -d '/.test(curl) ? "post" : "get";
}

describe("/docs examples", () => {
  it("every documented operation has exactly one example, and no example is for nothing", () => {
    expect(Object.keys(examples()).sort()).toEqual(operations().map((spec) => spec.operationId).sort());
  });

  for (const spec of operations()) {
    const example = examples()[spec.operationId];
    if (!example) continue;

    it(`${spec.operationId}: curl sends ${spec.method.toUpperCase()} ${spec.paths[0]}`, () => {
      expect(curlMethod(example.curl)).toBe(spec.method);
      expect(curlPath(example.curl)).toBe(spec.paths[0]);
      if (spec.family) expect(example.curl).toMatch(/Authorization: Bearer \$KEY|x-api-key: \$KEY/);
      if (spec.body) expect(example.curl).toContain("Content-Type: application/json");
      // The JSON of -d is valid JSON (it spans lines inside the single quotes).
      const data = /-d '([^']*)'/.exec(example.curl)?.[1];
      if (spec.body) expect(() => JSON.parse(data ?? ""), example.curl).not.toThrow();
      if (example.stream) {
        expect(curlPath(example.stream.curl)).toBe(spec.paths[0]);
        expect(JSON.parse(/-d '([^']*)'/.exec(example.stream.curl)?.[1] ?? "{}")).toMatchObject({ stream: true });
      }
    });

    if (spec.json) {
      const schema = spec.json;
      it(`${spec.operationId}: the example answer is valid for the documented schema`, () => {
        expect(example.response.status).toBe(200);
        expect(example.response.contentType).toBe("application/json");
        const component = refName(documented(spec.operationId).responses["200"]?.content?.["application/json"]?.schema);
        expectDocumented(schema, component, example.response.body, `${spec.operationId} example`);
      });
    }

    if (example.stream) {
      const stream = spec.stream;
      it(`${spec.operationId}: the streamed example uses only documented events, one data line each`, () => {
        expect(stream).toBeDefined();
        const frames = example.stream?.body.split("\n\n").filter(Boolean) ?? [];
        expect(frames.length).toBeGreaterThan(2);
        for (const frame of frames) {
          const lines = frame.split("\n");
          const data = lines.filter((line) => line.startsWith("data: "));
          expect(data, frame).toHaveLength(1);
          if (stream?.framing === "named" && frame === "data: [DONE]") {
            // The data-only sentinel after the terminal event (Responses): documented as `done`, last.
            expect(Object.keys(stream.events)).toContain("done");
            expect(frames.at(-1)).toBe(frame);
          } else if (stream?.framing === "named") {
            const event = lines.find((line) => line.startsWith("event: "))?.slice(7) ?? "";
            expect(Object.keys(stream.events), frame).toContain(event);
            expect(data[0], frame).toContain(`"type":"${event}"`);
          } else {
            expect(lines.some((line) => line.startsWith("event: ")), frame).toBe(false);
          }
        }
      });
    }

    if (example.sdk) {
      const sdk = example.sdk;
      it(`${spec.operationId}: the ${sdk.label} snippet calls a method the SDK has`, () => {
        const clients = {
          client: new OpenAI({ apiKey: "sk-docs", baseURL: "http://gw/v1" }),
          anthropic: new Anthropic({ apiKey: "sk-docs", baseURL: "http://gw" }),
        };
        const calls = [...sdk.code.matchAll(/\b(client|anthropic)((?:\.[A-Za-z]+)+)\(/g)];
        expect(calls.length, sdk.code).toBeGreaterThan(0);
        for (const [, root, chain] of calls) {
          let target: unknown = clients[root as keyof typeof clients];
          for (const name of (chain ?? "").slice(1).split(".")) target = (target as Record<string, unknown> | undefined)?.[name];
          expect(typeof target, `${root}${chain}`).toBe("function");
        }
      });
    }
  }
});
