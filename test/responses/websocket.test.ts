/**
 * Responses over WebSocket (src/routes/responses-ws.ts): the same events as the SSE stream, one JSON
 * message each; turns in order per lane; `store: false` chains within one socket only; errors that
 * leave the socket usable; the size limit, the idle timeout and keepalives; the client's close
 * cancelling its native run; sockets that never see each other's events.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { emu } from "../../emulator/script";
import { checkEventOrder, EMULATOR_KEYS, MODEL, runIdOf, streamRaw, type SseEvent } from "./helpers";

type Message = Record<string, unknown> & { type: string };

const TERMINALS = new Set(["response.completed", "response.incomplete", "response.failed"]);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A test's end of a Responses socket: every message kept in order, waits with a deadline. */
class SocketClient {
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | null = null;
  private cursor = 0;
  private wake: (() => void) | null = null;

  constructor(readonly socket: WebSocket) {
    socket.accept();
    socket.addEventListener("message", (event) => {
      this.messages.push(JSON.parse(event.data as string) as Message);
      this.wake?.();
    });
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake?.();
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  create(fields: Record<string, unknown>): void {
    this.send({ type: "response.create", model: MODEL, ...fields });
  }

  /** Waits until `done` holds over the messages not consumed yet; returns them up to and including the match. */
  async until(done: (message: Message) => boolean, ms = 10_000): Promise<Message[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.messages.findIndex((message, at) => at >= this.cursor && done(message));
      if (index >= 0) {
        const taken = this.messages.slice(this.cursor, index + 1);
        this.cursor = index + 1;
        return taken;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      if (Date.now() > deadline) throw new Error(`timed out waiting; got ${JSON.stringify(this.messages.slice(this.cursor).map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
      this.wake = null;
    }
  }

  /** The events of the next response (keepalives left out), through its terminal event — or the error message that stood for it. */
  async turn(ms?: number): Promise<Message[]> {
    const taken = await this.until((message) => TERMINALS.has(message.type) || (message.type === "error" && typeof message.status === "number"), ms);
    return taken.filter((message) => message.type !== "keepalive");
  }

  async waitClosed(ms = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("socket not closed");
      await sleep(20);
    }
    return this.closed;
  }
}

function upgradeHeaders(key: string | null = EMULATOR_KEYS.demo): Record<string, string> {
  return key === null ? { upgrade: "websocket" } : { upgrade: "websocket", authorization: `Bearer ${key}` };
}

/** A socket through the runtime (SELF), as a deployed worker sees it. */
async function connect(key: string = EMULATOR_KEYS.demo): Promise<SocketClient> {
  const response = await SELF.fetch("http://gw/v1/responses", { headers: upgradeHeaders(key) });
  expect(response.status).toBe(101);
  if (!response.webSocket) throw new Error("no webSocket on the 101");
  return new SocketClient(response.webSocket);
}

/** A socket on an in-process app with env overrides (shorter limits). */
async function connectWith(overrides: Record<string, string>, headers: Record<string, string> = {}): Promise<SocketClient> {
  const response = await createApp().fetch(new Request("http://gw/v1/responses", { headers: { ...upgradeHeaders(), ...headers } }), { ...env, ...overrides });
  expect(response.status).toBe(101);
  if (!response.webSocket) throw new Error("no webSocket on the 101");
  return new SocketClient(response.webSocket);
}

const asSse = (messages: readonly Message[]): SseEvent[] => messages.map((data) => ({ event: data.type, data }));

function outputText(response: Record<string, unknown>): string {
  const output = response.output as Array<{ type: string; content?: Array<{ text: string }> }>;
  return output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .map((part) => part.text)
    .join("");
}

async function emulatorStatus(runId: string): Promise<string> {
  const response = await fetch(`${env.NATIVE_API_BASE_URL}/__emulator/runs/${runId}`);
  return ((await response.json()) as { data: { status: string } }).data.status;
}

const nonce = (): string => crypto.randomUUID().slice(0, 8);

describe("Responses WebSocket: the upgrade", () => {
  it("no key → the HTTP 401 in OpenAI's envelope, no socket", async () => {
    const response = await SELF.fetch("http://gw/v1/responses", { headers: upgradeHeaders(null) });
    expect(response.status).toBe(401);
    expect(response.webSocket).toBeNull();
    expect(await response.json()).toMatchObject({ error: { code: "missing_api_key", type: "authentication_error" } });
  });

  it("a key native refuses → 401 before any socket", async () => {
    const response = await SELF.fetch("http://gw/v1/responses", { headers: upgradeHeaders("sk-nobody-not-a-key") });
    expect(response.status).toBe(401);
    expect(response.webSocket).toBeNull();
    expect(await response.json()).toMatchObject({ error: { type: "authentication_error" } });
  });

  it("GET /v1/responses without Upgrade → 426 naming the upgrade", async () => {
    const response = await SELF.fetch("http://gw/v1/responses", { headers: { authorization: `Bearer ${EMULATOR_KEYS.demo}` } });
    expect(response.status).toBe(426);
    expect(response.headers.get("upgrade")).toBe("websocket");
    expect(await response.json()).toMatchObject({ error: { code: "upgrade_required" } });
  });
});

describe.concurrent("Responses WebSocket: turns", () => {
  it("one turn: exactly the SSE stream's events, as one JSON message each", async () => {
    const client = await connect();
    const input = emu({ text: ["Hel", "lo ", "there"] }, "hi");
    client.create({ input });
    const events = await client.turn();
    const response = checkEventOrder(asSse(events));
    expect(response.status).toBe("completed");
    expect(outputText(response)).toBe("Hello there");
    // The SSE stream of the same request: the same events, in the same order, numbered the same.
    const sse = await streamRaw({ model: MODEL, input });
    const shape = (list: ReadonlyArray<{ type?: unknown; sequence_number?: unknown }>) => list.map((event) => `${String(event.type)}#${String(event.sequence_number)}`);
    expect(shape(events)).toEqual(shape(sse.events.map((event) => event.data)));
    expect(events.some((event) => JSON.stringify(event).includes("[DONE]"))).toBe(false);
    client.socket.close(1000);
  });

  it("a tool loop: function_call, then its output with previous_response_id resumes the native task", async () => {
    const client = await connect();
    const tools = [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }];
    client.create({ input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, "Weather in Paris?"), tools });
    const first = checkEventOrder(asSse(await client.turn()));
    const call = (first.output as Array<Record<string, unknown>>).find((item) => item.type === "function_call");
    expect(call).toMatchObject({ name: "get_weather", arguments: JSON.stringify({ city: "Paris" }) });
    client.create({ previous_response_id: first.id, tools, input: [{ type: "function_call_output", call_id: call?.call_id, output: "sunny, 21 C" }] });
    const second = await client.turn();
    const resumed = checkEventOrder(asSse(second));
    expect(resumed.status).toBe("completed");
    expect(resumed.id).not.toBe(first.id);
    expect(runIdOf(resumed.id as string)).toBe(runIdOf(first.id as string));
    client.socket.close(1000);
  });

