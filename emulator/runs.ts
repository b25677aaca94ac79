/**
 * Run records, their JSON views, and the runner that turns a script into native run behaviour.
 *
 * A record holds what the fork keeps on its `flow_runs` row — status, the flow's *output payload*,
 * the flow's *error payload* — plus the run's callback tasks and its aggregated node usage; the JSON
 * views derive `answer`, `tool_calls`, `required_action`, `usage` and `error` from those exactly
 * as control-plane `run_service/native_results.rs` does. Executions append runtime events to the
 * run's event log (events.ts); streams project them (stream.ts).
 */
import { type NativeUsage, type Segment, extractAnswer, extractSegments, mergeUsage, normalizeUsage, splitThinkTags, usageFromPayload, visibleText } from "./answers";
import { RunEventLog, type RuntimeEvent } from "./events";
import { type ErrorPayload, failedNodeText, failurePayload, liveFailureMessage, publicError } from "./failures";
import type { EmulatorScript } from "./script";
import type { KeySeed } from "./seed";
import type { NativeRequest } from "./validate";
import { type Instant, chunkCodePoints, sleep, timeDisplay, uuidv7, yieldToLoop } from "./util";

export type RunStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "cancelled" | "incomplete";
/** One leg of a run: the create-time script, or its `after_tools` continuation. */
export type PhaseScript = NonNullable<EmulatorScript["after_tools"]>;

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export interface TaskRecord {
  id: string;
  runId: string;
  nodeRunId: string;
  toolCalls: ToolCall[];
  state: "pending" | "resuming" | "completed" | "cancelled";
  /** Canonical JSON of the first accepted `response_payload` (per-task idempotency, §1.6). */
  payloadFingerprint: string | null;
  /** The `{data}` payload returned by the completed resume, replayed for identical repeats. */
  result: Record<string, unknown> | null;
}

export interface Timing {
  wait_ms?: number | undefined;
  delta_delay_ms?: number | undefined;
  stall_ms?: number | undefined;
}

export interface RunRecord {
  id: string;
  key: KeySeed;
  createdAt: Instant;
  status: RunStatus;
  request: NativeRequest;
  script: EmulatorScript | null;
  /** The query with the directive removed: what the emulated model "sees". */
  userText: string;
  nodeInput: Record<string, unknown>;
  createMetadata: Record<string, unknown>;
  durableMetadata: Record<string, unknown>;
  binding: { user: string; id: string } | null;
  /** The flow's output payload (`flow_runs.output_payload`). */
  output: Record<string, unknown>;
  /** The flow's error payload (`flow_runs.error_payload`); set only by a failure. */
  errorPayload: ErrorPayload | null;
  /** Node usage aggregated over every execution and leg (native_results.rs:188-211). */
  nodeUsage: NativeUsage | null;
  /** Callback tasks in creation order; the latest pending one is the record's required action. */
  tasks: TaskRecord[];
  /** The run's runtime event stream. */
  log: RunEventLog;
  /** How many times the flow was started (create, plus idempotent replays of a running run). */
  executions: number;
  usageAcc: { prompt: number; completion: number; reasoning: number };
  /** The stored answer was capped at MAX_STORED_ANSWER_CHARS (the stream itself was complete). */
  answerTruncated: boolean;
}

/**
 * Very long scripted answers (repeat up to 1M) are streamed lazily; only the *stored* answer is
 * built, and it is capped here so one run cannot exhaust the emulator's memory.
 */
export const MAX_STORED_ANSWER_CHARS = 16 * 1024 * 1024;

export function isTerminal(status: RunStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled" || status === "incomplete";
}

// ---------------------------------------------------------------------------------------------
// JSON views
// ---------------------------------------------------------------------------------------------

/** The latest pending callback task (native_results.rs:119-126). */
function latestPendingTask(run: RunRecord): TaskRecord | null {
  for (let i = run.tasks.length - 1; i >= 0; i--) {
    const task = run.tasks[i];
    if (task?.state === "pending") return task;
  }
  return null;
}

function requiredActionOf(run: RunRecord, task: TaskRecord): Record<string, unknown> {
  return {
    action_type: "submit_tool_outputs",
    payload: {
      callback_task_id: task.id,
      callback_kind: "llm_tool_calls",
      flow_run_id: run.id,
      node_run_id: task.nodeRunId,
      request_payload: { tool_calls: task.toolCalls },
      tool_calls: task.toolCalls,
    },
  };
}

