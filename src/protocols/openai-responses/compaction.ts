/**
 * Responses compaction, the pure part: the `POST /v1/responses/compact` request, the compaction
 * resource it answers with, the `encrypted_content` token, and where a compaction item cuts a later
 * input. The native calls are the route's (src/routes/responses-compact.ts,
 * src/routes/responses-continuation.ts `resolveCompaction`).
 *
 * What a compaction is here. OpenAI's compaction runs a model pass that replaces the window's
 * assistant and tool items by an encrypted summary (openai-node 7.57 `CompactedResponse`: "all user
 * messages, followed by a single compaction item"). The edge stores no content and a 1flowbase
 * application holds the truth of its runs (invariant 1), so this gateway does not ask the
 * application to summarise — that would spend a flow run, and its output could silently lose what a
 * later turn needs. Instead the whole window (the `previous_response_id` chain rebuilt from its native
 * run records, earlier compactions, then the new input) is written to native as one *record-only
 * run*: `POST /runs` with a `response_mode` other than blocking/streaming creates the run with its
 * frozen input and never executes it (fork `routes/application_public_api/native.rs:546-577`,
 * native-api.md §1.4; the route cancels it at once, so no later worker would pick it up). The
 * compaction item's `encrypted_content` is an HMAC-signed reference to that run, bound to the key
 * that made it (src/http/signing.ts). A later create carrying the item continues from the run's
 * record exactly as `previous_response_id` continues from a response's run: native is handed the
 * whole window as explicit history (continuation.ts, `runTurns`). Nothing is lost; nothing is
 * shortened — a flow that needs a shorter context manages it itself, as it does for every chain.
 */
import { lazySchema } from "../../lazy";
import * as z from "../../zod";
import { GatewayError } from "../../http/errors";
import { openToken, signToken, type SigningKeys } from "../../http/signing";
import { bytesToUuid, uuidToBytes } from "../../native/callback-ids";
import type { NativeHistoryItem } from "../../native/schema";
import { isEncodableRunId } from "./ids";
import type { InputItem } from "./schema";

// ---------------------------------------------------------------------------------------------
// The request (OpenAI `ResponseCompactParams`; Open Responses `CompactResponseMethodPublicBody`)
// ---------------------------------------------------------------------------------------------

const MAX_INPUT_ITEMS = 4096;

/** The compact body: `model` is required (Open Responses' compliance test `compact-missing-model`). */
export const CompactRequest = lazySchema(() => z.looseObject({
    model: z.string({ error: "'model' is required (a model id of the 1flowbase application)" }).check(z.minLength(1), z.maxLength(256)),
    input: z.nullish(z.union([z.string(), z.array(z.record(z.string(), z.unknown())).check(z.maxLength(MAX_INPUT_ITEMS))])),
    previous_response_id: z.nullish(z.string()),
    instructions: z.nullish(z.string()),
    prompt_cache_key: z.nullish(z.string().check(z.maxLength(256))),
    prompt_cache_retention: z.nullish(z.string()),
    prompt_cache_options: z.nullish(z.record(z.string(), z.unknown())),
    service_tier: z.nullish(z.string()),
    image: z.nullish(z.record(z.string(), z.unknown())),
  }));
export type CompactRequest = z.infer<typeof CompactRequest>;

// ---------------------------------------------------------------------------------------------
// The token
// ---------------------------------------------------------------------------------------------

/** MAC domain of compaction tokens; bump the version if the payload ever changes shape. */
const COMPACTION_PURPOSE = "responses.compaction.v1";
/** Payload: the native run id (16 bytes). */
const PAYLOAD_BYTES = 16;

/** The `encrypted_content` of a compaction item naming native run `runId`, for `owner` (a key fingerprint). */
export async function sealCompaction(keys: SigningKeys, owner: string, runId: string): Promise<string> {
  if (!isEncodableRunId(runId)) throw new Error("native run ids must be UUIDs");
  const payload = new Uint8Array(PAYLOAD_BYTES);
  uuidToBytes(runId, payload, 0);
  return signToken(keys, COMPACTION_PURPOSE, owner, payload);
}

/** The native run a compaction item names, when this gateway issued it to `owner`; null otherwise. */
export async function openCompaction(keys: SigningKeys, owner: string, encryptedContent: string): Promise<string | null> {
  const payload = await openToken(keys, COMPACTION_PURPOSE, owner, encryptedContent, PAYLOAD_BYTES);
  return payload ? bytesToUuid(payload, 0) : null;
}

/**
 * The one 400 for a compaction item that cannot be used: garbage, altered, issued to another key,
 * issued by another deployment, or naming a run native no longer has. Identical for all of them, so
 * another key's item tells its presenter nothing (ARCHITECTURE.md, "Ownership answers look like
 * absence").
 */
export function invalidCompactionItem(index: number): GatewayError {
  return new GatewayError({
    status: 400,
    message: `The compaction item at input[${index}] is invalid: its encrypted_content was not issued to this API key by this gateway, or the conversation it names no longer exists.`,
    param: `input[${index}].encrypted_content`,
    code: "invalid_encrypted_content",
  });
}

