/**
 * Test helper: cuts a sequence (text or bytes) at arbitrary offsets (taken modulo its length + 1),
 * the way property tests simulate native's chunking: `repeated` keeps repeated offsets, which yields
 * empty pieces (native may send empty deltas); without it every offset cuts once.
 */
export function cutAt<T extends { readonly length: number }>(whole: T, cuts: readonly number[], slice: (from: number, to: number) => T, repeated = false): T[] {
  const offsets = cuts.map((cut) => cut % (whole.length + 1));
  const points = (repeated ? offsets : [...new Set(offsets)]).sort((a, b) => a - b);
  const pieces: T[] = [];
  let previous = 0;
  for (const point of points) {
    pieces.push(slice(previous, point));
    previous = point;
  }
  pieces.push(slice(previous, whole.length));
  return pieces;
}