/**
 * What the record says, before it is laid out as JSON. `source` follows native:
 * - `detail` (`native_result_from_run_detail`: create, get, resume, blocking replays): the latest
 *   pending task is the required action, and usage falls back to the aggregated node usage;
 * - `flow_run` (`native_result_from_flow_run`: the cancel response, a queued run): neither.
 */
export function recordFacts(run: RunRecord, source: "detail" | "flow_run") {
  const task = source === "detail" ? latestPendingTask(run) : null;
  const outputToolCalls = Array.isArray(run.output.tool_calls) ? run.output.tool_calls : null;
  return {
    answer: extractAnswer(run.output),
    segments: extractSegments(run.output),
    requiredAction: task ? requiredActionOf(run, task) : null,
    toolCalls: task ? task.toolCalls : outputToolCalls,
    usage: usageFromPayload(run.output.usage) ?? (source === "detail" ? run.nodeUsage : null),
    error: run.errorPayload ? publicError(run.errorPayload) : null,
  };
}

/** `NativeRunResponse` (§1.5), fields in the route's order. */
export function runView(run: RunRecord, metadata: Record<string, unknown>, source: "detail" | "flow_run" = "detail"): Record<string, unknown> {
  const facts = recordFacts(run, source);
  const view: Record<string, unknown> = {
    id: run.id,
    application_id: run.key.app.applicationId,
    api_key_id: run.key.apiKeyId,
    publication_version_id: run.key.app.publicationVersionId,
    status: run.status,
    node_input_payload: run.nodeInput,
    metadata,
    // Returned for every status: a failed run's answer is its error text (native_results.rs:38).
    answer: facts.answer,
  };
  if (facts.segments) view.answer_segments = facts.segments;
  view.required_action = facts.requiredAction;
  view.tool_calls = facts.toolCalls;
  view.usage = facts.usage;
  view.error = facts.error;
  view.created_at = timeDisplay(run.createdAt);
  return view;
}

/**
 * The terminal runtime event native builds from the durable run for a stream's fallback
 * (stream_terminal_fallback.rs:66-83, 181-249), or null while the run is not terminal — which
 * includes a human-approval wait: it has no pending task, so nothing to build (line 206).
 */
