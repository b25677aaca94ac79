/**
 * Unit tests of the Responses encoder and its SSE projector: the claim hook on the first event,
 * exactly-one-terminal on every path, usage fallbacks, resumed and known-run ids, the text splicing
 * of terminal frames (`<think>` splitting and time parsing are the answer reader's, tested in
 * test/native and through the fixture table).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NativeError } from "../../src/native/errors";
import type { NativeStreamItem } from "../../src/native/events";
import type { NativeEventData, NativeRun } from "../../src/native/schema";
import { parseNativeTime } from "../../src/native/time";
import { ResponsesStreamProjector, TextBuffer, type ResponsesProjectionContext } from "../../src/protocols/openai-responses/stream";
import { echoFromRequest } from "../../src/protocols/openai-responses/to-native";
import { checkEventOrder, parseSse } from "./helpers";

const RUN = "0197a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b";
const TASK = "0197a3c4-aaaa-7bbb-8ccc-ddddeeeeffff";
const echo = echoFromRequest({ model: "m", input: "x" });

const started: NativeStreamItem = { event: "run.started", id: null, data: { run_id: RUN, status: "running", created_at: "2026-06-26T14:52:53Z" } as NativeEventData };
const message = (delta: string): NativeStreamItem => ({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const reasoning = (delta: string): NativeStreamItem => ({ event: "reasoning.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const completed = (extra: Partial<NativeEventData> = {}): NativeStreamItem => ({ event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded", ...extra } as NativeEventData });

async function run(items: NativeStreamItem[], context: Partial<ResponsesProjectionContext> = {}): Promise<{ text: string; projector: ResponsesStreamProjector }> {
  const projector = new ResponsesStreamProjector({ echo, ...context });
  let text = "";
  for (const item of items) {
    await projector.push(item);
    text += projector.take();
  }
  return { text, projector };
}

/** A `lookupRun` answering a record with `usage` (and `status`). */
const record = (usage: unknown, status = "succeeded") => async (runId: string): Promise<NativeRun> => ({ id: runId, status, usage });

