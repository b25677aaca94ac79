/**
 * A 20-turn tool loop, turn by turn, over the Responses WebSocket mode and over HTTP chaining
 * (issue 15): the gateway in workerd (bench/d1-latency-worker.ts, the deployed worker's default
 * export) and the emulator as native, the same worker and emulator for both transports, under two D1
 * models — D1 as local workerd has it (0 ms) and the production model of bench/lib/d1-latency.ts
 * (primary 100 ms away, a replica 5 ms away, 0–50 ms of replica lag), where the socket's
 * per-connection `store: false` map skips D1 altogether.
 *
 * A loop: one untimed create whose script (`[[emu:{tool_calls, after_tools:{tool_calls}}]]`) makes
 * the run call a tool — the emulator runs the same `after_tools` leg after every resume, so every
 * turn is answered by a new function call — then `TURNS` timed turns, each a `response.create` with
 * the previous turn's id as `previous_response_id` and a `function_call_output` for its call. A turn
 * counts only if its terminal event is `response.completed` with a function call in its output.
 * The cases:
 *
 *   websocket · store:true    one socket per loop (opened before the timed turns), chained by id
 *   websocket · store:false   the same, `store: false`: the socket's own id → run map (no D1)
 *   http · store:true         `POST /v1/responses` streamed (SSE), keep-alive, chained by id
 *   http · store:false        cannot chain by id (one check per run: previous_response_not_found),
 *                             so the client replays the whole transcript each turn — what a
 *                             stateless client (Codex with store:false) does; the gateway resumes
 *                             the waiting run from the call id
 *
 * First byte: the first WebSocket message (`response.created`) or the first SSE body byte after the
 * client sent the turn; complete: its terminal event. The total is one loop's 20 turns, wall clock.
 * Every round runs every (model × case) loop once, starting at a different one each round, so load
 * drift on this shared machine falls on all alike. Each socket / request has a timeout; nothing loops
 * unbounded.
 *
 *   npx tsx bench/toolloop.ts [--rounds=10] [--turns=20] [--models=local,production] [--native-rtt=0]
 *   npm run bench -- --phases=toolloop --no-write   (section "Tool loop")
 */
import http from "node:http";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { EMULATOR_KEYS } from "../emulator/script";
import { startLatencyGateway } from "./d1latency";
import { loadWebSocket, ROOT } from "./lib/deps";
import { PRODUCTION_D1, type D1LatencyModel } from "./lib/d1-latency";
import { startEmulatorProcess } from "./lib/proc";
import { startNativeProbe } from "./lib/native-probe";
import { percentile } from "./lib/stats";
import type { WorkerdSession } from "./lib/workerd";

export type ToolLoopTransport = "websocket" | "http";

export interface ToolLoopCase {
  name: string;
  transport: ToolLoopTransport;
  store: boolean;
  /** The D1 model's label: "local" (0 ms) or "production". */
  model: string;
}

export interface ToolLoopRow extends ToolLoopCase {
  /** Loops that ran; turns measured (failed turns excluded from the percentiles). */
  loops: number;
  turns: number;
  errors: number;
  firstError?: string;
  firstByteP50: number;
  firstByteP99: number;
  completeP50: number;
  completeP99: number;
  /** One loop's `turns` turns, wall clock: median and worst over the loops. */
  loopTotalP50: number;
  loopTotalMax: number;
  /** WebSocket: opening the socket (upgrade to open), median; null for HTTP. */
  connectP50: number | null;
}

export interface ToolLoopResult {
  turnsPerLoop: number;
  rounds: number;
  models: Array<{ label: string; model: D1LatencyModel }>;
  rows: ToolLoopRow[];
  /** What `previous_response_id` of a `store: false` response answers over HTTP, per model (the check that HTTP store:false cannot chain). */
  httpUnstoredChain: Array<{ model: string; status: number; code: string | null }>;
}

