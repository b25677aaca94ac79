/**
 * Server-side conversation memory, as the fork stores and replays it (§3.4).
 *
 * Storing (storage-durable postgres `orchestration_runtime_repository/application_run_log_methods.rs`):
 * when a run reaches a terminal status — succeeded, failed *or cancelled* (lines 878-885, 798-801) —
 * its messages replace whatever that run stored before (lines 317-485). A run stores only its own
 * turn (lines 611-658): the user text from its start-node input (`query`, else `question`, `prompt`,
 * `message`, `input`, `input_text`, lines 601-602, 788-798), and the answer from its output payload
 * (`answer`, `text`, `output`, `content`, `message`, else `error.message`), falling back to its error
 * payload (lines 641-646, 800-811) — so a failed run's answer is its error text, and a cancelled run
 * stores a user message with no answer. The explicit `history` a run was sent is never stored.
 *
 * Replaying (control-plane `run_service/conversation_history.rs`, repository `mod.rs:1056-1130`):
 * the 50 most recent user/assistant messages with non-blank content, each run contributing its last
 * user message and the assistant messages after it, ordered by the run's *start*; turns are built
 * user-first, `<system-reminder>` stripped from user text, `<think>`/`<tool_call>` and the text up to
 * the beautified-output marker stripped from assistant text; a turn whose user text equals the
 * previous turn's replaces it (conversation_history.rs:40-52).
 */
import type { HistoryItem } from "./validate";
import type { Instant } from "./util";

interface StoredMessage {
  role: "user" | "assistant";
  content: string;
  /** Position within the run (`ordinal` in application_conversation_message_sequence). */
  ordinal: number;
}

interface StoredRun {
  startedAt: Instant;
  /** Insertion order, to break ties between runs started in the same instant. */
  order: number;
  messages: StoredMessage[];
}

/** `APPLICATION_PUBLIC_CONVERSATION_HISTORY_LIMIT` (run_service.rs:47). */
const HISTORY_LIMIT = 50;
const USER_TEXT_KEYS = ["query", "question", "prompt", "message", "input", "input_text"] as const;
const ANSWER_TEXT_KEYS = ["answer", "text", "output", "content", "message"] as const;
const BEAUTIFIED_MARKER = "下面是美化后内容";

const trimmed = (value: unknown): string | null => {
  if (typeof value !== "string") return null;
  const t = value.trim();
  return t === "" ? null : t;
};

/** `conversation_text_value`: a string, or an object's `text`/`content` (artifact previews aside). */
function textValue(value: unknown): string | null {
  const direct = trimmed(value);
  if (direct !== null) return direct;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const object = value as Record<string, unknown>;
  return trimmed(object.text) ?? trimmed(object.content);
}

function answerText(payload: Record<string, unknown>): string | null {
  for (const key of ANSWER_TEXT_KEYS) {
    const text = textValue(payload[key]);
    if (text !== null) return text;
  }
  const error = payload.error;
  return typeof error === "object" && error !== null ? trimmed((error as Record<string, unknown>).message) : null;
}

/** What a terminal run stores (application_run_log_methods.rs:611-658; system text is stored but never replayed). */
export function runConversationMessages(startNode: Record<string, unknown>, output: Record<string, unknown>, errorPayload: Record<string, unknown> | null): StoredMessage[] {
  const messages: StoredMessage[] = [];
  let ordinal = 1;
  if (trimmed(startNode.system) !== null) ordinal += 1;
  for (const key of USER_TEXT_KEYS) {
    const text = textValue(startNode[key]);
    if (text !== null) {
      messages.push({ role: "user", content: text, ordinal: ordinal++ });
      break;
    }
  }
  const answer = answerText(output) ?? (errorPayload ? answerText(errorPayload) : null);
  if (answer !== null) messages.push({ role: "assistant", content: answer, ordinal: ordinal++ });
  return messages;
}

