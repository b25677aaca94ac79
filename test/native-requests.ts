/**
 * What the gateway sent to the emulated native API for one run, from the emulator's request log
 * (`GET /__emulator/requests?run_id=…`, see emulator/README.md). Shared by the protocol suites;
 * filtering by run id keeps parallel test files from seeing each other's requests.
 */
import { env } from "cloudflare:test";

export interface RecordedNativeRequest {
  method: string;
  path: string;
  body: unknown;
  run_id: string | null;
}

export async function nativeRequests(runId: string): Promise<RecordedNativeRequest[]> {
  const response = await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/requests?run_id=${encodeURIComponent(runId)}`);
  const json = (await response.json()) as { requests: RecordedNativeRequest[] };
  return json.requests;
}

/** The native create body (`POST /api/agent/v1/runs`) of a run. */
export async function nativeCreateBodyOfRun(runId: string): Promise<Record<string, unknown>> {
  const create = (await nativeRequests(runId)).find((request) => request.method === "POST" && request.path === "/api/agent/v1/runs");
  if (!create) throw new Error(`no native create recorded for run ${runId}`);
  return create.body as Record<string, unknown>;
}
