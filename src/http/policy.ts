/**
 * Parameter policy as data (ARCHITECTURE.md, "Parameter policy is data").
 *
 * Each protocol declares one table: every request field is
 * - `mapped`   — applied: carried to the named native field;
 * - `accepted` — valid and echoed where the protocol echoes it, but not applied (a 1flowbase flow
 *                decides it). Reported in `x-1flowbase-ignored-params`; a 400 in strict mode;
 * - `rejected` — a 400 naming the param, always.
 * Fields not in the table are treated like `accepted` (clients add fields constantly), and reported.
 * Strict mode comes from the deployment (`PARAMETER_POLICY=strict`) or per request
 * (`x-1flowbase-parameter-policy: strict`). The docs render these tables; tests check them against the
 * request schemas.
 */
import * as z from "zod";
import { GatewayError } from "./errors";

export type ParamRule =
  | { readonly kind: "mapped"; readonly to: string }
  | { readonly kind: "accepted"; readonly why: string }
  | { readonly kind: "rejected"; readonly why: string };

export type ParameterPolicy = Readonly<Record<string, ParamRule>>;

export type PolicyMode = "lenient" | "strict";

export const IGNORED_PARAMS_HEADER = "x-1flowbase-ignored-params";
export const POLICY_MODE_HEADER = "x-1flowbase-parameter-policy";

export function policyMode(deployment: PolicyMode, headers: Headers): PolicyMode {
  const requested = headers.get(POLICY_MODE_HEADER)?.trim().toLowerCase();
  return requested === "strict" || requested === "lenient" ? requested : deployment;
}

/**
 * Checks a parsed request body against the table. Returns the fields that were accepted but not
 * applied. `null`/absent values are never counted (clients send explicit nulls for defaults).
 * `isDefault` lets a protocol say a value is its default (e.g. `n: 1`), which applies trivially.
 */
export function enforcePolicy(
  policy: ParameterPolicy,
  body: Record<string, unknown>,
  mode: PolicyMode,
  isDefault: (field: string, value: unknown) => boolean = () => false,
): string[] {
  const ignored: string[] = [];
  for (const [field, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    const rule = policy[field];
    if (rule?.kind === "mapped") continue;
    if (rule?.kind === "rejected") {
      throw GatewayError.unsupported(`'${field}' is not supported by this gateway: ${rule.why}`, field);
    }
    if (isDefault(field, value)) continue;
    if (mode === "strict") {
      const why = rule?.kind === "accepted" ? rule.why : "it is not a parameter this gateway applies";
      throw new GatewayError({
        status: 400,
        message: `'${field}' would be ignored (${why}); strict parameter policy rejects it`,
        param: field,
        code: "unsupported_parameter",
      });
    }
    ignored.push(field);
  }
  return ignored;
}

/** A zod failure → 400 naming the first issue's path as `param` (e.g. `messages[0].content`). */
export function validationError(error: z.ZodError): GatewayError {
  const issue = error.issues[0];
  const param = issue ? formatPath(issue.path) : null;
  const message = issue ? `${param ? `'${param}': ` : ""}${issue.message}` : "invalid request";
  return GatewayError.invalidRequest(message, param || null, "invalid_request");
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Parses `value` with `schema` or throws the 400 above. */
export function parseRequest<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error);
  return result.data;
}
