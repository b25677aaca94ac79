/**
 * `POST /api/agent/v1/runs` body validation with upstream 0.3 strictness (native-api.md §7), on top
 * of the fork's field-type pre-validation (§1.4): the emulator is deliberately the *stricter* of the
 * two versions so a gateway that passes against it works against both.
 */
import { type AppSeed, type NativeModel, REASONING_EFFORTS } from "./seed";
import { isPlainObject } from "./util";

export interface ValidationError {
  status: number;
  code: string;
  message: string;
}

export interface HistoryItem {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  [key: string]: unknown;
}

/**
 * The reasoning parameters both server versions accept. The fork takes `enabled|effort|budget_tokens`
 * (run_service/run_input.rs:110-116), 0.3 takes `mode|effort|budget_tokens` (native-api.md §7): the
 * emulator accepts only what both accept, so `enabled` and `mode` are rejected.
 */
export interface ReasoningParameters {
  effort?: string;
  budget_tokens?: number;
}

export interface NativeRequest {
  /** The body exactly as parsed (kept for the idempotency fingerprint and the request log). */
  raw: Record<string, unknown>;
  query: string;
  /** Top-level `system` merged with hoisted `history[].role=="system"` items (§1.4); null when empty. */
  system: string | null;
  model: string | null;
  inputs: Record<string, unknown>;
  /** History without the hoisted system items. */
  history: HistoryItem[];
  /**
   * Length of `history` as sent, before system items were hoisted: native decides on rehydration
   * from the raw list (run_service.rs:524 runs before the input mapper hoists system items).
   */
  sentHistoryLength: number;
  attachments: unknown[];
  conversation: Record<string, unknown> | null;
  expandId: string | null;
  responseMode: string;
  streamOptions: Record<string, unknown> | null;
  workflowEvents: boolean;
  execution: Record<string, unknown> | null;
  idempotencyKey: string | null;
  reasoning: ReasoningParameters | null;
  /** `execution.model_parameters` as native freezes it into `sys.model_parameters` (run_input.rs:204-215). */
  modelParameters: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
  traceId: string | null;
  title: string | null;
}

type Result<T> = { ok: true; value: T } | { ok: false; error: ValidationError };

const fieldError = (field: string, message = `invalid native request field: ${field}`): { ok: false; error: ValidationError } => ({
  ok: false,
  error: { status: 400, code: field, message },
});

/** 0.3 `NativeRunRequest` is `deny_unknown_fields` (§7). */
const KNOWN_FIELDS = new Set([
  "query",
  "system",
  "model",
  "inputs",
  "history",
  "attachments",
  "conversation",
  "expand_id",
  "response_mode",
  "stream_options",
  "execution",
  "metadata",
  "title",
  "request_context",
]);
/** Fields 0.3 names explicitly in its rejections: they get their own `code` (§7, §1.4). */
const REJECTED_FIELDS = new Set(["user_id", "compatibility_mode", "client_protocol_envelope"]);

const HISTORY_KEYS = new Set(["role", "content", "name", "tool_call_id", "is_error", "tool_calls", "content_blocks"]);
const HISTORY_ROLES = new Set(["system", "user", "assistant", "tool"]);
const ATTACHMENT_KEYS = new Set(["source", "value", "name", "mime_type", "metadata"]);
const ATTACHMENT_SOURCES = new Set(["upload_file_id", "url", "base64"]);
/** Keys an `inputs` object must not write at the start node (selector collision → invalid_mapping, §1.4). */
const RESERVED_INPUT_KEYS = new Set(["query", "model", "history", "files", "system"]);

