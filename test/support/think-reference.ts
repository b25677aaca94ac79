/**
 * A reference `<think>` splitter for property tests: the whole text at once, by regex, with the
 * semantics native's own terminal fallback has (native-api.md §2.3): text inside `<think>…</think>`
 * is reasoning, an unclosed `<think>` makes the rest reasoning, a stray `</think>` is text. The
 * gateway's incremental splitter (src/native/answer.ts) must agree with it for any split into deltas.
 */
export interface ThinkPieces {
  message: string;
  reasoning: string;
}

export function splitThinkReference(text: string): ThinkPieces {
  const out: ThinkPieces = { message: "", reasoning: "" };
  let last = 0;
  for (const match of text.matchAll(/<think>([\s\S]*?)(?:<\/think>|$)/g)) {
    out.message += text.slice(last, match.index);
    out.reasoning += match[1] ?? "";
    last = (match.index ?? 0) + match[0].length;
  }
  out.message += text.slice(last);
  return out;
}
