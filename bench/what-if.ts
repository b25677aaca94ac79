/**
 * Measured what-ifs for the protocol projectors (which this benchmark does not edit): wrappers that
 * serve the hot delta events from a per-stream frame template, the way ResponsesStreamProjector
 * already does (`deltaPrefix`), and delegate everything else to the real projector. The bench checks
 * that their output is byte-identical to the real projector's over the whole workload before timing
 * them, so the difference is exactly the cost of building a chunk object and `JSON.stringify`-ing it
 * per delta.
 *
 * Prototype limits (fine for the benchmark workload, not production code): after any `<` in a message
 * delta they give up templating for good (the `<think>` splitter's state is private), and they learn
 * each template from the first frame the real projector produced for that kind of delta.
 */
import type { NativeStreamItem } from "../src/native/events";
import type { StreamProjector } from "../src/protocols/projector";

const MARK = "\u0000what-if\u0000";
const MARK_JSON = JSON.stringify(MARK);

/** Splits a frame around the JSON string `MARK` was stringified to: [prefix, suffix]. */
function templateOf(frame: string, setMark: (payload: Record<string, unknown>) => void, framePrefix: string): [string, string] | null {
  if (!frame.startsWith(framePrefix) || !frame.endsWith("\n\n")) return null;
  const payload = JSON.parse(frame.slice(framePrefix.length, -2)) as Record<string, unknown>;
  setMark(payload);
  const rebuilt = `${framePrefix}${JSON.stringify(payload)}\n\n`;
  const at = rebuilt.indexOf(MARK_JSON);
  return at === -1 ? null : [rebuilt.slice(0, at), rebuilt.slice(at + MARK_JSON.length)];
}

type DeltaKind = "message" | "reasoning";

abstract class TemplatedProjector implements StreamProjector {
  protected readonly templates = new Map<DeltaKind, [string, string]>();
  private gaveUp = false;

  constructor(protected readonly real: StreamProjector) {}

  get done(): boolean {
    return this.real.done;
  }

  keepalive(): string {
    return this.real.keepalive();
  }

  push(item: NativeStreamItem): readonly string[] | Promise<readonly string[]> {
    if (item.event === "message.delta" || item.event === "reasoning.delta") {
      const kind: DeltaKind = item.event === "message.delta" ? "message" : "reasoning";
      const delta = item.data.delta;
      if (kind === "message" && delta.includes("<")) this.gaveUp = true;
      const template = this.gaveUp ? undefined : this.usable(kind);
      if (template) return delta ? [template[0] + JSON.stringify(delta) + template[1]] : [];
      const frames = this.real.push(item);
      if (Array.isArray(frames) && !this.gaveUp && delta) this.learn(kind, frames as readonly string[]);
      return frames;
    }
    this.forget();
    return this.real.push(item);
  }

  /** The template for `kind` if the real projector's state allows using it for this delta. */
  protected abstract usable(kind: DeltaKind): [string, string] | undefined;
  protected abstract learn(kind: DeltaKind, frames: readonly string[]): void;
  protected forget(): void {}
}

/** Chat Completions: every delta chunk is the same JSON but for the text. */
export class ChatTemplateProjector extends TemplatedProjector {
  protected usable(kind: DeltaKind): [string, string] | undefined {
    return this.templates.get(kind);
  }

  protected learn(kind: DeltaKind, frames: readonly string[]): void {
    if (this.templates.has(kind)) return;
    const last = frames[frames.length - 1];
    if (!last) return;
    const field = kind === "message" ? "content" : "reasoning_content";
    const template = templateOf(
      last,
      (payload) => {
        const choice = (payload.choices as Array<{ delta: Record<string, unknown> }>)[0];
        if (choice && field in choice.delta) choice.delta[field] = MARK;
      },
      "data: ",
    );
    if (template) this.templates.set(kind, template);
  }
}

/**
 * Anthropic: a delta of the same kind as the open block is `content_block_delta` with a fixed index;
 * a change of kind (which closes and opens blocks) goes through the real projector.
 */
export class AnthropicTemplateProjector extends TemplatedProjector {
  private openKind: DeltaKind | null = null;

  protected usable(kind: DeltaKind): [string, string] | undefined {
    return this.openKind === kind ? this.templates.get(kind) : undefined;
  }

  protected learn(kind: DeltaKind, frames: readonly string[]): void {
    this.openKind = kind;
    const last = frames[frames.length - 1];
    if (!last) return;
    const field = kind === "message" ? "text" : "thinking";
    const template = templateOf(
      last,
      (payload) => {
        const delta = payload.delta as Record<string, unknown> | undefined;
        if (delta && field in delta) delta[field] = MARK;
      },
      "event: content_block_delta\ndata: ",
    );
    if (template) this.templates.set(kind, template);
    else this.templates.delete(kind);
  }

  protected override forget(): void {
    // Any other event may close the block; learn again from the real projector.
    this.openKind = null;
    this.templates.clear();
  }
}
