/**
 * The emulator's scripting contract: how a test (or a person trying the gateway) makes the
 * emulated 1flowbase run do a particular thing.
 *
 * A script rides inside the user's text, so it reaches native through every client protocol
 * unchanged: put `[[emu:{...json...}]]` anywhere in the last user message. The directive is removed
 * from the text the emulated model sees. With no directive the run answers deterministically:
 *
 *   answer = `You said: ${query}`
 *          + (system ? ` [system: ${system}]` : "")
 *          + (history.length ? ` [history: ${history.map(h => `${h.role}: ${h.content}`).join(" | ")}]` : "")
 *
 * (history = the explicit `history` the request sent, or the conversation history native rehydrated).
 * The answer is streamed as `message.delta` events of at most 8 characters each. Without a directive
 * the run still calls a tool when `inputs.tool_choice` forces one (emulator/tool-choice.ts).
 *
 * This file is shared by the emulator and the tests; it imports nothing from `src/`.
 */
import * as z from "zod";

export const EmulatorToolCall = z.object({
  /** Native tool call id; default `call_<n>`. */
  id: z.string().optional(),
  name: z.string(),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

const Usage = z.record(z.string(), z.number().int().nonnegative().nullable());

/** `ProviderRuntimeErrorKind` (plugin-framework provider_contract.rs:361-370) plus failover exhaustion. */
export const PROVIDER_ERROR_CODES = [
  "auth_failed",
  "endpoint_unreachable",
  "model_not_found",
  "rate_limited",
  "provider_upstream_error",
  "provider_invalid_response",
  "provider_unavailable",
] as const;

/**
 * A failing LLM node (emulator/failures.ts has the shapes). With none of `error_code`,
 * `status_code` or a provider-class `code`, it is a plain runtime failure `{message}`.
 */
export const EmulatorFailure = z.object({
  /** The provider error class (`details.error_code` on the record; never on the live event). */
  error_code: z.enum(PROVIDER_ERROR_CODES).optional(),
  /** The provider's HTTP status: implies the class when `error_code` is absent (429 → rate_limited, …). */
  status_code: z.number().int().min(100).max(599).optional(),
  /**
   * Legacy. A provider class (e.g. `"rate_limited"`) means `error_code`; any other value except
   * `"runtime_error"` is a `code` key on the error payload, which the record exposes as `error.code`.
   */
  code: z.string().optional(),
  /** The provider's message (default shaped like the plugins', e.g. "429 Too Many Requests: rate limit exceeded"). */
  message: z.string().optional(),
  /** The provider's `retry-after` header: kept in `provider_details`, which native never shows. */
  retry_after: z.union([z.string(), z.number()]).optional(),
  /** The provider's raw response body (`provider_details.raw_body`); a message quoting it is redacted on upstream errors. */
  raw_body: z.string().optional(),
  /** `provider_summary` (default null; dropped from the record for provider_upstream_error). */
  provider_summary: z.string().nullable().optional(),
  /** Put `status_code` on the error payload, as newer plugins/upstream do: it then shows in `details.status_code`. */
  details_status_code: z.boolean().optional(),
  /** Fail after this many deltas (default: all of them). */
  after_deltas: z.number().int().nonnegative().optional(),
});
export type EmulatorFailure = z.infer<typeof EmulatorFailure>;

const ScriptBase = z.object({
  /** Reasoning deltas (one `reasoning.delta` each), emitted before the text. */
  reasoning: z.array(z.string()).optional(),
  /** Message deltas (one `message.delta` each). Replaces the default echo answer. */
  text: z.array(z.string()).optional(),
  /** Explicit interleaving (wins over `reasoning`/`text`): each entry is one delta of that kind. */
  segments: z.array(z.object({ kind: z.enum(["reasoning", "message"]), text: z.string() })).optional(),
  /** Repeat the message deltas this many times (very long answers; 1M deltas is fine). */
  repeat: z.number().int().positive().optional(),
  /** The run ends `waiting` with `required_action` (submit_tool_outputs) for these calls. */
  tool_calls: z.array(EmulatorToolCall).optional(),
  /**
   * The LLM node fails (`run.failed` / status `failed`) after `after_deltas` deltas (default: all of
   * them). Its error text becomes the answer and, when no message text was streamed yet, goes out
   * as `message.delta` before `run.failed`.
   */
  fail: EmulatorFailure.optional(),
  /** The run waits for a human (status `waiting`, `required_action` event `{type:"waiting_human", run_id}`, no task). */
  human_approval: z.boolean().optional(),
  /** The run ends `incomplete` (0.3: `run.incomplete`, status `incomplete`) — e.g. max tokens. */
  incomplete: z.boolean().optional(),
  /** Usage reported on the run record. Default: computed (prompt = chars/4 of input, completion = chars/4 of output). */
  usage: Usage.optional(),
  /** The flow output carries the (normalized) usage, so `run.completed` has it too (the fork usually does not). */
  usage_on_terminal: z.boolean().optional(),
  /**
   * The flow output's `usage`, any JSON, sent verbatim on the live `run.completed` (sse.rs:90);
   * the record takes from it only u64 token fields (native_results.rs:183-186, 213-229).
   */
  usage_raw: z.unknown().optional(),
  /** Store the answer with literal `<think>…</think>` around reasoning, like the fork does. Default true. */
  think_tags: z.boolean().optional(),
  /** Do not emit live deltas; let native's terminal fallback synthesize them (§2.3). */
  synthesized_deltas: z.boolean().optional(),
});

export const EmulatorScript = ScriptBase.extend({
  /** What the run does after a resume with tool results. Default: answers
   *  `Tool results: ${results.map(r => `${r.tool_call_id}=${content}`).join(", ")}`. */
  after_tools: ScriptBase.optional(),
  // ---- transport faults (they apply to the HTTP exchange, blocking or streaming) ----
  /** Answer with this HTTP error instead of running. `plain_text` sends an axum-style text body. */
  http_error: z
    .object({
      status: z.number().int(),
      code: z.string().optional(),
      message: z.string().optional(),
      plain_text: z.string().optional(),
      retry_after: z.string().optional(),
    })
    .optional(),
  /** Delay before the response headers (slow first byte). */
  delay_ms: z.number().int().nonnegative().optional(),
  /** Delay between consecutive SSE events. */
  delta_delay_ms: z.number().int().nonnegative().optional(),
  /** Idle pause after the first delta (keepalive comments are sent while idle). */
  stall_ms: z.number().int().nonnegative().optional(),
  /** Destroy the socket after this many SSE events (reset mid-stream, no terminal). Blocking: the
   *  socket is destroyed after the run instead of answering (a reset while native holds the request). */
  drop_after: z.number().int().nonnegative().optional(),
  /** End the SSE response cleanly but without a terminal event. */
  end_without_terminal: z.boolean().optional(),
  /** Emit one frame whose `data:` is not JSON (`"sse"`: a garbage line without a field name). */
  malformed: z.enum(["json", "sse"]).optional(),
  /** Blocking responses: send a 201 whose body is not JSON. */
  malformed_body: z.boolean().optional(),
  /**
   * Keep the run `running` this long before producing anything (a slow first token). A cancel does
   * not cut it short: native notices a cancel only between nodes; a live stream learns of it
   * through its durable poll.
   */
  wait_ms: z.number().int().nonnegative().optional(),
  /** A cancel of this running run loses the race with its completion: 200 with status `running`, and the run finishes. */
  cancel_race: z.boolean().optional(),
  /** A resume with tool results holds its request this long before the continuation runs (§1.6). */
  resume_delay_ms: z.number().int().nonnegative().optional(),
});
export type EmulatorScript = z.infer<typeof EmulatorScript>;

const DIRECTIVE = /\[\[emu:([\s\S]*?)\]\]/;

/** Builds user text carrying a script: `emu({text:["Hi"]}, "hello")`. */
export function emu(script: z.input<typeof EmulatorScript>, text = ""): string {
  return `${text}[[emu:${JSON.stringify(script)}]]`;
}

/** Finds and parses the directive; returns the text without it. Malformed directive → error text. */
export function parseDirective(text: string): { script: EmulatorScript | null; text: string; error?: string } {
  const match = DIRECTIVE.exec(text);
  if (!match) return { script: null, text };
  const rest = (text.slice(0, match.index) + text.slice(match.index + match[0].length)).trim();
  try {
    const parsed = EmulatorScript.safeParse(JSON.parse(match[1] ?? ""));
    if (!parsed.success) return { script: null, text: rest, error: parsed.error.message };
    return { script: parsed.data, text: rest };
  } catch (error) {
    return { script: null, text: rest, error: String(error) };
  }
}

/** Seeded credentials (native accepts any `sk-` token that exists; these exist in the emulator). */
export const EMULATOR_KEYS = {
  /** Application `demo`, key 1 — the README's demo key. */
  demo: "sk-demo0000001-LocalDevelopmentKeyDoNotUseInProduction0001",
  /** Application `demo`, key 2 (same application, different key: cannot read key 1's runs). */
  demoSecond: "sk-demo0000002-LocalDevelopmentKeyDoNotUseInProduction0002",
  /** Application `other`: a different application. */
  other: "sk-other000001-LocalDevelopmentKeyDoNotUseInProduction0003",
  /** Application `draft`: exists but has no active publication → 409 application_not_published. */
  unpublished: "sk-draft000001-LocalDevelopmentKeyDoNotUseInProduction0004",
} as const;

/** The `node_input_payload.env` secret the emulator stores on every run, so leak tests can look for it. */
export const EMULATOR_ENV_SECRET = "emulator-env-secret-value-7f3a9c";