export interface ToolLoopOptions {
  rounds: number;
  turns: number;
  models: Array<{ label: string; model: D1LatencyModel }>;
  /** Native this many ms away (native-probe.ts `roundTripMs`); 0 or absent: loopback. */
  nativeRoundTripMs?: number;
  log: (line: string) => void;
}

export const LOCAL_D1: D1LatencyModel = { primaryRttMs: 0, replicaRttMs: 0, lagMinMs: 0, lagMaxMs: 0 };
const TURN_TIMEOUT_MS = 30_000;
const MODEL = "1flowbase";
const TOOLS = [{ type: "function", name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }];
/** Every leg, the first and each one after a resume, calls the tool again: an endless tool loop, cut at `turns`. */
const SCRIPT = { tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }], after_tools: { tool_calls: [{ name: "get_weather", arguments: { city: "Rome" } }] } };
const FIRST_INPUT = `What is the weather? [[emu:${JSON.stringify(SCRIPT)}]]`;
const AUTH = `Bearer ${EMULATOR_KEYS.demo}`;

interface Turn {
  ok: boolean;
  firstByteMs: number;
  completeMs: number;
  /** The answer (response.completed's `response`) when ok. */
  response?: TerminalResponse;
  error?: string;
}

interface TerminalResponse {
  id: string;
  status: string;
  output: Array<{ type: string; call_id?: string; name?: string; arguments?: string }>;
}

/** The function call a turn must end with, or why it did not. */
function callOf(response: TerminalResponse | undefined): { call_id: string; name: string; arguments: string } | string {
  if (!response) return "no response";
  const call = response.output.find((item) => item.type === "function_call");
  if (response.status !== "completed" || !call?.call_id || !call.name) return `status ${response.status}, output ${response.output.map((item) => item.type).join(",")}`;
  return { call_id: call.call_id, name: call.name, arguments: call.arguments ?? "{}" };
}

const TERMINAL_TYPES = ['"type":"response.completed"', '"type":"response.failed"', '"type":"response.incomplete"', '"type":"error"'];

/** The WebSocket constructor undici has (Node 20 has no global one); it takes request headers. */
type HeaderWebSocket = new (url: string, init: { headers: Record<string, string> }) => WebSocket;

/** One Responses socket, turns one at a time; messages are inspected only far enough to find the terminal one. */
class LoopSocket {
  private onMessage: ((data: string) => void) | null = null;
  private closed: string | null = null;

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener("message", (event: MessageEvent) => this.onMessage?.(String(event.data)));
    socket.addEventListener("close", (event: CloseEvent) => {
      this.closed = `closed ${event.code} ${event.reason}`;
      this.onMessage?.("");
    });
  }

  static open(origin: string): Promise<{ socket: LoopSocket; connectMs: number }> {
    const Socket = loadWebSocket() as unknown as HeaderWebSocket;
    const started = performance.now();
    const socket = new Socket(`${origin.replace(/^http/, "ws")}/v1/responses`, { headers: { authorization: AUTH } });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("socket did not open")), TURN_TIMEOUT_MS);
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        resolve({ socket: new LoopSocket(socket), connectMs: performance.now() - started });
      });
      socket.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error("socket upgrade failed"));
      });
    });
  }

  turn(body: Record<string, unknown>): Promise<Turn> {
    const started = performance.now();
    let firstByteMs: number | null = null;
    return new Promise<Turn>((resolve) => {
      const timer = setTimeout(() => finish({ ok: false, firstByteMs: firstByteMs ?? 0, completeMs: performance.now() - started, error: "turn timed out" }), TURN_TIMEOUT_MS);
      const finish = (turn: Turn): void => {
        clearTimeout(timer);
        this.onMessage = null;
        resolve(turn);
      };
      this.onMessage = (data) => {
        if (this.closed) return finish({ ok: false, firstByteMs: firstByteMs ?? 0, completeMs: performance.now() - started, error: this.closed });
        const now = performance.now();
        firstByteMs ??= now - started;
        const head = data.slice(0, 40);
        if (head.startsWith('{"type":"keepalive"')) return;
        if (!TERMINAL_TYPES.some((type) => head.includes(type))) return;
        const message = JSON.parse(data) as { type: string; response?: TerminalResponse; error?: { code?: string; message?: string } };
        if (message.type === "response.completed" && message.response) finish({ ok: true, firstByteMs, completeMs: now - started, response: message.response });
        else finish({ ok: false, firstByteMs, completeMs: now - started, error: `${message.type}: ${message.error?.code ?? ""} ${message.error?.message ?? JSON.stringify(message.response?.status ?? "")}`.slice(0, 300) });
      };
      if (this.closed) return finish({ ok: false, firstByteMs: 0, completeMs: 0, error: this.closed });
      this.socket.send(JSON.stringify({ type: "response.create", ...body }));
    });
  }

  close(): void {
    this.socket.close(1000, "loop done");
  }
}

