/**
 * Parameters that change the output's contract and can never be honoured by a 1flowbase run are a
 * 400 naming them, in every policy mode — never accepted and dropped (issue 14 item 2): token log
 * probabilities (native reports none) and structured-output formats (an application decides its own
 * output format). Their default values still pass, so clients that send defaults keep working.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { anthropic } from "../anthropic/helpers";
import { openai as chatClient, MODEL } from "../chat/helpers";
import { openai as responsesClient } from "../responses/helpers";

const JSON_SCHEMA = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false };

async function badRequest(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.BadRequestError>> {
  const error = await call().then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  return error as InstanceType<typeof OpenAI.BadRequestError>;
}

describe("Chat Completions", () => {
  const client = chatClient();
  const messages = [{ role: "user" as const, content: "hi" }];

  it.each([
    ["logprobs", { logprobs: true }],
    ["top_logprobs", { logprobs: true, top_logprobs: 3 }],
    ["response_format", { response_format: { type: "json_object" as const } }],
    ["response_format", { response_format: { type: "json_schema" as const, json_schema: { name: "a", schema: JSON_SCHEMA, strict: true } } }],
  ])("%s → 400 naming it (blocking and streaming)", async (param, extra) => {
    for (const stream of [false, true]) {
      const error = await badRequest(() => client.chat.completions.create({ model: MODEL, messages, stream, ...extra } as OpenAI.ChatCompletionCreateParams));
      expect(error.status).toBe(400);
      // top_logprobs only exists with logprobs: the first refused field is named.
      expect(error.param).toBe(param === "top_logprobs" ? "logprobs" : param);
      expect(error.message).toMatch(/not supported/);
    }
  });

  it("their defaults pass and are not reported as ignored (logprobs false, top_logprobs 0, response_format text)", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages, logprobs: false, top_logprobs: 0, response_format: { type: "text" } })
      .withResponse();
    expect(data.choices[0]?.message.content).toBeTruthy();
    expect(response.headers.get("x-1flowbase-ignored-params") ?? "").not.toMatch(/logprobs|response_format/);
  });
});

describe("Responses", () => {
  const client = responsesClient();

  it.each([
    ["text.format", { text: { format: { type: "json_schema" as const, name: "a", schema: JSON_SCHEMA, strict: true } } }],
    ["text.format", { text: { format: { type: "json_object" as const } } }],
    ["top_logprobs", { top_logprobs: 2 }],
    ["include", { include: ["message.output_text.logprobs" as const] }],
  ])("%s → 400 naming it", async (param, extra) => {
    const error = await badRequest(() => client.responses.create({ model: MODEL, input: "hi", ...extra } as OpenAI.Responses.ResponseCreateParamsNonStreaming));
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
  });

  it("text format text with a verbosity (Codex sends it) and top_logprobs 0 still run", async () => {
    const response = await client.responses.create({ model: MODEL, input: "hi", text: { format: { type: "text" }, verbosity: "medium" }, top_logprobs: 0 });
    expect(response.status).toBe("completed");
    expect(response.top_logprobs).toBe(0);
  });
});

describe("Anthropic Messages", () => {
  it("output_format (structured outputs) → 400 invalid_request_error naming it", async () => {
    const error = await anthropic()
      .messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "hi" }], output_format: { type: "json_schema", schema: JSON_SCHEMA } } as Anthropic.MessageCreateParamsNonStreaming)
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(JSON.stringify((error as InstanceType<typeof Anthropic.BadRequestError>).error)).toMatch(/output_format/);
  });
});
