/**
 * One native SSE response: a subscriber of the run's runtime event log that projects runtime events
 * to native SSE events exactly as the fork's `send_native_runtime_event_stream` does (api-server
 * `routes/application_public_api/sse.rs:341-446`):
 *
 * - replay the retained events, then forward live ones; stop after the first terminal event
 *   (`flow_finished`, `flow_failed`, `flow_cancelled`, `waiting_callback`, `waiting_human`);
 * - before a terminal event, if no answer delta went out yet, synthesize the answer deltas from the
 *   terminal payload (ids `:1`, `:2`, …; sse.rs:363-370, 396-403, 580-622);
 * - every `pollMs` (first tick at once, sse.rs:382-383) reload the durable run; if it is terminal,
 *   emit the durable fallback — a synthesized `run.started` (`:0`) if nothing public went out, the
 *   synthesized answer deltas if none went out, the terminal built from the record (`:0`) — and end
 *   (sse.rs:482-560). This is the only way a cancel reaches a stream: cancel just updates the row.
 */
import { type Segment, extractAnswer, extractSegments, splitThinkTags } from "./answers";
import { type RuntimeEnvelope, type RuntimeEvent, type RunEventLog, type RuntimeSubscriber, TERMINAL_EVENT_TYPES } from "./events";
import type { EventKind, SseWriter } from "./sse";
import { rfc3339 } from "./util";

export interface NativeStreamOptions {
  runId: string;
  /** The create-time metadata of the request that opened this stream (`initial_run.metadata`). */
  metadata: Record<string, unknown>;
  /** `include_workflow_events: "public"` (native.rs:580-589). */
  workflowEvents: boolean;
  /** The durable fallback's poll interval (the fork's is 500 ms). */
  pollMs: number;
  /** The terminal runtime event native would build from the durable run, or null while it is not terminal. */
  durableTerminal(): RuntimeEvent | null;
}

interface SsePayloadFields {
  delta?: string;
  answer?: string;
  context?: boolean;
  usage?: { value: unknown };
  attachments?: { value: unknown };
  error?: Record<string, unknown>;
  workflow?: Record<string, unknown>;
  required_action?: Record<string, unknown>;
}

