/**
 * The one reasoning decision (`src/native/catalog.ts`) against native's own rule (fork
 * `api/crates/control-plane/src/application_public_api/run_service/run_input.rs` ~81–216, errata 8):
 * which models take reasoning, which efforts, the budget cap — and that every protocol's entry
 * point gets the same answer for the same catalog entry.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Caller } from "../../src/http/context";
import type { PolicyMode } from "../../src/http/policy";
import { NATIVE_REASONING_EFFORTS, decideReasoning, findModel, nativeEffort, supportsReasoning, withReasoning } from "../../src/native/catalog";
import type { NativeReasoning, ReasoningAsk, ReasoningDecision } from "../../src/native/catalog";
import type { NativeModel, NativeModelList, NativeRunRequest } from "../../src/native/schema";
import { applyThinking } from "../../src/protocols/anthropic/to-native";
import { withCatalogReasoning } from "../../src/routes/run-steps";

const catalogOf = (...models: NativeModel[]): NativeModelList => ({ object: "list", data: models });

const reasoner: NativeModel = { id: "reasoner", capabilities: { reasoning: true }, max_output_tokens: 8_000 };
const plain: NativeModel = { id: "plain", capabilities: { reasoning: false } };
const listed: NativeModel = { id: "listed", reasoning: { supported_efforts: ["low", "high"], default_effort: "low" }, max_output_tokens: 4_096 };
const defaulted: NativeModel = { id: "defaulted", capabilities: { reasoning: false }, reasoning: { default_effort: "medium" } };
const CATALOG = catalogOf(reasoner, plain, listed, defaulted);

/**
 * Native's validation of `execution.model_parameters.reasoning`, written out independently (what
 * run_input.rs checks): true when native takes `reasoning` for `model` instead of answering 400
 * `invalid_model_parameters`.
 */
function nativeAccepts(catalog: NativeModelList, modelId: string, reasoning: NativeReasoning): boolean {
  const model = catalog.data.find((entry) => entry.id === modelId);
  if (!model) return false;
  const efforts = model.reasoning?.supported_efforts ?? [];
  const supported = model.capabilities?.reasoning === true || (model.reasoning?.default_effort ?? null) !== null || efforts.length > 0;
  if (!supported) return false;
  if (reasoning.effort !== undefined) {
    if (!["minimal", "low", "medium", "high", "xhigh"].includes(reasoning.effort)) return false;
    if (efforts.length > 0 && !efforts.includes(reasoning.effort)) return false;
  }
  if (reasoning.budget_tokens !== undefined && model.max_output_tokens !== undefined && reasoning.budget_tokens > model.max_output_tokens) return false;
  return true;
}

function applied(decision: ReasoningDecision): NativeReasoning {
  if (!decision.applied) throw new Error(`expected the reasoning to be applied, got: ${decision.why}`);
  return decision.reasoning;
}

describe("supportsReasoning: native's rule (run_input.rs ~170–175)", () => {
  it("capabilities.reasoning true, OR a default_effort, OR a non-empty supported_efforts", () => {
    const cases: Array<[NativeModel, boolean]> = [
      [{ id: "m", capabilities: { reasoning: true } }, true],
      [{ id: "m", capabilities: { reasoning: false }, reasoning: { default_effort: "low" } }, true],
      [{ id: "m", reasoning: { supported_efforts: ["high"] } }, true],
      [{ id: "m", capabilities: { reasoning: false }, reasoning: { default_effort: null, supported_efforts: [] } }, false],
      [{ id: "m", capabilities: { reasoning: false } }, false],
      [{ id: "m" }, false],
      [{ id: "m", reasoning: {} }, false],
    ];
    for (const [model, expected] of cases) expect({ model, supported: supportsReasoning(model) }).toEqual({ model, supported: expected });
  });

  it("a model outside the catalog, or no model, takes no reasoning", () => {
    expect(findModel(CATALOG, "listed")).toBe(listed);
    expect(decideReasoning(CATALOG, "missing", { effort: "low" })).toEqual({ applied: false, why: "model 'missing' is not in the application's model list" });
    expect(decideReasoning(CATALOG, "", { effort: "low" }).applied).toBe(false);
    expect(decideReasoning(CATALOG, "plain", { effort: "low" })).toEqual({ applied: false, why: "model 'plain' does not support reasoning" });
    expect(decideReasoning(CATALOG, "plain", { budgetTokens: 100 }).applied).toBe(false);
    expect(decideReasoning(CATALOG, "defaulted", { effort: "high" })).toEqual({ applied: true, reasoning: { effort: "high" } });
  });
});