describe("ResponsesStreamProjector", () => {
  it("names the run and response id once, synchronously, before the first frame is taken", async () => {
    const order: string[] = [];
    const projector = new ResponsesStreamProjector({
      echo,
      onStart: ({ runId, responseId }) => {
        order.push(`claim ${runId} ${responseId}`);
      },
    });
    expect(projector.push(started)).toBeUndefined();
    order.push(`frames ${projector.take().split("\n\n").filter(Boolean).length}`);
    await projector.push(message("a"));
    expect(order).toEqual([`claim ${RUN} resp_${RUN.replaceAll("-", "")}`, "frames 2"]);
  });

  it("claims on the first event even when native starts with a terminal one (no run.started)", async () => {
    const claims: string[] = [];
    const { text } = await run([{ event: "run.failed", id: null, data: { run_id: RUN, status: "failed", error: { code: "runtime_error", message: "x" } } as NativeEventData }], {
      onStart: ({ responseId }) => {
        claims.push(responseId);
      },
    });
    expect(claims).toHaveLength(1);
    checkEventOrder(parseSse(text));
  });

  it("a run id that is not a UUID is a protocol error (502) with no response announced", async () => {
    const { text, projector } = await run([{ ...started, data: { ...started.data, run_id: "not-a-uuid" } } as NativeStreamItem]);
    expect(parseSse(text).map((event) => event.data.type)).toEqual(["error"]);
    expect(text).not.toContain("not-a-uuid");
    expect(projector.encoder.failure).toMatchObject({ status: 502, code: "upstream_invalid_response" });
  });

  it("a resume's failure before any native event is still a Response of the known run", async () => {
    const { text, projector } = await run([{ event: "fault", error: NativeError.cut() }], { knownRunId: RUN, resumedTaskId: TASK });
    expect(checkEventOrder(parseSse(text))).toMatchObject({ status: "failed", id: `resp_${RUN.replaceAll("-", "")}${TASK.replaceAll("-", "")}` });
    expect(projector.encoder.failure?.status).toBe(502);
  });

  it("nothing after the terminal event, whatever arrives", async () => {
    const { text, projector } = await run([started, message("a"), completed(), message("late"), { event: "fault", error: NativeError.cut() }, completed()]);
    expect(projector.done).toBe(true);
    const events = parseSse(text);
    checkEventOrder(events);
    expect(text).not.toContain("late");
  });

  it("a fault as the very first item gives one error frame and no response (routes answer HTTP errors instead)", async () => {
    const { text, projector } = await run([{ event: "fault", error: NativeError.cut() }]);
    expect(projector.done).toBe(true);
    expect(parseSse(text).map((event) => event.data.type)).toEqual(["error"]);
    // Even without a response, the stream ends with the Open Responses sentinel, once.
    expect(text.endsWith("\n\ndata: [DONE]\n\n")).toBe(true);
    expect(text.split("[DONE]")).toHaveLength(2);
    expect(projector.encoder.failure?.status).toBe(502);
  });

  it("takes usage from the run record when the terminal event has none; a failed lookup still completes", async () => {
    const lookedUp = await run([started, message("a"), completed()], { lookupRun: record({ prompt_tokens: 7, completion_tokens: 2 }) });
    expect(lookedUp.projector.encoder.snapshot().usage).toMatchObject({ input_tokens: 7, output_tokens: 2, total_tokens: 9 });

    const onEvent = await run([started, message("a"), completed({ usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })], {
      lookupRun: async () => {
        throw new Error("must not be called when the event has usage");
      },
    });
    expect(onEvent.projector.encoder.snapshot().usage?.total_tokens).toBe(2);

    const failedLookup = await run([started, message("a"), completed()], { lookupRun: () => Promise.reject(new Error("native down")) });
    expect(failedLookup.projector.encoder.snapshot()).toMatchObject({ status: "completed", usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } });
    checkEventOrder(parseSse(failedLookup.text));
  });

  it("never looks usage up for a transport fault (native may be unreachable)", async () => {
    let calls = 0;
    const { text } = await run([started, reasoning("r"), { event: "fault", error: NativeError.cut() }], {
      lookupRun: async (runId) => {
        calls++;
        return record(null)(runId);
      },
    });
    expect(calls).toBe(0);
    expect(checkEventOrder(parseSse(text))).toMatchObject({ status: "failed", error: { code: "upstream_stream_cut" } });
  });

  it("projects the terminal answer when native streamed no delta at all", async () => {
    const { projector } = await run([started, completed({ answer: "<think>why</think>because" })]);
    expect(projector.encoder.snapshot().output.map((item) => item.type)).toEqual(["reasoning", "message"]);
  });

  it("a resumed answer's response id carries the callback task", async () => {
    const { projector } = await run([started, completed({ answer: "x" })], { resumedTaskId: TASK });
    expect(projector.encoder.responseId).toBe(`resp_${RUN.replaceAll("-", "")}${TASK.replaceAll("-", "")}`);
  });

  it("a waiting run whose action is not a tool call is a failure, not a silent completion", async () => {
    const { text, projector } = await run([
      started,
      {
        event: "required_action",
        id: null,
        data: { run_id: RUN, status: "waiting", required_action: { action_type: "callback", payload: { callback_task_id: TASK } } } as NativeEventData,
      },
    ]);
    expect(checkEventOrder(parseSse(text))).toMatchObject({ status: "failed", error: { code: "required_action_not_supported" } });
    expect(projector.encoder.failure?.status).toBe(409);
  });

  it("snapshot() of a running run shows the open item in progress and no usage", async () => {
    const { projector } = await run([started, message("partial")]);
    expect(projector.encoder.snapshot()).toMatchObject({
      status: "in_progress",
      usage: null,
      output: [{ type: "message", status: "in_progress", content: [{ text: "partial" }] }],
    });
  });
});