/** `strip_tag_blocks` (conversation_history.rs:89-104): an unclosed block is left alone. */
function stripTagBlocks(content: string, tag: string): string {
  const open = `<${tag}>`;
  const close = `</${tag}>`;
  let out = content;
  for (;;) {
    const start = out.indexOf(open);
    if (start < 0) break;
    const end = out.indexOf(close, start + open.length);
    if (end < 0) break;
    out = out.slice(0, start) + out.slice(end + close.length);
  }
  return out;
}

function normalizeUser(content: string): string | null {
  return trimmed(stripTagBlocks(content, "system-reminder"));
}

function normalizeAssistant(content: string): string | null {
  const visible = stripTagBlocks(stripTagBlocks(content, "think"), "tool_call");
  const at = visible.indexOf(BEAUTIFIED_MARKER);
  const afterMarker = at >= 0 ? visible.slice(at + BEAUTIFIED_MARKER.length).replace(/^[\s\-—]+/u, "") : visible;
  return trimmed(afterMarker);
}

export class ConversationStore {
  /** conversation key → run id → that run's stored messages. */
  private readonly conversations = new Map<string, Map<string, StoredRun>>();
  private order = 0;

  /** Replaces the run's stored messages (upsert on terminal status). */
  store(conversationKey: string, runId: string, startedAt: Instant, messages: StoredMessage[]): void {
    let runs = this.conversations.get(conversationKey);
    if (!runs) {
      runs = new Map();
      this.conversations.set(conversationKey, runs);
    }
    const existing = runs.get(runId);
    if (messages.length === 0) {
      runs.delete(runId);
      return;
    }
    runs.set(runId, { startedAt, order: existing?.order ?? ++this.order, messages });
  }

  clear(): void {
    this.conversations.clear();
  }

  /** The native history native rehydrates for an empty request `history`. */
  history(conversationKey: string): HistoryItem[] {
    const runs = this.conversations.get(conversationKey);
    if (!runs) return [];
    // Per run: its last user message and the assistant messages after it (mod.rs:1087-1113).
    const rows: Array<{ run: StoredRun; message: StoredMessage }> = [];
    for (const run of runs.values()) {
      const visible = run.messages.filter((m) => m.content.trim() !== "");
      const lastUser = visible.reduce((max, m) => (m.role === "user" ? Math.max(max, m.ordinal) : max), -1);
      if (lastUser < 0) continue;
      for (const message of visible) {
        if ((message.role === "user" && message.ordinal === lastUser) || (message.role === "assistant" && message.ordinal > lastUser)) rows.push({ run, message });
      }
    }
    const at = (r: StoredRun) => r.startedAt.ms * 1000 + r.startedAt.micros;
    rows.sort((a, b) => at(a.run) - at(b.run) || a.message.ordinal - b.message.ordinal || a.run.order - b.run.order);
    const recent = rows.slice(-HISTORY_LIMIT);

    const turns: Array<{ user: string; assistant: string[] }> = [];
    for (const { message } of recent) {
      if (message.role === "user") {
        const user = normalizeUser(message.content);
        if (user !== null) turns.push({ user, assistant: [] });
      } else {
        const turn = turns[turns.length - 1];
        const assistant = normalizeAssistant(message.content);
        if (turn && assistant !== null) turn.assistant.push(assistant);
      }
    }
    const deduped: typeof turns = [];
    for (const turn of turns) {
      const last = deduped[deduped.length - 1];
      if (last && last.user === turn.user) deduped[deduped.length - 1] = turn;
      else deduped.push(turn);
    }
    const history: HistoryItem[] = [];
    for (const turn of deduped) {
      history.push({ role: "user", content: turn.user });
      const assistant = trimmed(turn.assistant.map((a) => a.trim()).filter((a) => a !== "").join("\n\n"));
      if (assistant !== null) history.push({ role: "assistant", content: assistant });
    }
    return history;
  }
}