describe("efforts: native's closed set (errata 8) and the model's own list", () => {
  it("nativeEffort: native's five pass, Claude's max is xhigh, nothing else has a spelling", () => {
    expect(NATIVE_REASONING_EFFORTS).toEqual(["minimal", "low", "medium", "high", "xhigh"]);
    for (const effort of NATIVE_REASONING_EFFORTS) expect(nativeEffort(effort)).toBe(effort);
    expect(nativeEffort("max")).toBe("xhigh");
    for (const effort of ["none", "off", "auto", "HIGH", "", "ultra"]) expect(nativeEffort(effort)).toBeNull();
  });

  it("sends an effort native knows, mapped", () => {
    expect(decideReasoning(CATALOG, "reasoner", { effort: "minimal" })).toEqual({ applied: true, reasoning: { effort: "minimal" } });
    expect(decideReasoning(CATALOG, "reasoner", { effort: "max" })).toEqual({ applied: true, reasoning: { effort: "xhigh" } });
  });

  it("none cannot be sent: not applied, with the reason", () => {
    expect(decideReasoning(CATALOG, "reasoner", { effort: "none" })).toEqual({ applied: false, why: "1flowbase has no reasoning effort 'none'" });
  });

  it("an effort outside the model's supported_efforts is not sent", () => {
    expect(decideReasoning(CATALOG, "listed", { effort: "high" })).toEqual({ applied: true, reasoning: { effort: "high" } });
    expect(decideReasoning(CATALOG, "listed", { effort: "medium" })).toEqual({ applied: false, why: "model 'listed' supports reasoning efforts low, high" });
    // max → xhigh, which this model does not list.
    expect(decideReasoning(CATALOG, "listed", { effort: "max" }).applied).toBe(false);
  });

  it("an effort that cannot be sent still lets a budget through, reporting the effort", () => {
    expect(decideReasoning(CATALOG, "listed", { effort: "medium", budgetTokens: 1_000 })).toEqual({
      applied: true,
      reasoning: { budget_tokens: 1_000 },
      effortNotApplied: "model 'listed' supports reasoning efforts low, high",
    });
  });
});

describe("fallbackToDefaultEffort (Anthropic adaptive thinking)", () => {
  it("no effort asked → the model's default_effort", () => {
    expect(decideReasoning(CATALOG, "listed", { fallbackToDefaultEffort: true })).toEqual({ applied: true, reasoning: { effort: "low" } });
    expect(decideReasoning(CATALOG, "defaulted", { fallbackToDefaultEffort: true })).toEqual({ applied: true, reasoning: { effort: "medium" } });
  });

  it("an effort that cannot be sent → the default, and the asked one is reported", () => {
    expect(decideReasoning(CATALOG, "listed", { effort: "max", fallbackToDefaultEffort: true })).toEqual({
      applied: true,
      reasoning: { effort: "low" },
      effortNotApplied: "model 'listed' supports reasoning efforts low, high",
    });
    expect(decideReasoning(CATALOG, "listed", { effort: "none", fallbackToDefaultEffort: true })).toMatchObject({ applied: true, reasoning: { effort: "low" } });
  });

  it("no default (or one native would reject) → nothing is invented", () => {
    expect(decideReasoning(CATALOG, "reasoner", { fallbackToDefaultEffort: true })).toEqual({ applied: true, reasoning: {} });
    const odd = catalogOf({ id: "odd", reasoning: { default_effort: "auto" } });
    expect(decideReasoning(odd, "odd", { fallbackToDefaultEffort: true })).toEqual({ applied: true, reasoning: {} });
    // Without the flag no default is used.
    expect(decideReasoning(CATALOG, "listed", {})).toEqual({ applied: true, reasoning: {} });
  });
});

