// Revival racing doom on one tombstone (test/gc/record-race.ts) on the S3 adapter over Ceph RGW, whose etag is also
// the body's MD5: the record versions' own bodies are what let If-Match tell them apart there.
import { describe, it } from "vitest";
import { S3Store } from "../../src/storage/s3";
import { raceRevivalAgainstDoom } from "../gc/record-race";
import { rgwSettings } from "./helpers";

describe("revival racing doom on one tombstone (S3Store on RGW)", () => {
  it("100 rounds: exactly one of the two swaps wins, and the record ends in the winner's state", async () => {
    await raceRevivalAgainstDoom(new S3Store(rgwSettings()), 100);
  });
});
