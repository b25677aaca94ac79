import { describe, expect, it } from "vitest";
import { KEYS, api, base, blocking, errorOf, getRun, postRun } from "./helpers";

describe("authentication (native-api.md §1.2)", () => {
  it("missing Authorization → 401 missing bearer token", async () => {
    expect(await errorOf(await api("/models", { key: null }))).toEqual({
      status: 401,
      code: "not_authenticated",
      message: "missing Authorization bearer token",
    });
  });

  it("wrong scheme, lowercase bearer, or empty token → invalid Authorization bearer token", async () => {
    for (const header of [`Basic ${KEYS.demo}`, `bearer ${KEYS.demo}`, "Bearer    "]) {
      expect(await errorOf(await api("/models", { headers: { authorization: header } }))).toEqual({
        status: 401,
        code: "not_authenticated",
        message: "invalid Authorization bearer token",
      });
    }
  });

  it("non-sk- or unknown tokens → invalid application API key", async () => {
    for (const token of ["abc", "sk-unknown"]) {
      expect(await errorOf(await api("/models", { key: token }))).toEqual({ status: 401, code: "not_authenticated", message: "invalid application API key" });
    }
  });

  it("native routes do not accept x-api-key", async () => {
    const res = await api("/models", { key: null, headers: { "x-api-key": KEYS.demo } });
    expect(res.status).toBe(401);
    await res.text();
  });
});

describe("run ownership (native-api.md §1.6, §3.2)", () => {
  it("only the creating key can read, cancel or resume a run", async () => {
    const run = await blocking({ query: "mine" });
    expect((await getRun(run.id)).status).toBe(200);
    for (const key of [KEYS.demoSecond, KEYS.other]) {
      expect(await errorOf(await getRun(run.id, key))).toEqual({
        status: 403,
        code: "application_run_forbidden",
        message: "run does not belong to this application API key",
      });
      expect((await errorOf(await api(`/runs/${run.id}/cancel`, { method: "POST", key }))).status).toBe(403);
      const resume = await api(`/runs/${run.id}/resume`, {
        method: "POST",
        key,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ callback_task_id: crypto.randomUUID(), response_payload: null }),
      });
      expect((await errorOf(resume)).code).toBe("application_run_forbidden");
    }
  });

  it("unknown id → 404 application_run_not_found; non-UUID → axum plain-text 400", async () => {
    expect(await errorOf(await getRun("01970000-0000-7000-8000-000000000000"))).toEqual({
      status: 404,
      code: "application_run_not_found",
      message: "run was not found",
    });
    const bad = await getRun("not-a-uuid");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("text/plain");
    expect(await bad.text()).toMatch(/^Invalid URL: UUID parsing failed/);
  });
});

describe("models (native-api.md §3.5)", () => {
  it("returns the bare list: 1flowbase with reasoning, emu-plain without", async () => {
    const res = await api("/models");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: Array<Record<string, unknown>>; meta?: unknown };
    expect(body.object).toBe("list");
    expect(body).not.toHaveProperty("meta");
    expect(body.data.map((m) => m.id)).toEqual(["1flowbase", "emu-plain"]);
    expect(body.data[0]).toMatchObject({
      id: "1flowbase",
      context_window: 257000,
      max_output_tokens: 32000,
      capabilities: { reasoning: true, tool_call: true, multimodal: true, structured_output: true },
      reasoning: { default_effort: "medium", supported_efforts: ["minimal", "low", "medium", "high", "xhigh"] },
    });
    expect(body.data[1]).toMatchObject({ id: "emu-plain", capabilities: { reasoning: false } });
    expect(body.data[1]).not.toHaveProperty("reasoning");
  });

  it("unpublished application → 409", async () => {
    expect((await errorOf(await api("/models", { key: KEYS.unpublished }))).code).toBe("application_not_published");
  });
});