/** One streamed `POST /v1/responses` on `agent`: first body byte, terminal event, the completed response. */
function httpTurn(agent: http.Agent, origin: string, body: Record<string, unknown>): Promise<Turn> {
  const url = new URL(origin);
  const payload = JSON.stringify({ ...body, stream: true });
  const started = performance.now();
  return new Promise<Turn>((resolve) => {
    let firstByteMs: number | null = null;
    let text = "";
    let settled = false;
    const finish = (turn: Turn): void => {
      if (settled) return;
      settled = true;
      resolve(turn);
    };
    const request = http.request(
      { host: url.hostname, port: url.port, method: "POST", path: "/v1/responses", agent, headers: { authorization: AUTH, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (response) => {
        response.on("data", (chunk: Buffer) => {
          firstByteMs ??= performance.now() - started;
          text += chunk.toString("utf8");
        });
        response.on("end", () => {
          const completeMs = performance.now() - started;
          const completed = /event: response\.completed\ndata: (\{[^\n]*\})\n/.exec(text);
          if (response.statusCode === 200 && completed?.[1]) {
            finish({ ok: true, firstByteMs: firstByteMs ?? completeMs, completeMs, response: (JSON.parse(completed[1]) as { response: TerminalResponse }).response });
          } else {
            finish({ ok: false, firstByteMs: firstByteMs ?? completeMs, completeMs, error: `HTTP ${response.statusCode ?? 0} ${text.slice(0, 300)}` });
          }
        });
        response.on("error", (error) => finish({ ok: false, firstByteMs: firstByteMs ?? 0, completeMs: performance.now() - started, error: String(error) }));
      },
    );
    request.setTimeout(TURN_TIMEOUT_MS, () => request.destroy(new Error("turn timed out")));
    request.on("error", (error) => finish({ ok: false, firstByteMs: firstByteMs ?? 0, completeMs: performance.now() - started, error: String(error) }));
    request.end(payload);
  });
}

interface LoopSamples {
  turns: Turn[];
  totalMs: number | null;
  connectMs: number | null;
}

/** One loop of `turns` timed turns after an untimed first create; stops at the first failed turn. */
async function runLoop(c: ToolLoopCase, origin: string, agent: http.Agent, turns: number): Promise<LoopSamples> {
  const out: LoopSamples = { turns: [], totalMs: null, connectMs: null };
  const base = { model: MODEL, tools: TOOLS, store: c.store };
  let socket: LoopSocket | null = null;
  try {
    let send: (body: Record<string, unknown>) => Promise<Turn>;
    if (c.transport === "websocket") {
      const opened = await LoopSocket.open(origin);
      socket = opened.socket;
      out.connectMs = opened.connectMs;
      const open = opened.socket;
      send = (body) => open.turn(body);
    } else {
      send = (body) => httpTurn(agent, origin, body);
    }
    // The transcript a stateless client replays (HTTP store:false): every item so far.
    const transcript: unknown[] = [{ role: "user", content: FIRST_INPUT }];
    const first = await send({ ...base, input: FIRST_INPUT });
    let call = callOf(first.response);
    if (!first.ok || typeof call === "string") {
      out.turns.push({ ...first, ok: false, error: `first create: ${first.error ?? call}` });
      return out;
    }
    let previous = first.response as TerminalResponse;
    const loopStarted = performance.now();
    for (let i = 0; i < turns; i++) {
      const output = { type: "function_call_output", call_id: call.call_id, output: `{"temperature_c":${10 + i}}` };
      let body: Record<string, unknown>;
      if (c.transport === "http" && !c.store) {
        transcript.push({ type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments }, output);
        body = { ...base, input: transcript };
      } else {
        body = { ...base, previous_response_id: previous.id, input: [output] };
      }
      const turn = await send(body);
      const next = callOf(turn.response);
      if (turn.ok && typeof next === "string") {
        out.turns.push({ ...turn, ok: false, error: `turn ${i + 1} did not call a tool: ${next}` });
        return out;
      }
      out.turns.push(turn);
      if (!turn.ok || typeof next === "string") return out;
      call = next;
      previous = turn.response as TerminalResponse;
    }
    out.totalMs = performance.now() - loopStarted;
    return out;
  } catch (error) {
    out.turns.push({ ok: false, firstByteMs: 0, completeMs: 0, error: String(error) });
    return out;
  } finally {
    socket?.close();
  }
}

export function toolLoopCases(models: readonly string[]): ToolLoopCase[] {
  const cases: ToolLoopCase[] = [];
  for (const model of models) {
    for (const transport of ["websocket", "http"] as const) {
      for (const store of [true, false]) {
        const how = transport === "http" && !store ? "store:false · transcript replayed" : `store:${store} · previous_response_id`;
        cases.push({ name: `[D1 ${model}] ${transport} · ${how}`, transport, store, model });
      }
    }
  }
  return cases;
}

/** What `previous_response_id` of an HTTP `store: false` response answers (status, error code). */
async function unstoredChainOverHttp(agent: http.Agent, origin: string): Promise<{ status: number; code: string | null }> {
  const first = await httpTurn(agent, origin, { model: MODEL, store: false, input: "hello" });
  if (!first.response) throw new Error(`setup create failed: ${first.error ?? ""}`);
  const chained = await httpTurn(agent, origin, { model: MODEL, store: false, previous_response_id: first.response.id, input: "again" });
  if (chained.ok) return { status: 200, code: null };
  const match = /^HTTP (\d+) ([\s\S]*)$/.exec(chained.error ?? "");
  const code = match?.[2] ? ((JSON.parse(match[2]) as { error?: { code?: string } }).error?.code ?? null) : null;
  return { status: Number(match?.[1] ?? 0), code };
}

export async function runToolLoop(options: ToolLoopOptions): Promise<ToolLoopResult> {
  const { log } = options;
  const emulator = await startEmulatorProcess();
  const stops: Array<() => Promise<void>> = [() => emulator.stop()];
  // Native far away too (bench/lib/native-probe.ts): the gateways reach native through the delaying probe.
  const far = options.nativeRoundTripMs ? await startNativeProbe(emulator.url, { roundTripMs: options.nativeRoundTripMs }) : null;
  if (far) stops.push(() => far.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const gateways = new Map<string, WorkerdSession>();
    for (const { label, model } of options.models) {
      const session = await startLatencyGateway(ROOT, `toolloop-${label}`, far?.url ?? emulator.url, model);
      stops.push(() => session.dispose());
      gateways.set(label, session);
    }
    const originOf = (c: ToolLoopCase): string => (gateways.get(c.model) as WorkerdSession).url;
    const cases = toolLoopCases(options.models.map((m) => m.label));
    const httpUnstoredChain: ToolLoopResult["httpUnstoredChain"] = [];
    for (const [label, session] of gateways) httpUnstoredChain.push({ model: label, ...(await unstoredChainOverHttp(agent, session.url)) });
    for (const check of httpUnstoredChain) log(`  [D1 ${check.model}] HTTP store:false + previous_response_id: HTTP ${check.status} ${check.code ?? ""}`);

    // Warm-up: every path compiled, connections open.
    for (const c of cases) {
      const warm = await runLoop(c, originOf(c), agent, 2);
      const failed = warm.turns.find((turn) => !turn.ok);
      if (failed) throw new Error(`warm-up of ${c.name} failed: ${failed.error ?? ""}`);
    }
    const samples = new Map<ToolLoopCase, LoopSamples[]>(cases.map((c) => [c, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < cases.length; k++) {
        const c = cases[(round + k) % cases.length] as ToolLoopCase;
        samples.get(c)?.push(await runLoop(c, originOf(c), agent, options.turns));
      }
      await fetch(`${emulator.url}/__emulator/reset`, { method: "POST", body: "{}", signal: AbortSignal.timeout(10_000) }).then((r) => r.arrayBuffer());
      log(`  toolloop: round ${round + 1}/${options.rounds}`);
    }
    const rows = cases.map((c): ToolLoopRow => {
      const loops = samples.get(c) ?? [];
      const turns = loops.flatMap((loop) => loop.turns);
      const ok = turns.filter((turn) => turn.ok);
      const failed = turns.find((turn) => !turn.ok);
      const totals = loops.map((loop) => loop.totalMs).filter((total): total is number => total !== null);
      const connects = loops.map((loop) => loop.connectMs).filter((ms): ms is number => ms !== null);
      return {
        ...c,
        loops: loops.length,
        turns: ok.length,
        // A loop stops at its first failed turn: each failure is one turn that failed.
        errors: turns.length - ok.length,
        ...(failed?.error ? { firstError: failed.error } : {}),
        firstByteP50: percentile(ok.map((turn) => turn.firstByteMs), 50),
        firstByteP99: percentile(ok.map((turn) => turn.firstByteMs), 99),
        completeP50: percentile(ok.map((turn) => turn.completeMs), 50),
        completeP99: percentile(ok.map((turn) => turn.completeMs), 99),
        loopTotalP50: percentile(totals, 50),
        loopTotalMax: totals.length === 0 ? Number.NaN : Math.max(...totals),
        connectP50: connects.length === 0 ? null : percentile(connects, 50),
      };
    });
    for (const row of rows) {
      log(
        `  ${row.name.padEnd(58)} first byte p50 ${row.firstByteP50.toFixed(1).padStart(6)} p99 ${row.firstByteP99.toFixed(1).padStart(6)}  ` +
          `complete p50 ${row.completeP50.toFixed(1).padStart(6)} p99 ${row.completeP99.toFixed(1).padStart(6)}  ${options.turns} turns p50 ${row.loopTotalP50.toFixed(0).padStart(5)} ms` +
          (row.errors ? `  ERRORS ${row.errors}: ${row.firstError ?? ""}` : ""),
      );
    }
    return { turnsPerLoop: options.turns, rounds: options.rounds, models: options.models, rows, httpUnstoredChain };
  } finally {
    agent.destroy();
    for (const stop of stops.reverse()) await stop();
  }
}

/** `--models=local,production` → the models by label (local: D1 at 0 ms; production: bench/lib/d1-latency.ts's PRODUCTION_D1). */
export function toolLoopModels(spec = "local,production"): ToolLoopOptions["models"] {
  return spec.split(",").map((label) => {
    if (label === "local") return { label, model: LOCAL_D1 };
    if (label === "production") return { label, model: PRODUCTION_D1 };
    throw new Error(`--models takes local and/or production, got ${label}`);
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const value = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const result = await runToolLoop({
    rounds: Number(value("rounds") ?? "10"),
    turns: Number(value("turns") ?? "20"),
    models: toolLoopModels(value("models")),
    nativeRoundTripMs: Number(value("native-rtt") ?? "0"),
    log: (line) => console.log(line),
  });
  const failed = result.rows.some((row) => row.errors > 0);
  process.exit(failed ? 1 : 0);
}