describe("terminal frames splice each item's text, serialised once", () => {
  // The marker stream.ts serialises in place of a text; model output may contain it verbatim.
  const MARKER = "__1flowbase_item_text__";
  const piece = fc.constantFrom("a", "b c", '"', "\\", "\n", "é", "🌍", "\ud800", "<think>", "</think>", "<thi", MARKER, `"${MARKER}"`);

  /** Every frame's data is exactly what JSON.stringify writes for it (what the frames were before splicing). */
  function expectCanonical(text: string): void {
    for (const frame of text.split("\n\n").filter((frame) => frame !== "" && frame !== "data: [DONE]")) {
      const data = frame.split("\n").find((line) => line.startsWith("data: "))?.slice(6) ?? "";
      expect(JSON.stringify(JSON.parse(data))).toBe(data);
    }
  }

  it("writes every frame as JSON.stringify would, whatever the texts, arguments and echo hold", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.array(piece, { minLength: 1, maxLength: 4 })), { maxLength: 8 }),
        fc.constantFrom("completed", "incomplete", "failed", "tools"),
        fc.option(piece, { nil: undefined }),
        async (deltas, terminal, instructions) => {
          const items: NativeStreamItem[] = [started, ...deltas.map(([isMessage, parts]) => (isMessage ? message(parts.join("")) : reasoning(parts.join(""))))];
          if (terminal === "completed") items.push(completed({ usage: { input_tokens: 1, output_tokens: 2 } }));
          else if (terminal === "incomplete") items.push({ event: "run.incomplete", id: null, data: { run_id: RUN, status: "incomplete" } as NativeEventData });
          else if (terminal === "failed") items.push({ event: "run.failed", id: null, data: { run_id: RUN, status: "failed", error: { code: "x", message: MARKER } } as NativeEventData });
          else {
            items.push({
              event: "required_action",
              id: null,
              data: {
                run_id: RUN,
                status: "waiting",
                required_action: { action_type: "submit_tool_outputs", payload: { callback_task_id: TASK, tool_calls: [{ id: "c1", name: "f", arguments: MARKER }] } },
              } as NativeEventData,
            });
          }
          const { text, projector } = await run(items, { echo: { ...echo, instructions: instructions ?? null } });
          expectCanonical(text);
          const final = checkEventOrder(parseSse(text));
          expect(final).toEqual(projector.encoder.snapshot());
        },
      ),
    );
  });

  it("falls back to plain serialisation when a text is the marker itself", async () => {
    const { text, projector } = await run([started, reasoning(MARKER), message(MARKER), completed({ usage: { input_tokens: 1, output_tokens: 2 } })]);
    expectCanonical(text);
    expect(projector.encoder.snapshot().output).toMatchObject([{ summary: [{ text: MARKER }] }, { content: [{ text: MARKER }] }]);
  });

  it("keeps a long streamed answer whole", async () => {
    const deltas = Array.from({ length: 20_000 }, (_, i) => `tok${i} `);
    const { projector } = await run([started, ...deltas.map(message), completed({ usage: { input_tokens: 1, output_tokens: 2 } })]);
    expect(projector.encoder.snapshot().output).toMatchObject([{ content: [{ text: deltas.join("") }] }]);
  });
});

describe("TextBuffer gives back exactly the deltas it was given", () => {
  // Blocks with text above U+00FF are kept as UTF-8; these pieces cross many 8192-unit block
  // boundaries, and include what UTF-8 cannot carry (lone surrogates) or a decoder would strip (BOM).
  const piece = fc.constantFrom("a", "über 世界 ", "🌍", "\ud83c", "\udf0d", "\ufeff", "é", "x".repeat(5000), "世".repeat(3000), "ab🌍".repeat(1500));

  it("whatever the pieces, and when read in the middle of the stream", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.nat(40), (pieces, readAt) => {
        const buffer = new TextBuffer();
        pieces.forEach((text, i) => {
          if (i === readAt) expect(buffer.toString()).toBe(pieces.slice(0, i).join(""));
          buffer.push(text);
        });
        expect(buffer.toString()).toBe(pieces.join(""));
        expect(buffer.toString()).toBe(pieces.join(""));
      }),
    );
  });

  it("a surrogate pair split across a block boundary, and a block that starts with U+FEFF", () => {
    const buffer = new TextBuffer();
    const pieces = [`${"a".repeat(8191)}\ud83c`, `\udf0d${"über 世界".repeat(2000)}`, `\ufeff${"über 世界".repeat(2000)}`, "!"];
    for (const text of pieces) buffer.push(text);
    expect(buffer.toString()).toBe(pieces.join(""));
  });
});

describe("parseNativeTime", () => {
  it("reads native's two formats (RFC 3339 on SSE, `time` Display in JSON)", () => {
    expect(parseNativeTime("2026-06-26T14:52:53.101Z")).toBe(1782485573);
    expect(parseNativeTime("2026-06-26 14:52:53.123456 +00:00:00")).toBe(1782485573);
    expect(parseNativeTime("2026-06-26 6:52:53.1 -08:00:00")).toBe(1782485573);
    expect(parseNativeTime("garbage")).toBeNull();
    expect(parseNativeTime(undefined)).toBeNull();
  });
});
