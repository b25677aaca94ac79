/**
 * The one native answer reader (`src/native/answer.ts`): native stream items → `AnswerSink` calls.
 *
 * Unit tests of every fact the reader decides once for all protocols: `<think>` splitting across
 * any delta boundary (a property against a whole-text reference), call order and "nothing after the
 * terminal" (errata 9), usage resolution (event → last `usage.delta` → one run lookup), the failure
 * class of a live `run.failed` (only in the record, errata 1), tool call validation and the
 * human-approval fallback (errata 5), the terminal's `answer` (never a failed run's, errata 7),
 * `readAnswer` over streams and arrays, `recordText`, and joining a burst of deltas (`coalesceText`).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cutAt } from "../support/cuts";
import {
  CHARS_PER_TOKEN,
  NativeAnswerReader,
  ThinkTagSplitter,
  readAnswer,
  readToolCallTask,
  recordText,
} from "../../src/native/answer";
import type { AnswerReaderOptions, AnswerSink, RunFailure, RunFinished, RunStarted, TextChannel, ToolCallTask } from "../../src/native/answer";
import { MAX_CALLS_PER_TASK } from "../../src/native/callback-ids";
import { NativeError } from "../../src/native/errors";
import { readNativeStream } from "../../src/native/events";
import type { NativeStreamItem } from "../../src/native/events";
import type { NativeEventData, NativeRun } from "../../src/native/schema";

const RUN = "0197a3c4-0000-7000-8000-000000000001";
const TASK = "0197a3c4-0000-7000-8000-00000000000a";
const CREATED = "2026-06-26T14:52:53Z";
const CREATED_UNIX = Date.UTC(2026, 5, 26, 14, 52, 53) / 1000;

// ------------------------------------------------------------------------------------------------
// A sink that records every call, and native items to feed the reader
// ------------------------------------------------------------------------------------------------

type Call =
  | { kind: "start"; run: RunStarted }
  | { kind: "text"; channel: TextChannel; text: string }
  | { kind: "toolCalls"; task: ToolCallTask }
  | { kind: "finish"; end: RunFinished }
  | { kind: "fail"; failure: RunFailure };

class RecordingSink implements AnswerSink {
  readonly calls: Call[] = [];
  start(run: RunStarted): void {
    this.calls.push({ kind: "start", run });
  }
  text(channel: TextChannel, text: string): void {
    this.calls.push({ kind: "text", channel, text });
  }
  toolCalls(task: ToolCallTask): void {
    this.calls.push({ kind: "toolCalls", task });
  }
  finish(end: RunFinished): void {
    this.calls.push({ kind: "finish", end });
  }
  fail(failure: RunFailure): void {
    this.calls.push({ kind: "fail", failure });
  }

  kinds(): string[] {
    return this.calls.map((call) => call.kind);
  }
  /** All text of a channel, in order. */
  textOf(channel: TextChannel): string {
    return this.calls.map((call) => (call.kind === "text" && call.channel === channel ? call.text : "")).join("");
  }
  /** The one terminal call (finish or fail); fails the test if there is not exactly one, last. */
  terminal(): Extract<Call, { kind: "finish" | "fail" }> {
    const terminals = this.calls.filter((call): call is Extract<Call, { kind: "finish" | "fail" }> => call.kind === "finish" || call.kind === "fail");
    expect(terminals).toHaveLength(1);
    expect(this.calls.at(-1)).toBe(terminals[0]);
    const terminal = terminals[0];
    if (!terminal) throw new Error("no terminal call");
    return terminal;
  }
  finished(): RunFinished {
    const terminal = this.terminal();
    if (terminal.kind !== "finish") throw new Error(`expected finish, got fail: ${terminal.failure.error.code}`);
    return terminal.end;
  }
  failure(): RunFailure {
    const terminal = this.terminal();
    if (terminal.kind !== "fail") throw new Error("expected fail, got finish");
    return terminal.failure;
  }
}

/** Reads `items` with a fresh reader (through `readAnswer` over the array) and returns the sink. */
async function read(items: readonly NativeStreamItem[], options: AnswerReaderOptions = {}): Promise<RecordingSink> {
  const sink = new RecordingSink();
  await readAnswer(items, new NativeAnswerReader(sink, options));
  return sink;
}

/** A `lookupRun` that counts its calls and answers `run` (or rejects). */
function lookup(run: Partial<NativeRun> | Error): { lookupRun: (runId: string) => Promise<NativeRun>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    lookupRun: async (runId) => {
      calls.push(runId);
      if (run instanceof Error) throw run;
      return { id: runId, status: "succeeded", ...run };
    },
  };
}

