// Revival racing doom on one tombstone (test/gc/record-race.ts) on MemoryStore and on the R2 adapter over the
// simulated bucket. Both failed while record versions had empty bodies: R2's etag is the body's MD5, and MemoryStore's
// is derived from the bytes too, so every version had the same etag and both swaps won.
import { describe, it } from "vitest";
import { BACKENDS } from "./helpers";
import { raceRevivalAgainstDoom } from "./record-race";

describe.each(BACKENDS)("revival racing doom on one tombstone (%s)", (_name, makeStore) => {
  it("200 rounds: exactly one of the two swaps wins, and the record ends in the winner's state", async () => {
    await raceRevivalAgainstDoom(await makeStore(), 200);
  });
});
