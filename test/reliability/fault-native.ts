/**
 * A misbehaving fake 1flowbase native server for the fault matrix (test/reliability/fault-matrix.test.ts):
 * a plain `node:http` server, started by test/global-setup.ts next to the emulator, that does per case
 * exactly what the case's spec says (`fault-script.ts`) — redirect, keep a stream warm with keepalives
 * or unknown events forever, trickle one byte at a time, fall silent after its headers, send a 200 MB
 * error body or run record — and records what reached it and how each answer ended, so a test can
 * prove that nothing was re-sent to a redirect target and that the gateway hung up on a fault instead
 * of reading it to the end.
 *
 * Runs in Node (vitest globalSetup), not in workerd.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type FaultBehaviour,
  type FaultLogEntry,
  type FaultSpec,
  completedFrame,
  deltaFrame,
  encodeFrame,
  fromBase64url,
  runRecord,
  SINK_ANSWER,
  startedFrame,
} from "./fault-script";

export interface RunningFaultNative {
  url: string;
  close(): Promise<void>;
}

const PREFIX = "/api/agent/v1";

export async function startFaultNative(): Promise<RunningFaultNative> {
  const logs = new Map<string, FaultLogEntry[]>();
  const open = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const parts = url.pathname.split("/");
    if (parts[1] === "__fault" && parts[2] === "log" && parts[3]) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ entries: logs.get(parts[3]) ?? [] }));
      return;
    }
    const { bytes: bodyBytes, modelParameters } = await drain(req);
    let where: FaultLogEntry["where"];
    let id: string;
    let spec: FaultSpec = {};
    let rest: string;
    if (parts[1] === "f" && parts[2] && parts[3]) {
      where = "native";
      id = parts[2];
      try {
        spec = JSON.parse(fromBase64url(parts[3])) as FaultSpec;
      } catch {
        res.writeHead(400).end("bad spec");
        return;
      }
      rest = `/${parts.slice(4).join("/")}`;
    } else if (parts[1] === "sink" && parts[2]) {
      where = "sink";
      id = parts[2];
      rest = `/${parts.slice(3).join("/")}`;
    } else {
      res.writeHead(404).end();
      return;
    }
    const entry: FaultLogEntry = { where, method: req.method ?? "", path: rest, bodyBytes, modelParameters, sentBytes: 0, closedByClient: false, closedAfterMs: null };
    const list = logs.get(id) ?? [];
    list.push(entry);
    logs.set(id, list);
    const at = Date.now();
    open.add(res);
    res.on("close", () => {
      open.delete(res);
      entry.closedByClient = !res.writableFinished;
      entry.closedAfterMs = Date.now() - at;
    });
    const write = (chunk: string | Buffer): boolean => {
      entry.sentBytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
      return res.write(chunk);
    };

    if (where === "sink") {
      answerSink(req.method ?? "", rest, res, write);
      return;
    }
    const limited = typeof modelParameters === "object" && modelParameters !== null && "max_output_tokens" in modelParameters;
    const behaviour = limited && spec.createWithOutputLimit && req.method === "POST" && rest === `${PREFIX}/runs` ? spec.createWithOutputLimit : pick(spec, req.method ?? "", rest);
    if (!behaviour && req.method === "GET" && rest === `${PREFIX}/models`) {
      // A real native always has a catalog: without a published model_list it is the one default
      // model (native-api.md §3.5) — what the gateway's model check reads before a create.
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "1flowbase", object: "model", created: 0, owned_by: "1flowbase" }] }));
      return;
    }
    if (!behaviour) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "application_run_not_found", message: "no such run" }));
      return;
    }
    await perform(behaviour, id, rest, req, res, write);
  }

  const { port } = await new Promise<AddressInfo>((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(server.address() as AddressInfo));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The behaviour for an endpoint under `/api/agent/v1`. */
function pick(spec: FaultSpec, method: string, path: string): FaultBehaviour | undefined {
  if (!path.startsWith(PREFIX)) return undefined;
  const tail = path.slice(PREFIX.length);
  if (method === "POST" && tail === "/runs") return spec.create;
  if (method === "GET" && tail === "/models") return spec.models;
  if (method === "POST" && /^\/runs\/[^/]+\/resume$/.test(tail)) return spec.resume;
  if (method === "POST" && /^\/runs\/[^/]+\/cancel$/.test(tail)) return spec.cancel;
  if (method === "GET" && /^\/runs\/[^/]+$/.test(tail)) return spec.get;
  return undefined;
}

