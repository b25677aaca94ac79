/**
 * The run's runtime event stream, as the fork keeps it in memory (api-server
 * `host_infrastructure/local_runtime_event_stream.rs`): one log per run, shared by every execution
 * of that run and by every SSE subscriber. Executions append *runtime* events (`flow_started`,
 * `text_delta`, `flow_finished`, …); each native SSE response is a subscriber that projects them
 * (stream.ts, after `routes/application_public_api/sse.rs`).
 *
 * What this buys, and why it is shaped like this:
 * - two executions of one run (an idempotent replay of a running run re-executes it,
 *   control-plane `orchestration_runtime.rs:597-617`) append to the same log, so every subscriber
 *   sees both interleaved;
 * - a subscriber that arrives late replays the log from the start (`subscribe(run_id, None)`,
 *   `replay_from_ring` with sequence 0) and then receives live events;
 * - an execution closes the log after its terminal event (`close_run`); later appends are dropped
 *   ("runtime event stream is closed"); a new streaming request for the run replaces a closed log
 *   by a fresh, empty one (`open_run`, local_runtime_event_stream.rs:284-306).
 */

export interface WorkflowNode {
  id: string;
  type: string;
  title: string;
}

/** Runtime events (control-plane `orchestration_runtime/debug_stream_events/mod.rs`). */
export type RuntimeEvent =
  | { type: "flow_started" }
  /** Answer-presentation deltas (the only deltas the native SSE forwards, sse.rs:157-191). */
  | { type: "text_delta" | "reasoning_delta"; text: string }
  | { type: "node_started" | "node_finished"; node: WorkflowNode; status: string }
  /** `output` is the flow's output payload: native projects answer/usage/attachments from it (sse.rs:63-97). */
  | { type: "flow_finished" | "flow_incomplete"; output: Record<string, unknown> }
  /** `error` is the payload's `error` string (debug_stream_events/mod.rs:53-79). */
  | { type: "flow_failed"; error: string }
  | { type: "flow_cancelled" }
  | { type: "waiting_callback"; requiredAction: Record<string, unknown> }
  | { type: "waiting_human" };

export interface RuntimeEnvelope {
  /** `<run_id>:<sequence>` ids; `sequence` 0 is used only by synthesized events (sse.rs:527-531). */
  sequence: number;
  event: RuntimeEvent;
  occurredAt: Date;
}

export const TERMINAL_EVENT_TYPES: ReadonlySet<RuntimeEvent["type"]> = new Set([
  "flow_finished",
  "flow_incomplete",
  "flow_failed",
  "flow_cancelled",
  "waiting_callback",
  "waiting_human",
]);

export interface RuntimeSubscriber {
  /**
   * Called synchronously, in sequence order; a returned promise is the subscriber's write
   * backpressure. A subscriber may unsubscribe itself from inside `deliver`.
   */
  deliver(envelope: RuntimeEnvelope): Promise<void> | void;
  /** Hands buffered output to the client (called before an execution sits idle). */
  flush(): Promise<void>;
  /** False once the client has gone or the subscriber has ended its stream. */
  readonly open: boolean;
}

/** `RuntimeEventStreamPolicy::debug_default()` keeps at most this many events per run. */
const MAX_RETAINED_EVENTS = 20_000;

/**
 * Events that survive ring trimming (`DropOldEphemeralKeepRequired`): everything but answer
 * deltas, which the runtime appends as ephemeral events.
 */
function isRequired(event: RuntimeEvent): boolean {
  return event.type !== "text_delta" && event.type !== "reasoning_delta";
}

export class RunEventLog {
  private lastSequence = 0;
  private readonly required: RuntimeEnvelope[] = [];
  /** Ephemeral events, oldest first from `ephemeralHead` (a deque without O(n) shifts). */
  private ephemeral: RuntimeEnvelope[] = [];
  private ephemeralHead = 0;
  private readonly subscribers = new Set<RuntimeSubscriber>();
  private closed = false;
  /** True once any subscriber attached: the run has (had) a streaming client. */
  private everSubscribed = false;

  /** Appends with a sequence `step` above the previous event (internal events take numbers too, §2.1). */
  append(event: RuntimeEvent, step: number, options: { closeAfter?: boolean } = {}): Promise<void> | void {
    if (this.closed) return;
    this.lastSequence += step;
    const envelope: RuntimeEnvelope = { sequence: this.lastSequence, event, occurredAt: new Date() };
    this.retain(envelope);
    if (options.closeAfter) this.closed = true;
    // Hot path (one call per delta): no arrays unless several subscribers push back at once.
    let pending: Promise<void> | undefined;
    let many: Array<Promise<void>> | undefined;
    for (const subscriber of this.subscribers) {
      const result = subscriber.deliver(envelope);
      if (!result) continue;
      if (pending === undefined) pending = result;
      else (many ??= [pending]).push(result);
    }
    if (many) return Promise.all(many).then(() => undefined);
    return pending;
  }

  /** Registers a subscriber and returns the retained events it must replay first, in order. */
  subscribe(subscriber: RuntimeSubscriber): RuntimeEnvelope[] {
    this.everSubscribed = true;
    this.subscribers.add(subscriber);
    const ephemeral = this.ephemeral.slice(this.ephemeralHead);
    if (ephemeral.length === 0) return [...this.required];
    const merged: RuntimeEnvelope[] = [];
    let i = 0;
    let j = 0;
    while (i < this.required.length || j < ephemeral.length) {
      const a = this.required[i];
      const b = ephemeral[j];
      if (b === undefined || (a !== undefined && a.sequence < b.sequence)) {
        if (a) merged.push(a);
        i += 1;
      } else {
        merged.push(b);
        j += 1;
      }
    }
    return merged;
  }

  unsubscribe(subscriber: RuntimeSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  /** `open_run`: a closed stream is replaced by a fresh, empty one; an open one is kept. */
  reopenIfClosed(): void {
    if (!this.closed) return;
    this.closed = false;
    this.lastSequence = 0;
    this.required.length = 0;
    this.ephemeral = [];
    this.ephemeralHead = 0;
  }

  /** Flushes every open subscriber (an execution is about to sit idle). */
  async flush(): Promise<void> {
    await Promise.all([...this.subscribers].filter((s) => s.open).map((s) => s.flush()));
  }

  /**
   * Transport-only pauses (stall, delta delays) are skipped once every streaming client has gone;
   * a run that never had a streaming client (blocking) still takes its time.
   */
  get clientsGone(): boolean {
    return this.everSubscribed && ![...this.subscribers].some((s) => s.open);
  }

  private retain(envelope: RuntimeEnvelope): void {
    if (isRequired(envelope.event)) this.required.push(envelope);
    else this.ephemeral.push(envelope);
    const live = this.ephemeral.length - this.ephemeralHead;
    if (this.required.length + live > MAX_RETAINED_EVENTS && live > 0) {
      this.ephemeralHead += 1;
      // Compact now and then so the dropped prefix does not pin memory.
      if (this.ephemeralHead > 4096 && this.ephemeralHead * 2 > this.ephemeral.length) {
        this.ephemeral = this.ephemeral.slice(this.ephemeralHead);
        this.ephemeralHead = 0;
      }
    }
  }
}
