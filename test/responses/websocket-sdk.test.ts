/**
 * The real `openai` SDK's Responses WebSocket client (openai 7.57 `ResponsesWSBase`, the class behind
 * `ResponsesWS`) drives a conversation through the gateway inside workerd. `ResponsesWS` itself needs
 * the `ws` package's Node sockets; its base class takes any `WebSocketLike`, so this test gives it
 * one over a socket from `SELF.fetch` (the runtime's own WebSocket client end).
 */
import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { ResponsesWSBase } from "openai/resources/responses/ws-base";
import type { ResponsesServerEvent } from "openai/resources/responses/responses";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { BASE, EMULATOR_KEYS, MODEL } from "./helpers";

type Listener = (...args: never[]) => void;

/** A `WebSocketLike` over workerd's WebSocket, connecting through the worker under test. */
class WorkerdSocket {
  readyState = 0;
  private socket: WebSocket | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(url: URL, headers: Record<string, string>) {
    const http = new URL(url);
    http.protocol = http.protocol === "wss:" ? "https:" : "http:";
    void SELF.fetch(http.toString(), { headers: { ...headers, upgrade: "websocket" } }).then(
      (response) => {
        const socket = response.webSocket;
        if (!socket) {
          this.readyState = 3;
          this.emit("error", new Error(`upgrade answered ${response.status}`));
          this.emit("close", 1006, "upgrade failed");
          return;
        }
        socket.accept();
        this.socket = socket;
        socket.addEventListener("message", (event) => this.emit("message", event.data, typeof event.data !== "string"));
        socket.addEventListener("close", (event) => {
          this.readyState = 3;
          this.emit("close", event.code, event.reason);
        });
        this.readyState = 1;
        this.emit("open");
      },
      (error: unknown) => this.emit("error", error instanceof Error ? error : new Error(String(error))),
    );
  }

  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    this.socket?.send(data as string);
  }

  close(code?: number, reason?: string): void {
    this.readyState = 2;
    this.socket?.close(code, reason);
  }

  on(event: string, listener: (...args: any[]) => void): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener);
  }

  off(event: string, listener: (...args: any[]) => void): void {
    this.listeners.get(event)?.delete(listener as Listener);
  }

  once(event: string, listener: (...args: any[]) => void): void {
    const wrapped = (...args: unknown[]): void => {
      this.off(event, wrapped);
      listener(...args);
    };
    this.on(event, wrapped);
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as (...values: unknown[]) => void)(...args);
  }
}

class GatewayResponsesWS extends ResponsesWSBase<WorkerdSocket> {
  constructor(client: OpenAI) {
    super(client);
    this._connectInitial();
  }

  protected _createSocket(url: URL, authHeaders: Record<string, string>): WorkerdSocket {
    return new WorkerdSocket(url, authHeaders);
  }
}

async function untilTerminal(ws: GatewayResponsesWS): Promise<ResponsesServerEvent[]> {
  const events: ResponsesServerEvent[] = [];
  for await (const record of ws) {
    if (record.type === "error") throw record.error;
    if (record.type !== "message") continue;
    events.push(record.message);
    if (["response.completed", "response.failed", "response.incomplete"].includes(record.message.type)) return events;
  }
  throw new Error("socket closed before a terminal event");
}

describe("openai SDK ResponsesWSBase over the gateway", () => {
  it("a tool-loop conversation: create, function_call_output with previous_response_id, then a chained text turn", async () => {
    const ws = new GatewayResponsesWS(new OpenAI({ apiKey: EMULATOR_KEYS.demo, baseURL: BASE, maxRetries: 0 }));
    try {
      const tools = [{ type: "function" as const, name: "get_weather", strict: false, parameters: { type: "object", properties: { city: { type: "string" } } } }];
      ws.send({ type: "response.create", model: MODEL, tools, input: emu({ tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, "Weather in Oslo?") });
      const first = await untilTerminal(ws);
      const done = first.at(-1) as Extract<ResponsesServerEvent, { type: "response.completed" }>;
      expect(done.type).toBe("response.completed");
      const call = done.response.output.find((item) => item.type === "function_call");
      expect(call).toMatchObject({ name: "get_weather" });
      ws.send({ type: "response.create", model: MODEL, tools, previous_response_id: done.response.id, input: [{ type: "function_call_output", call_id: (call as { call_id: string }).call_id, output: "snow" }] });
      const second = (await untilTerminal(ws)).at(-1) as Extract<ResponsesServerEvent, { type: "response.completed" }>;
      expect(second.type).toBe("response.completed");
      ws.send({ type: "response.create", model: MODEL, previous_response_id: second.response.id, input: "thanks" });
      const third = (await untilTerminal(ws)).at(-1) as Extract<ResponsesServerEvent, { type: "response.completed" }>;
      expect(third.type).toBe("response.completed");
      const text = third.response.output.flatMap((item) => (item.type === "message" ? item.content : [])).map((part) => ("text" in part ? part.text : "")).join("");
      expect(text).toContain("You said: thanks");
    } finally {
      ws.close({ code: 1000, reason: "done" });
    }
  });
});