// ---------------------------------------------------------------------------------------------
// A compaction item in a later input
// ---------------------------------------------------------------------------------------------

export type CompactionInputItem = Extract<InputItem, { type: "compaction" }>;

/** Where the input's last compaction item is, and what of the input is new after it. */
export interface CompactionCut {
  /** Index of the last compaction item in the input (the one that counts). */
  index: number;
  item: CompactionInputItem;
  /**
   * The input without the compacted window: system/developer messages before the item (they are
   * instructions, like `instructions`, which a window never carries) and every item after it.
   */
  rest: InputItem[];
}

/**
 * Cuts the input at its last compaction item, or null when there is none. The items before it are
 * what `/compact` returned beside the item — the window's user messages — or an earlier window:
 * the compaction's native run holds all of it, so sending them again would duplicate turns.
 * OpenAI accepts the item anywhere in the input; so does this.
 */
export function cutAtCompaction(items: readonly InputItem[]): CompactionCut | null {
  let index = -1;
  items.forEach((item, position) => {
    if (item.type === "compaction") index = position;
  });
  const item = items[index];
  if (index === -1 || item?.type !== "compaction") return null;
  const instructionsBefore = items
    .slice(0, index)
    .filter((before) => before.type === "message" && (before.role === "system" || before.role === "developer"));
  return { index, item, rest: [...instructionsBefore, ...items.slice(index + 1)] };
}

// ---------------------------------------------------------------------------------------------
// The resource
// ---------------------------------------------------------------------------------------------

/**
 * Marker of a compaction resource id, `resp_k<run hex32>`: not hex, so the id never parses as a
 * response id (ids.ts) — a compaction is not a response and is neither retrievable nor chainable.
 */
const RESOURCE_MARKER = "k";

function runHex(runId: string): string {
  return runId.replace(/-/g, "").toLowerCase();
}

export function compactionResourceId(runId: string): string {
  return `resp_${RESOURCE_MARKER}${runHex(runId)}`;
}

export function compactionItemId(runId: string): string {
  return `cmp_${runHex(runId)}`;
}

export interface CompactionResource {
  id: string;
  object: "response.compaction";
  created_at: number;
  output: Array<
    | { id: string; type: "message"; role: "user"; status: "completed"; content: Array<{ type: "input_text"; text: string }> }
    | { id: string; type: "compaction"; encrypted_content: string; created_by: string }
  >;
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
}

/**
 * The compaction resource: the window's user messages (as OpenAI returns them, so a client can
 * show them), then the one compaction item. `usage` is zero: no model pass ran — the record run is
 * never executed.
 */
export function compactionResource(runId: string, window: readonly NativeHistoryItem[], encryptedContent: string, createdAt: number): CompactionResource {
  const suffix = `${RESOURCE_MARKER}${runHex(runId)}`;
  const userMessages = window
    .filter((turn) => turn.role === "user")
    .map((turn, position) => ({
      id: `msg_${suffix}_in_${position}`,
      type: "message" as const,
      role: "user" as const,
      status: "completed" as const,
      content: [{ type: "input_text" as const, text: typeof turn.content === "string" ? turn.content : "" }],
    }));
  return {
    id: compactionResourceId(runId),
    object: "response.compaction",
    created_at: createdAt,
    output: [...userMessages, { id: compactionItemId(runId), type: "compaction", encrypted_content: encryptedContent, created_by: "1flowbase-gateway" }],
    usage: {
      input_tokens: 0,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 0,
    },
  };
}

/** Zod shapes of the resource, for the OpenAPI document and the doc tests (built on use). */
export function compactionOutputSchemas() {
  const count = z.number().check(z.int(), z.gte(0));
  const UserMessage = z.strictObject({
    id: z.string(),
    type: z.literal("message"),
    role: z.literal("user"),
    status: z.literal("completed"),
    content: z.array(z.strictObject({ type: z.literal("input_text"), text: z.string() })),
  });
  const CompactionItem = z
    .strictObject({
      id: z.string(),
      type: z.literal("compaction"),
      encrypted_content: z.string().check(z.describe("Opaque, signed reference to the native run that records the compacted window; valid only with the API key that made it")),
      created_by: z.string(),
    }).check(z.describe("Pass it back as-is in a later `input` (with the items after it) to continue with the whole window"));
  const CompactionResource = z
    .strictObject({
      id: z.string().check(z.describe("`resp_k<native run hex>`: not a response id (not retrievable, not chainable)")),
      object: z.literal("response.compaction"),
      created_at: z.number().check(z.int()),
      output: z.array(z.union([UserMessage, CompactionItem])).check(z.describe("The window's user messages, then one compaction item")),
      usage: z
        .strictObject({
          input_tokens: count,
          input_tokens_details: z.strictObject({ cached_tokens: count, cache_write_tokens: count }),
          output_tokens: count,
          output_tokens_details: z.strictObject({ reasoning_tokens: count }),
          total_tokens: count,
        }).check(z.describe("Always zero: no model pass runs (the window is recorded in native, not summarised)")),
    }).check(z.describe("The compaction resource (`POST /v1/responses/compact`)"));
  return { CompactionItem, CompactionResource };
}