export function validateRunRequest(body: unknown): Result<NativeRequest> {
  if (!isPlainObject(body)) return { ok: false, error: { status: 400, code: "body", message: "invalid native request body: expected a JSON object" } };

  for (const key of Object.keys(body)) {
    if (REJECTED_FIELDS.has(key)) return fieldError(key);
    if (!KNOWN_FIELDS.has(key)) return { ok: false, error: { status: 400, code: "body", message: "unknown Native request field" } };
  }

  const query = body.query;
  if (typeof query !== "string") return fieldError("query");

  const system = validateSystem(body.system);
  if (!system.ok) return system;

  if ("model" in body && typeof body.model !== "string") return fieldError("model");
  const model = typeof body.model === "string" ? body.model : null;

  let inputs: Record<string, unknown> = {};
  if ("inputs" in body) {
    if (!isPlainObject(body.inputs)) return fieldError("inputs");
    for (const key of Object.keys(body.inputs)) {
      if (RESERVED_INPUT_KEYS.has(key)) {
        return { ok: false, error: { status: 400, code: "invalid_mapping", message: "application public API mapping is invalid" } };
      }
    }
    inputs = body.inputs;
  }

  const history = validateHistory(body.history);
  if (!history.ok) return history;

  let attachments: unknown[] = [];
  if ("attachments" in body) {
    if (!Array.isArray(body.attachments)) return fieldError("attachments");
    for (const item of body.attachments) {
      if (!isPlainObject(item)) return fieldError("attachments");
      for (const key of Object.keys(item)) if (!ATTACHMENT_KEYS.has(key)) return fieldError("attachments", `unknown Native attachment field: ${key}`);
      if (typeof item.source !== "string" || !ATTACHMENT_SOURCES.has(item.source)) return fieldError("attachments");
      if (typeof item.value !== "string") return fieldError("attachments");
      if ("name" in item && typeof item.name !== "string") return fieldError("attachments");
      if ("mime_type" in item && typeof item.mime_type !== "string") return fieldError("attachments");
      if ("metadata" in item && !isPlainObject(item.metadata)) return fieldError("attachments");
    }
    attachments = body.attachments;
  }

  let conversation: Record<string, unknown> | null = null;
  if ("conversation" in body) {
    if (!isPlainObject(body.conversation)) return fieldError("conversation");
    for (const key of ["id", "user"] as const) {
      if (key in body.conversation && typeof body.conversation[key] !== "string") return fieldError("conversation");
    }
    conversation = body.conversation;
  }

  if ("expand_id" in body && typeof body.expand_id !== "string") return fieldError("expand_id");
  const expandId = typeof body.expand_id === "string" ? body.expand_id : null;

  if ("response_mode" in body && typeof body.response_mode !== "string") return fieldError("response_mode");
  const responseMode = typeof body.response_mode === "string" ? body.response_mode : "blocking";

  let streamOptions: Record<string, unknown> | null = null;
  let workflowEvents = false;
  if ("stream_options" in body) {
    if (!isPlainObject(body.stream_options)) return fieldError("stream_options");
    streamOptions = body.stream_options;
    const visibility = streamOptions.include_workflow_events;
    if (visibility !== undefined) {
      // 0.3 types this as none|public|debug; debug is console-only (§7).
      if (visibility === "debug") {
        return { ok: false, error: { status: 403, code: "workflow_event_visibility_forbidden", message: "debug workflow events are not available to API keys" } };
      }
      if (visibility !== "none" && visibility !== "public") return fieldError("stream_options");
      workflowEvents = visibility === "public";
    }
  }

  const execution = validateExecution(body.execution, "execution" in body);
  if (!execution.ok) return execution;

  let metadata: Record<string, unknown> | null = null;
  let traceId: string | null = null;
  if ("metadata" in body) {
    // 0.3 closes metadata to `trace_id` (§7, `native/metadata.rs`).
    if (!isPlainObject(body.metadata)) return fieldError("metadata");
    for (const key of Object.keys(body.metadata)) {
      if (key !== "trace_id") return fieldError("metadata", "unknown Native metadata field");
    }
    if ("trace_id" in body.metadata && typeof body.metadata.trace_id !== "string") return fieldError("metadata");
    metadata = body.metadata;
    traceId = typeof metadata.trace_id === "string" ? metadata.trace_id : null;
  }

  if ("title" in body && typeof body.title !== "string") return fieldError("title");
  const title = typeof body.title === "string" ? body.title : null;

  if ("request_context" in body && !isPlainObject(body.request_context)) return fieldError("request_context");

  // System hoisting (§1.4): top-level system first, then string-content system history items,
  // trimmed, joined with a blank line.
  const systemParts: string[] = [];
  if (system.value !== null && system.value.trim() !== "") systemParts.push(system.value.trim());
  const rest: HistoryItem[] = [];
  for (const item of history.value) {
    if (item.role === "system") {
      if (item.content.trim() !== "") systemParts.push(item.content.trim());
    } else rest.push(item);
  }

  return {
    ok: true,
    value: {
      raw: body,
      query,
      system: systemParts.length ? systemParts.join("\n\n") : null,
      model,
      inputs,
      history: rest,
      sentHistoryLength: history.value.length,
      attachments,
      conversation,
      expandId,
      responseMode,
      streamOptions,
      workflowEvents,
      execution: execution.value.execution,
      idempotencyKey: execution.value.idempotencyKey,
      reasoning: execution.value.reasoning,
      modelParameters: execution.value.modelParameters,
      metadata,
      traceId,
      title,
    },
  };
}

