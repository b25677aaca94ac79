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
