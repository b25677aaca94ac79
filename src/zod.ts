/**
 * zod for the worker: the functional build `zod/mini` (issue 19), with English error messages.
 *
 * Why mini: zod's classic API binds ~50 methods onto every schema node when it is built, and every
 * classic schema carries `.toJSONSchema`, which pulls zod's JSON Schema processors into the bundle
 * whether the API reference is served or not. Mini schemas are the same zod core (same parser, same
 * issues, same JSON Schema output through `toJSONSchema`) with plain functions for what classic
 * chains: `z.optional(x)`, `x.check(z.maxLength(n), z.describe(...))`, `z.pipe(x, z.transform(f))`.
 *
 * Why this module rather than `import * as z from "zod/mini"` in each file: classic installs zod's
 * English locale when its first schema is built; mini installs none, and without one every issue's
 * message is the bare "Invalid input". The messages are part of the gateway's contract (its 400
 * bodies quote them, test/answers goldens compare them), so the locale is set here, once, before any
 * schema module can parse.
 */
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

export * from "zod/mini";