  it("store:false chains on its own socket; from another socket (or HTTP) the id is previous_response_not_found", async () => {
    const client = await connect();
    client.create({ store: false, input: "My name is Ada." });
    const first = checkEventOrder(asSse(await client.turn()));
    expect(first.id as string).toMatch(/^resp_u/);
    client.create({ store: false, previous_response_id: first.id, input: "What is my name?" });
    const second = checkEventOrder(asSse(await client.turn()));
    expect(second.status).toBe("completed");
    expect(outputText(second)).toContain("My name is Ada.");
    // A third turn chains on the second: the connection remembers every response it made.
    client.create({ store: false, previous_response_id: second.id, input: "And again?" });
    expect(outputText(checkEventOrder(asSse(await client.turn())))).toContain("What is my name?");

    const other = await connect();
    other.create({ store: false, previous_response_id: first.id, input: "Who am I?" });
    const [refused] = await other.turn();
    expect(refused).toMatchObject({ type: "error", status: 400, error: { code: "previous_response_not_found", param: "previous_response_id" } });
    // The socket that refused is still usable.
    other.create({ input: "still there?" });
    expect(checkEventOrder(asSse(await other.turn())).status).toBe("completed");
    client.socket.close(1000);
    other.socket.close(1000);
  });

  it("store:false with tools: the tool output continues the unstored response on the same socket", async () => {
    const client = await connect();
    const tools = [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }];
    client.create({ store: false, tools, input: emu({ tool_calls: [{ name: "lookup", arguments: {} }] }, "look it up") });
    const first = checkEventOrder(asSse(await client.turn()));
    const call = (first.output as Array<Record<string, unknown>>).find((item) => item.type === "function_call");
    client.create({ store: false, tools, previous_response_id: first.id, input: [{ type: "function_call_output", call_id: call?.call_id, output: "42" }] });
    const second = checkEventOrder(asSse(await client.turn()));
    expect(second.status).toBe("completed");
    expect(second.id as string).toMatch(/^resp_u/);
    client.socket.close(1000);
  });

  it("a failed continuation evicts the store:false id from the socket", async () => {
    const client = await connect();
    client.create({ store: false, input: "remember me" });
    const first = checkEventOrder(asSse(await client.turn()));
    // A continuation that fails before native is asked (an unknown tool choice is a 400).
    client.create({ store: false, previous_response_id: first.id, input: "x", tool_choice: { type: "function", name: "nope" } });
    const [failed] = await client.turn();
    expect(failed).toMatchObject({ type: "error", status: 400 });
    client.create({ store: false, previous_response_id: first.id, input: "again" });
    const [evicted] = await client.turn();
    expect(evicted).toMatchObject({ type: "error", status: 400, error: { code: "previous_response_not_found" } });
    client.socket.close(1000);
  });

  it("stored responses chain across sockets, as over HTTP", async () => {
    const client = await connect();
    client.create({ input: "The password is swordfish." });
    const first = checkEventOrder(asSse(await client.turn()));
    client.socket.close(1000);
    const next = await connect();
    next.create({ previous_response_id: first.id, input: "What is the password?" });
    const second = checkEventOrder(asSse(await next.turn()));
    expect(outputText(second)).toContain("The password is swordfish.");
    next.socket.close(1000);
  });

  it("bad JSON, a non-object, an unknown type, a binary message → error messages; the socket stays usable", async () => {
    const client = await connect();
    client.send("{not json");
    client.send("[1,2]");
    client.send({ type: "response.cancel" });
    client.socket.send(new Uint8Array([1, 2, 3]));
    const errors: Message[] = [];
    for (let i = 0; i < 4; i++) errors.push(...(await client.turn()));
    const codes = errors.map((message) => (message.error as { code: string }).code);
    expect(codes).toEqual(["invalid_json", "invalid_event", "unknown_event_type", "invalid_event"]);
    expect(errors.every((message) => message.type === "error" && message.status === 400)).toBe(true);
    client.create({ input: "after the errors" });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    client.socket.close(1000);
  });

  it("a create the pipeline refuses is an error message with the HTTP status (and the socket goes on)", async () => {
    const client = await connect();
    client.create({ input: "x", background: true });
    client.create({ input: "x", generate: false });
    client.send({ type: "response.create", input: "no model" });
    const [background] = await client.turn();
    const [generate] = await client.turn();
    const [model] = await client.turn();
    expect(background).toMatchObject({ type: "error", status: 400, error: { param: "background" } });
    expect(generate).toMatchObject({ type: "error", status: 400, error: { param: "generate", code: "unsupported_feature" } });
    expect(model).toMatchObject({ type: "error", status: 400, error: { type: "invalid_request_error", param: "model" } });
    client.create({ input: "fine", stream: true });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    client.socket.close(1000);
  });

  it("response.steer → response.steer.failed (steering_not_supported), its input handed back", async () => {
    const client = await connect();
    client.send({ type: "response.steer", previous_response_id: "resp_x", input: "go left" });
    const [failed] = await client.until((message) => message.type === "response.steer.failed");
    expect(failed).toMatchObject({ steer: { previous_response_id: "resp_x", input: "go left" }, error: { code: "steering_not_supported" } });
    client.socket.close(1000);
  });

  it("response.processed (Codex's acknowledgement) gets no answer, the next turn's events come clean; one without response_id is an error", async () => {
    const client = await connect();
    client.create({ input: "first" });
    const first = checkEventOrder(asSse(await client.turn()));
    client.send({ type: "response.processed", response_id: first.id });
    client.create({ input: "second" });
    const second = await client.turn();
    // Nothing stood between the acknowledgement and the next turn's own events.
    expect(second[0]?.type).toBe("response.created");
    expect(checkEventOrder(asSse(second)).status).toBe("completed");
    client.send({ type: "response.processed" });
    const [invalid] = await client.turn();
    expect(invalid).toMatchObject({ type: "error", status: 400, error: { code: "invalid_event", param: "response_id" } });
    client.socket.close(1000);
  });

  it("a create sent while one is in flight waits for it (FIFO on the lane)", async () => {
    const client = await connect();
    client.create({ input: emu({ text: ["slow ", "first"], delta_delay_ms: 100 }, "one") });
    client.create({ input: emu({ text: ["second"] }, "two") });
    const first = await client.turn();
    const second = await client.turn();
    expect(outputText(checkEventOrder(asSse(first)))).toBe("slow first");
    expect(outputText(checkEventOrder(asSse(second)))).toBe("second");
    client.socket.close(1000);
  });

  it("different stream_ids run side by side; every event echoes its stream_id", async () => {
    const client = await connect();
    client.create({ stream_id: "slow", input: emu({ text: ["a", "b", "c"], delta_delay_ms: 300 }, "slow") });
    client.create({ stream_id: "fast", input: emu({ text: ["quick"] }, "fast") });
    const fast = await client.until((message) => message.type === "response.completed" && message.stream_id === "fast");
    // The fast lane finished while the slow one was still streaming.
    expect(client.messages.some((message) => message.type === "response.completed" && message.stream_id === "slow")).toBe(false);
    const slow = await client.until((message) => message.type === "response.completed" && message.stream_id === "slow");
    const lane = (id: string) => [...fast, ...slow].filter((message) => message.stream_id === id && message.type !== "keepalive");
    expect(outputText(checkEventOrder(asSse(lane("fast"))))).toBe("quick");
    expect(outputText(checkEventOrder(asSse(lane("slow"))))).toBe("abc");
    expect([...fast, ...slow].filter((message) => message.type !== "keepalive").every((message) => message.stream_id === "fast" || message.stream_id === "slow")).toBe(true);
    client.socket.close(1000);
  });

  it("two sockets at once: each gets its own events only", async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const markerA = nonce();
    const markerB = nonce();
    a.create({ input: emu({ text: ["A-", markerA], delta_delay_ms: 30 }, "a") });
    b.create({ input: emu({ text: ["B-", markerB], delta_delay_ms: 30 }, "b") });
    const [eventsA, eventsB] = await Promise.all([a.turn(), b.turn()]);
    const responseA = checkEventOrder(asSse(eventsA));
    const responseB = checkEventOrder(asSse(eventsB));
    expect(outputText(responseA)).toBe(`A-${markerA}`);
    expect(outputText(responseB)).toBe(`B-${markerB}`);
    expect(JSON.stringify(a.messages)).not.toContain(markerB);
    expect(JSON.stringify(b.messages)).not.toContain(markerA);
    a.socket.close(1000);
    b.socket.close(1000);
  });

  it("a run waiting for tool outputs outlives the socket that asked for them: closed after its turn, it continues from another socket", async () => {
    const tools = [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }];
    const first = await connect();
    first.create({ input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, "Weather in Oslo?"), tools });
    const asked = checkEventOrder(asSse(await first.turn()));
    const call = (asked.output as Array<Record<string, unknown>>).find((item) => item.type === "function_call");
    first.socket.close(1000, "bye");
    await first.waitClosed();
    // Time for a cancel to reach native, had the close sent one.
    await sleep(300);
    expect(await emulatorStatus(runIdOf(asked.id as string))).toBe("waiting");
    const second = await connect();
    second.create({ previous_response_id: asked.id, tools, input: [{ type: "function_call_output", call_id: call?.call_id, output: "snow, -3 C" }] });
    const resumed = checkEventOrder(asSse(await second.turn()));
    expect(resumed.status).toBe("completed");
    expect(outputText(resumed)).toContain("snow, -3 C");
    second.socket.close(1000);
  });

  it("the client closing mid-turn cancels the native run", async () => {
    const client = await connect();
    client.create({ input: emu({ text: ["first ", "never ", "more ", "text"], delta_delay_ms: 400 }, "close me") });
    const [created] = await client.until((message) => message.type === "response.created");
    await client.until((message) => message.type === "response.output_text.delta");
    client.socket.close(1000, "bye");
    const runId = runIdOf((created?.response as { id: string }).id);
    let status = await emulatorStatus(runId);
    for (const started = Date.now(); status !== "cancelled" && Date.now() - started < 5_000; status = await emulatorStatus(runId)) await sleep(50);
    expect(status).toBe("cancelled");
  });
});

