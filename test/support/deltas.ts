/**
 * Text deltas that reach the gateway in one native read become one client delta (`TextCoalescer`,
 * src/native/answer.ts); how the emulator's bytes are split across reads is not what an event-order
 * test checks. `oneRun` lists event names with each run of `delta` counted once.
 */
export function oneRun(names: readonly string[], delta: string): string[] {
  return names.filter((name, index) => !(name === delta && names[index - 1] === delta));
}