describe("budget_tokens: capped at the model's max_output_tokens", () => {
  it("a default_effort the model does not list is never the fallback; a limit of 0 leaves no budget", () => {
    const listed = catalogOf({ id: "m", reasoning: { default_effort: "low", supported_efforts: ["xhigh"] } });
    expect(decideReasoning(listed, "m", { fallbackToDefaultEffort: true })).toEqual({ applied: true, reasoning: {} });
    const zero = catalogOf({ id: "m", capabilities: { reasoning: true }, max_output_tokens: 0 });
    expect(decideReasoning(zero, "m", { budgetTokens: 100 }).applied).toBe(false);
  });

  it("caps a budget above the limit, keeps one below it", () => {
    expect(applied(decideReasoning(CATALOG, "reasoner", { budgetTokens: 20_000 }))).toEqual({ budget_tokens: 8_000 });
    expect(applied(decideReasoning(CATALOG, "reasoner", { budgetTokens: 8_000 }))).toEqual({ budget_tokens: 8_000 });
    expect(applied(decideReasoning(CATALOG, "reasoner", { budgetTokens: 1_024 }))).toEqual({ budget_tokens: 1_024 });
    expect(applied(decideReasoning(CATALOG, "listed", { effort: "high", budgetTokens: 10_000 }))).toEqual({ effort: "high", budget_tokens: 4_096 });
  });

  it("no limit → the budget as asked", () => {
    expect(applied(decideReasoning(CATALOG, "defaulted", { budgetTokens: 50_000 }))).toEqual({ budget_tokens: 50_000 });
  });
});

describe("withReasoning", () => {
  it("sets execution.model_parameters.reasoning, keeps the rest, does not touch the input", () => {
    const request: NativeRunRequest = { query: "q", model: "reasoner", execution: { idempotency_key: "k" } };
    const result = withReasoning(request, { effort: "low", budget_tokens: 10 });
    expect(result).toEqual({ query: "q", model: "reasoner", execution: { idempotency_key: "k", model_parameters: { reasoning: { effort: "low", budget_tokens: 10 } } } });
    expect(request).toEqual({ query: "q", model: "reasoner", execution: { idempotency_key: "k" } });
  });
});

// ------------------------------------------------------------------------------------------------
// Properties: what is sent native accepts; what native would accept is not lost; one answer for
// every protocol.
// ------------------------------------------------------------------------------------------------