describe.concurrent("Responses WebSocket: limits", () => {
  it("a message over MAX_BODY_BYTES closes the socket with 1009", async () => {
    const client = await connectWith({ MAX_BODY_BYTES: "2048" });
    client.create({ input: "x".repeat(4096) });
    expect((await client.waitClosed()).code).toBe(1009);
  });

  it("a message under the limit is a turn", async () => {
    const client = await connectWith({ MAX_BODY_BYTES: "2048" });
    client.create({ input: "y".repeat(1500) });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    client.socket.close(1000);
  });

  it("keepalive messages while native is silent, outside the response's events", async () => {
    const client = await connectWith({ KEEPALIVE_INTERVAL_MS: "50" });
    client.create({ input: emu({ text: ["late"], wait_ms: 400 }, "wait") });
    const events = await client.until((message) => TERMINALS.has(message.type));
    expect(events.filter((message) => message.type === "keepalive").length).toBeGreaterThanOrEqual(2);
    expect(checkEventOrder(asSse(events.filter((message) => message.type !== "keepalive"))).status).toBe("completed");
    client.socket.close(1000);
  });

  it("an idle socket closes with 1000 after WEBSOCKET_IDLE_TIMEOUT_MS, not while a turn runs", async () => {
    const client = await connectWith({ WEBSOCKET_IDLE_TIMEOUT_MS: "300" });
    client.create({ input: emu({ text: ["slow"], wait_ms: 600 }, "long turn") });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    const closed = await client.waitClosed(3_000);
    expect(closed.code).toBe(1000);
    expect(closed.reason).toBe("idle timeout");
  });
});