export function durableTerminalEvent(run: RunRecord): RuntimeEvent | null {
  const facts = recordFacts(run, "detail");
  switch (run.status) {
    case "succeeded":
    case "incomplete": {
      const output: Record<string, unknown> = { answer: facts.answer, tool_calls: facts.toolCalls, usage: facts.usage };
      if (facts.segments) output.answer_segments = facts.segments;
      return { type: run.status === "succeeded" ? "flow_finished" : "flow_incomplete", output };
    }
    case "failed":
      return { type: "flow_failed", error: facts.error?.message ?? "published run failed" };
    case "cancelled":
      return { type: "flow_cancelled" };
    case "waiting":
      return facts.requiredAction ? { type: "waiting_callback", requiredAction: facts.requiredAction } : null;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Answer generation
// ---------------------------------------------------------------------------------------------

/**
 * The deltas of one leg, generated lazily so `repeat: 1_000_000` never materialises the answer.
 * - `segments` wins and is repeated as a whole `repeat` times;
 * - otherwise `reasoning` deltas (once), then the message deltas (`text`, or the default answer in
 *   pieces of at most 8 characters) repeated `repeat` times;
 * - a leg that ends in tool calls or a human-approval wait has no default answer.
 */
export function* phaseDeltas(phase: PhaseScript | null, defaultAnswer: (() => string) | null): Generator<Segment> {
  const repeat = phase?.repeat ?? 1;
  if (phase?.segments) {
    for (let r = 0; r < repeat; r++) for (const seg of phase.segments) yield seg;
    return;
  }
  for (const text of phase?.reasoning ?? []) yield { kind: "reasoning", text };
  const texts = phase?.text ?? (defaultAnswer ? chunkCodePoints(defaultAnswer(), 8) : []);
  for (let r = 0; r < repeat; r++) for (const text of texts) yield { kind: "message", text };
}

/** Accumulates merged answer segments (capped) and character counts for usage. */
class AnswerAccumulator {
  readonly segments: Segment[] = [];
  reasoningChars = 0;
  messageChars = 0;
  private stored = 0;
  truncated = false;

  push(d: Segment): void {
    if (d.kind === "reasoning") this.reasoningChars += d.text.length;
    else this.messageChars += d.text.length;
    if (this.stored >= MAX_STORED_ANSWER_CHARS) {
      this.truncated = true;
      return;
    }
    let text = d.text;
    if (this.stored + text.length > MAX_STORED_ANSWER_CHARS) {
      text = text.slice(0, MAX_STORED_ANSWER_CHARS - this.stored);
      this.truncated = true;
    }
    this.stored += text.length;
    const last = this.segments[this.segments.length - 1];
    if (last && last.kind === d.kind) last.text += text;
    else this.segments.push({ kind: d.kind, text });
  }

  /** The fork keeps reasoning inline as literal `<think>…</think>` (§1.5) unless think_tags:false. */
  answer(thinkTags: boolean): string {
    return this.segments.map((s) => (s.kind === "reasoning" ? (thinkTags ? `<think>${s.text}</think>` : "") : s.text)).join("");
  }

  /** The message text streamed so far (what the answer presentation has already shown). */
  messageText(): string {
    return this.segments
      .filter((s) => s.kind === "message")
      .map((s) => s.text)
      .join("");
  }
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

export interface RunnerHost {
  /** Aborted when the emulator closes: runners stop without finalising. */
  closing: AbortSignal;
  /** Called when a run reaches a terminal status, to store its conversation messages (§3.4). */
  onRunSettled(run: RunRecord): void;
  /** Registers a new callback task (global index for cross-run checks). */
  registerTask(task: TaskRecord): void;
}

export interface LegOptions {
  /** The leg starts the flow: `flow_started` (and the node's `node_started`) go out first. */
  emitStarted: boolean;
  /** Lazily computed default (echo / tool-results) answer. */
  defaultAnswer: () => string;
  /** Characters of model input for the computed prompt-token usage. */
  inputChars: number;
  timing: Timing;
  /** Tool calls a forced `tool_choice` makes on this leg (tool-choice.ts), or null. */
  forcedToolCalls: ToolCall[] | null;
}

type LegEnd =
  | { kind: "finish"; incomplete: boolean }
  | { kind: "fail"; payload: ErrorPayload }
  | { kind: "human" }
  | { kind: "tool_calls"; calls: ToolCall[] };

/** How a leg ends; the first that applies wins: fail, human approval, scripted tool calls, forced tool choice. */
function legEnd(phase: PhaseScript | null, forced: ToolCall[] | null): LegEnd {
  if (phase?.fail) return { kind: "fail", payload: failurePayload(phase.fail) };
  if (phase?.human_approval) return { kind: "human" };
  if (phase?.tool_calls?.length) {
    return { kind: "tool_calls", calls: phase.tool_calls.map((c, i) => ({ id: c.id ?? `call_${i + 1}`, name: c.name, arguments: c.arguments })) };
  }
  if (forced?.length) return { kind: "tool_calls", calls: forced };
  return { kind: "finish", incomplete: phase?.incomplete === true };
}

const LLM_NODE = { id: "node-llm", type: "llm", title: "LLM" } as const;

/**
 * Runs one leg of one execution. Like the fork's runtime it does not watch for cancellation while
 * the LLM node streams — native checks `is_run_cancelled` only between nodes and before completing
 * (continuation/engine.rs:118, completion.rs:42) — so deltas keep flowing after a cancel, and at
 * the end the leg writes nothing if the run is no longer `running` (cancelled, or settled by a
 * concurrent execution: `update_flow_run_if_status(…, Running)` fails, completion.rs:96-111).
 */
export async function executeLeg(host: RunnerHost, run: RunRecord, phase: PhaseScript | null, opts: LegOptions): Promise<void> {
  const log = run.log;
  const closing = () => host.closing.aborted;
  const workflow = run.request.workflowEvents;
  // Transport pauses (stall, delta delays) are skipped once every streaming client has gone.
  const transportPause = async (ms: number) => {
    if (log.clientsGone) return;
    await log.flush();
    await sleep(ms, [host.closing]);
  };

  if (opts.emitStarted) {
    await log.append({ type: "flow_started" }, 1);
    // Node events take sequence numbers only when the request asked for them, so default ids keep
    // the documented gaps (run.started :1, then +2 per event).
    if (workflow) await log.append({ type: "node_started", node: LLM_NODE, status: "running" }, 1);
  }

  // wait_ms: the run sits in `running` (a slow first token); a cancel does not cut it short.
  if (opts.timing.wait_ms) {
    await log.flush();
    await sleep(opts.timing.wait_ms, [host.closing]);
  }
  if (closing()) return;

  const end = legEnd(phase, opts.forcedToolCalls);
  const acc = new AnswerAccumulator();
  const failAfter = end.kind === "fail" ? (phase?.fail?.after_deltas ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  // Only a leg that finishes (or fails) has the default answer; a tool-calling model says nothing.
  const defaultAnswer = end.kind === "finish" || end.kind === "fail" ? opts.defaultAnswer : null;
  const synthesized = phase?.synthesized_deltas === true;
  const { delta_delay_ms: deltaDelay, stall_ms: stall } = opts.timing;
  let count = 0;
  let stalled = false;
  for (const delta of phaseDeltas(phase, defaultAnswer)) {
    if (count >= failAfter) break;
    if (deltaDelay) await transportPause(deltaDelay);
    if (closing()) return;
    acc.push(delta);
    if (!synthesized) await log.append({ type: delta.kind === "reasoning" ? "reasoning_delta" : "text_delta", text: delta.text }, 2);
    count += 1;
    if (count === 1 && stall) {
      stalled = true;
      await transportPause(stall);
    }
    // Let cancels and other requests in during very long answers.
    if (count % 512 === 0) await yieldToLoop();
    if (closing()) return;
  }
  if (stall && !stalled) await transportPause(stall);
  if (deltaDelay) await transportPause(deltaDelay);
  if (closing()) return;

  if (end.kind === "fail" && !synthesized) await presentFailureText(run, acc, failedNodeText(end.payload));
  if (closing()) return;

  if (run.status !== "running") {
    discardLeg(host, run, phase, acc, opts.inputChars, end);
    return;
  }
  if (workflow) {
    const nodeStatus = end.kind === "fail" ? "failed" : end.kind === "finish" ? "succeeded" : end.kind === "human" ? "waiting_human" : "waiting_callback";
    await log.append({ type: "node_finished", node: LLM_NODE, status: nodeStatus }, 1);
    if (closing()) return;
    if ((run as RunRecord).status !== "running") {
      discardLeg(host, run, phase, acc, opts.inputChars, end);
      return;
    }
  }
  settle(host, run, phase, acc, opts.inputChars, end);
}

/**
 * The failed LLM node's output text (the error message) reaches the answer presentation when the
 * node completes (continuation/engine.rs:287-316 → answer_presentation.rs:209-270): with no message
 * text shown yet it goes out as answer deltas; after some text, only a suffix that extends it (which
 * an error message practically never is).
 */
async function presentFailureText(run: RunRecord, acc: AnswerAccumulator, errorText: string): Promise<void> {
  const shown = acc.truncated ? null : acc.messageText();
  if (shown === "") {
    for (const part of splitThinkTags(errorText, false)) {
      await run.log.append({ type: part.kind === "reasoning" ? "reasoning_delta" : "text_delta", text: part.text }, 2);
    }
    return;
  }
  if (shown === null) return;
  const visible = visibleText(errorText);
  if (visible.startsWith(shown) && visible.length > shown.length) {
    await run.log.append({ type: "text_delta", text: visible.slice(shown.length) }, 2);
  }
}

function legUsage(phase: PhaseScript | null, acc: AnswerAccumulator, inputChars: number): NativeUsage {
  if (phase?.usage) return normalizeUsage(phase.usage);
  const prompt = Math.ceil(inputChars / 4);
  const completion = Math.ceil((acc.reasoningChars + acc.messageChars) / 4);
  const usage: NativeUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  const reasoning = Math.ceil(acc.reasoningChars / 4);
  if (reasoning > 0) usage.reasoning_tokens = reasoning;
  return usage;
}

/**
 * A leg that may not write the run (cancelled, or another execution settled it) still leaves its
 * node run behind: its usage counts in the aggregate, and a tool-call wait has already created its
 * callback task (engine.rs:417-426 runs before the conditional status update at 427-448) — an
 * orphan that becomes the record's latest pending task. After a cancel it stops before that (374-383).
 */
function discardLeg(host: RunnerHost, run: RunRecord, phase: PhaseScript | null, acc: AnswerAccumulator, inputChars: number, end: LegEnd): void {
  run.nodeUsage = mergeUsage(run.nodeUsage, legUsage(phase, acc, inputChars));
  if (end.kind === "tool_calls" && run.status !== "cancelled") newTask(host, run, end.calls);
}

function newTask(host: RunnerHost, run: RunRecord, calls: ToolCall[]): TaskRecord {
  const task: TaskRecord = { id: uuidv7(), runId: run.id, nodeRunId: uuidv7(), toolCalls: calls, state: "pending", payloadFingerprint: null, result: null };
  host.registerTask(task);
  run.tasks.push(task);
  return task;
}

/**
 * Writes the leg's outcome into the record and appends its terminal runtime event, in one
 * synchronous step (the row is updated before the event is appended, as in completion.rs:96-118),
 * then closes the event log (`close_runtime_event_stream`).
 */
function settle(host: RunnerHost, run: RunRecord, phase: PhaseScript | null, acc: AnswerAccumulator, inputChars: number, end: LegEnd): void {
  run.usageAcc.prompt += Math.ceil(inputChars / 4);
  run.usageAcc.completion += Math.ceil((acc.reasoningChars + acc.messageChars) / 4);
  run.usageAcc.reasoning += Math.ceil(acc.reasoningChars / 4);
  if (phase?.usage) run.nodeUsage = normalizeUsage(phase.usage);
  else {
    const { prompt, completion, reasoning } = run.usageAcc;
    run.nodeUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    if (reasoning > 0) run.nodeUsage.reasoning_tokens = reasoning;
  }
  run.answerTruncated = acc.truncated;
  const thinkTags = phase?.think_tags ?? true;
  let event: RuntimeEvent;

  switch (end.kind) {
    case "fail": {
      // The answer node renders the failed node's text (the error message); the row keeps the
      // answer node's output (persistence/answer_presentation_persistence.rs:264-288).
      const text = failedNodeText(end.payload);
      run.status = "failed";
      run.errorPayload = end.payload;
      run.output = { answer: text, ...segmentsOf(text), error: end.payload };
      event = { type: "flow_failed", error: liveFailureMessage(end.payload) };
      break;
    }
    case "tool_calls": {
      const task = newTask(host, run, end.calls);
      run.status = "waiting";
      run.errorPayload = null;
      run.output = {};
      event = { type: "waiting_callback", requiredAction: requiredActionOf(run, task) };
      break;
    }
    case "human": {
      // The answer node's ready prefix is materialized while waiting (waiting_nodes.rs:76-83, 111-123).
      const answer = acc.answer(thinkTags);
      run.status = "waiting";
      run.errorPayload = null;
      run.output = answer !== "" ? { answer } : {};
      event = { type: "waiting_human" };
      break;
    }
    case "finish": {
      const answer = acc.answer(thinkTags);
      run.status = end.incomplete ? "incomplete" : "succeeded";
      run.errorPayload = null;
      run.output = { answer, ...segmentsOf(answer) };
      if (phase?.usage_raw !== undefined) run.output.usage = phase.usage_raw;
      else if (phase?.usage_on_terminal) run.output.usage = run.nodeUsage;
      event = { type: end.incomplete ? "flow_incomplete" : "flow_finished", output: run.output };
      break;
    }
  }
  void run.log.append(event, 2, { closeAfter: true });
  if (isTerminal(run.status)) host.onRunSettled(run);
}

/** The answer node's `answer_segments`, from its text (llm_node_outputs.rs:10-38). */
function segmentsOf(text: string): { answer_segments?: Segment[] } {
  const segments = splitThinkTags(text, true);
  return segments.length > 0 ? { answer_segments: segments } : {};
}

/**
 * Cancel (control-plane native.rs:457-529): the row becomes `cancelled` (output and error payload
 * kept as they were), pending callback tasks are cancelled. Nothing goes onto the event stream:
 * a live stream learns of it from its durable poll (stream.ts).
 */
export function cancelRun(host: RunnerHost, run: RunRecord): void {
  run.status = "cancelled";
  for (const task of run.tasks) if (task.state === "pending") task.state = "cancelled";
  host.onRunSettled(run);
}

export function newEventLog(): RunEventLog {
  return new RunEventLog();
}