async function perform(
  behaviour: FaultBehaviour,
  id: string,
  rest: string,
  req: IncomingMessage,
  res: ServerResponse,
  write: (chunk: string | Buffer) => boolean,
): Promise<void> {
  switch (behaviour.kind) {
    case "redirect": {
      const location = `http://${req.headers.host ?? "127.0.0.1"}/sink/${id}${rest}`;
      res.writeHead(behaviour.status, { location, "content-type": "text/plain" });
      write(`redirecting to ${location}`);
      res.end();
      return;
    }
    case "record": {
      res.writeHead(200, { "content-type": "application/json" });
      if (!behaviour.padBytes) {
        write(JSON.stringify({ data: behaviour.run, meta: null }));
        res.end();
        return;
      }
      // A record with a huge field, produced on demand (never held in memory whole).
      const head = JSON.stringify({ data: behaviour.run, meta: null }).slice(0, -1);
      write(`${head},"pad":"`);
      await pump(res, write, behaviour.padBytes, "x".repeat(64 * 1024));
      if (!res.destroyed) {
        write(`"}`);
        res.end();
      }
      return;
    }
    case "error": {
      res.writeHead(behaviour.status, { "content-type": behaviour.contentType ?? "text/plain" });
      if (behaviour.bytes) await pump(res, write, behaviour.bytes, (behaviour.chunk ?? "x").repeat(Math.ceil((64 * 1024) / (behaviour.chunk ?? "x").length)));
      else write(behaviour.body ?? "");
      if (!res.destroyed) res.end();
      return;
    }
    case "sse": {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.flushHeaders();
      for (const frame of behaviour.frames) write(encodeFrame(frame));
      const every = behaviour.everyMs ?? 100;
      let n = 0;
      switch (behaviour.then) {
        case "end":
          res.end();
          return;
        case "silence":
          return; // the connection stays open until the client leaves
        case "keepalive":
          return repeat(res, every, () => write(":\n\n"));
        case "unknown":
          return repeat(res, every, () => write(`event: run.progress\ndata: {"run_id":"x","status":"running","n":${n++}}\n\n`));
        case "deltas":
          return repeat(res, every, () => write(encodeFrame(deltaFrame(behaviour.delta ?? "tick "))));
        case "trickle": {
          const text = behaviour.trickle ?? encodeFrame(deltaFrame("never completes"));
          return repeat(res, every, () => write(text[n++ % text.length] ?? ""));
        }
      }
    }
  }
}

/** The redirect target: a complete, valid answer, so a gateway that followed would visibly succeed. */
function answerSink(method: string, path: string, res: ServerResponse, write: (chunk: string) => boolean): void {
  if (method === "POST" && path === `${PREFIX}/runs`) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const frame of [startedFrame(), deltaFrame(SINK_ANSWER), completedFrame(SINK_ANSWER)]) write(encodeFrame(frame));
    res.end();
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  write(JSON.stringify({ data: runRecord(SINK_ANSWER), meta: null }));
  res.end();
}

/** Calls `tick` every `everyMs` until the client goes away. */
function repeat(res: ServerResponse, everyMs: number, tick: () => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (res.destroyed) return;
      tick();
    }, everyMs);
    res.on("close", () => {
      clearInterval(timer);
      resolve();
    });
  });
}

/** Writes `total` bytes of `chunk`, honouring backpressure, until done or the client leaves. */
async function pump(res: ServerResponse, write: (chunk: string) => boolean, total: number, chunk: string): Promise<void> {
  let sent = 0;
  while (sent < total && !res.destroyed) {
    sent += chunk.length;
    if (!write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
  }
}

/** Reads the request body: its size, and its `execution.model_parameters` when it is a JSON create (kept small). */
function drain(req: IncomingMessage): Promise<{ bytes: number; modelParameters: unknown }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes <= 1024 * 1024) chunks.push(chunk);
    });
    const done = (): void => {
      let modelParameters: unknown = null;
      try {
        modelParameters = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { execution?: { model_parameters?: unknown } }).execution?.model_parameters ?? null;
      } catch {
        // not JSON (a GET, or a body over the kept size)
      }
      resolve({ bytes, modelParameters });
    };
    req.on("end", done);
    req.on("error", done);
  });
}
