/**
 * The application's model catalog (`GET /api/agent/v1/models`, native-api.md §3.5) and the one
 * answer to "does this model take these reasoning parameters?", for every protocol.
 *
 * Native validates `execution.model_parameters.reasoning` against the published catalog and fails
 * the whole request with 400 `invalid_model_parameters` otherwise (fork `api/crates/control-plane/
 * src/application_public_api/run_service/run_input.rs` ~81–216), so the gateway sends reasoning
 * parameters only when native will take them, and reports the rest as ignored. The rules are
 * native's own:
 * - a model supports reasoning when `capabilities.reasoning` is true, or its `reasoning` entry has a
 *   `default_effort` or a non-empty `supported_efforts` (run_input.rs ~170–175);
 * - `effort` must be one of `minimal|low|medium|high|xhigh` (run_input.rs ~129–148, errata 8) and,
 *   when the model lists `supported_efforts`, one of those;
 * - `budget_tokens` must not exceed the model's `max_output_tokens`.
 */
import type { ModelAlias } from "../config";
import type { NativeModel, NativeModelList, NativeRunRequest } from "./schema";

/** The reasoning efforts native accepts at all (fork `is_known_reasoning_effort`). */
export const NATIVE_REASONING_EFFORTS: readonly string[] = ["minimal", "low", "medium", "high", "xhigh"];

/**
 * A client's effort spelling → native's, or null when native has none. OpenAI's efforts are native's
 * own; Anthropic's `max` (Claude's strongest effort) is native's `xhigh`. `none` cannot be sent:
 * switching reasoning off has no spelling both native versions accept (0.2 `enabled: false`, 0.3
 * `mode: "disabled"`, native-api.md §7).
 */
export function nativeEffort(effort: string): string | null {
  if (NATIVE_REASONING_EFFORTS.includes(effort)) return effort;
  if (effort === "max") return "xhigh";
  return null;
}

export interface ReasoningAsk {
  /** The client's effort (any spelling; mapped with `nativeEffort`). */
  effort?: string | undefined;
  /** Anthropic's `thinking.budget_tokens`. */
  budgetTokens?: number | undefined;
  /** When no effort, or one that cannot be sent, is asked: the model's `default_effort` (adaptive thinking). */
  fallbackToDefaultEffort?: boolean;
}

export interface NativeReasoning {
  effort?: string;
  budget_tokens?: number;
}

export type ReasoningDecision =
  | {
      applied: true;
      reasoning: NativeReasoning;
      /** Set when the asked effort could not be sent as asked (replaced by the default or left out). */
      effortNotApplied?: string;
    }
  | { applied: false; why: string };

export function findModel(catalog: NativeModelList, modelId: string): NativeModel | undefined {
  return catalog.data.find((entry) => entry.id === modelId);
}

/**
 * The catalog id a client's `model` names: itself when the catalog lists it, else the first alias
 * that matches it (`MODEL_ALIASES`) when its target is listed; null when it names no model of this
 * application. Native itself runs any `model` string (native-api.md §1.4: not validated against the
 * catalog), so this is the only place an unknown model is noticed.
 */
export function resolveModelId(catalog: NativeModelList, requested: string, aliases: readonly ModelAlias[]): string | null {
  if (findModel(catalog, requested)) return requested;
  const alias = aliases.find((entry) => (entry.prefix ? requested.startsWith(entry.pattern) : requested === entry.pattern));
  return alias && findModel(catalog, alias.target) ? alias.target : null;
}

/** The model's `default_effort` when native would take it as an effort for that model, else null. */
function defaultEffort(model: NativeModel): string | null {
  const fallback = model.reasoning?.default_effort ?? null;
  if (fallback === null || nativeEffort(fallback) !== fallback) return null;
  const supported = model.reasoning?.supported_efforts ?? [];
  return supported.length === 0 || supported.includes(fallback) ? fallback : null;
}

/** native's `supports_reasoning` (run_input.rs ~170–175). */
export function supportsReasoning(model: NativeModel): boolean {
  const reasoning = model.reasoning;
  return (
    model.capabilities?.reasoning === true ||
    (reasoning !== undefined && ((reasoning.default_effort ?? null) !== null || (reasoning.supported_efforts?.length ?? 0) > 0))
  );
}

/**
 * What native will take for `ask` on `modelId`.
 *
 * @example
 * decideReasoning(catalog, "1flowbase", { effort: "low" })   // { applied: true, reasoning: { effort: "low" } }
 * decideReasoning(catalog, "plain-model", { effort: "low" }) // { applied: false, why: "model 'plain-model' does not support reasoning" }
 */
export function decideReasoning(catalog: NativeModelList, modelId: string, ask: ReasoningAsk): ReasoningDecision {
  const model = findModel(catalog, modelId);
  if (!model) return { applied: false, why: `model '${modelId}' is not in the application's model list` };
  if (!supportsReasoning(model)) return { applied: false, why: `model '${modelId}' does not support reasoning` };
  const reasoning: NativeReasoning = {};
  let effortNotApplied: string | undefined;
  if (ask.effort !== undefined) {
    const effort = nativeEffort(ask.effort);
    const supported = model.reasoning?.supported_efforts ?? [];
    if (effort === null) effortNotApplied = `1flowbase has no reasoning effort '${ask.effort}'`;
    else if (supported.length > 0 && !supported.includes(effort)) {
      effortNotApplied = `model '${modelId}' supports reasoning efforts ${supported.join(", ")}`;
    } else reasoning.effort = effort;
    if (effortNotApplied !== undefined) {
      const fallback = ask.fallbackToDefaultEffort ? defaultEffort(model) : null;
      if (fallback !== null) reasoning.effort = fallback;
      else if (!ask.fallbackToDefaultEffort && ask.budgetTokens === undefined) return { applied: false, why: effortNotApplied };
    }
  }
  if (ask.effort === undefined && ask.fallbackToDefaultEffort) {
    const fallback = defaultEffort(model);
    if (fallback !== null) reasoning.effort = fallback;
  }
  if (ask.budgetTokens !== undefined) {
    // Native rejects a budget above the model's output limit (a limit of 0 included: `Some(0)`);
    // Anthropic clients size the budget from their own max_tokens, so it is capped rather than failing
    // the request — and left out when no positive budget fits.
    const cap = model.max_output_tokens;
    const budget = cap !== undefined ? Math.min(ask.budgetTokens, Math.floor(cap)) : ask.budgetTokens;
    if (budget >= 1) reasoning.budget_tokens = budget;
    else if (reasoning.effort === undefined && ask.effort === undefined && !ask.fallbackToDefaultEffort) {
      return { applied: false, why: `model '${modelId}' allows no reasoning budget (max_output_tokens ${String(cap)})` };
    }
  }
  return effortNotApplied === undefined ? { applied: true, reasoning } : { applied: true, reasoning, effortNotApplied };
}

/** The run request with `execution.model_parameters.reasoning` set (the only key both native versions take). */
export function withReasoning(request: NativeRunRequest, reasoning: NativeReasoning): NativeRunRequest {
  return { ...request, execution: { ...request.execution, model_parameters: { reasoning } } };
}
