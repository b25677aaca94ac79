/**
 * The client's output contract, honoured in all three protocols through the real SDKs (issue 14,
 * "parameter policy as a principle"): stop sequences and output-token limits are enforced at the
 * edge (native/answer.ts `OutputLimiter`) because the 1flowbase fork has no stop sequences and
 * refuses `execution.model_parameters.max_output_tokens` (fork `run_service/run_input.rs` 94-99) —
 * which the embedded emulator does too, so these tests also prove the refusal is detected and the
 * run still starts. A run the edge ended is cancelled at native.
 */
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { anthropic, runIdOf as messageRunId } from "../anthropic/helpers";
import { MODEL, openai as chatClient, runIdOf as completionRunId } from "../chat/helpers";
import { nativeCreateBodyOfRun, nativeRequests } from "../native-requests";
import { openai as responsesClient, runIdOf as responseRunId } from "../responses/helpers";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz";

/** The native cancel of `runId`, once the gateway sent it (it goes out in the background). */
async function expectCancelled(runId: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const requests = await nativeRequests(runId);
    if (requests.some((request) => request.method === "POST" && request.path.endsWith(`/runs/${runId}/cancel`))) return;
    if (Date.now() > deadline) throw new Error(`native never saw a cancel of ${runId}: ${requests.map((request) => `${request.method} ${request.path}`).join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Native never got an output limit: the fork refused it once, and the run started without it. */
async function expectNoNativeLimit(runId: string): Promise<void> {
  const body = await nativeCreateBodyOfRun(runId);
  expect(JSON.stringify(body["execution"] ?? {})).not.toContain("max_output_tokens");
}

describe("Chat Completions: stop and max_tokens", () => {
  it("streaming: the text ends before a stop sequence split across deltas, finish_reason stop", async () => {
    const content = emu({ text: ["Hello wor", "ld ST", "OP and more", " never"] }, "hi");
    const stream = await chatClient().chat.completions.create({ model: MODEL, stream: true, stop: ["STOP"], messages: [{ role: "user", content }] });
    let text = "";
    let finish: string | null = null;
    let id = "";
    for await (const chunk of stream) {
      id = chunk.id;
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ text, finish }).toEqual({ text: "Hello world ", finish: "stop" });
    await expectNoNativeLimit(completionRunId(id));
  });

  it("blocking equals streaming; a stop string (not a list) works; the run is cancelled", async () => {
    // A 20 s stall after the first delta: only the edge's cut (and cancel) can end this answer quickly.
    const content = emu({ text: ["one two THREE four", " five"], stall_ms: 20_000 }, "hi");
    const completion = await chatClient().chat.completions.create({ model: MODEL, stop: "THREE", messages: [{ role: "user", content }] });
    expect(completion.choices[0]?.message.content).toBe("one two ");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    await expectCancelled(completionRunId(completion.id));

    // The same run script streamed: what the client accumulates is the blocking answer.
    const stream = await chatClient().chat.completions.create({ model: MODEL, stream: true, stop: "THREE", messages: [{ role: "user", content }] });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ text, finish }).toEqual({ text: completion.choices[0]?.message.content, finish: completion.choices[0]?.finish_reason });
  });

  it("max_completion_tokens / max_tokens: cut at ceil(chars / 4) tokens, finish_reason length, usage counted at the edge", async () => {
    const content = emu({ text: [ALPHABET.slice(0, 10), ALPHABET.slice(10)] }, "hi");
    for (const limit of [{ max_completion_tokens: 3 }, { max_tokens: 3 }, { max_tokens: 9, max_completion_tokens: 3 }]) {
      const response = await chatClient().chat.completions.create({ model: MODEL, ...limit, messages: [{ role: "user", content }] }).withResponse();
      const completion = response.data;
      expect(completion.choices[0]?.message.content).toBe(ALPHABET.slice(0, 12));
      expect(completion.choices[0]?.finish_reason).toBe("length");
      expect(completion.usage?.completion_tokens).toBe(3);
      // Applied, so never reported as ignored.
      expect(response.response.headers.get("x-1flowbase-ignored-params")).toBeNull();
    }
  });

  it("an answer shorter than the limit is untouched; strict mode takes the applied parameters", async () => {
    const strict = chatClient({ headers: { "x-1flowbase-parameter-policy": "strict" } });
    const completion = await strict.chat.completions.create({ model: MODEL, max_tokens: 100, stop: ["ZZZ"], messages: [{ role: "user", content: emu({ text: ["short"] }, "hi") }] });
    expect(completion.choices[0]?.message.content).toBe("short");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
  });

  it("bad values are 400s naming the parameter", async () => {
    const client = chatClient();
    const messages = [{ role: "user" as const, content: "hi" }];
    for (const [param, body] of [
      ["max_tokens", { max_tokens: 0 }],
      ["max_completion_tokens", { max_completion_tokens: 1.5 }],
      ["stop", { stop: ["a", "b", "c", "d", "e"] }],
      ["stop", { stop: 42 }],
    ] as const) {
      const error = await client.chat.completions.create({ model: MODEL, messages, ...(body as object) }).catch((caught: unknown) => caught);
      expect(error, param).toMatchObject({ status: 400, param: expect.stringContaining(param) });
    }
  });
});

describe("Responses: max_output_tokens", () => {
  it("stream and blocking: status incomplete, incomplete_details max_output_tokens, the limit echoed", async () => {
    const input = emu({ text: [ALPHABET] }, "hi");
    const stream = responsesClient().responses.stream({ model: MODEL, input, max_output_tokens: 2 });
    const streamed = await stream.finalResponse();
    expect(streamed.status).toBe("incomplete");
    expect(streamed.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(streamed.output_text).toBe(ALPHABET.slice(0, 8));
    expect(streamed.max_output_tokens).toBe(2);
    expect(streamed.usage?.output_tokens).toBe(2);

    const blocking = await responsesClient().responses.create({ model: MODEL, input, max_output_tokens: 2 });
    expect({ status: blocking.status, text: blocking.output_text, details: blocking.incomplete_details }).toEqual({
      status: streamed.status,
      text: streamed.output_text,
      details: streamed.incomplete_details,
    });
    await expectNoNativeLimit(responseRunId(blocking.id));
  });
});

describe("Anthropic Messages: stop_sequences and max_tokens", () => {
  it("stream helper and blocking: stop_reason stop_sequence with the sequence", async () => {
    const content = emu({ text: ["The answer is 42.\n\nHum", "an: more", " never"] }, "hi");
    const request = { model: "claude-test", max_tokens: 1024, stop_sequences: ["\n\nHuman:"], messages: [{ role: "user" as const, content }] };
    const streamed = await anthropic().messages.stream(request).finalMessage();
    expect(streamed.content).toEqual([{ type: "text", text: "The answer is 42." }]);
    expect(streamed.stop_reason).toBe("stop_sequence");
    expect(streamed.stop_sequence).toBe("\n\nHuman:");

    const blocking = await anthropic().messages.create(request);
    expect({ content: blocking.content, stop_reason: blocking.stop_reason, stop_sequence: blocking.stop_sequence }).toEqual({
      content: streamed.content,
      stop_reason: streamed.stop_reason,
      stop_sequence: streamed.stop_sequence,
    });
  });

  it("max_tokens: stop_reason max_tokens, output_tokens the edge's count", async () => {
    const message = await anthropic().messages.create({ model: "claude-test", max_tokens: 2, messages: [{ role: "user", content: emu({ text: [ALPHABET] }, "hi") }] });
    expect(message.content).toEqual([{ type: "text", text: ALPHABET.slice(0, 8) }]);
    expect(message.stop_reason).toBe("max_tokens");
    expect(message.stop_sequence).toBeNull();
    expect(message.usage.output_tokens).toBe(2);
    await expectNoNativeLimit(messageRunId(message.id));
  });
});