export class NativeStream implements RuntimeSubscriber {
  private emittedPublicEvent = false;
  private emittedAnswerDelta = false;
  private finished = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private log: RunEventLog | null = null;
  private resolveDone!: () => void;
  /** Resolves when the response has ended (terminal sent, fallback sent, or client gone). */
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly writer: SseWriter,
    private readonly options: NativeStreamOptions,
  ) {
    writer.onClose(() => this.finish());
  }

  get open(): boolean {
    return !this.finished && this.writer.live;
  }

  /** `stream.subscribe(run_id, None)`: replay from the start, then live; starts the durable poll. */
  start(log: RunEventLog): void {
    this.log = log;
    const replay = log.subscribe(this);
    for (const envelope of replay) {
      if (this.finished) break;
      void this.deliver(envelope);
    }
    if (this.finished) return;
    // tokio's interval ticks immediately, then every period (MissedTickBehavior::Delay).
    setImmediate(() => this.poll());
    this.pollTimer = setInterval(() => this.poll(), this.options.pollMs);
    this.pollTimer.unref();
  }

  deliver(envelope: RuntimeEnvelope): Promise<void> | void {
    if (this.finished) return;
    const event = envelope.event;
    const id = `${this.options.runId}:${envelope.sequence}`;
    // Hot path: a live answer delta.
    if (event.type === "text_delta" || event.type === "reasoning_delta") {
      this.emittedPublicEvent = true;
      this.emittedAnswerDelta = true;
      const name = event.type === "text_delta" ? "message.delta" : "reasoning.delta";
      return this.writer.send(name, id, this.payload("running", { delta: event.text }, envelope.occurredAt), "delta");
    }
    const isTerminal = TERMINAL_EVENT_TYPES.has(event.type);
    const pending: Array<Promise<void>> = [];
    if (isTerminal && !this.emittedAnswerDelta) {
      const synthesized = this.synthesizedDeltas(event);
      this.emittedAnswerDelta ||= synthesized.length > 0;
      pending.push(...synthesized);
    }
    const projected = this.project(event, envelope.occurredAt);
    if (projected) {
      this.emittedPublicEvent = true;
      pending.push(this.writer.send(projected.name, id, projected.data, projected.kind));
    }
    if (isTerminal) this.finish();
    if (pending.length === 0) return;
    return pending.length === 1 ? pending[0] : Promise.all(pending).then(() => undefined);
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  private poll(): void {
    if (this.finished) return;
    const terminal = this.options.durableTerminal();
    if (!terminal) return;
    const runId = this.options.runId;
    if (!this.emittedPublicEvent) {
      const started = this.project({ type: "flow_started" });
      if (started) void this.writer.send(started.name, `${runId}:0`, started.data, started.kind);
    }
    if (!this.emittedAnswerDelta) this.synthesizedDeltas(terminal);
    const projected = this.project(terminal);
    if (projected) void this.writer.send(projected.name, `${runId}:0`, projected.data, projected.kind);
    this.finish();
  }

  /** `terminal_answer_delta_sse_events`: deltas from `output.answer_segments`, else the split answer. */
  private synthesizedDeltas(terminal: RuntimeEvent): Array<Promise<void>> {
    const deltas = terminalAnswerDeltas(terminal);
    return deltas.map((delta, index) =>
      this.writer.send(`${delta.kind}.delta`, `${this.options.runId}:${index + 1}`, this.payload("running", { delta: delta.text }), "delta"),
    );
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.log?.unsubscribe(this);
    void this.writer.end().then(() => this.resolveDone());
  }

  /** `native_sse_payload_for_runtime_event` (sse.rs:128-309); null for events native does not forward. */
  private project(event: RuntimeEvent, at: Date = new Date()): { name: string; data: Record<string, unknown>; kind: EventKind } | null {
    switch (event.type) {
      case "flow_started":
        return { name: "run.started", data: this.payload("running", { context: true }, at), kind: "started" };
      case "reasoning_delta":
        return { name: "reasoning.delta", data: this.payload("running", { delta: event.text }, at), kind: "delta" };
      case "text_delta":
        return { name: "message.delta", data: this.payload("running", { delta: event.text }, at), kind: "delta" };
      case "node_started":
      case "node_finished":
        if (!this.options.workflowEvents) return null;
        return {
          name: "workflow.event",
          data: this.payload("running", { workflow: { type: event.type, run_id: this.options.runId, node: event.node, status: event.status } }, at),
          kind: "other",
        };
      case "waiting_callback":
        return { name: "required_action", data: this.payload("waiting", { context: true, required_action: event.requiredAction }, at), kind: "terminal" };
      case "waiting_human":
        // No `required_action` in the payload: the fallback `{type, run_id}` (sse.rs:311-325).
        return {
          name: "required_action",
          data: this.payload("waiting", { context: true, required_action: { type: "waiting_human", run_id: this.options.runId } }, at),
          kind: "terminal",
        };
      case "flow_finished":
      case "flow_incomplete": {
        // answer/usage/attachments straight from the flow output: usage is the raw `output.usage`,
        // present whenever the key is, even as null (sse.rs:63-97).
        const output = event.output;
        const answer = extractAnswer(output);
        const fields: SsePayloadFields = { context: true };
        if (answer !== null) fields.answer = answer;
        if ("usage" in output) fields.usage = { value: output.usage };
        if ("attachments" in output) fields.attachments = { value: output.attachments };
        // `flow_incomplete`/`run.incomplete` is 0.3's (native-api.md §7); the fork has no such status.
        const incomplete = event.type === "flow_incomplete";
        return { name: incomplete ? "run.incomplete" : "run.completed", data: this.payload(incomplete ? "incomplete" : "succeeded", fields, at), kind: "terminal" };
      }
      case "flow_failed":
        // Always `runtime_error`: the failure class is not on the live event (sse.rs:256-263).
        return {
          name: "run.failed",
          data: this.payload("failed", { context: true, error: { code: "runtime_error", message: event.error } }, at),
          kind: "terminal",
        };
      case "flow_cancelled":
        // No `error` (sse.rs:268-289).
        return { name: "run.cancelled", data: this.payload("cancelled", { context: true }, at), kind: "terminal" };
    }
  }

  /**
   * `NativeSsePayload` (sse.rs:31-54): run_id/status/created_at (the event's occurrence, RFC 3339,
   * sse.rs:56-61), then the optional fields in struct order.
   */
  private payload(status: string, f: SsePayloadFields, at: Date = new Date()): Record<string, unknown> {
    const out: Record<string, unknown> = { run_id: this.options.runId, status, created_at: rfc3339(at) };
    if (f.delta !== undefined) out.delta = f.delta;
    if (f.answer !== undefined) out.answer = f.answer;
    if (f.context) {
      const request = this.options.metadata.request;
      const conversation = typeof request === "object" && request !== null ? (request as Record<string, unknown>).conversation : undefined;
      if (conversation !== undefined && conversation !== null) out.conversation = conversation;
    }
    if (f.usage) out.usage = f.usage.value;
    if (f.attachments) out.attachments = f.attachments.value;
    if (f.context) out.metadata = this.options.metadata;
    if (f.error) out.error = f.error;
    if (f.workflow) out.workflow = f.workflow;
    if (f.required_action) out.required_action = f.required_action;
    return out;
  }
}

/**
 * `terminal_answer_deltas_from_payload` (stream_terminal_fallback.rs:251-306): structured
 * `output.answer_segments`, else the answer text found under `output` (`answer`, `text`, `output`,
 * recursively) split on `<think>`. Failed, cancelled and waiting payloads carry no output.
 */
function terminalAnswerDeltas(event: RuntimeEvent): Segment[] {
  if (event.type !== "flow_finished" && event.type !== "flow_incomplete") return [];
  const segments = extractSegments(event.output);
  if (segments) return segments;
  const answer = answerTextFromValue(event.output, 0);
  return answer === null ? [] : splitThinkTags(answer, false);
}

/** `terminal_answer_text_from_value` (stream_terminal_fallback.rs:506-533), artifacts aside. */
function answerTextFromValue(value: unknown, depth: number): string | null {
  if (depth > 8) return null;
  if (typeof value === "string") return value === "" ? null : value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const object = value as Record<string, unknown>;
  for (const key of ["answer", "text", "output"]) {
    if (!(key in object)) continue;
    const found = answerTextFromValue(object[key], depth + 1);
    if (found !== null) return found;
  }
  return null;
}