/** 0.3: `system` is a string or an array of text blocks with optional `cache_control` (§7). */
function validateSystem(value: unknown): Result<string | null> {
  if (value === undefined) return { ok: true, value: null };
  if (typeof value === "string") return { ok: true, value };
  if (!Array.isArray(value)) return fieldError("system");
  const texts: string[] = [];
  for (const block of value) {
    if (!isPlainObject(block) || block.type !== "text" || typeof block.text !== "string") return fieldError("system");
    for (const key of Object.keys(block)) if (!["type", "text", "cache_control"].includes(key)) return fieldError("system");
    if ("cache_control" in block) {
      const cc = block.cache_control;
      if (!isPlainObject(cc) || cc.type !== "ephemeral") return fieldError("system");
      if ("ttl" in cc && cc.ttl !== "5m" && cc.ttl !== "1h") return fieldError("system");
    }
    texts.push(block.text);
  }
  return { ok: true, value: texts.join("\n\n") };
}

/** 0.3 validates history items (§7): closed key set, role enum, string content, tool needs tool_call_id. */
function validateHistory(value: unknown): Result<HistoryItem[]> {
  if (value === undefined) return { ok: true, value: [] };
  if (!Array.isArray(value)) return fieldError("history");
  const items: HistoryItem[] = [];
  for (const [i, item] of value.entries()) {
    const bad = (what: string) => fieldError("history", `invalid native request field: history[${i}]${what}`);
    if (!isPlainObject(item)) return bad("");
    for (const key of Object.keys(item)) if (!HISTORY_KEYS.has(key)) return bad(`.${key} (unknown Native history field)`);
    if (typeof item.role !== "string" || !HISTORY_ROLES.has(item.role)) return bad(".role");
    if ("content" in item && typeof item.content !== "string") return bad(".content");
    if ("name" in item && typeof item.name !== "string") return bad(".name");
    if ("tool_call_id" in item && typeof item.tool_call_id !== "string") return bad(".tool_call_id");
    if (item.role === "tool" && typeof item.tool_call_id !== "string") return bad(".tool_call_id (required for role tool)");
    if ("is_error" in item && typeof item.is_error !== "boolean") return bad(".is_error");
    if ("tool_calls" in item) {
      if (!Array.isArray(item.tool_calls)) return bad(".tool_calls");
      for (const call of item.tool_calls) {
        if (!isPlainObject(call) || typeof call.id !== "string" || typeof call.name !== "string") return bad(".tool_calls");
      }
    }
    if ("content_blocks" in item) {
      if (!Array.isArray(item.content_blocks) || !item.content_blocks.every(isPlainObject)) return bad(".content_blocks");
    }
    items.push({ ...item, role: item.role as HistoryItem["role"], content: typeof item.content === "string" ? item.content : "" });
  }
  return { ok: true, value: items };
}

interface ExecutionParts {
  execution: Record<string, unknown> | null;
  idempotencyKey: string | null;
  reasoning: ReasoningParameters | null;
  modelParameters: Record<string, unknown> | null;
}

const modelParamError = (field: string): { ok: false; error: ValidationError } => ({
  ok: false,
  error: { status: 400, code: "invalid_model_parameters", message: `invalid native request model parameter field: ${field}` },
});

