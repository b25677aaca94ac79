/**
 * zod schemas for the 1flowbase native public API (`/api/agent/v1`).
 *
 * Facts come from `shared/reference/native-api.md`. The gateway must run against both the 0.2.x fork
 * and 0.3.x upstream (§7), so:
 * - the *request* schema is the intersection both accept: no `compatibility_mode`, no `user_id`,
 *   `metadata` limited to `trace_id`, history items limited to the 0.3 key set, and
 *   `execution.model_parameters.reasoning` without the 0.2-only `enabled` key;
 * - the *response* schemas are lenient (`.loose()`) and tolerate 0.3 additions (`incomplete`,
 *   `run.incomplete`, `operation_terminal`, normalized usage).
 */
import * as z from "../zod";
import { lazySchema } from "../lazy";

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/** A content block carried on a history item (images, documents). Opaque to native 0.2. */
export const NativeContentBlock = lazySchema(() => z.record(z.string(), z.unknown()));

export const NativeToolCall = lazySchema(() => z.object({
  id: z.string(),
  name: z.string(),
  /** Object in the fork's records; we send the parsed object when the JSON parses, else the raw string. */
  arguments: z.optional(z.unknown()),
}));
export type NativeToolCall = z.infer<typeof NativeToolCall>;

/** History item keys accepted by 0.3 (`deny_unknown_fields`); 0.2 accepts any object. */
export const NativeHistoryItem = lazySchema(() => z.strictObject({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string(),
  name: z.optional(z.string()),
  tool_call_id: z.optional(z.string()),
  is_error: z.optional(z.boolean()),
  tool_calls: z.optional(z.array(NativeToolCall)),
  content_blocks: z.optional(z.array(NativeContentBlock)),
}));
export type NativeHistoryItem = z.infer<typeof NativeHistoryItem>;

/** `inputs.tools[]` as the runtime reads them. */
export const NativeToolDefinition = lazySchema(() => z.object({
  name: z.string(),
  source: z.string(),
  description: z.optional(z.string()),
  input_schema: z.optional(z.unknown()),
}));
export type NativeToolDefinition = z.infer<typeof NativeToolDefinition>;

export const NativeReasoningParameters = lazySchema(() => z.strictObject({
  /** 0.2 accepts `enabled|effort|budget_tokens`, 0.3 `mode|effort|budget_tokens` (§1.4.1, §7): we send
   *  only the two keys both accept. Reasoning is on by default in both versions. */
  effort: z.optional(z.string()),
  budget_tokens: z.optional(z.number().check(z.int(), z.gt(0))),
}));

export const NativeRunRequest = lazySchema(() => z.strictObject({
  query: z.string(),
  system: z.optional(z.string()),
  model: z.optional(z.string()),
  inputs: z.optional(z.record(z.string(), z.unknown())),
  history: z.optional(z.array(NativeHistoryItem)),
  conversation: z.optional(z.strictObject({ id: z.optional(z.string()), user: z.optional(z.string()) })),
  response_mode: z.optional(z.enum(["blocking", "streaming"])),
  execution: z.optional(z
    .strictObject({
      idempotency_key: z.optional(z.string()),
      // `max_output_tokens`: upstream 0.3 only; the fork refuses it (run-steps.ts asks once per isolate).
      model_parameters: z.optional(z.strictObject({ reasoning: z.optional(NativeReasoningParameters), max_output_tokens: z.optional(z.number().check(z.int(), z.gt(0))) })),
    })),
  /** Upstream 0.3 closes `metadata` to `trace_id` only. */
  metadata: z.optional(z.strictObject({ trace_id: z.optional(z.string()) })),
  title: z.optional(z.string()),
}));
export type NativeRunRequest = z.infer<typeof NativeRunRequest>;

/** `POST /runs/{id}/resume` body for an `llm_tool_calls` callback task. */
export const NativeResumeRequest = lazySchema(() => z.strictObject({
  callback_task_id: z.string(),
  response_payload: z.object({
    tool_results: z.array(z.object({ tool_call_id: z.string(), content: z.unknown() })),
  }),
}));
export type NativeResumeRequest = z.infer<typeof NativeResumeRequest>;

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------


export const NativeRunStatus = lazySchema(() => z.enum([
  "created",
  "queued",
  "running",
  "waiting",
  "succeeded",
  "failed",
  "cancelled",
  "incomplete",
]));
export type NativeRunStatus = z.infer<typeof NativeRunStatus>;

export const NativeRequiredAction = lazySchema(() => z.looseObject({
    action_type: z.string(),
    payload: z.looseObject({
        callback_task_id: z.string(),
        callback_kind: z.nullable(z.optional(z.string())),
        flow_run_id: z.nullable(z.optional(z.string())),
        node_run_id: z.nullable(z.optional(z.string())),
        request_payload: z.optional(z.unknown()),
        /** Each call is validated by the answer reader (`readToolCallTask`): a bad call is a 502, not a parse failure. */
        tool_calls: z.nullable(z.optional(z.array(z.unknown()))),
      }),
  }));
export type NativeRequiredAction = z.infer<typeof NativeRequiredAction>;

export const NativeRunError = lazySchema(() => z.looseObject({ code: z.optional(z.nullable(z.string())), message: z.optional(z.nullable(z.string())), details: z.optional(z.unknown()) }));
export type NativeRunError = z.infer<typeof NativeRunError>;

