import { describe, expect, it } from "vitest";
import { api, blocking, emu, errorOf, getRun, type Run } from "./helpers";

function resume(runId: string, body: unknown, contentType: string | null = "application/json"): Promise<Response> {
  return api(`/runs/${runId}/resume`, {
    method: "POST",
    headers: contentType ? { "content-type": contentType } : {},
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function waitingRun(script: Parameters<typeof emu>[0]): Promise<{ run: Run; task: string }> {
  const run = await blocking({ query: emu(script, "use tools") });
  expect(run.status).toBe("waiting");
  return { run, task: run.required_action?.payload.callback_task_id ?? "" };
}

describe("resume (native-api.md §1.6)", () => {
  it("runs the continuation and returns 200 {data} JSON with the durable run", async () => {
    const { run, task } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }, { id: "b", name: "y" }] });
    const res = await resume(run.id, { callback_task_id: task, response_payload: { tool_results: [{ tool_call_id: "a", content: "1" }, { tool_call_id: "b", content: { ok: true } }] }, response_mode: "streaming" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const { data, meta } = (await res.json()) as { data: Run; meta: unknown };
    expect(meta).toBeNull();
    expect(data.status).toBe("succeeded");
    expect(data.answer).toBe('Tool results: a=1, b={"ok":true}');
    expect(data.required_action).toBeNull();
    expect(data.tool_calls).toBeNull();
    expect(data.metadata).not.toHaveProperty("request.response_mode");
    const got = (await (await getRun(run.id)).json()) as { data: Run };
    expect(got.data.answer).toBe(data.answer);
  });

  it("after_tools scripts the continuation, which may ask for tools again", async () => {
    const { run, task } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }], after_tools: { tool_calls: [{ id: "c", name: "z" }] } });
    const res = await resume(run.id, { callback_task_id: task, response_payload: { tool_results: [{ tool_call_id: "a", content: "1" }] } });
    const { data } = (await res.json()) as { data: Run };
    expect(data.status).toBe("waiting");
    expect(data.tool_calls).toEqual([{ id: "c", name: "z", arguments: {} }]);
    expect(data.required_action?.payload.callback_task_id).not.toBe(task);
    const { run: r2, task: t2 } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }], after_tools: { reasoning: ["ok"], text: ["done"] } });
    const done = (await (await resume(r2.id, { callback_task_id: t2, response_payload: { tool_results: [{ tool_call_id: "a", content: "1" }] } })).json()) as { data: Run };
    expect(done.data.answer).toBe("<think>ok</think>done");
  });

  it("requires exactly one result per pending tool call (400 tool_results, task stays pending)", async () => {
    const { run, task } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }, { id: "b", name: "y" }] });
    const cases: Array<[unknown, string]> = [
      [null, "llm tool callback response requires tool_results"],
      [{ tool_results: [{ content: "1" }] }, "llm tool callback result is missing tool_call_id"],
      [{ tool_results: [{ tool_call_id: "a", content: "1" }] }, "missing tool result for b"],
      [{ tool_results: [{ tool_call_id: "a", content: "1" }, { tool_call_id: "a", content: "2" }] }, "duplicate tool result for a"],
      [{ tool_results: [{ tool_call_id: "a", content: "1" }, { tool_call_id: "zzz", content: "2" }] }, "unexpected tool result for zzz"],
    ];
    for (const [payload, message] of cases) {
      expect(await errorOf(await resume(run.id, { callback_task_id: task, response_payload: payload }))).toEqual({ status: 400, code: "tool_results", message });
    }
    const ok = await resume(run.id, { callback_task_id: task, response_payload: { tool_results: [{ tool_call_id: "b", content: "2" }, { tool_call_id: "a", content: "1" }] } });
    expect(ok.status).toBe(200);
  });

  it("is idempotent per task: same payload → stored result, different → 409", async () => {
    const { run, task } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }] });
    const body = { callback_task_id: task, response_payload: { tool_results: [{ tool_call_id: "a", content: "1" }] } };
    const first = (await (await resume(run.id, body)).json()) as { data: Run };
    const again = await resume(run.id, { response_payload: { tool_results: [{ content: "1", tool_call_id: "a" }] }, callback_task_id: task });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { data: Run }).data).toEqual(first.data);
    const conflict = await resume(run.id, { callback_task_id: task, response_payload: { tool_results: [{ tool_call_id: "a", content: "2" }] } });
    expect(await errorOf(conflict)).toMatchObject({ status: 409, code: "callback_resume_payload_conflict" });
  });

  it("needs application/json (415 plain text) and valid JSON (axum rejections)", async () => {
    const { run, task } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }] });
    const noType = await resume(run.id, { callback_task_id: task }, null);
    expect(noType.status).toBe(415);
    expect(noType.headers.get("content-type")).toContain("text/plain");
    await noType.text();
    const text = await resume(run.id, { callback_task_id: task }, "text/plain");
    expect(text.status).toBe(415);
    await text.text();
    const badJson = await resume(run.id, "{nope");
    expect(badJson.status).toBe(400);
    expect(await badJson.text()).toContain("Failed to parse the request body as JSON");
    const missing = await resume(run.id, { response_payload: null });
    expect(missing.status).toBe(422);
    await missing.text();
  });

  it("resume of a run that is not waiting, or with a task of another run", async () => {
    const done = await blocking({ query: "plain" });
    const { run, task } = await waitingRun({ tool_calls: [{ id: "a", name: "x" }] });
    expect((await errorOf(await resume(done.id, { callback_task_id: task, response_payload: null }))).code).toBe("callback_task_flow_run");
    expect((await errorOf(await resume(run.id, { callback_task_id: crypto.randomUUID(), response_payload: null }))).status).toBe(404);
  });
});