const data = (extra: Partial<NativeEventData> = {}): NativeEventData => ({ run_id: RUN, status: "running", created_at: CREATED, ...extra });
const started = (runId = RUN): NativeStreamItem => ({ event: "run.started", id: null, data: data({ run_id: runId }) });
const message = (delta: string): NativeStreamItem => ({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const reasoning = (delta: string): NativeStreamItem => ({ event: "reasoning.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const usageDelta = (usage: unknown): NativeStreamItem => ({ event: "usage.delta", id: null, data: data({ usage }) });
const completed = (extra: Partial<NativeEventData> = {}): NativeStreamItem => ({ event: "run.completed", id: null, data: data({ status: "succeeded", ...extra }) });
const incomplete = (extra: Partial<NativeEventData> = {}): NativeStreamItem => ({ event: "run.incomplete", id: null, data: data({ status: "incomplete", ...extra }) });
const failed = (extra: Partial<NativeEventData> = {}): NativeStreamItem => ({
  event: "run.failed",
  id: null,
  data: data({ status: "failed", error: { code: "runtime_error", message: "published run failed" }, ...extra }),
});
const cancelled = (extra: Partial<NativeEventData> = {}): NativeStreamItem => ({ event: "run.cancelled", id: null, data: data({ status: "cancelled", ...extra }) });
const waiting = (requiredAction: unknown, extra: Partial<NativeEventData> = {}): NativeStreamItem => ({
  event: "required_action",
  id: null,
  data: data({ status: "waiting", required_action: requiredAction, ...extra }),
});
const toolTask = (toolCalls: unknown[] | null, payload: Record<string, unknown> = {}) => ({
  action_type: "submit_tool_outputs",
  payload: { callback_task_id: TASK, tool_calls: toolCalls, ...payload },
});
const USAGE = { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 };

function expectNativeError(error: NativeError, fields: { kind: string; status: number; code: string; retryable?: boolean | undefined; retryAfter?: string | undefined }): void {
  expect(error).toBeInstanceOf(NativeError);
  const actual: Record<string, unknown> = { kind: error.kind, status: error.status, code: error.code };
  if ("retryable" in fields) actual["retryable"] = error.retryable;
  if ("retryAfter" in fields) actual["retryAfter"] = error.retryAfter;
  expect(actual).toEqual(fields);
}

// ------------------------------------------------------------------------------------------------
// (a) <think> splitting: incremental over any split == whole-text reference
// ------------------------------------------------------------------------------------------------

/**
 * The reference: the whole text at once, by regex. Inside `<think>…</think>` is reasoning, an
 * unclosed `<think>` makes the rest reasoning, a stray `</think>` is text. Returns the pieces in
 * order (consecutive pieces of one channel merged, empty pieces dropped).
 */
function referenceSplit(text: string): Array<{ channel: TextChannel; text: string }> {
  const pieces: Array<{ channel: TextChannel; text: string }> = [];
  const add = (channel: TextChannel, piece: string): void => {
    if (piece === "") return;
    const last = pieces.at(-1);
    if (last?.channel === channel) last.text += piece;
    else pieces.push({ channel, text: piece });
  };
  let last = 0;
  for (const match of text.matchAll(/<think>([\s\S]*?)(?:<\/think>|$)/g)) {
    add("message", text.slice(last, match.index));
    add("reasoning", match[1] ?? "");
    last = match.index + match[0].length;
  }
  add("message", text.slice(last));
  return pieces;
}

/** The sink's text calls, consecutive calls of one channel merged. */
function mergedText(sink: RecordingSink): Array<{ channel: TextChannel; text: string }> {
  const pieces: Array<{ channel: TextChannel; text: string }> = [];
  for (const call of sink.calls) {
    if (call.kind !== "text") continue;
    const last = pieces.at(-1);
    if (last?.channel === call.channel) last.text += call.text;
    else pieces.push({ channel: call.channel, text: call.text });
  }
  return pieces;
}

/** Cuts `text` at the given offsets into deltas (empty deltas included, as native may send them). */
const cutInto = (text: string, cuts: readonly number[]): string[] => cutAt(text, cuts, (from, to) => text.slice(from, to), true);

/** Text rich in tags, partial tags and near-misses. */
const thinkText = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("<think>", "</think>") },
      { weight: 3, arbitrary: fc.constantFrom("<", ">", "/", "<t", "<th", "<thi", "<thin", "<think", "</", "</t", "</think", "think>", "k>", "<<", "<think >", "< think>", "<THINK>", "</think/>") },
      { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom("a", "b", " ", "\n", "t", "h", "i", "n", "k", "é", "😀"), maxLength: 6 }) },
    ),
    { maxLength: 16 },
  )
  .map((parts) => parts.join(""));