export const NativeAnswerSegment = lazySchema(() => z.looseObject({ kind: z.string(), text: z.string() }));

/**
 * `NativeRunResponse` (blocking create, GET, cancel, resume). `node_input_payload` is kept because
 * the gateway reads the frozen `node-start` (history, query, system) for input_items and chaining;
 * it contains `env` (secrets) and must never be forwarded — nothing in this project serialises it.
 */
export const NativeRun = lazySchema(() => z.looseObject({
    id: z.string(),
    status: z.union([NativeRunStatus, z.string()]),
    node_input_payload: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
    metadata: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
    answer: z.optional(z.nullable(z.string())),
    answer_segments: z.optional(z.nullable(z.array(NativeAnswerSegment))),
    /** Read with `parseRequiredAction`: a human-approval wait carries `null` (errata 5). */
    required_action: z.optional(z.unknown()),
    tool_calls: z.optional(z.nullable(z.array(z.unknown()))),
    /** Read with `readUsage` (usage.ts): the flow's output usage, any shape (errata 6). */
    usage: z.optional(z.unknown()),
    error: z.optional(z.nullable(NativeRunError)),
    created_at: z.optional(z.string()),
  }));
export type NativeRun = z.infer<typeof NativeRun>;

/**
 * A `required_action` that names a resumable callback task, or null: the fork's fallback payload
 * for a human-approval wait is `{type, run_id}` with no `action_type` and no payload (`sse.rs`
 * ~311–325), and the record of such a run has `required_action: null` (errata 5).
 */
export function parseRequiredAction(value: unknown): NativeRequiredAction | null {
  if (value === null || value === undefined) return null;
  const parsed = NativeRequiredAction.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Success envelope `{data, meta}` of every native JSON success but `/models`. */
export const NativeRunEnvelope = lazySchema(() => z.looseObject({ data: NativeRun, meta: z.optional(z.unknown()) }));

export const NativeModel = lazySchema(() => z.looseObject({
    id: z.string(),
    name: z.optional(z.string()),
    context_window: z.optional(z.number()),
    max_context_window: z.optional(z.number()),
    max_output_tokens: z.optional(z.number()),
    capabilities: z.optional(z.looseObject({
        reasoning: z.optional(z.boolean()),
        tool_call: z.optional(z.boolean()),
        multimodal: z.optional(z.boolean()),
        structured_output: z.optional(z.boolean()),
      })),
    reasoning: z.optional(z.looseObject({ default_effort: z.optional(z.nullable(z.string())), supported_efforts: z.optional(z.array(z.string())) })),
  }));
export type NativeModel = z.infer<typeof NativeModel>;

export const NativeModelList = lazySchema(() => z.looseObject({ object: z.optional(z.string()), data: z.array(NativeModel) }));
export type NativeModelList = z.infer<typeof NativeModelList>;

/** Native error body `{code, message}` (no `status`). */
export const NativeErrorBody = lazySchema(() => z.looseObject({ code: z.string(), message: z._default(z.optional(z.string()), "") }));

// ---------------------------------------------------------------------------------------------
// SSE events
// ---------------------------------------------------------------------------------------------

/** Event names native emits (§2.2) plus 0.3's `run.incomplete`. */
export const NATIVE_TERMINAL_EVENTS = new Set([
  "run.completed",
  "run.incomplete",
  "run.failed",
  "run.cancelled",
  "required_action",
]);

/**
 * One decoded native SSE event. `data` is the `NativeSsePayload` struct; the decoder checks the
 * shape cheaply for hot-path deltas (`delta` must be a string) and fully (zod) for terminal events.
 */
export type NativeEvent =
  | { readonly event: "run.started"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "reasoning.delta"; readonly id: string | null; readonly data: NativeDeltaData }
  | { readonly event: "message.delta"; readonly id: string | null; readonly data: NativeDeltaData }
  | { readonly event: "usage.delta"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "workflow.event"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "required_action"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "run.completed"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "run.incomplete"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "run.failed"; readonly id: string | null; readonly data: NativeEventData }
  | { readonly event: "run.cancelled"; readonly id: string | null; readonly data: NativeEventData };

export type NativeEventName = NativeEvent["event"];

export const NativeEventData = lazySchema(() => z.looseObject({
    run_id: z.string(),
    status: z.string(),
    created_at: z.optional(z.string()),
    delta: z.optional(z.string()),
    answer: z.optional(z.nullable(z.string())),
    answer_segments: z.optional(z.nullable(z.array(NativeAnswerSegment))),
    conversation: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
    /** The flow's raw output usage on `run.completed` (`sse.rs` ~90): read leniently by `readUsage`. */
    usage: z.optional(z.unknown()),
    metadata: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
    error: z.optional(z.nullable(NativeRunError)),
    /** Read with `parseRequiredAction`: may be the `{type, run_id}` fallback (errata 5). */
    required_action: z.optional(z.unknown()),
  }));
export type NativeEventData = z.infer<typeof NativeEventData>;

/** Hot-path delta payload: validated with a typeof check, not zod (see events.ts). */
export interface NativeDeltaData {
  readonly run_id: string;
  readonly status: string;
  readonly delta: string;
  readonly created_at?: string;
}

