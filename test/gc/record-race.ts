// The race docs/gc.md §6 rests on: a manifest PUT's revival (tomb → live) and the sweep's doom (tomb → dead), both
// compare-and-swaps on the same record version, sent at the same moment. Exactly one may win, every time; the loser
// sees the winner's record. Shared by test/gc/record-race.test.ts (MemoryStore, R2 simulator) and
// test/s3/record-race.test.ts (Ceph RGW).
import { expect } from "vitest";
import { parseDigest } from "../../src/protocol/digest";
import { createRecord, readRecord, swapRecord } from "../../src/registry/blob-record";
import type { ObjectStore } from "../../src/storage/types";

/** Runs `rounds` races on one record of `store`; returns how many each side won. */
export async function raceRevivalAgainstDoom(store: ObjectStore, rounds: number): Promise<{ revive: number; doom: number }> {
  const digest = parseDigest(`sha256:${"cd".repeat(32)}`)!;
  const live = await createRecord(store, digest, { size: 1, dataKey: "data/x", state: "live", at: 1 });
  expect(live).not.toBeNull();
  let current = live!;
  const wins = { revive: 0, doom: 0 };
  for (let round = 0; round < rounds; round++) {
    const tomb = await swapRecord(store, current, { size: 1, dataKey: "data/x", state: "tomb", at: 1, tombAt: round, run: "r" });
    expect(tomb).not.toBeNull();
    const [revived, doomed] = await Promise.all([
      swapRecord(store, tomb!, { size: 1, dataKey: "data/x", state: "live", at: round }),
      swapRecord(store, tomb!, { size: 1, dataKey: "data/x", state: "dead", at: 1, tombAt: round, run: "r" }),
    ]);
    expect([revived, doomed].filter((r) => r !== null)).toHaveLength(1);
    const after = await readRecord(store, digest);
    expect(after?.state).toBe(revived ? "live" : "dead");
    if (revived) wins.revive++;
    else wins.doom++;
    current = after!;
    if (current.state === "dead") {
      // A new upload replaces a dead record (commitBlob); the next round starts from live again.
      current = (await swapRecord(store, current, { size: 1, dataKey: "data/x", state: "live", at: round }))!;
    }
  }
  expect(wins.revive + wins.doom).toBe(rounds);
  return wins;
}
