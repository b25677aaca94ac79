/**
 * A protocol's parameter policy table (src/http/policy.ts) as the markdown table its operation's
 * description carries. The rows come from the table in code, in its order, so the document says
 * exactly what the gateway enforces; `test/docs/policy.test.ts` parses the table back out of the
 * document and compares it with the code.
 *
 * @example
 * policyMarkdown(MESSAGES_POLICY)
 * // | Parameter | Policy | Native field, or why |
 * // |---|---|---|
 * // | `model` | mapped | model |
 */
import type { ParameterPolicy } from "../http/policy";

/** `|` would end a cell and a newline would end the row. */
const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function policyMarkdown(policy: ParameterPolicy): string {
  const rows = Object.entries(policy).map(
    ([field, rule]) => `| \`${cell(field)}\` | ${rule.kind} | ${cell(rule.kind === "mapped" ? rule.to : rule.why)} |`,
  );
  return ["| Parameter | Policy | Native field, or why |", "|---|---|---|", ...rows].join("\n");
}

/** The explanation printed above every policy table (the rules live in src/http/policy.ts). */
export const POLICY_PREAMBLE =
  "**Parameter policy.** Each field is *mapped* (applied, to the named native field), *accepted* (valid, echoed, not applied: " +
  "the flow decides; listed in the `x-1flowbase-ignored-params` response header) or *rejected* (a 400 naming it). " +
  "Fields not in the table count as accepted. In **strict** mode (`PARAMETER_POLICY=strict` or the request header " +
  "`x-1flowbase-parameter-policy: strict`) a sent accepted field is a 400.";
