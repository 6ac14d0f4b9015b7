/**
 * The last element of `sorted` for which `holds` is true, where `holds` is
 * true for a prefix of the array and false after it; undefined when it holds
 * for none. One bisection serves segments by base, index entries by sequence
 * number and by time.
 */
export function lastWhere<T>(sorted: readonly T[], holds: (item: T) => boolean): T | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  let found: T | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const item = sorted[mid]!;
    if (holds(item)) {
      found = item;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