describe("introspection (/__emulator)", () => {
  it("records native requests with the key name instead of the token", async () => {
    const run = await blocking({ query: "recorded", title: "rec" });
    const res = await fetch(`${base()}/__emulator/requests?run_id=${run.id}`);
    const { requests } = (await res.json()) as { requests: Array<{ method: string; path: string; headers: Record<string, string>; key: string; body: unknown; status: number }> };
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: "POST", path: "/api/agent/v1/runs", key: "demo", body: { query: "recorded", title: "rec" }, status: 201 });
    expect(requests[0]?.headers.authorization).toBe("Bearer demo");
    expect(JSON.stringify(requests)).not.toContain(KEYS.demo);
    await getRun(run.id);
    const after = await fetch(`${base()}/__emulator/requests?run_id=${run.id}`);
    expect(((await after.json()) as { requests: unknown[] }).requests).toHaveLength(2);
  });
});

async function rejected(body: unknown): Promise<{ status: number; code: string; message: string }> {
  return errorOf(await postRun(body));
}

describe("request strictness, upstream 0.3 (native-api.md §7, §1.4)", () => {
  it("unknown top-level fields → 400 body", async () => {
    expect(await rejected({ query: "x", temperature: 0.2 })).toEqual({ status: 400, code: "body", message: "unknown Native request field" });
  });

  it("user_id and compatibility_mode have their own codes", async () => {
    expect((await rejected({ query: "x", user_id: "u" })).code).toBe("user_id");
    expect((await rejected({ query: "x", compatibility_mode: "native-v1" })).code).toBe("compatibility_mode");
    expect((await rejected({ query: "x", execution: { compatibility_mode: "x" } })).code).toBe("compatibility_mode");
  });

  it("metadata is closed to trace_id", async () => {
    expect(await rejected({ query: "x", metadata: { foo: 1 } })).toEqual({ status: 400, code: "metadata", message: "unknown Native metadata field" });
    expect((await rejected({ query: "x", metadata: { trace_id: 5 } })).code).toBe("metadata");
    expect((await blocking({ query: "x", metadata: { trace_id: "t" } })).metadata.external_trace_id).toBe("t");
  });

  it("invalid JSON → 400 json; type errors → code is the field name", async () => {
    expect(await errorOf(await postRun("{oops"))).toEqual({ status: 400, code: "json", message: "invalid JSON body" });
    expect(await rejected({})).toEqual({ status: 400, code: "query", message: "invalid native request field: query" });
    expect((await rejected({ query: 1 })).code).toBe("query");
    expect((await rejected({ query: "x", model: null })).code).toBe("model");
    expect((await rejected({ query: "x", model: 3 })).code).toBe("model");
    expect((await rejected({ query: "x", inputs: [] })).code).toBe("inputs");
    expect((await rejected({ query: "x", history: {} })).code).toBe("history");
    expect((await rejected({ query: "x", expand_id: 1 })).code).toBe("expand_id");
    expect((await rejected({ query: "x", title: false })).code).toBe("title");
    expect((await rejected({ query: "x", response_mode: 1 })).code).toBe("response_mode");
    expect((await rejected([1, 2])).code).toBe("body");
  });

  it("history items: closed keys, role enum, string content, tool needs tool_call_id", async () => {
    expect((await rejected({ query: "x", history: [{ role: "user", content: "a", extra: 1 }] })).code).toBe("history");
    expect((await rejected({ query: "x", history: [{ role: "developer", content: "a" }] })).code).toBe("history");
    expect((await rejected({ query: "x", history: [{ role: "user", content: [{ type: "text", text: "a" }] }] })).code).toBe("history");
    expect((await rejected({ query: "x", history: [{ role: "tool", content: "a" }] })).code).toBe("history");
    const ok = await blocking({
      query: "x",
      history: [
        { role: "user", content: "q" },
        { role: "assistant", content: "", tool_calls: [{ id: "t1", name: "f", arguments: { a: 1 } }] },
        { role: "tool", content: "r", tool_call_id: "t1", is_error: false },
      ],
    });
    expect(ok.answer).toBe("You said: x [history: user: q | assistant:  | tool: r]");
  });

  it("system history items are hoisted into system (§1.4)", async () => {
    const run = await blocking({ query: "x", system: " top ", history: [{ role: "system", content: " hoisted " }, { role: "user", content: "u" }] });
    expect(run.node_input_payload["node-start"].system).toBe("top\n\nhoisted");
    expect(run.node_input_payload["node-start"].history).toEqual([{ role: "user", content: "u" }]);
    const blocks = await blocking({ query: "x", system: [{ type: "text", text: "a" }, { type: "text", text: "b", cache_control: { type: "ephemeral", ttl: "1h" } }] });
    expect(blocks.node_input_payload["node-start"].system).toBe("a\n\nb");
  });

  it("inputs colliding with start-node fields → invalid_mapping", async () => {
    expect((await rejected({ query: "x", inputs: { history: [] } })).code).toBe("invalid_mapping");
  });

  it("execution.model_parameters: only reasoning{effort,budget_tokens}, a closed effort set, checked against the catalog", async () => {
    const mp = (model_parameters: unknown, model?: string) => rejected({ query: "x", ...(model ? { model } : {}), execution: { model_parameters } });
    const field = (name: string) => ({ status: 400, code: "invalid_model_parameters", message: `invalid native request model parameter field: ${name}` });
    expect(await mp({ context_window: 1 }, "1flowbase")).toEqual(field("execution.model_parameters"));
    // The fork rejects 0.3's max_output_tokens (run_input.rs:94-100).
    expect(await mp({ max_output_tokens: 1024 }, "1flowbase")).toEqual(field("execution.model_parameters"));
    // `enabled` is gone in 0.3, `mode` never existed in the fork: both are rejected.
    expect(await mp({ reasoning: { enabled: true } }, "1flowbase")).toEqual(field("execution.model_parameters.reasoning"));
    expect(await mp({ reasoning: { mode: "adaptive" } }, "1flowbase")).toEqual(field("execution.model_parameters.reasoning"));
    expect(await mp({ reasoning: { effort: "high" } })).toEqual(field("model"));
    expect(await mp({ reasoning: { effort: "high" } }, "nope")).toEqual(field("model"));
    expect(await mp({ reasoning: {} }, "emu-plain")).toEqual(field("execution.model_parameters.reasoning"));
    // Closed set minimal|low|medium|high|xhigh, checked before the catalog (run_input.rs:129-148).
    for (const effort of ["extreme", "max", "none", "", "  ", "HIGH", 3]) {
      expect(await mp({ reasoning: { effort } }, "1flowbase")).toEqual(field("execution.model_parameters.reasoning.effort"));
    }
    expect(await mp({ reasoning: { budget_tokens: 99999 } }, "1flowbase")).toEqual(field("execution.model_parameters.reasoning.budget_tokens"));
    expect(await mp({ reasoning: { budget_tokens: 0 } }, "1flowbase")).toEqual(field("execution.model_parameters.reasoning.budget_tokens"));
    for (const effort of ["minimal", "low", "medium", "high", "xhigh", " high "]) {
      const run = await blocking({ query: "x", model: "1flowbase", execution: { model_parameters: { reasoning: { effort } } } });
      expect(run.node_input_payload["node-start"].reasoning_effort).toBe(effort.trim());
    }
  });

  it("model_parameters without reasoning freezes {} and an empty reasoning_effort (run_input.rs:24-32)", async () => {
    const run = await blocking({ query: "x", model: "emu-plain", execution: { model_parameters: {} } });
    expect(run.node_input_payload.sys.model_parameters).toEqual({});
    expect(run.node_input_payload["node-start"].reasoning_effort).toBe("");
  });

  it("execution: unknown keys and non-string idempotency keys are rejected", async () => {
    expect((await rejected({ query: "x", execution: { timeout_seconds: 3 } })).code).toBe("execution");
    expect((await rejected({ query: "x", execution: { idempotency_key: 3 } })).code).toBe("invalid_idempotency_key");
  });
});