describe("Responses WebSocket: the connection lifetime limit (WEBSOCKET_MAX_CONNECTION_MS)", () => {
  const LIMIT_ERROR = { type: "error", status: 400, error: { type: "invalid_request_error", code: "websocket_connection_limit_reached" } };

  it("an idle socket at its limit gets websocket_connection_limit_reached, then closes with 1000", async () => {
    const client = await connectWith({ WEBSOCKET_MAX_CONNECTION_MS: "300" });
    client.create({ input: "before the limit" });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    const [limit] = await client.until((message) => message.type === "error", 3_000);
    expect(limit).toMatchObject(LIMIT_ERROR);
    expect(String((limit?.error as { message: string }).message)).toContain("Create a new websocket connection");
    expect(limit).not.toHaveProperty("stream_id");
    const closed = await client.waitClosed(3_000);
    expect(closed).toEqual({ code: 1000, reason: "websocket_connection_limit_reached" });
  });

  it("a turn running at the limit streams to its end; turns queued before it or sent after it are refused; then the socket closes", async () => {
    const client = await connectWith({ WEBSOCKET_MAX_CONNECTION_MS: "300" });
    // Streams across the limit: a delta every 250 ms, the limit falls at 300 ms, after the first one.
    client.create({ input: emu({ text: ["still ", "whole", "!"], delta_delay_ms: 250 }, "long turn") });
    // Queued behind it on the same lane before the limit: it would start after the limit.
    client.create({ input: "queued" });
    await sleep(450);
    expect(client.closed).toBeNull();
    // Sent after the limit on another lane, while the first still runs.
    client.create({ input: "late", stream_id: "lane-b" });
    const closed = await client.waitClosed(5_000);
    expect(closed).toEqual({ code: 1000, reason: "websocket_connection_limit_reached" });
    const messages = client.messages.filter((message) => message.type !== "keepalive");
    const late = messages.findIndex((message) => message.stream_id === "lane-b");
    expect(messages[late]).toMatchObject(LIMIT_ERROR);
    const firstTurn = messages.filter((message) => message.type !== "error");
    const first = checkEventOrder(asSse(firstTurn));
    expect(first.status).toBe("completed");
    expect(outputText(first)).toBe("still whole!");
    // Deltas on both sides of the limit: the turn was mid-stream when it fell, and was not cut.
    const deltas = messages.flatMap((message, at) => (message.type === "response.output_text.delta" ? [at] : []));
    expect(deltas[0]).toBeLessThan(late);
    expect(deltas.at(-1)).toBeGreaterThan(late);
    const terminal = messages.findIndex((message) => message.type === "response.completed");
    // Refused at once, while the first turn still ran; the queued turn only when its turn came.
    expect(late).toBeLessThan(terminal);
    expect(messages.slice(terminal + 1)).toHaveLength(1);
    expect(messages.at(-1)).toMatchObject(LIMIT_ERROR);
    expect(messages.at(-1)).not.toHaveProperty("stream_id");
    // The refusals stood for the closing notice: no third error after the last turn.
    expect(client.messages.filter((message) => message.type === "error")).toHaveLength(2);
  });

  it("a tool call answered just before the limit: the socket closes, the waiting run continues from a new socket", async () => {
    const tools = [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }];
    const aged = await connectWith({ WEBSOCKET_MAX_CONNECTION_MS: "400" });
    aged.create({ input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Lima" } }], wait_ms: 600 }, "Weather in Lima?"), tools });
    const asked = checkEventOrder(asSse(await aged.turn()));
    const call = (asked.output as Array<Record<string, unknown>>).find((item) => item.type === "function_call");
    expect(await aged.waitClosed()).toEqual({ code: 1000, reason: "websocket_connection_limit_reached" });
    const fresh = await connect();
    fresh.create({ previous_response_id: asked.id, tools, input: [{ type: "function_call_output", call_id: call?.call_id, output: "mild, 18 C" }] });
    const resumed = checkEventOrder(asSse(await fresh.turn()));
    expect(resumed.status).toBe("completed");
    expect(outputText(resumed)).toContain("mild, 18 C");
    fresh.socket.close(1000);
  });

  it("a socket under its limit is untouched by it; a malformed limit is the misconfiguration 500 naming it", async () => {
    const client = await connectWith({ WEBSOCKET_MAX_CONNECTION_MS: "60000" });
    client.create({ input: "first" });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    client.create({ input: "second" });
    expect(checkEventOrder(asSse(await client.turn())).status).toBe("completed");
    expect(client.closed).toBeNull();
    client.socket.close(1000);
    for (const bad of ["99", "soon", String(25 * 3_600_000)]) {
      const response = await createApp().fetch(new Request("http://gw/v1/responses", { headers: upgradeHeaders() }), { ...env, WEBSOCKET_MAX_CONNECTION_MS: bad });
      expect(response.status).toBe(500);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("gateway_misconfigured");
      expect(body.error.message).toContain("WEBSOCKET_MAX_CONNECTION_MS");
    }
  });
});

describe("Responses WebSocket: one request log line per turn", () => {
  it("each turn logs its own line (request id <socket>.<n>, method WS), the upgrade its own", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    try {
      const requestId = `ws-log-${nonce()}`;
      const client = await connectWith({ LOG_LEVEL: "info" }, { "x-request-id": requestId });
      client.create({ input: "logged" });
      const response = checkEventOrder(asSse(await client.turn()));
      client.send({ type: "response.create", input: "no model" });
      await client.turn();
      client.socket.close(1000);
      let mine: Array<Record<string, unknown>> = [];
      for (let attempt = 0; attempt < 50 && mine.length < 3; attempt++) {
        mine = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === "request" && String(line.requestId).startsWith(requestId));
        await sleep(20);
      }
      const byId = new Map(mine.map((line) => [line.requestId, line]));
      expect(byId.get(requestId)).toMatchObject({ method: "GET", status: 101 });
      expect(byId.get(`${requestId}.1`)).toMatchObject({ method: "WS", route: "/v1/responses", protocol: "openai-responses", stream: true, outcome: "completed", nativeRunId: runIdOf(response.id as string) });
      expect(byId.get(`${requestId}.2`)).toMatchObject({ method: "WS", stream: false, status: 400, outcome: "refused" });
    } finally {
      spy.mockRestore();
    }
  });
});
