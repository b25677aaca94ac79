/**
 * Seeded applications, API keys and model catalogs. Native selects the application by API key
 * (native-api.md §1.1: "There is no application id in any public path").
 */
import { EMULATOR_ENV_SECRET, EMULATOR_KEYS } from "./script";

export type KeyName = keyof typeof EMULATOR_KEYS;

export interface ModelCapabilities {
  reasoning: boolean;
  tool_call: boolean;
  multimodal: boolean;
  structured_output: boolean;
}

/** `NativeModelObject` (native-api.md §3.5); absent optional fields are omitted on the wire. */
export interface NativeModel {
  id: string;
  name?: string;
  context_window?: number;
  max_context_window?: number;
  max_output_tokens?: number;
  auto_compact_token_limit?: number;
  capabilities: ModelCapabilities;
  reasoning?: { default_effort?: string; supported_efforts: string[] };
}

export interface AppSeed {
  name: string;
  applicationId: string;
  /** null = no active publication with `api_enabled` → 409 application_not_published (§1.2). */
  publicationVersionId: string | null;
  models: NativeModel[];
  env: Record<string, string>;
}

export interface KeySeed {
  name: KeyName;
  token: string;
  apiKeyId: string;
  app: AppSeed;
}

export const REASONING_EFFORTS = ["minimal", "low", "medium", "high", "xhigh"] as const;

/** The default catalog when the publication declares no `model_list` (native-api.md §3.5). */
const DEFAULT_MODEL: NativeModel = {
  id: "1flowbase",
  context_window: 257000,
  max_context_window: 128000,
  max_output_tokens: 32000,
  auto_compact_token_limit: 218450,
  capabilities: { reasoning: true, tool_call: true, multimodal: true, structured_output: true },
  reasoning: { default_effort: "medium", supported_efforts: [...REASONING_EFFORTS] },
};

/** A second demo model without reasoning, so `invalid_model_parameters` paths can be exercised. */
const PLAIN_MODEL: NativeModel = {
  id: "emu-plain",
  name: "Emulator plain model",
  context_window: 32000,
  max_context_window: 32000,
  max_output_tokens: 4096,
  capabilities: { reasoning: false, tool_call: true, multimodal: false, structured_output: false },
};

const ENV = { SECRET: EMULATOR_ENV_SECRET };

const demo: AppSeed = {
  name: "demo",
  applicationId: "0197a000-0000-7000-8000-00000000a001",
  publicationVersionId: "0197a000-0000-7000-8000-00000000b001",
  models: [DEFAULT_MODEL, PLAIN_MODEL],
  env: ENV,
};
const other: AppSeed = {
  name: "other",
  applicationId: "0197a000-0000-7000-8000-00000000a002",
  publicationVersionId: "0197a000-0000-7000-8000-00000000b002",
  models: [DEFAULT_MODEL],
  env: ENV,
};
const draft: AppSeed = {
  name: "draft",
  applicationId: "0197a000-0000-7000-8000-00000000a003",
  publicationVersionId: null,
  models: [DEFAULT_MODEL],
  env: ENV,
};

export const KEYS: readonly KeySeed[] = [
  { name: "demo", token: EMULATOR_KEYS.demo, apiKeyId: "0197a000-0000-7000-8000-00000000c001", app: demo },
  { name: "demoSecond", token: EMULATOR_KEYS.demoSecond, apiKeyId: "0197a000-0000-7000-8000-00000000c002", app: demo },
  { name: "other", token: EMULATOR_KEYS.other, apiKeyId: "0197a000-0000-7000-8000-00000000c003", app: other },
  { name: "unpublished", token: EMULATOR_KEYS.unpublished, apiKeyId: "0197a000-0000-7000-8000-00000000c004", app: draft },
];

export function findKey(token: string): KeySeed | undefined {
  return KEYS.find((k) => k.token === token);
}
