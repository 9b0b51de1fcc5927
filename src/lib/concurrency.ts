// Bounded concurrency for fan-outs of storage calls (a Worker keeps at most 6 connections open at once anyway).

/**
 * Calls `fn` on each item in order, at most `limit` calls in flight. No new call starts once one has failed (its
 * error is thrown) or returned "stop".
 */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void | "stop">): Promise<void> {
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (next < items.length && !stopped) {
      const i = next++;
      try {
        if ((await fn(items[i], i)) === "stop") stopped = true;
      } catch (err) {
        stopped = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