const effortSpelling = fc.constantFrom("minimal", "low", "medium", "high", "xhigh", "max", "none", "auto", "HIGH");
const catalogEntry: fc.Arbitrary<NativeModel> = fc.record(
  {
    id: fc.constant("m"),
    capabilities: fc.record({ reasoning: fc.boolean() }, { requiredKeys: [] }),
    reasoning: fc.record(
      {
        default_effort: fc.option(fc.constantFrom("low", "medium", "high", "xhigh", "auto"), { nil: null }),
        supported_efforts: fc.subarray(["minimal", "low", "medium", "high", "xhigh"]),
      },
      { requiredKeys: [] },
    ),
    // 0 included: native reads it as `Some(0)` and rejects every positive budget.
    max_output_tokens: fc.integer({ min: 0, max: 20_000 }),
  },
  { requiredKeys: ["id"] },
);
const ask: fc.Arbitrary<ReasoningAsk> = fc.record(
  {
    effort: effortSpelling,
    budgetTokens: fc.integer({ min: 1, max: 40_000 }),
    fallbackToDefaultEffort: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe("decideReasoning properties", () => {
  it("whatever it sends, native's rule accepts", () => {
    fc.assert(
      fc.property(catalogEntry, ask, (model, asked) => {
        // Including a default_effort outside a non-empty supported_efforts (the fallback must not send
        // it) and max_output_tokens 0 (no budget fits).
        const decision = decideReasoning(catalogOf(model), "m", asked);
        if (decision.applied) expect(nativeAccepts(catalogOf(model), "m", decision.reasoning)).toBe(true);
        else expect(supportsReasoning(model) && nativeAccepts(catalogOf(model), "m", { effort: nativeEffort(asked.effort ?? "") ?? "invalid" })).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("an effort native would accept as asked is sent as asked, and reported as nothing", () => {
    fc.assert(
      fc.property(catalogEntry, effortSpelling, fc.boolean(), (model, effort, fallback) => {
        const mapped = nativeEffort(effort);
        fc.pre(mapped !== null && nativeAccepts(catalogOf(model), "m", { effort: mapped }));
        expect(decideReasoning(catalogOf(model), "m", { effort, fallbackToDefaultEffort: fallback })).toEqual({ applied: true, reasoning: { effort: mapped } });
      }),
      { numRuns: 200 },
    );
  });
});

describe("one answer whatever protocol asks", () => {
  /** Chat Completions (`reasoning_effort`) and Responses (`reasoning.effort`) go through the route step. */
  async function openAi(catalog: NativeModelList, effort: string, field: { name: string; param: string }) {
    // A fresh key fingerprint per call: the route step reads the catalog through the per-key cache
    // (run-steps.ts `applicationCatalog`), and each call here stands for another application.
    const caller = { native: { listModels: async () => catalog }, config: { NATIVE_API_BASE_URL: "http://native.test" }, fingerprint: async () => crypto.randomUUID() } as unknown as Caller;
    const ignored: string[] = [];
    const request = await withCatalogReasoning(caller, { query: "q", model: "m" }, { effort }, field, "lenient", ignored);
    return { reasoning: request.execution?.model_parameters?.reasoning ?? null, reported: ignored.length > 0 };
  }

  /** Anthropic Messages `output_config.effort` (no `thinking`). */
  function anthropic(catalog: NativeModelList, effort: string, mode: PolicyMode = "lenient") {
    const ignored: string[] = [];
    const request = applyThinking({ query: "q", model: "m" }, null, catalog, mode, ignored, effort);
    return { reasoning: request.execution?.model_parameters?.reasoning ?? null, reported: ignored.length > 0 };
  }

  it("Chat, Responses and Anthropic send the same reasoning (or none) for the same catalog entry and effort", async () => {
    await fc.assert(
      fc.asyncProperty(catalogEntry, effortSpelling, async (model, effort) => {
        const catalog = catalogOf(model);
        const chat = await openAi(catalog, effort, { name: "reasoning_effort", param: "reasoning_effort" });
        const responses = await openAi(catalog, effort, { name: "reasoning.effort", param: "reasoning" });
        const messages = anthropic(catalog, effort);
        expect(responses).toEqual(chat);
        expect(messages).toEqual(chat);
        // And that answer is the catalog's own decision.
        const decision = decideReasoning(catalog, "m", { effort });
        expect(chat.reasoning).toEqual(decision.applied ? decision.reasoning : null);
      }),
      { numRuns: 150 },
    );
  });

  it("Claude's max and OpenAI's xhigh are the same native effort", async () => {
    const catalog = catalogOf({ ...reasoner, id: "m" });
    expect(anthropic(catalog, "max").reasoning).toEqual({ effort: "xhigh" });
    expect((await openAi(catalog, "xhigh", { name: "reasoning_effort", param: "reasoning_effort" })).reasoning).toEqual({ effort: "xhigh" });
  });
});
