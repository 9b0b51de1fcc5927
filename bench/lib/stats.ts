// Small statistics helpers.

/** p-th percentile (0..100) of an ascending array, nearest-rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** MB/s with MB = 10^6 bytes. */
export const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

export const MiB = 1024 * 1024;
