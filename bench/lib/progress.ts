/**
 * Progress lines of the benchmarks: on stderr, so stdout carries only the final JSON line.
 */
const started = performance.now();

/** Prints `[  1.23 s] message` to stderr. */
export function progress(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(2).padStart(6);
  process.stderr.write(`[${s} s] ${message}\n`);
}

/** The median of a non-empty list of numbers. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds a figure for the report to `digits` significant digits (keeps the JSON short and honest). */
export function sig(x: number, digits = 4): number {
  return Number(x.toPrecision(digits));
}
