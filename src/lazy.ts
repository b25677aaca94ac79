import * as z from "./zod";

/**
 * A value built on first use, then kept for the isolate's lifetime. For what no request path needs:
 * the answer schemas only the API reference and its tests read are built by no request, so they cost
 * a cold isolate nothing (a worker's startup is paid before its first byte at every new colo).
 *
 * @example
 * export const chatOutputSchemas = lazily(buildChatOutputSchemas);
 */
export function lazily<T>(build: () => T): () => T {
  let built: { value: T } | null = null;
  return () => (built ??= { value: build() }).value;
}

/**
 * A zod schema built on first use, in place: the module keeps exporting a value of the schema's own
 * type, so every caller (`X.safeParse(...)`, `z.infer<typeof X>`, `X.shape`, nesting `X` in another
 * schema) stays as it was, but nothing is built while the worker's modules evaluate. A fresh isolate
 * pays for the schemas of the route its first request takes, not for every schema of every protocol
 * (issue 19: zod's classic API costs ~10–100 µs per schema node, and its first use compiles zod).
 *
 * The value is a `Proxy` that forwards every operation to the built schema. zod's registries key
 * metadata by object identity, so what `.describe()`/`.meta()` attached to the built schema is
 * registered for the proxy too, and the API reference's JSON Schema conversion keys what it has seen
 * by `declaredSchema` (zod's own methods close over the built schema, the nesting holds the proxy).
 * Convert with `schemaToJsonSchema` / `registryToJsonSchema` (src/docs/openapi.ts): zod's own
 * `z.toJSONSchema` throws on a lazily built pipe or transform (test/foundation/lazy.test.ts).
 *
 * @example
 * export const NativeRunEnvelope = lazySchema(() => z.object({ data: NativeRun }).loose());
 */
export function lazySchema<T extends object>(build: () => T): T {
  let built: T | undefined;
  const schema = (): T => {
    if (built === undefined) {
      built = build();
      handles.set(built, proxy);
      const meta = z.globalRegistry.get(built as unknown as z.core.$ZodType);
      if (meta !== undefined) z.globalRegistry.add(proxy as unknown as z.core.$ZodType, meta);
    }
    return built;
  };
  const proxy: T = new Proxy({} as T, {
    get: (_target, key) => Reflect.get(schema(), key),
    set: (_target, key, value) => Reflect.set(schema(), key, value),
    has: (_target, key) => Reflect.has(schema(), key),
    ownKeys: () => Reflect.ownKeys(schema()),
    getOwnPropertyDescriptor: (_target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(schema(), key);
      // A proxy may not report a property as non-configurable that its (empty) target lacks.
      return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
    },
    defineProperty: (_target, key, descriptor) => Reflect.defineProperty(schema(), key, descriptor),
    deleteProperty: (_target, key) => Reflect.deleteProperty(schema(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(schema()),
  });
  return proxy;
}

/** Built schema → the `lazySchema` proxy that stands for it. */
const handles = new WeakMap<object, object>();

/**
 * The schema as its module declared it: the `lazySchema` proxy for a schema one built, the schema
 * itself otherwise. One identity per schema, for code that keys maps by schema (src/docs/openapi.ts).
 */
export function declaredSchema<T extends object>(schema: T): T {
  return (handles.get(schema) as T | undefined) ?? schema;
}
