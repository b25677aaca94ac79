/**
 * A burst of native deltas (a fast model, or native catching up: the emulator writes a short answer
 * in one chunk) through each protocol's own SDK stream helper: the deltas that arrived together are
 * joined (`TextCoalescer`, src/native/answer.ts), so the client gets far fewer deltas than native
 * sent, and the text it accumulates is exactly native's. Token-paced deltas stay one per native delta
 * (test/clients/ai-sdk.test.ts, streamText).
 */
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { anthropic } from "../anthropic/helpers";
import { MODEL, openai as chatClient } from "../chat/helpers";
import { openai as responsesClient } from "../responses/helpers";

const TOKENS = [" The", " quick", " \"brown\"", " fox", " über", " 世界", " 🙂", "\n"];
const REPEAT = 50;
/** 400 native message deltas, sent back to back. */
const BURST = emu({ text: TOKENS, repeat: REPEAT }, "a fast answer");
const NATIVE_DELTAS = TOKENS.length * REPEAT;
const TEXT = TOKENS.join("").repeat(REPEAT);

/** However native's bytes were split across reads, far fewer client deltas than native deltas. */
function expectJoined(deltas: readonly string[]): void {
  expect(deltas.join("")).toBe(TEXT);
  expect(deltas.length).toBeGreaterThan(0);
  expect(deltas.length).toBeLessThan(NATIVE_DELTAS / 4);
}

describe("a burst of native deltas reaches each SDK as a few joined deltas, the text exact", () => {
  it("chat: openai chat.completions.stream()", async () => {
    const stream = chatClient().chat.completions.stream({ model: MODEL, messages: [{ role: "user", content: BURST }] });
    const deltas: string[] = [];
    stream.on("content.delta", ({ delta }) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe(TEXT);
    expectJoined(deltas);
  });

  it("responses: openai responses.stream()", async () => {
    const stream = responsesClient().responses.stream({ model: MODEL, input: BURST });
    const deltas: string[] = [];
    stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(TEXT);
    expectJoined(deltas);
  });

  it("anthropic: messages.stream()", async () => {
    const stream = anthropic().messages.stream({ model: MODEL, max_tokens: 4096, messages: [{ role: "user", content: BURST }] });
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    expect(await stream.finalText()).toBe(TEXT);
    expectJoined(deltas);
  });
});