/** `execution` (§1.4.1, §7): idempotency_key, operation, model_parameters.reasoning{effort,budget_tokens}. */
function validateExecution(value: unknown, present: boolean): Result<ExecutionParts> {
  const empty: ExecutionParts = { execution: null, idempotencyKey: null, reasoning: null, modelParameters: null };
  if (!present) return { ok: true, value: empty };
  if (!isPlainObject(value)) return fieldError("execution");
  for (const key of Object.keys(value)) {
    if (key === "compatibility_mode") return fieldError("compatibility_mode");
    if (!["idempotency_key", "model_parameters", "operation"].includes(key)) {
      return fieldError("execution", `unknown Native execution field: ${key}`);
    }
  }
  if ("idempotency_key" in value && typeof value.idempotency_key !== "string") {
    return { ok: false, error: { status: 400, code: "invalid_idempotency_key", message: "execution.idempotency_key must be a string" } };
  }
  if ("operation" in value) {
    if (typeof value.operation !== "string") return { ok: false, error: { status: 400, code: "invalid_execution_operation", message: "invalid execution.operation" } };
    if (value.operation === "count_tokens") {
      return { ok: false, error: { status: 400, code: "invalid_execution_operation", message: "execution.operation count_tokens is not a run" } };
    }
  }
  let reasoning: ReasoningParameters | null = null;
  let modelParameters: Record<string, unknown> | null = null;
  if ("model_parameters" in value) {
    const mp = value.model_parameters;
    // Only `reasoning` (run_input.rs:88-100; the fork rejects e.g. 0.3's `max_output_tokens`).
    if (!isPlainObject(mp)) return modelParamError("execution.model_parameters");
    for (const key of Object.keys(mp)) if (key !== "reasoning") return modelParamError("execution.model_parameters");
    // Without `reasoning` native freezes `{}` and checks nothing (run_input.rs:101-103).
    modelParameters = {};
    if ("reasoning" in mp) {
      const r = mp.reasoning;
      const base = "execution.model_parameters.reasoning";
      if (!isPlainObject(r)) return modelParamError(base);
      // The fork names the object, not the key, for an unknown key (run_input.rs:110-116).
      for (const key of Object.keys(r)) if (key !== "effort" && key !== "budget_tokens") return modelParamError(base);
      reasoning = {};
      if ("effort" in r) {
        // Trimmed, non-empty, and one of the closed set, before any catalog check (run_input.rs:129-148).
        const effort = typeof r.effort === "string" ? r.effort.trim() : "";
        if (!(REASONING_EFFORTS as readonly string[]).includes(effort)) return modelParamError(`${base}.effort`);
        reasoning.effort = effort;
      }
      if ("budget_tokens" in r) {
        const b = r.budget_tokens;
        if (typeof b !== "number" || !Number.isSafeInteger(b) || b <= 0) return modelParamError(`${base}.budget_tokens`);
        reasoning.budget_tokens = b;
      }
      // The frozen form always carries `enabled` (default true) — run_input.rs:204-211.
      modelParameters = { reasoning: { enabled: true, ...reasoning } };
    }
  }
  return {
    ok: true,
    value: {
      execution: value,
      idempotencyKey: typeof value.idempotency_key === "string" ? value.idempotency_key : null,
      reasoning,
      modelParameters,
    },
  };
}

/**
 * Catalog checks for reasoning parameters (run_input.rs:160-202). `enabled` defaults to true, so any
 * `reasoning` object — even `{}` — requires a reasoning-capable catalog model.
 */
export function checkReasoningAgainstCatalog(req: NativeRequest, app: AppSeed): ValidationError | null {
  const r = req.reasoning;
  if (!r) return null;
  const err = (field: string): ValidationError => ({
    status: 400,
    code: "invalid_model_parameters",
    message: `invalid native request model parameter field: ${field}`,
  });
  const modelId = req.model?.trim() ?? "";
  const model: NativeModel | undefined = modelId === "" ? undefined : app.models.find((m) => m.id === modelId);
  if (!model) return err("model");
  const efforts = model.reasoning?.supported_efforts ?? [];
  const supportsReasoning = model.capabilities.reasoning || model.reasoning?.default_effort !== undefined || efforts.length > 0;
  if (!supportsReasoning) return err("execution.model_parameters.reasoning");
  if (r.effort !== undefined && efforts.length > 0 && !efforts.includes(r.effort)) return err("execution.model_parameters.reasoning.effort");
  if (r.budget_tokens !== undefined && model.max_output_tokens !== undefined && r.budget_tokens > model.max_output_tokens) {
    return err("execution.model_parameters.reasoning.budget_tokens");
  }
  return null;
}
