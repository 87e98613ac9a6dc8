/** Half-open ranges [start, end) of global token offsets, in reading order. */
export type Span = [number, number];

export function spanLength(spans: readonly Span[]): number {
  let n = 0;
  for (const [s, e] of spans) n += e - s;
  return n;
}

/** The part of `spans` between virtual positions [from, to) of their concatenation, adjacent ranges merged. */
export function sliceSpans(spans: readonly Span[], from: number, to: number): Span[] {
  const out: Span[] = [];
  let base = 0;
  for (const [s, e] of spans) {
    const len = e - s;
    const lo = Math.max(from, base);
    const hi = Math.min(to, base + len);
    if (lo < hi) push(out, [s + lo - base, s + hi - base]);
    base += len;
    if (base >= to) break;
  }
  return out;
}

/** Appends a range, merging it into the last one when they touch. */
export function push(out: Span[], span: Span): void {
  const last = out[out.length - 1];
  if (last !== undefined && last[1] === span[0]) last[1] = span[1];
  else if (span[1] > span[0]) out.push([span[0], span[1]]);
}

/** Rank r's share of `length` positions split over `worldSize`: contiguous, sizes within one of each other. */
export function evenShare(length: number, rank: number, worldSize: number): [number, number] {
  return [Math.floor((rank * length) / worldSize), Math.floor(((rank + 1) * length) / worldSize)];
}
