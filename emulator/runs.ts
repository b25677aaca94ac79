/**
 * Run records, their JSON views, and the runner that turns a script into native run behaviour:
 * events (native-api.md §2.2/§2.3), durable state (§1.5), waiting/required_action (§1.6) and the
 * 0.3 `incomplete` status (§7).
 */
import { type EmulatorScript } from "./script";
import type { KeySeed } from "./seed";
import type { EventSink } from "./sse";
import type { NativeRequest } from "./validate";
import { type Instant, chunkCodePoints, rfc3339, timeDisplay, uuidv7, yieldToLoop } from "./util";

export type RunStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "cancelled" | "incomplete";
/** One leg of a run: the create-time script, or its `after_tools` continuation. */
export type PhaseScript = NonNullable<EmulatorScript["after_tools"]>;
export type SegmentKind = "reasoning" | "message";

export interface Segment {
  kind: SegmentKind;
  text: string;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export interface RunError {
  code: string;
  message: string;
  details: Record<string, unknown> | null;
}

/** `NativeUsage` (§1.5): the first three always present (maybe null), the rest omitted when absent. */
export interface NativeUsage {
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  reasoning_tokens?: number | null;
  input_cache_hit_tokens?: number | null;
  input_cache_miss_tokens?: number | null;
  cache_read_tokens?: number | null;
  cache_write_tokens?: number | null;
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
  /** `metadata.request.conversation`, echoed as SSE `conversation` (§2.2). */
  conversationPayload: Record<string, unknown>;
  binding: { user: string; id: string } | null;
  answer: string | null;
  segments: Segment[] | null;
  requiredAction: Record<string, unknown> | null;
  toolCalls: ToolCall[] | null;
  usage: NativeUsage | null;
  error: RunError | null;
  pendingTask: TaskRecord | null;
  /** The script leg that produced the current state (usage_on_terminal, synthesized_deltas). */
  phase: PhaseScript | null;
  seq: number;
  cancel: AbortController;
  waiters: Array<() => void>;
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

/** Resolves once the run is no longer `running` (terminal, waiting, or queued). */
export function waitUntilSettled(run: RunRecord): Promise<void> {
  if (run.status !== "running") return Promise.resolve();
  return new Promise((resolve) => run.waiters.push(resolve));
}

function notify(run: RunRecord): void {
  const waiters = run.waiters;
  run.waiters = [];
  for (const w of waiters) w();
}

// ---------------------------------------------------------------------------------------------
// JSON views
// ---------------------------------------------------------------------------------------------

/**
 * `NativeRunResponse` (§1.5). `form` selects the metadata: create-time on create, the durable
 * (smaller) form on get/cancel/resume. Answer fields are returned only for succeeded/incomplete
 * runs, as 0.3 does (§7).
 */
export function runView(run: RunRecord, form: "create" | "durable"): Record<string, unknown> {
  const withAnswer = run.status === "succeeded" || run.status === "incomplete";
  const view: Record<string, unknown> = {
    id: run.id,
    application_id: run.key.app.applicationId,
    api_key_id: run.key.apiKeyId,
    publication_version_id: run.key.app.publicationVersionId,
    status: run.status,
    node_input_payload: run.nodeInput,
    metadata: form === "create" ? run.createMetadata : run.durableMetadata,
    answer: withAnswer ? run.answer : null,
  };
  if (withAnswer && run.segments && run.segments.length > 0) view.answer_segments = run.segments;
  view.required_action = run.requiredAction;
  view.tool_calls = run.toolCalls;
  view.usage = run.usage;
  view.error = run.error;
  view.created_at = timeDisplay(run.createdAt);
  return view;
}

interface PayloadFields {
  delta?: string;
  answer?: string;
  /** Adds `conversation` and `metadata` (run.started, terminal events, required_action). */
  context?: boolean;
  usage?: NativeUsage | null;
  error?: Record<string, unknown>;
  workflow?: Record<string, unknown>;
  required_action?: Record<string, unknown> | null;
}

/** `NativeSsePayload` (§2.2): run_id/status/created_at always, then optional fields in struct order. */
function ssePayload(run: RunRecord, status: string, f: PayloadFields): Record<string, unknown> {
  const out: Record<string, unknown> = { run_id: run.id, status, created_at: rfc3339() };
  if (f.delta !== undefined) out.delta = f.delta;
  if (f.answer !== undefined) out.answer = f.answer;
  if (f.context) out.conversation = run.conversationPayload;
  if (f.usage) out.usage = f.usage;
  if (f.context) out.metadata = run.createMetadata;
  if (f.error) out.error = f.error;
  if (f.workflow) out.workflow = f.workflow;
  if (f.required_action) out.required_action = f.required_action;
  return out;
}

/** Live event ids take sequence numbers with gaps (internal events consume some, §2.1). */
function nextId(run: RunRecord, step: number): string {
  run.seq += step;
  return `${run.id}:${run.seq}`;
}

/** The terminal event for the run's durable state (§2.2 table), or null while it is not settled. */
export function terminalEvent(run: RunRecord): { name: string; data: Record<string, unknown> } | null {
  const usage = run.phase?.usage_on_terminal ? run.usage : undefined;
  switch (run.status) {
    case "succeeded":
      return { name: "run.completed", data: ssePayload(run, "succeeded", { answer: run.answer ?? "", context: true, usage }) };
    case "incomplete":
      return { name: "run.incomplete", data: ssePayload(run, "incomplete", { answer: run.answer ?? "", context: true, usage }) };
    case "failed":
      return { name: "run.failed", data: ssePayload(run, "failed", { context: true, error: { ...(run.error ?? { code: "runtime_error", message: "published run failed", details: {} }) } }) };
    case "cancelled":
      // 0.3 `run.cancelled` carries this fixed error (§7).
      return { name: "run.cancelled", data: ssePayload(run, "cancelled", { context: true, error: { code: "run_cancelled", message: "published run cancelled" } }) };
    case "waiting":
      return { name: "required_action", data: ssePayload(run, "waiting", { context: true, required_action: run.requiredAction }) };
    default:
      return null;
  }
}

/**
 * Emits what native's durable fallback emits (§2.4): synthesized answer deltas (ids `:1`, `:2`, …)
 * for a completed answer when no live delta went out, then the terminal event (id `:0`).
 */
async function emitSynthesizedTerminal(run: RunRecord, sink: EventSink): Promise<void> {
  if ((run.status === "succeeded" || run.status === "incomplete") && run.segments) {
    let i = 0;
    for (const seg of run.segments) {
      i += 1;
      await sink.send(`${seg.kind}.delta`, `${run.id}:${i}`, ssePayload(run, "running", { delta: seg.text }), "delta");
    }
  }
  const terminal = terminalEvent(run);
  if (terminal) await sink.send(terminal.name, `${run.id}:0`, terminal.data, "terminal");
  else await sink.end();
}

/** The whole stream rebuilt from durable state (idempotent replay of a streaming create). */
export async function replayStream(run: RunRecord, sink: EventSink): Promise<void> {
  await sink.send("run.started", `${run.id}:0`, ssePayload(run, "running", { context: true }), "started");
  await emitSynthesizedTerminal(run, sink);
}

// ---------------------------------------------------------------------------------------------
// Answer generation
// ---------------------------------------------------------------------------------------------

/**
 * The deltas of one leg, generated lazily so `repeat: 1_000_000` never materialises the answer.
 * - `segments` wins and is repeated as a whole `repeat` times;
 * - otherwise `reasoning` deltas (once), then the message deltas (`text`, or the default answer in
 *   pieces of at most 8 characters) repeated `repeat` times;
 * - a leg that ends in `tool_calls` has no default answer (a tool-calling model says nothing).
 */
export function* phaseDeltas(phase: PhaseScript | null, defaultAnswer: () => string): Generator<Segment> {
  const repeat = phase?.repeat ?? 1;
  if (phase?.segments) {
    for (let r = 0; r < repeat; r++) for (const seg of phase.segments) yield seg;
    return;
  }
  for (const text of phase?.reasoning ?? []) yield { kind: "reasoning", text };
  const texts = phase?.text ?? (phase?.tool_calls?.length ? [] : chunkCodePoints(defaultAnswer(), 8));
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
}

const USAGE_ALIASES: Record<string, keyof NativeUsage> = {
  prompt_tokens: "prompt_tokens",
  input_tokens: "prompt_tokens",
  completion_tokens: "completion_tokens",
  output_tokens: "completion_tokens",
  total_tokens: "total_tokens",
  reasoning_tokens: "reasoning_tokens",
  input_cache_hit_tokens: "input_cache_hit_tokens",
  input_cache_miss_tokens: "input_cache_miss_tokens",
  cache_read_tokens: "cache_read_tokens",
  cache_read_input_tokens: "cache_read_tokens",
  cache_write_tokens: "cache_write_tokens",
  cache_creation_input_tokens: "cache_write_tokens",
};
const OPTIONAL_USAGE_KEYS = ["reasoning_tokens", "input_cache_hit_tokens", "input_cache_miss_tokens", "cache_read_tokens", "cache_write_tokens"] as const;

/**
 * Script usage → `NativeUsage`, applying native's aliases (§1.5). Unknown keys are dropped;
 * `total_tokens`, when not given, is prompt + completion if both are known.
 */
export function normalizeUsage(raw: Record<string, number | null>): NativeUsage {
  const collected: Partial<Record<keyof NativeUsage, number | null>> = {};
  for (const [key, value] of Object.entries(raw)) {
    const target = USAGE_ALIASES[key];
    if (target && !(target in collected && key !== target)) collected[target] = value;
  }
  const prompt = collected.prompt_tokens ?? null;
  const completion = collected.completion_tokens ?? null;
  const usage: NativeUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: "total_tokens" in collected ? (collected.total_tokens ?? null) : prompt !== null && completion !== null ? prompt + completion : null,
  };
  for (const key of OPTIONAL_USAGE_KEYS) if (key in collected) usage[key] = collected[key] ?? null;
  return usage;
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

export interface RunnerHost {
  /** Aborted when the emulator closes: runners stop without finalising. */
  closing: AbortSignal;
  /** Called once when a bound run finishes a turn (succeeded/incomplete), to store it (§3.4). */
  onTurnFinished(run: RunRecord): void;
  /** Registers a new callback task (global index for cross-run checks). */
  registerTask(task: TaskRecord): void;
}

export interface PhaseOptions {
  emitStarted: boolean;
  /** Lazily computed default (echo / tool-results) answer. */
  defaultAnswer: () => string;
  /** Characters of model input for the computed prompt-token usage. */
  inputChars: number;
  timing: Timing;
}

/**
 * Runs one leg of a run against `sink`, leaving the run settled (terminal or waiting) unless it was
 * cancelled (the canceller already settled it; we only emit `run.cancelled`) or the emulator closed.
 */
export async function executePhase(host: RunnerHost, run: RunRecord, phase: PhaseScript | null, sink: EventSink, opts: PhaseOptions): Promise<void> {
  const signals = [run.cancel.signal, host.closing];
  const stopped = () => host.closing.aborted;
  const cancelled = () => run.status === "cancelled";
  run.phase = phase;
  run.status = "running";
  const workflowNode = { id: "node-llm", type: "llm", title: "LLM" };

  if (opts.emitStarted) {
    await sink.send("run.started", nextId(run, 1), ssePayload(run, "running", { context: true }), "started");
    if (run.request.workflowEvents) {
      await sink.send("workflow.event", nextId(run, 1), ssePayload(run, "running", { workflow: { type: "node_started", run_id: run.id, node: workflowNode, status: "running" } }), "other");
    }
  }

  // wait_ms: the run sits in `running` (cancel tests, §1.6).
  if (opts.timing.wait_ms) await sink.pause(opts.timing.wait_ms, "run", signals);
  if (stopped()) return;
  if (cancelled()) return emitTerminal(run, sink, false);

  const acc = new AnswerAccumulator();
  const failAfter = phase?.fail ? (phase.fail.after_deltas ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  const synthesized = phase?.synthesized_deltas === true;
  const { delta_delay_ms: deltaDelay, stall_ms: stall } = opts.timing;
  let count = 0;
  let stalled = false;
  for (const delta of phaseDeltas(phase, opts.defaultAnswer)) {
    if (count >= failAfter) break;
    if (deltaDelay) await sink.pause(deltaDelay, "transport", signals);
    if (stopped()) return;
    if (cancelled()) return emitTerminal(run, sink, false);
    acc.push(delta);
    if (!synthesized) await sink.send(`${delta.kind}.delta`, nextId(run, 2), ssePayload(run, "running", { delta: delta.text }), "delta");
    count += 1;
    if (count === 1 && stall) {
      stalled = true;
      await sink.pause(stall, "transport", signals);
    }
    // Let cancels and other requests in during very long answers.
    if (count % 512 === 0) await yieldToLoop();
    if (stopped()) return;
    if (cancelled()) return emitTerminal(run, sink, false);
  }
  if (stall && !stalled) await sink.pause(stall, "transport", signals);
  if (deltaDelay) await sink.pause(deltaDelay, "transport", signals);
  if (stopped()) return;
  if (cancelled()) return emitTerminal(run, sink, false);

  settle(host, run, phase, acc, opts.inputChars);
  if (run.request.workflowEvents) {
    // `settle` mutated the status (TS still narrows `run.status` to "running" here).
    const status = (run as RunRecord).status;
    await sink.send("workflow.event", nextId(run, 1), ssePayload(run, "running", { workflow: { type: "node_finished", run_id: run.id, node: workflowNode, status } }), "other");
  }
  await emitTerminal(run, sink, synthesized);
}

async function emitTerminal(run: RunRecord, sink: EventSink, synthesized: boolean): Promise<void> {
  if (synthesized) return emitSynthesizedTerminal(run, sink);
  const terminal = terminalEvent(run);
  if (terminal) await sink.send(terminal.name, nextId(run, 2), terminal.data, "terminal");
  else await sink.end();
}

/** Writes the leg's outcome into the durable record (before the terminal event goes out, §7). */
function settle(host: RunnerHost, run: RunRecord, phase: PhaseScript | null, acc: AnswerAccumulator, inputChars: number): void {
  run.usageAcc.prompt += Math.ceil(inputChars / 4);
  run.usageAcc.completion += Math.ceil((acc.reasoningChars + acc.messageChars) / 4);
  run.usageAcc.reasoning += Math.ceil(acc.reasoningChars / 4);
  if (phase?.usage) run.usage = normalizeUsage(phase.usage);
  else {
    const { prompt, completion, reasoning } = run.usageAcc;
    run.usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    if (reasoning > 0) run.usage.reasoning_tokens = reasoning;
  }
  run.answerTruncated = acc.truncated;

  if (phase?.fail) {
    run.status = "failed";
    run.error = { code: phase.fail.code, message: phase.fail.message, details: {} };
    run.answer = null;
    run.segments = null;
  } else if (phase?.tool_calls?.length) {
    const toolCalls: ToolCall[] = phase.tool_calls.map((c, i) => ({ id: c.id ?? `call_${i + 1}`, name: c.name, arguments: c.arguments }));
    const task: TaskRecord = {
      id: uuidv7(),
      runId: run.id,
      nodeRunId: uuidv7(),
      toolCalls,
      state: "pending",
      payloadFingerprint: null,
      result: null,
    };
    host.registerTask(task);
    run.pendingTask = task;
    run.status = "waiting";
    run.toolCalls = toolCalls;
    run.requiredAction = {
      action_type: "submit_tool_outputs",
      payload: {
        callback_task_id: task.id,
        callback_kind: "llm_tool_calls",
        flow_run_id: run.id,
        node_run_id: task.nodeRunId,
        request_payload: { tool_calls: toolCalls },
        tool_calls: toolCalls,
      },
    };
    run.answer = null;
    run.segments = null;
    run.error = null;
  } else {
    run.status = phase?.incomplete ? "incomplete" : "succeeded";
    run.answer = acc.answer(phase?.think_tags ?? true);
    run.segments = acc.segments.length ? acc.segments : null;
    run.error = null;
    run.requiredAction = null;
    run.toolCalls = null;
    host.onTurnFinished(run);
  }
  notify(run);
}

/** Cancel (§1.6): settles the run as cancelled; a live runner notices and emits `run.cancelled`. */
export function cancelRun(run: RunRecord): void {
  run.status = "cancelled";
  run.error = { code: "run_cancelled", message: "published run cancelled", details: {} };
  run.answer = null;
  run.segments = null;
  run.requiredAction = null;
  run.toolCalls = null;
  if (run.pendingTask) {
    run.pendingTask.state = "cancelled";
    run.pendingTask = null;
  }
  run.cancel.abort();
  notify(run);
}
