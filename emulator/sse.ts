/**
 * Byte-level SSE writer for the native stream (native-api.md §2.1):
 *
 *   id: <run_uuid>:<seq>\nevent: <name>\ndata: <one-line JSON>\n\n
 *
 * with axum's `KeepAlive::default()` comment `:\n\n` after `keepaliveMs` without a write. Transport
 * faults from the script (drop_after, malformed, end_without_terminal) are applied here; what to
 * send is the business of stream.ts (the projection of runtime events).
 */
import type { ServerResponse } from "node:http";

export type EventKind = "started" | "delta" | "terminal" | "other";

export interface SseFaults {
  drop_after?: number;
  malformed?: "json" | "sse";
  end_without_terminal?: boolean;
}

/** Frames are coalesced up to this size before a socket write (1M-delta answers stay fast). */
const COALESCE_BYTES = 64 * 1024;

export class SseWriter {
  private buffer = "";
  private readonly closeListeners: Array<() => void> = [];
  private closed = false;
  private events = 0;
  private malformedSent = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly keepaliveMs: number,
    private readonly faults: SseFaults,
  ) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.on("close", () => {
      this.closed = true;
      this.clearKeepalive();
      for (const listener of this.closeListeners.splice(0)) listener();
    });
    if (faults.drop_after === 0) this.drop();
    else this.armKeepalive();
  }

  get live(): boolean {
    return !this.closed;
  }

  async send(name: string, id: string, data: object, kind: EventKind): Promise<void> {
    if (this.closed) return;
    if (kind === "terminal" && this.faults.end_without_terminal) {
      await this.end();
      return;
    }
    this.buffer += `id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    this.events += 1;
    if (this.faults.drop_after !== undefined && this.events >= this.faults.drop_after) {
      this.drop();
      return;
    }
    if (kind === "started" && this.faults.malformed && !this.malformedSent) {
      this.malformedSent = true;
      // "json": a well-framed event whose data is not JSON; "sse": a line with no field name.
      this.buffer +=
        this.faults.malformed === "json" ? `id: ${id.replace(/:\d+$/, ":0")}\nevent: message.delta\ndata: not-json\n\n` : "garbage-line-without-field-name\n\n";
    }
    if (kind === "terminal") {
      await this.end();
      return;
    }
    if (this.buffer.length >= COALESCE_BYTES) await this.flush();
  }

  /** Called once when the response closes (ended by us, or the client went away). */
  onClose(listener: () => void): void {
    if (this.res.destroyed || this.res.writableFinished) listener();
    else this.closeListeners.push(listener);
  }

  async end(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.clearKeepalive();
    this.res.end();
  }

  /** Writes the coalesced frames; waits for `drain` under backpressure. */
  async flush(): Promise<void> {
    if (this.closed || this.buffer === "") return;
    const chunk = this.buffer;
    this.buffer = "";
    const ok = this.res.write(chunk);
    this.armKeepalive();
    if (!ok && !this.closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.res.off("drain", done);
          this.res.off("close", done);
          resolve();
        };
        this.res.on("drain", done);
        this.res.on("close", done);
      });
    }
  }

  /** drop_after: hand the frames written so far to the kernel, then destroy the socket mid-body. */
  private drop(): void {
    this.closed = true;
    this.clearKeepalive();
    const socket = this.res.socket;
    const chunk = this.buffer;
    this.buffer = "";
    if (chunk) this.res.write(chunk, () => socket?.destroy());
    else socket?.destroy();
  }

  private armKeepalive(): void {
    this.clearKeepalive();
    if (this.closed || this.keepaliveMs <= 0) return;
    this.keepaliveTimer = setTimeout(() => {
      if (this.closed) return;
      // axum KeepAlive::default(): an empty comment after the idle interval (§2.1).
      this.res.write(":\n\n");
      this.armKeepalive();
    }, this.keepaliveMs);
    this.keepaliveTimer.unref();
  }

  private clearKeepalive(): void {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }
}
