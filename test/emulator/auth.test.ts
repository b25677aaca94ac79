import { describe, expect, it } from "vitest";
import { KEYS, api, base, blocking, errorOf, getRun } from "./helpers";

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
