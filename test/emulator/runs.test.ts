import { describe, expect, it } from "vitest";
import { EMULATOR_ENV_SECRET } from "../../emulator/script";
import { KEYS, api, base, blocking, emu, errorOf, events, getRun, postRun, recordedRequests, type Run, uniqueUser } from "./helpers";

/** `time` 0.3 Display: hour not zero-padded, trimmed fraction, offset with seconds (§1.5). */
const TIME_DISPLAY = /^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}\.\d{1,9} \+00:00:00$/;

describe("blocking runs (native-api.md §1.5)", () => {
  it("returns 201 {data, meta:null} with the NativeRunResponse shape", async () => {
    const res = await postRun({ query: "hello", system: "sys", model: "1flowbase", inputs: { tone: "dry" }, metadata: { trace_id: "tr-1" } });
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toBe("application/json");
    const { data, meta } = (await res.json()) as { data: Run; meta: unknown };
    expect(meta).toBeNull();
    expect(Object.keys(data)).toEqual([
      "id",
      "application_id",
      "api_key_id",
      "publication_version_id",
      "status",
      "node_input_payload",
      "metadata",
      "answer",
      "answer_segments",
      "required_action",
      "tool_calls",
      "usage",
      "error",
      "created_at",
    ]);
    expect(data.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(data.status).toBe("succeeded");
    expect(data.answer).toBe("You said: hello [system: sys]");
    expect(data.answer_segments).toEqual([{ kind: "message", text: "You said: hello [system: sys]" }]);
    expect(data.created_at).toMatch(TIME_DISPLAY);
    expect(data.node_input_payload).toEqual({
      "node-start": { query: "hello", model: "1flowbase", history: [], system: "sys", files: [], tone: "dry" },
      env: { SECRET: EMULATOR_ENV_SECRET },
      sys: {},
    });
    expect(data.metadata).toMatchObject({ model: "1flowbase", external_trace_id: "tr-1", compatibility_mode: "native-v1", title: "hello" });
    expect(data.usage).toEqual({ prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 });
    expect(data.required_action).toBeNull();
    expect(data.error).toBeNull();
  });

  it("GET returns the durable metadata form", async () => {
    const created = await blocking({ query: "q", conversation: { user: "u-get", id: "conv-get" } });
    const res = await getRun(created.id);
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Run };
    expect(data.metadata).toEqual({
      title: "q",
      // The row's external user, whichever field bound it (control-plane native.rs:605-621).
      expand_id: "u-get",
      external_user: "u-get",
      external_conversation_id: "conv-get",
      external_trace_id: null,
      compatibility_mode: "native-v1",
      idempotency_key: null,
      request: { conversation: { id: "conv-get", user: "u-get" } },
    });
    expect(data.answer).toBe(created.answer);
  });

  it("metadata: expand_id echoes the bound user; title is trimmed, falls back to the query, then 'Untitled run' (flow_run_title/mod.rs:7-32)", async () => {
    const bound = await blocking({ query: "q", conversation: { user: "u-meta" } });
    expect(bound.metadata).toMatchObject({ expand_id: "u-meta", external_user: "u-meta" });
    expect((await blocking({ query: "  the query  ", title: "   " })).metadata.title).toBe("the query");
    expect((await blocking({ query: "   " })).metadata.title).toBe("Untitled run");
    expect((await blocking({ query: "x", title: `  ${"t".repeat(300)}` })).metadata.title).toBe("t".repeat(255));
  });

  it("wraps reasoning in <think> unless think_tags:false; segments come from the answer text", async () => {
    const tagged = await blocking({ query: emu({ segments: [{ kind: "reasoning", text: "r1" }, { kind: "message", text: "m1" }, { kind: "reasoning", text: "r2" }, { kind: "message", text: "m2" }] }) });
    expect(tagged.answer).toBe("<think>r1</think>m1<think>r2</think>m2");
    expect(tagged.answer_segments).toHaveLength(4);
    // The answer node derives answer_segments from its text (llm_node_outputs.rs:10-38): without
    // the tags the reasoning is gone from both.
    const plain = await blocking({ query: emu({ reasoning: ["r"], text: ["m"], think_tags: false }) });
    expect(plain.answer).toBe("m");
    expect(plain.answer_segments).toEqual([{ kind: "message", text: "m" }]);
    expect(plain.usage?.reasoning_tokens).toBe(1);
  });

  it("script usage is normalized (aliases, computed total)", async () => {
    const run = await blocking({ query: emu({ text: ["x"], usage: { input_tokens: 11, output_tokens: 4, cache_read_input_tokens: 2 } }) });
    expect(run.usage).toEqual({ prompt_tokens: 11, completion_tokens: 4, total_tokens: 15, cache_read_tokens: 2 });
  });

  it("a failed run is still 201: error.code runtime_error, the class in details, the answer is the error text", async () => {
    // Legacy `fail.code` with a provider class is a provider failure (failures.ts).
    const run = await blocking({ query: emu({ text: ["partial"], fail: { code: "provider_upstream_error", message: "boom", after_deltas: 1 } }) });
    expect(run.status).toBe("failed");
    expect(run.error).toEqual({
      code: "runtime_error",
      message: "boom",
      details: {
        provider_instance_id: "0197a000-0000-7000-8000-0000000000e1",
        provider_code: "emulator_provider",
        protocol: "openai_compatible",
        error_code: "provider_upstream_error",
        message: "boom",
      },
    });
    expect(run.answer).toBe("boom");
    expect(run.answer_segments).toEqual([{ kind: "message", text: "boom" }]);
  });

  it("incomplete runs keep their answer", async () => {
    const run = await blocking({ query: emu({ text: ["cut"], incomplete: true }) });
    expect(run.status).toBe("incomplete");
    expect(run.answer).toBe("cut");
  });

  it("tool_calls → waiting with required_action and tool_calls", async () => {
    const run = await blocking({ query: emu({ tool_calls: [{ name: "a", arguments: { x: 1 } }, { name: "b" }] }) });
    expect(run.status).toBe("waiting");
    expect(run.tool_calls).toEqual([
      { id: "call_1", name: "a", arguments: { x: 1 } },
      { id: "call_2", name: "b", arguments: {} },
    ]);
    expect(run.required_action?.action_type).toBe("submit_tool_outputs");
    expect(run.required_action?.payload).toMatchObject({ callback_kind: "llm_tool_calls", flow_run_id: run.id, request_payload: { tool_calls: run.tool_calls } });
    expect(run.required_action?.payload.callback_task_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("an unknown response_mode creates a queued run without executing it (§1.4)", async () => {
    const res = await postRun({ query: "x", response_mode: "manual" });
    expect(res.status).toBe(201);
    const { data } = (await res.json()) as { data: Run };
    expect(data.status).toBe("queued");
  });

  it("cancel during wait_ms: the blocking create still holds until the node ends, then returns the cancelled run", async () => {
    const t0 = Date.now();
    const pending = postRun({ query: emu({ wait_ms: 800 }), title: "wait-blocking" });
    let runId: string | undefined;
    for (let i = 0; i < 50 && !runId; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const res = await fetch(`${base()}/__emulator/requests?last=50&path=/api/agent/v1/runs`);
      const { requests } = (await res.json()) as { requests: Array<{ run_id: string | null; body: { title?: string } | null }> };
      runId = requests.find((r) => r.body?.title === "wait-blocking" && r.run_id)?.run_id ?? undefined;
    }
    expect(runId).toBeDefined();
    const cancel = await api(`/runs/${runId}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    const res = await pending;
    // Native notices a cancel only between nodes (continuation/engine.rs:118): the LLM node runs out.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(780);
    expect(res.status).toBe(201);
    const { data } = (await res.json()) as { data: Run };
    expect(data.status).toBe("cancelled");
    // A cancel keeps the row's (empty) error payload: no error (run_service.rs:223-234).
    expect(data.error).toBeNull();
    expect(data.answer).toBeNull();
    expect(await errorOf(await api(`/runs/${runId}/cancel`, { method: "POST" }))).toMatchObject({ status: 409, code: "invalid_state" });
  });

  it("http_error: JSON {code,message} with retry-after, or plain text", async () => {
    const res = await postRun({ query: emu({ http_error: { status: 429, code: "rate_limited", message: "slow", retry_after: "3" } }) });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(await res.json()).toEqual({ code: "rate_limited", message: "slow" });
    const plain = await postRun({ query: emu({ http_error: { status: 502, plain_text: "Bad Gateway" } }), response_mode: "streaming" });
    expect(plain.status).toBe(502);
    expect(plain.headers.get("content-type")).toContain("text/plain");
    expect(await plain.text()).toBe("Bad Gateway");
  });

  it("malformed_body: a 201 whose body is not JSON", async () => {
    const res = await postRun({ query: emu({ malformed_body: true }) });
    expect(res.status).toBe(201);
    await expect(res.clone().json()).rejects.toThrow();
  });

  it("a malformed directive is 400 emulator_script", async () => {
    expect(await errorOf(await postRun({ query: "x [[emu:{not json}]]" }))).toMatchObject({ status: 400, code: "emulator_script" });
    expect(await errorOf(await postRun({ query: emu({ repeat: -1 } as never) }))).toMatchObject({ status: 400, code: "emulator_script" });
  });

  it("delay_ms delays the response", async () => {
    const t0 = Date.now();
    await blocking({ query: emu({ delay_ms: 300 }) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
  });

  it("bodies over 2 MiB get a plain-text 413 (§1.3)", async () => {
    const res = await postRun({ query: "x".repeat(2 * 1024 * 1024 + 10) });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toContain("text/plain");
    await res.text();
  });

  it("reasoning parameters are frozen into the run input (§1.4.1)", async () => {
    const run = await blocking({ query: "x", model: "1flowbase", execution: { model_parameters: { reasoning: { effort: "high", budget_tokens: 1024 } } } });
    expect(run.node_input_payload["node-start"].reasoning_effort).toBe("high");
    // The frozen form always carries `enabled: true` (run_input.rs:204-215).
    expect(run.node_input_payload.sys.model_parameters).toEqual({ reasoning: { enabled: true, effort: "high", budget_tokens: 1024 } });
  });

  it("cancel of a waiting run cancels its task", async () => {
    const run = await blocking({ query: emu({ tool_calls: [{ name: "t" }] }) });
    const res = await api(`/runs/${run.id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Run };
    expect(data.status).toBe("cancelled");
    expect(data.required_action).toBeNull();
    const resume = await api(`/runs/${run.id}/resume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ callback_task_id: run.required_action?.payload.callback_task_id, response_payload: { tool_results: [{ tool_call_id: "call_1", content: "x" }] } }),
    });
    expect(resume.status).toBe(409);
  });

  it("the unpublished application's key gets 409 application_not_published", async () => {
    expect(await errorOf(await postRun({ query: "x" }, KEYS.unpublished))).toEqual({
      status: 409,
      code: "application_not_published",
      message: "application has no active published public API version",
    });
  });
});

describe("execution.idempotency_key (native-api.md §1.4.2)", () => {
  it("same key + same body returns the existing run (no new run), fingerprint frozen in sys", async () => {
    const key = crypto.randomUUID();
    const first = await blocking({ query: "idem", execution: { idempotency_key: key }, title: "a" });
    expect(first.node_input_payload.sys.public_run_idempotency_fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Key order does not matter: the fingerprint is over canonical JSON.
    const again = await blocking({ title: "a", execution: { idempotency_key: key }, query: "idem" });
    expect(again.id).toBe(first.id);
    expect(await recordedRequests(`run_id=${first.id}`)).toHaveLength(2);
  });

  it("same key + different body → 409 idempotency_conflict", async () => {
    const key = crypto.randomUUID();
    await blocking({ query: "one", execution: { idempotency_key: key } });
    expect(await errorOf(await postRun({ query: "two", execution: { idempotency_key: key } }))).toEqual({
      status: 409,
      code: "idempotency_conflict",
      message: "idempotency key was already used with a different request",
    });
  });

  it("keys are scoped per API key", async () => {
    const key = crypto.randomUUID();
    const a = await blocking({ query: "x", execution: { idempotency_key: key } });
    const b = await blocking({ query: "x", execution: { idempotency_key: key } }, KEYS.demoSecond);
    expect(b.id).not.toBe(a.id);
  });

  it("a streaming replay rebuilds the stream from the durable run", async () => {
    const key = crypto.randomUUID();
    const body = { query: "stream idem", response_mode: "streaming", execution: { idempotency_key: key } };
    const first = events(await (await postRun(body)).text());
    const replay = events(await (await postRun(body)).text());
    const runId = first[0]?.data.run_id as string;
    expect(replay[0]?.data.run_id).toBe(runId);
    expect(replay[0]?.id).toBe(`${runId}:0`);
    expect(replay.at(-1)).toMatchObject({ event: "run.completed", id: `${runId}:0` });
    expect(replay.at(-1)?.data.answer).toBe(first.at(-1)?.data.answer);
  });
});

describe("conversations and history rehydration (native-api.md §3.4)", () => {
  it("generates conv_<32hex> when an external user is given without an id", async () => {
    const run = await blocking({ query: "x", conversation: { user: uniqueUser("gen") } });
    expect(run.metadata.external_conversation_id).toMatch(/^conv_[0-9a-f]{32}$/);
    expect(run.metadata.request.conversation.id).toBe(run.metadata.external_conversation_id);
    const unbound = await blocking({ query: "x", conversation: { id: "c-only" } });
    expect(unbound.metadata.external_conversation_id).toBeNull();
    expect(unbound.metadata.external_user).toBeNull();
  });

  it("rehydrates previous turns into node-start.history when history is empty (think blocks stripped)", async () => {
    const user = uniqueUser("rehydrate");
    const first = await blocking({ query: emu({ reasoning: ["secret thoughts"], text: ["Paris."] }, "capital of France?"), conversation: { user, id: "c1" } });
    expect(first.answer).toBe("<think>secret thoughts</think>Paris.");
    const second = await blocking({ query: "and Spain?", conversation: { user, id: "c1" } });
    const history = second.node_input_payload["node-start"].history;
    expect(history).toEqual([
      { role: "user", content: first.node_input_payload["node-start"].query },
      { role: "assistant", content: "Paris." },
    ]);
    expect(second.answer).toBe(`You said: and Spain? [history: user: ${history[0]?.content as string} | assistant: Paris.]`);

    // Streaming runs store turns too; the third run sees both earlier turns.
    const streamed = events(await (await postRun({ query: "third", conversation: { user, id: "c1" }, response_mode: "streaming" })).text());
    expect(streamed.at(-1)?.data.answer).toContain("assistant: You said: and Spain?");
    expect(streamed[0]?.data.conversation).toEqual({ user, id: "c1" });
  });

  it("expand_id takes precedence over conversation.user", async () => {
    const user = uniqueUser("expand");
    await blocking({ query: "one", expand_id: user, conversation: { user: "ignored", id: "c" } });
    const second = await blocking({ query: "two", expand_id: user, conversation: { id: "c" } });
    expect(second.metadata.external_user).toBe(user);
    expect(second.metadata.expand_id).toBe(user);
    expect(second.node_input_payload["node-start"].history).toHaveLength(2);
  });

  it("explicit history disables rehydration", async () => {
    const user = uniqueUser("explicit");
    await blocking({ query: "one", conversation: { user, id: "c" } });
    const run = await blocking({ query: "two", conversation: { user, id: "c" }, history: [{ role: "user", content: "mine" }] });
    expect(run.node_input_payload["node-start"].history).toEqual([{ role: "user", content: "mine" }]);
  });

  it("conversations are scoped per API key", async () => {
    const user = uniqueUser("scoped");
    await blocking({ query: "one", conversation: { user, id: "c" } });
    const sameApp = await blocking({ query: "two", conversation: { user, id: "c" } }, KEYS.demoSecond);
    expect(sameApp.node_input_payload["node-start"].history).toEqual([]);
    const sameKey = await blocking({ query: "three", conversation: { user, id: "c" } });
    expect(sameKey.node_input_payload["node-start"].history).toHaveLength(2);
  });
});
