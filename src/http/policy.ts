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
import * as z from "../zod";
import { GatewayError } from "./errors";

export type ParamRule =
  | { readonly kind: "mapped"; readonly to: string }
  | { readonly kind: "accepted"; readonly why: string }
  | { readonly kind: "rejected"; readonly why: string };

export type ParameterPolicy = Readonly<Record<string, ParamRule>>;

export type PolicyMode = "lenient" | "strict";

/** Where an output-token limit goes (routes/run-steps.ts `openRun`, native/answer.ts `OutputLimits`). */
export const OUTPUT_LIMIT_TARGET =
  "execution.model_parameters.max_output_tokens where native takes it (upstream 0.3); else enforced at the edge: output counted as ceil(characters / 4), the answer cut there and the run cancelled";
/** Where stop sequences go (native/answer.ts `OutputLimiter`). */
export const STOP_TARGET =
  "enforced at the edge (1flowbase runs have no stop sequences): the message text ends before the first sequence completed, across delta boundaries, and the run is cancelled";
/** The longest stop sequence taken (each costs O(1) per character of the answer, whatever its length). */
export const MAX_STOP_CHARS = 1000;

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
    // A protocol's default value applies trivially, even for a rejected field (`logprobs: false`).
    if (isDefault(field, value)) continue;
    if (rule?.kind === "rejected") {
      throw GatewayError.unsupported(`'${field}' is not supported by this gateway: ${rule.why}`, field);
    }
    ignoreOrReject(ignored, field, field, rule?.kind === "accepted" ? rule.why : "it is not a parameter this gateway applies", mode);
  }
  return ignored;
}

/**
 * The one "accepted but not applied" decision: reported in lenient mode (added to `ignored` once),
 * a 400 naming `param` in strict mode. Used for table rows and for value-level decisions alike (a
 * hosted tool in `tools`, a reasoning effort the model cannot take, an input item native cannot carry).
 */
export function ignoreOrReject(ignored: string[], name: string, param: string, why: string, mode: PolicyMode): void {
  if (mode === "strict") {
    throw new GatewayError({
      status: 400,
      message: `'${name}' would be ignored (${why}); strict parameter policy rejects it`,
      param,
      code: "unsupported_parameter",
    });
  }
  if (!ignored.includes(name)) ignored.push(name);
}

/** At most this many names, each at most `MAX_REPORTED_NAME` characters, go into the header. */
const MAX_REPORTED_NAMES = 32;
const MAX_REPORTED_NAME = 64;

/**
 * The `x-1flowbase-ignored-params` header for `ignored`, or no header. The names can come from the
 * client (unknown top-level fields, `tools[].type`, `input[].type`), so they are normalised before
 * they go near a header: characters outside `[A-Za-z0-9_.-]` become `_` (no control characters, no
 * commas forging entries), each name is cut to 64 characters, at most 32 names are listed (then
 * `…`), duplicates once. A header value built from raw client text throws in the runtime (`Invalid
 * header value`) — after the native run already ran.
 */
export function ignoredParamsHeaders(ignored: readonly string[]): Record<string, string> {
  if (ignored.length === 0) return {};
  const names: string[] = [];
  for (const name of ignored) {
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, MAX_REPORTED_NAME) || "_";
    if (!names.includes(safe)) names.push(safe);
  }
  const listed = names.length > MAX_REPORTED_NAMES ? [...names.slice(0, MAX_REPORTED_NAMES), "..."] : names;
  return { [IGNORED_PARAMS_HEADER]: listed.join(", ") };
}

/** A zod failure → 400 naming the first issue's path as `param` (e.g. `messages[0].content`). */
export function validationError(error: z.core.$ZodError): GatewayError {
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
export function parseRequest<T extends z.ZodMiniType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error);
  return result.data;
}