describe("ThinkTagSplitter (a): any split into deltas yields what the whole-text reference yields", () => {
  it("the reference itself reads tags as native does", () => {
    expect(referenceSplit("a<think>b</think>c")).toEqual([
      { channel: "message", text: "a" },
      { channel: "reasoning", text: "b" },
      { channel: "message", text: "c" },
    ]);
    expect(referenceSplit("a<think>b<think>c")).toEqual([
      { channel: "message", text: "a" },
      { channel: "reasoning", text: "b<think>c" },
    ]);
    expect(referenceSplit("a</think>b")).toEqual([{ channel: "message", text: "a</think>b" }]);
    expect(referenceSplit("<think></think>")).toEqual([]);
  });

  it("property: per channel, in order, never an empty text call", () => {
    fc.assert(
      fc.property(thinkText, fc.array(fc.nat(200), { maxLength: 12 }), (text, cuts) => {
        const sink = new RecordingSink();
        const splitter = new ThinkTagSplitter();
        for (const delta of cutInto(text, cuts)) splitter.push(delta, sink);
        splitter.flush(sink);
        const reference = referenceSplit(text);
        expect(mergedText(sink)).toEqual(reference);
        expect(sink.textOf("message")).toBe(reference.filter((piece) => piece.channel === "message").map((piece) => piece.text).join(""));
        expect(sink.textOf("reasoning")).toBe(reference.filter((piece) => piece.channel === "reasoning").map((piece) => piece.text).join(""));
        expect(sink.calls.every((call) => call.kind === "text" && call.text !== "")).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("property: the reader splits message deltas the same way, and reasoning deltas stay reasoning", async () => {
    await fc.assert(
      fc.asyncProperty(thinkText, fc.array(fc.nat(200), { maxLength: 8 }), fc.string({ maxLength: 8 }), async (text, cuts, thought) => {
        const items = [started(), ...(thought ? [reasoning(thought)] : []), ...cutInto(text, cuts).map(message), completed({ usage: USAGE })];
        const sink = await read(items);
        const reference = referenceSplit(text);
        const expected = thought ? [{ channel: "reasoning" as const, text: thought }, ...reference] : reference;
        // Merging also joins the leading thought with reasoning the text opens with.
        expect(mergedText(sink)).toEqual(
          expected.reduce<Array<{ channel: TextChannel; text: string }>>((out, piece) => {
            const last = out.at(-1);
            if (last?.channel === piece.channel) last.text += piece.text;
            else out.push({ ...piece });
            return out;
          }, []),
        );
        expect(sink.kinds()[0]).toBe("start");
        expect(sink.finished().status).toBe("completed");
      }),
      { numRuns: 150 },
    );
  });

  it("holds a partial tag back until the next delta decides it", () => {
    const sink = new RecordingSink();
    const splitter = new ThinkTagSplitter();
    splitter.push("Hi <thi", sink);
    expect(sink.calls).toEqual([{ kind: "text", channel: "message", text: "Hi " }]);
    splitter.push("nk>plan</th", sink);
    splitter.push("ink>done", sink);
    splitter.flush(sink);
    expect(mergedText(sink)).toEqual([
      { channel: "message", text: "Hi " },
      { channel: "reasoning", text: "plan" },
      { channel: "message", text: "done" },
    ]);
  });

  it("flushes held text that was not a tag after all, on the channel it was held on", () => {
    const sink = new RecordingSink();
    const splitter = new ThinkTagSplitter();
    splitter.push("<think>x</thi", sink);
    splitter.flush(sink);
    expect(mergedText(sink)).toEqual([{ channel: "reasoning", text: "x</thi" }]);
  });

  it("passes a delta without '<' through as the very same string", () => {
    const sink = new RecordingSink();
    const delta = "plain text, no tags";
    new ThinkTagSplitter().push(delta, sink);
    expect(sink.calls).toHaveLength(1);
    const call = sink.calls[0];
    expect(call?.kind === "text" && call.text).toBe(delta);
  });
});

// ------------------------------------------------------------------------------------------------
// (b) order, exactly one terminal, nothing after it, empty deltas
// ------------------------------------------------------------------------------------------------

describe("NativeAnswerReader (b): order and the one terminal", () => {
  it("start, then text, then finish; start carries the run id and its time", async () => {
    const sink = await read([started(), reasoning("plan"), message("Hel"), message("lo"), completed({ usage: USAGE })]);
    expect(sink.calls).toEqual([
      { kind: "start", run: { runId: RUN, createdAt: CREATED_UNIX } },
      { kind: "text", channel: "reasoning", text: "plan" },
      { kind: "text", channel: "message", text: "Hel" },
      { kind: "text", channel: "message", text: "lo" },
      { kind: "finish", end: { status: "completed", usage: expect.objectContaining({ inputTokens: 3, outputTokens: 5, totalTokens: 8 }) } },
    ]);
  });

  it("starts on the first event that is not a failure when run.started is missing", async () => {
    const viaDelta = await read([message("Hi"), completed({ usage: USAGE })]);
    expect(viaDelta.kinds()).toEqual(["start", "text", "finish"]);
    const viaWorkflow = await read([{ event: "workflow.event", id: null, data: data() }, completed({ usage: USAGE })]);
    expect(viaWorkflow.kinds()).toEqual(["start", "finish"]);
    const viaTerminal = await read([completed({ usage: USAGE, answer: "only" })]);
    expect(viaTerminal.kinds()).toEqual(["start", "text", "finish"]);
  });

  it("a run whose first event is a failure is never started: fail names the run", async () => {
    const sink = await read([failed({ error: { code: "invalid_prompt", message: "no" } })]);
    expect(sink.kinds()).toEqual(["fail"]);
    expect(sink.failure()).toMatchObject({ runId: RUN, createdAt: CREATED_UNIX });
    const fault = await read([{ event: "fault", error: NativeError.cut() }]);
    expect(fault.kinds()).toEqual(["fail"]);
    expect(fault.failure()).toMatchObject({ runId: null, createdAt: null });
  });

  it("nothing after run.cancelled: neither deltas nor a completion that arrives late (errata 9)", async () => {
    const sink = new RecordingSink();
    const live = new NativeAnswerReader(sink);
    for (const item of [started(), message("a"), cancelled(), message("late"), reasoning("late"), usageDelta(USAGE), completed({ answer: "late", usage: USAGE }), failed()]) {
      expect(live.push(item)).toBeUndefined();
    }
    expect(sink.kinds()).toEqual(["start", "text", "fail"]);
    expectNativeError(sink.failure().error, { kind: "run_cancelled", status: 409, code: "run_cancelled", retryable: false });
    expect(sink.textOf("message")).toBe("a");
    expect(live.done).toBe(true);
  });

  it("nothing after run.completed: a second completion and late deltas are ignored", async () => {
    const sink = await read([started(), message("a"), completed({ usage: USAGE }), message("late"), completed({ usage: { prompt_tokens: 99 } }), cancelled()]);
    expect(sink.kinds()).toEqual(["start", "text", "finish"]);
    expect(sink.finished().usage?.inputTokens).toBe(3);
  });

  it("also after a fault and after a failure", async () => {
    const sink = await read([started(), { event: "fault", error: NativeError.cut() }, message("late"), completed()]);
    expect(sink.kinds()).toEqual(["start", "fail"]);
    expectNativeError(sink.failure().error, { kind: "cut", status: 502, code: "upstream_stream_cut" });
  });

  it("skips empty deltas: text calls are never empty", async () => {
    const sink = await read([started(), message(""), reasoning(""), message("x"), reasoning(""), completed({ usage: USAGE })]);
    expect(sink.calls.filter((call) => call.kind === "text")).toEqual([{ kind: "text", channel: "message", text: "x" }]);
  });

  it("a cancelled run says why when native does (upstream 0.3), and keeps its usage", async () => {
    const sink = await read([started(), cancelled({ error: { code: "run_cancelled", message: "published run cancelled" }, usage: USAGE })]);
    const failure = sink.failure();
    expect(failure.error.message).toBe("published run cancelled");
    expect(failure.usage?.totalTokens).toBe(8);
  });

  it("run.incomplete finishes incomplete", async () => {
    const sink = await read([started(), message("partial"), incomplete({ usage: USAGE })]);
    expect(sink.finished().status).toBe("incomplete");
  });
});

// ------------------------------------------------------------------------------------------------
// (c) usage: event → last usage.delta → one run lookup
// ------------------------------------------------------------------------------------------------

describe("NativeAnswerReader (c): usage", () => {
  it("takes the terminal event's usage and does not look the run up", async () => {
    const record = lookup({ usage: { prompt_tokens: 100 } });
    const sink = await read([started(), usageDelta({ prompt_tokens: 1, completion_tokens: 1 }), message("x"), completed({ usage: USAGE })], record);
    expect(sink.finished().usage).toMatchObject({ inputTokens: 3, outputTokens: 5, totalTokens: 8 });
    expect(record.calls).toEqual([]);
  });

  it("else the last usage.delta (not the first), without a lookup", async () => {
    const record = lookup({ usage: { prompt_tokens: 100 } });
    const sink = await read(
      [started(), usageDelta({ prompt_tokens: 1, completion_tokens: 1 }), message("x"), usageDelta({ prompt_tokens: 2, completion_tokens: 4 }), usageDelta("not usage"), completed()],
      record,
    );
    expect(sink.finished().usage).toMatchObject({ inputTokens: 2, outputTokens: 4, totalTokens: 6 });
    expect(record.calls).toEqual([]);
  });

  it("else one lookupRun of this run, read leniently", async () => {
    const record = lookup({ usage: { input_tokens: "7", output_tokens: 2, cost: "0.1" } });
    const sink = await read([started(), message("x"), completed({ usage: { cost: "n/a" } })], record);
    expect(sink.finished().usage).toMatchObject({ inputTokens: 7, outputTokens: 2, totalTokens: 9 });
    expect(record.calls).toEqual([RUN]);
  });

  it("the lookup also serves a tool-call turn and a cancelled run", async () => {
    const forTools = lookup({ usage: USAGE });
    const tools = await read([started(), waiting(toolTask([{ id: "c1", name: "f", arguments: {} }]))], forTools);
    expect(tools.finished()).toMatchObject({ status: "tool_calls", usage: { totalTokens: 8 } });
    expect(forTools.calls).toEqual([RUN]);
    const forCancel = lookup({ status: "cancelled", usage: USAGE });
    const cancel = await read([started(), cancelled()], forCancel);
    expect(cancel.failure().usage?.totalTokens).toBe(8);
    expect(forCancel.calls).toEqual([RUN]);
  });

  it("usage null when nobody reported any (no lookupRun given)", async () => {
    const sink = await read([started(), message("x"), completed({ usage: null })]);
    expect(sink.finished().usage).toBeNull();
  });

  it("wantsUsage: false never looks up for usage", async () => {
    const record = lookup({ status: "cancelled", usage: USAGE });
    const options = { ...record, wantsUsage: false };
    expect((await read([started(), message("x"), completed()], options)).finished().usage).toBeNull();
    expect((await read([started(), incomplete()], options)).finished().usage).toBeNull();
    expect((await read([started(), waiting(toolTask([{ id: "c1", name: "f", arguments: {} }]))], options)).finished().usage).toBeNull();
    expect((await read([started(), cancelled()], options)).failure().usage).toBeNull();
    expect((await read([started(), failed({ error: { code: "invalid_prompt", message: "x" } })], options)).failure().usage).toBeNull();
    expect(record.calls).toEqual([]);
    // What the stream said is still passed on.
    expect((await read([started(), usageDelta(USAGE), completed()], options)).finished().usage?.totalTokens).toBe(8);
  });

  it("a rejected lookup still finishes, with usage null", async () => {
    const record = lookup(new NativeError({ kind: "timeout", status: 504, code: "upstream_timeout", message: "slow" }));
    const sink = await read([started(), message("x"), completed()], record);
    expect(sink.finished()).toEqual({ status: "completed", usage: null });
    expect(record.calls).toHaveLength(1);
  });

  it("push returns the pending lookup, and the terminal is not emitted before it settles", async () => {
    let answer: (run: NativeRun) => void = () => undefined;
    const sink = new RecordingSink();
    const reader = new NativeAnswerReader(sink, { lookupRun: () => new Promise<NativeRun>((resolve) => (answer = resolve)) });
    reader.push(started());
    const pending = reader.push(completed());
    expect(pending).toBeInstanceOf(Promise);
    expect(reader.done).toBe(true);
    expect(sink.kinds()).toEqual(["start"]);
    // Anything pushed meanwhile is ignored: the terminal is already decided.
    reader.push(message("late"));
    answer({ id: RUN, status: "succeeded", usage: USAGE });
    await pending;
    expect(sink.kinds()).toEqual(["start", "finish"]);
    expect(sink.finished().usage?.totalTokens).toBe(8);
  });
});

// ------------------------------------------------------------------------------------------------
// (d) the failure class of a failed run
// ------------------------------------------------------------------------------------------------

const liveFailure = (): NativeStreamItem => failed({ error: { code: "runtime_error", message: "published run failed" } });
const failedRecord = (details: unknown, extra: Partial<NativeRun> = {}): Partial<NativeRun> => ({
  status: "failed",
  error: { code: "runtime_error", message: "provider upstream request failed", details },
  usage: USAGE,
  ...extra,
});

describe("NativeAnswerReader (d): failure class (errata 1)", () => {
  it("a live run.failed (runtime_error, no details) → one lookup; the class comes from details.error_code", async () => {
    const record = lookup(failedRecord({ error_code: "rate_limited", retry_after: 12 }));
    const sink = await read([started(), message("partial"), liveFailure()], record);
    expect(record.calls).toEqual([RUN]);
    const failure = sink.failure();
    expectNativeError(failure.error, { kind: "run_failed", status: 429, code: "rate_limited", retryable: true, retryAfter: "12" });
    expect(failure.error.message).toBe("provider upstream request failed");
    expect(failure.runId).toBe(RUN);
  });

  it("one lookup serves both the class and the usage", async () => {
    const record = lookup(failedRecord({ error_code: "provider_upstream_error" }));
    const sink = await read([started(), liveFailure()], record);
    expect(record.calls).toHaveLength(1);
    const failure = sink.failure();
    expectNativeError(failure.error, { kind: "run_failed", status: 502, code: "provider_upstream_error", retryable: true });
    expect(failure.usage?.totalTokens).toBe(8);
  });

  it("the class is looked up even when the protocol shows no usage, and the event's usage is kept", async () => {
    const record = lookup(failedRecord({ error_code: "model_not_found" }, { usage: { prompt_tokens: 100 } }));
    const sink = await read([started(), liveFailure()], { ...record, wantsUsage: false });
    expect(record.calls).toHaveLength(1);
    expectNativeError(sink.failure().error, { kind: "run_failed", status: 404, code: "model_not_found", retryable: false });
    const withUsage = lookup(failedRecord({ error_code: "model_not_found" }, { usage: { prompt_tokens: 100 } }));
    const both = await read([started(), failed({ error: { code: "runtime_error", message: "x" }, usage: USAGE })], withUsage);
    expect(withUsage.calls).toHaveLength(1);
    expect(both.failure().usage?.inputTokens).toBe(3);
  });

  it("details.status_code wins over the class's own status", async () => {
    const record = lookup(failedRecord({ error_code: "rate_limited", status_code: 400 }));
    expectNativeError((await read([started(), liveFailure()], record)).failure().error, { kind: "run_failed", status: 400, code: "rate_limited", retryable: false });
    const provider5xx = lookup(failedRecord({ error_code: "invalid_prompt", status_code: 503 }));
    expectNativeError((await read([started(), liveFailure()], provider5xx)).failure().error, { kind: "run_failed", status: 503, code: "invalid_prompt", retryable: true });
    // A provider's 401 is the application's credentials, never the caller's key.
    const provider401 = lookup(failedRecord({ error_code: "auth_failed", status_code: 401 }));
    expectNativeError((await read([started(), liveFailure()], provider401)).failure().error, { kind: "run_failed", status: 502, code: "auth_failed", retryable: false });
  });

  it("auth_failed → 502, not retryable; model_not_found → 404", async () => {
    const auth = lookup(failedRecord({ error_code: "auth_failed" }));
    expectNativeError((await read([started(), liveFailure()], auth)).failure().error, { kind: "run_failed", status: 502, code: "auth_failed", retryable: false });
    const model = lookup(failedRecord({ error_code: "model_not_found" }));
    expectNativeError((await read([started(), liveFailure()], model)).failure().error, { kind: "run_failed", status: 404, code: "model_not_found", retryable: false });
  });

  it("a record that is not failed keeps the event's generic class", async () => {
    for (const status of ["running", "succeeded", "cancelled"]) {
      const record = lookup({ status, error: { code: "runtime_error", message: "m", details: { error_code: "rate_limited" } } });
      const failure = (await read([started(), liveFailure()], record)).failure();
      expectNativeError(failure.error, { kind: "run_failed", status: 500, code: "runtime_error", retryable: false });
      expect(record.calls).toHaveLength(1);
    }
  });

  it("a failed lookup keeps the generic class and still fails once", async () => {
    const record = lookup(new Error("GET failed"));
    const sink = await read([started(), liveFailure()], record);
    expectNativeError(sink.failure().error, { kind: "run_failed", status: 500, code: "runtime_error", retryable: false });
    expect(sink.failure().usage).toBeNull();
  });

  it("without lookupRun a live failure keeps the generic class", async () => {
    expectNativeError((await read([started(), liveFailure()])).failure().error, { kind: "run_failed", status: 500, code: "runtime_error", retryable: false });
  });

  it("an event that already names its class (0.3's durable error) is not overridden by the record", async () => {
    const record = lookup(failedRecord({ error_code: "rate_limited" }));
    const named = await read([started(), failed({ error: { code: "model_not_found", message: "no such model" }, usage: USAGE })], record);
    expectNativeError(named.failure().error, { kind: "run_failed", status: 404, code: "model_not_found" });
    expect(record.calls).toEqual([]);
    const detailed = await read([started(), failed({ error: { code: "runtime_error", message: "x", details: { error_code: "auth_failed" } }, usage: USAGE })], record);
    expectNativeError(detailed.failure().error, { kind: "run_failed", status: 502, code: "auth_failed", retryable: false });
    expect(record.calls).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------
// (e) tool calls
// ------------------------------------------------------------------------------------------------

describe("NativeAnswerReader (e): tool calls", () => {
  it("payload.tool_calls → toolCalls with positions, native ids and both argument forms, then finish tool_calls", async () => {
    const sink = await read([
      started(),
      message("Let me check."),
      waiting(toolTask([{ id: "call_a", name: "get_weather", arguments: '{"city":"Paris"}' }, { id: "call_b", name: "get_time", arguments: { tz: "CET" } }]), { usage: USAGE }),
    ]);
    expect(sink.kinds()).toEqual(["start", "text", "toolCalls", "finish"]);
    const call = sink.calls.find((entry): entry is Extract<Call, { kind: "toolCalls" }> => entry.kind === "toolCalls");
    expect(call?.task).toEqual({
      runId: RUN,
      callbackTaskId: TASK,
      calls: [
        { position: 0, nativeId: "call_a", name: "get_weather", argumentsJson: '{"city":"Paris"}', input: { city: "Paris" } },
        { position: 1, nativeId: "call_b", name: "get_time", argumentsJson: '{"tz":"CET"}', input: { tz: "CET" } },
      ],
    });
    expect(sink.finished()).toMatchObject({ status: "tool_calls", usage: { totalTokens: 8 } });
  });

  it("falls back to the task's request_payload.tool_calls", async () => {
    for (const listed of [null, []]) {
      const task = readToolCallTask(RUN, toolTask(listed, { request_payload: { tool_calls: [{ id: "call_r", name: "search", arguments: { q: "x" } }] } }));
      expect(task).not.toBeInstanceOf(NativeError);
      expect(task).toMatchObject({ callbackTaskId: TASK, calls: [{ position: 0, nativeId: "call_r", name: "search", input: { q: "x" } }] });
    }
    // payload.tool_calls wins when it has calls.
    const both = readToolCallTask(RUN, toolTask([{ id: "p", name: "p", arguments: {} }], { request_payload: { tool_calls: [{ id: "r", name: "r" }] } }));
    expect(both).toMatchObject({ calls: [{ nativeId: "p" }] });
  });

  it("arguments: JSON text and objects; string JSON parsed; non-objects wrapped as {input}", () => {
    const cases: Array<[unknown, string, Record<string, unknown>]> = [
      ['{"a":1}', '{"a":1}', { a: 1 }],
      [{ a: [1, 2] }, '{"a":[1,2]}', { a: [1, 2] }],
      ["[1,2]", "[1,2]", { input: "[1,2]" }],
      ["not json", "not json", { input: "not json" }],
      ['"quoted"', '"quoted"', { input: '"quoted"' }],
      [42, "42", { input: 42 }],
      [[1, 2], "[1,2]", { input: [1, 2] }],
      [null, "{}", {}],
      [undefined, "{}", {}],
    ];
    for (const [args, argumentsJson, input] of cases) {
      const task = readToolCallTask(RUN, toolTask([{ id: "c", name: "f", arguments: args }]));
      if (task instanceof NativeError) throw task;
      expect(task.calls[0]).toEqual({ position: 0, nativeId: "c", name: "f", argumentsJson, input });
    }
  });

  it(`at most ${MAX_CALLS_PER_TASK} calls; more → fail protocol upstream_invalid_response`, async () => {
    const calls = (count: number) => Array.from({ length: count }, (_, index) => ({ id: `c${index}`, name: "f", arguments: {} }));
    const fits = await read([started(), waiting(toolTask(calls(MAX_CALLS_PER_TASK)))], { wantsUsage: false });
    expect(fits.kinds()).toEqual(["start", "toolCalls", "finish"]);
    const tooMany = await read([started(), waiting(toolTask(calls(MAX_CALLS_PER_TASK + 1)))]);
    expect(tooMany.kinds()).toEqual(["start", "fail"]);
    expectNativeError(tooMany.failure().error, { kind: "protocol", status: 502, code: "upstream_invalid_response", retryable: false });
  });

  it("a task id that is not a UUID (the callback id cannot carry it) → the same failure", async () => {
    const sink = await read([started(), waiting(toolTask([{ id: "c", name: "f", arguments: {} }], { callback_task_id: "task-1" }))]);
    expect(sink.kinds()).toEqual(["start", "fail"]);
    expectNativeError(sink.failure().error, { kind: "protocol", status: 502, code: "upstream_invalid_response" });
  });

  it("a call without a string id and name → the same failure, in payload.tool_calls and in the request_payload fallback", async () => {
    for (const bad of [{ id: "c", name: "" }, { id: 1, name: "f" }, { name: "f" }, "call"]) {
      for (const payload of [{ tool_calls: [{ id: "ok", name: "f" }, bad] }, { request_payload: { tool_calls: [{ id: "ok", name: "f" }, bad] } }]) {
        const task = readToolCallTask(RUN, toolTask(null, payload));
        expect(task).toBeInstanceOf(NativeError);
        if (task instanceof NativeError) expectNativeError(task, { kind: "protocol", status: 502, code: "upstream_invalid_response" });
      }
    }
  });

  it("a call without arguments is a call with no arguments, not an approval wait", () => {
    const task = readToolCallTask(RUN, toolTask([{ id: "c1", name: "now" }]));
    expect(task).not.toBeInstanceOf(NativeError);
    if (!(task instanceof NativeError)) expect(task.calls[0]).toMatchObject({ nativeId: "c1", name: "now", argumentsJson: "{}", input: {} });
  });

  it("the human-approval fallback {type, run_id} → fail unsupported_action 409, no tool calls (errata 5)", async () => {
    const sink = await read([started(), message("Waiting"), waiting({ type: "waiting_human", run_id: RUN })]);
    expect(sink.kinds()).toEqual(["start", "text", "fail"]);
    const failure = sink.failure();
    expectNativeError(failure.error, { kind: "unsupported_action", status: 409, code: "required_action_not_supported", retryable: false });
    expect(failure.error.message).toContain("human approval");
    // A waiting record's required_action is null for the same wait.
    const fromRecord = await read([started(), waiting(null)]);
    expectNativeError(fromRecord.failure().error, { kind: "unsupported_action", status: 409, code: "required_action_not_supported" });
  });

  it("another action type, or a callback without tool calls → unsupported_action", async () => {
    const other = readToolCallTask(RUN, { action_type: "submit_form", payload: { callback_task_id: TASK } });
    expect(other).toBeInstanceOf(NativeError);
    if (other instanceof NativeError) {
      expectNativeError(other, { kind: "unsupported_action", status: 409, code: "required_action_not_supported" });
      expect(other.message).toContain("'submit_form'");
    }
    const empty = readToolCallTask(RUN, toolTask([]));
    expect(empty instanceof NativeError && empty.kind).toBe("unsupported_action");
  });
});

// ------------------------------------------------------------------------------------------------
// (f) run ids, (g) the terminal's answer
// ------------------------------------------------------------------------------------------------

describe("NativeAnswerReader (f): run ids", () => {
  it("a first event whose run id is not a UUID → one failure (upstream_invalid_response), no start", async () => {
    for (const first of [started("run-1"), { event: "message.delta", id: null, data: { run_id: "run-1", status: "running", delta: "x" } } as NativeStreamItem, failed({ run_id: "run-1" })]) {
      const record = lookup({ usage: USAGE });
      const sink = await read([first, message("more"), completed({ usage: USAGE })], record);
      expect(sink.kinds()).toEqual(["fail"]);
      expectNativeError(sink.failure().error, { kind: "protocol", status: 502, code: "upstream_invalid_response", retryable: false });
      expect(sink.failure().runId).toBeNull();
      expect(record.calls).toEqual([]);
    }
  });

  it("accepts a UUID in any case and without dashes", async () => {
    const upper = RUN.toUpperCase();
    const sink = await read([started(upper), completed({ run_id: upper, usage: USAGE })]);
    expect(sink.calls[0]).toEqual({ kind: "start", run: { runId: upper, createdAt: CREATED_UNIX } });
  });

  it("reads the record's time format too (time crate Display, §1.5)", async () => {
    const sink = await read([{ event: "run.started", id: null, data: data({ created_at: "2026-06-26 14:52:53.123456 +00:00:00" }) }, completed({ usage: USAGE })]);
    expect(sink.calls[0]).toEqual({ kind: "start", run: { runId: RUN, createdAt: CREATED_UNIX } });
    const unknown = await read([{ event: "run.started", id: null, data: data({ created_at: "soon" }) }, completed({ usage: USAGE })]);
    expect(unknown.calls[0]).toEqual({ kind: "start", run: { runId: RUN, createdAt: null } });
  });
});

describe("NativeAnswerReader (g): the terminal's answer", () => {
  it("is read when no delta was streamed (completed and incomplete), think tags split", async () => {
    const sink = await read([started(), completed({ answer: "<think>plan</think>Hello", usage: USAGE })]);
    expect(sink.kinds()).toEqual(["start", "text", "text", "finish"]);
    expect(mergedText(sink)).toEqual([
      { channel: "reasoning", text: "plan" },
      { channel: "message", text: "Hello" },
    ]);
    expect((await read([started(), incomplete({ answer: "partial", usage: USAGE })])).textOf("message")).toBe("partial");
  });

  it("an empty message delta is not text: the terminal's answer is still read", async () => {
    expect((await read([started(), message(""), completed({ answer: "Hello", usage: USAGE })])).textOf("message")).toBe("Hello");
  });

  it("is not read again when deltas were streamed", async () => {
    expect((await read([started(), message("Hel"), message("lo"), completed({ answer: "Hello", usage: USAGE })])).textOf("message")).toBe("Hello");
    const reasoned = await read([started(), reasoning("plan"), completed({ answer: "<think>plan</think>", usage: USAGE })]);
    expect(reasoned.textOf("reasoning")).toBe("plan");
  });

  it("a partial tag held at the end of the deltas is flushed before finish", async () => {
    const sink = await read([started(), message("a <"), completed({ answer: "ignored", usage: USAGE })]);
    expect(sink.textOf("message")).toBe("a <");
    expect(sink.kinds().at(-1)).toBe("finish");
  });

  it("is never read for a failed run: it is the error text (errata 7)", async () => {
    const sink = await read([started(), failed({ answer: "provider upstream request failed", error: { code: "provider_upstream_error", message: "boom" }, usage: USAGE })]);
    expect(sink.kinds()).toEqual(["start", "fail"]);
    const cancel = await read([started(), cancelled({ answer: "cancelled text", usage: USAGE })]);
    expect(cancel.kinds()).toEqual(["start", "fail"]);
  });
});

// ------------------------------------------------------------------------------------------------
// (h) readAnswer
// ------------------------------------------------------------------------------------------------

/** A stream of `items` that records how far it was read and whether it was cancelled. */
function trackedStream(items: readonly NativeStreamItem[], options: { close?: boolean } = {}) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<NativeStreamItem>(
    {
      pull(controller) {
        const next = items[state.pulled];
        if (next !== undefined) {
          state.pulled++;
          controller.enqueue(next);
        } else if (options.close !== false) controller.close();
        else return new Promise<void>(() => undefined);
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

describe("readAnswer (h)", () => {
  const answer = [started(), message("Hi"), completed({ usage: USAGE })];
  const late = [message("late"), completed({ usage: { prompt_tokens: 99 } })];

  it("reads a ReadableStream until the terminal, then cancels it", async () => {
    const { stream, state } = trackedStream([...answer, ...late], { close: false });
    const sink = new RecordingSink();
    await readAnswer(stream, new NativeAnswerReader(sink));
    expect(sink.kinds()).toEqual(["start", "text", "finish"]);
    expect(state.pulled).toBe(answer.length);
    expect(state.cancelled).toBe(true);
  });

  it("reads an array until the terminal", async () => {
    const sink = new RecordingSink();
    await readAnswer([...answer, ...late], new NativeAnswerReader(sink));
    expect(sink.kinds()).toEqual(["start", "text", "finish"]);
    expect(sink.finished().usage?.inputTokens).toBe(3);
  });

  it("awaits a terminal that waits for the run record", async () => {
    const record = lookup({ usage: USAGE });
    const { stream } = trackedStream([started(), message("Hi"), completed()]);
    const sink = new RecordingSink();
    await readAnswer(stream, new NativeAnswerReader(sink, record));
    expect(sink.finished().usage?.totalTokens).toBe(8);
  });

  it("input that ends without a terminal fails with a cut (stream and array)", async () => {
    const fromStream = new RecordingSink();
    await readAnswer(trackedStream([started(), message("Hi")]).stream, new NativeAnswerReader(fromStream));
    expect(fromStream.kinds()).toEqual(["start", "text", "fail"]);
    expectNativeError(fromStream.failure().error, { kind: "cut", status: 502, code: "upstream_stream_cut" });
    const fromArray = new RecordingSink();
    await readAnswer([started()], new NativeAnswerReader(fromArray));
    expectNativeError(fromArray.failure().error, { kind: "cut", status: 502, code: "upstream_stream_cut" });
  });

  it("reads a decoded native SSE body in batches and cancels a body still open after the terminal", async () => {
    const sse = (event: string, payload: unknown) => `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
    const body = [
      sse("run.started", data()) + sse("message.delta", { run_id: RUN, status: "running", delta: "<think>a" }) + sse("message.delta", { run_id: RUN, status: "running", delta: "</think>b" }),
      sse("run.completed", data({ status: "succeeded", usage: USAGE })) + sse("message.delta", { run_id: RUN, status: "running", delta: "late" }),
    ];
    let cancelled = false;
    let index = 0;
    const bytes = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = body[index++];
        if (next !== undefined) controller.enqueue(new TextEncoder().encode(next));
        else return new Promise<void>(() => undefined);
      },
      cancel() {
        cancelled = true;
      },
    });
    const sink = new RecordingSink();
    const releases: Promise<void>[] = [];
    await readAnswer(readNativeStream(bytes, { idleMs: 5_000, releaseMs: 20, background: (release) => releases.push(release) }), new NativeAnswerReader(sink));
    expect(mergedText(sink)).toEqual([
      { channel: "reasoning", text: "a" },
      { channel: "message", text: "b" },
    ]);
    expect(sink.finished().status).toBe("completed");
    // The body never ends: cancelled once it has not ended `releaseMs` after the terminal (events.ts).
    await Promise.all(releases);
    expect(cancelled).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
// (i) recordText
// ------------------------------------------------------------------------------------------------

describe("recordText (i)", () => {
  const record = (extra: Partial<NativeRun>): NativeRun => ({ id: RUN, status: "succeeded", created_at: CREATED, ...extra });

  it("reads answer_segments per channel, in order", () => {
    const run = record({
      answer: "<think>ignored</think>ignored",
      answer_segments: [
        { kind: "reasoning", text: "first " },
        { kind: "message", text: "Hello" },
        { kind: "reasoning", text: "then" },
        { kind: "message", text: " world" },
      ],
    });
    expect(recordText(run)).toEqual({ message: "Hello world", reasoning: "first then" });
  });

  it("splits inline think tags of the answer", () => {
    expect(recordText(record({ answer: "<think>plan</think>Answer" }))).toEqual({ message: "Answer", reasoning: "plan" });
    expect(recordText(record({ answer: "a<think>unclosed" }))).toEqual({ message: "a", reasoning: "unclosed" });
    expect(recordText(record({ status: "incomplete", answer: "partial" }))).toEqual({ message: "partial", reasoning: "" });
  });

  it("is empty for a failed record: its answer is the error text, never read", () => {
    const run = record({ status: "failed", answer: "provider upstream request failed", error: { code: "runtime_error", message: "boom" } });
    expect(recordText(run)).toEqual({ message: "", reasoning: "" });
    expect(recordText(record({ status: "failed", answer: "error", answer_segments: [{ kind: "message", text: "error" }] }))).toEqual({ message: "", reasoning: "" });
  });

  it("is empty for a cancelled or waiting record and for one without an answer", () => {
    expect(recordText(record({ status: "cancelled", answer: "x" }))).toEqual({ message: "", reasoning: "" });
    expect(recordText(record({ status: "waiting", answer: "x", required_action: null }))).toEqual({ message: "", reasoning: "" });
    expect(recordText(record({ answer: null }))).toEqual({ message: "", reasoning: "" });
  });
});

// ------------------------------------------------------------------------------------------------
// Output limits: stop sequences and the output-token limit, enforced on the text (OutputLimiter)
// ------------------------------------------------------------------------------------------------

describe("output limits (stop sequences, output-token limit)", () => {
  /** What a model server checking after each character would answer for the whole text. */
  function referenceLimit(text: string, stops: readonly string[], maxTokens: number | null): { text: string; hit: "stop" | "length" | null; sequence?: string } {
    let out = text;
    let hit: "stop" | "length" | null = null;
    let sequence: string | undefined;
    search: for (let end = 1; end <= text.length; end++) {
      for (const stop of stops) {
        if (stop !== "" && end >= stop.length && text.slice(end - stop.length, end) === stop) {
          out = text.slice(0, end - stop.length);
          hit = "stop";
          sequence = stop;
          break search;
        }
      }
    }
    if (maxTokens !== null && out.length > maxTokens * CHARS_PER_TOKEN) return { text: out.slice(0, maxTokens * CHARS_PER_TOKEN), hit: "length" };
    return sequence === undefined ? { text: out, hit } : { text: out, hit, sequence };
  }

  const limited = (stopSequences: string[], maxOutputTokens: number | null = null): AnswerReaderOptions => ({ limits: { stopSequences, maxOutputTokens } });

  it("ends the text before a stop sequence split across deltas; nothing of it reaches the client; the run is cancelled", async () => {
    let cancels = 0;
    const sink = await read([started(), message("Hello wor"), message("ld, EN"), message("D and more"), message(" never"), completed()], {
      ...limited(["END"]),
      onLimitReached: () => cancels++,
    });
    expect(sink.textOf("message")).toBe("Hello world, ");
    expect(sink.finished()).toMatchObject({ status: "completed", stopSequence: "END" });
    expect(cancels).toBe(1);
  });

  it("the first sequence completed wins, as a model server checking after each token sees it", async () => {
    const sink = await read([started(), message("xabcd"), completed()], limited(["abcd", "bc"]));
    expect(sink.textOf("message")).toBe("xa");
    expect(sink.finished().stopSequence).toBe("bc");
  });

  it("a held-back partial sequence is text after all when the answer ends without it", async () => {
    let cancels = 0;
    const sink = await read([started(), message("the EN"), completed({ usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })], {
      ...limited(["END"]),
      onLimitReached: () => cancels++,
    });
    expect(sink.textOf("message")).toBe("the EN");
    expect(sink.finished()).toMatchObject({ status: "completed", usage: { outputTokens: 2 } });
    expect(sink.finished().stopSequence).toBeUndefined();
    expect(cancels).toBe(0);
  });

  it("reasoning text is counted but never matched against stop sequences", async () => {
    const sink = await read([started(), reasoning("think END"), message("answer END x"), completed()], limited(["END"]));
    expect(sink.textOf("reasoning")).toBe("think END");
    expect(sink.textOf("message")).toBe("answer ");
  });

  it("cuts at the output-token limit (ceil(characters / 4)): status incomplete, usage counted at the edge", async () => {
    let cancels = 0;
    const sink = await read([started(), usageDelta({ prompt_tokens: 7 }), message("abcdefgh"), message("ijklmnop"), message("qrst"), completed()], {
      ...limited([], 3),
      onLimitReached: () => cancels++,
    });
    expect(sink.textOf("message")).toBe("abcdefghijkl");
    expect(sink.finished()).toMatchObject({ status: "incomplete", usage: { inputTokens: 7, outputTokens: 3, totalTokens: 10 } });
    expect(cancels).toBe(1);
  });

  it("never cuts inside a surrogate pair", async () => {
    const sink = await read([started(), message("abc😀def"), completed()], limited([], 1));
    expect(sink.textOf("message")).toBe("abc");
    expect(sink.finished().status).toBe("incomplete");
  });

  it("a limit reached before a tool call ends the answer without the call (the waiting run is cancelled)", async () => {
    let cancels = 0;
    const items = [started(), message("I will call a tool now"), waiting(toolTask([{ id: "c1", name: "f", arguments: "{}" }]))];
    expect((await read(items, limited([], 6))).kinds()).toContain("toolCalls");
    const sink = await read(items, { ...limited([], 2), onLimitReached: () => cancels++ });
    expect(sink.kinds()).not.toContain("toolCalls");
    expect(sink.finished().status).toBe("incomplete");
    expect(cancels).toBe(1);
  });

  it("a finished run's record is cut at the same place as its stream (blocking replay equals streaming)", async () => {
    const fromRecord = await read([started(), completed({ answer: "one two STOP three" })], limited(["STOP"]));
    const fromStream = await read([started(), message("one two ST"), message("OP three"), completed()], limited(["STOP"]));
    expect(fromRecord.textOf("message")).toBe("one two ");
    expect(fromStream.textOf("message")).toBe(fromRecord.textOf("message"));
    expect(fromRecord.finished().stopSequence).toBe("STOP");
  });

  it("no limits: the reader passes every delta through as it came", async () => {
    const sink = await read([started(), message("a"), message("b")], limited([""], null));
    expect(sink.calls.filter((call) => call.kind === "text")).toHaveLength(2);
  });

  it("property: any cut of the text into deltas gives the whole-text reference", async () => {
    const alphabet = fc.constantFrom("a", "b", "c", "E", "N", "D", " ");
    await fc.assert(
      fc.asyncProperty(
        fc.array(alphabet, { maxLength: 40 }).map((chars) => chars.join("")),
        fc.array(fc.array(alphabet, { minLength: 1, maxLength: 4 }).map((chars) => chars.join("")), { maxLength: 3 }),
        fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
        fc.array(fc.nat(40), { maxLength: 6 }),
        async (text, stops, maxTokens, cuts) => {
          const sink = await read([started(), ...cutInto(text, cuts).map(message), completed()], limited(stops, maxTokens));
          const expected = referenceLimit(text, stops, maxTokens);
          expect(sink.textOf("message")).toBe(expected.text);
          const end = sink.finished();
          if (expected.hit === "length") expect(end.status).toBe("incomplete");
          else expect(end.status).toBe("completed");
          expect(end.stopSequence ?? undefined).toBe(expected.hit === "stop" ? expected.sequence : undefined);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------------------------------------
// (j) coalesced text (streams): a burst of deltas read together is one text call, nothing else moves
// ------------------------------------------------------------------------------------------------

describe("NativeAnswerReader (j): coalesceText", () => {
  /** Pushes `items`, calling `flushText` after the items whose index is in `flushAfter` (as a projector's `take`). */
  async function readCoalesced(items: readonly NativeStreamItem[], flushAfter: ReadonlySet<number>, options: AnswerReaderOptions = {}): Promise<RecordingSink> {
    const sink = new RecordingSink();
    const reader = new NativeAnswerReader(sink, { ...options, coalesceText: true });
    for (const [index, item] of items.entries()) {
      await reader.push(item);
      if (flushAfter.has(index)) reader.flushText();
    }
    return sink;
  }

  it("joins the text that arrived between two flushes into one call per channel run", async () => {
    const sink = await readCoalesced([started(), message("Hel"), message("lo"), message(" wor"), reasoning("hm"), message("ld"), completed({ usage: USAGE })], new Set([0, 2]));
    expect(sink.calls.filter((call) => call.kind !== "start")).toEqual([
      { kind: "text", channel: "message", text: "Hello" },
      { kind: "text", channel: "message", text: " wor" },
      { kind: "text", channel: "reasoning", text: "hm" },
      { kind: "text", channel: "message", text: "ld" },
      { kind: "finish", end: expect.objectContaining({ status: "completed" }) },
    ]);
  });

  it("text waiting to be joined goes out before a tool call, a finish and a failure, and after a flush nothing waits", async () => {
    const call = { id: "c1", name: "f", arguments: "{}" };
    const withTools = await readCoalesced([started(), message("calling"), waiting(toolTask([call]))], new Set());
    expect(withTools.kinds()).toEqual(["start", "text", "toolCalls", "finish"]);
    const finished = await readCoalesced([started(), message("a"), message("b"), completed({ usage: USAGE })], new Set());
    expect(finished.kinds()).toEqual(["start", "text", "finish"]);
    expect(finished.textOf("message")).toBe("ab");
    const failedRun = await readCoalesced([started(), message("a"), { event: "fault", error: NativeError.cut() }], new Set());
    expect(failedRun.kinds()).toEqual(["start", "text", "fail"]);
    const flushed = await readCoalesced([started(), message("a")], new Set([1]));
    expect(flushed.kinds()).toEqual(["start", "text"]);
  });

  it("property: any deltas, flushes, limits and terminal — the same calls as one call per delta, text joined", async () => {
    const piece = fc.constantFrom("a", "E", "N", "D", " ", "<think>", "</think>", "<thi", "nk>", "😀");
    const text = fc.array(piece, { maxLength: 5 }).map((parts) => parts.join(""));
    const terminal = fc.constantFrom<NativeStreamItem>(
      completed({ usage: USAGE }),
      incomplete({ usage: USAGE }),
      failed({ usage: USAGE }),
      waiting(toolTask([{ id: "c1", name: "f", arguments: "{}" }]), { usage: USAGE }),
      { event: "fault", error: NativeError.cut() },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(text.map(message), text.map(reasoning)), { maxLength: 12 }),
        terminal,
        fc.array(fc.nat(14), { maxLength: 6 }),
        fc.option(fc.record({ stopSequences: fc.constantFrom([], ["END"], ["a a"]), maxOutputTokens: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null }) }), { nil: undefined }),
        async (deltas, end, flushes, limits) => {
          const items = [started(), ...deltas, end];
          const options: AnswerReaderOptions = limits ? { limits } : {};
          const each = await read(items, options);
          const joined = await readCoalesced(items, new Set(flushes), options);
          const withoutText = (sink: RecordingSink) => sink.calls.filter((call) => call.kind !== "text");
          expect(withoutText(joined)).toEqual(withoutText(each));
          expect(mergedText(joined)).toEqual(mergedText(each));
          // Every text call sits where the first of its deltas did: before the same non-text call.
          const textBefore = (sink: RecordingSink) => sink.kinds().join(",").replace(/(text,)+/g, "text,");
          expect(textBefore(joined)).toBe(textBefore(each));
        },
      ),
      { numRuns: 300 },
    );
  });
});
