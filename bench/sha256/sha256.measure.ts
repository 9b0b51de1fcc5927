// CPU cost of SHA-256 inside workerd, per MiB over 64 MiB, side by side in one isolate: the resumable SHA-256 of
// chunked uploads (src/lib/sha256-state.ts, WebAssembly), its state saved and restored every 16 MiB as a chunked
// upload does, against the native crypto.DigestStream (not resumable). Prints; asserts only that the digests agree.
// Inside workerd the clock moves only across I/O, so each measurement ends with an await.
import { expect, it } from "vitest";
import { Sha256State } from "../../src/lib/sha256-state";

const MiB = 1024 * 1024;
const ROUNDS = 3;

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((v) => v.toString(16).padStart(2, "0")).join("");
const tick = () => new Promise((r) => setTimeout(r, 0));

async function timed(run: () => Promise<string> | string): Promise<{ ms: number; digest: string }> {
  await tick();
  const t0 = performance.now();
  const digest = await run();
  await tick();
  return { ms: (performance.now() - t0) / 64, digest };
}

it("SHA-256 of 64 MiB: ms of CPU per MiB", async () => {
  const data = new Uint8Array(16 * MiB);
  for (let o = 0; o < data.byteLength; o += 65536) crypto.getRandomValues(data.subarray(o, o + 65536));
  const cases: Record<string, () => Promise<string> | string> = {
    "wasm (sha256-state)": () => {
      let saved = Sha256State.fresh()!.save();
      for (let i = 0; i < 4; i++) {
        const s = Sha256State.restore(saved)!;
        for (let o = 0; o < data.byteLength; o += MiB) s.update(data.subarray(o, o + MiB));
        saved = s.save();
      }
      return Sha256State.restore(saved)!.digestHex();
    },
    "crypto.DigestStream": async () => {
      const ds = new crypto.DigestStream("SHA-256");
      const w = ds.getWriter();
      for (let i = 0; i < 4; i++) for (let o = 0; o < data.byteLength; o += MiB) await w.write(data.subarray(o, o + MiB));
      await w.close();
      return hex(await ds.digest);
    },
  };
  const lines: string[] = [];
  const digests = new Set<string>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const { ms, digest } = await timed(run);
      digests.add(digest);
      lines.push(`round ${round}  ${name.padEnd(22)} ${ms.toFixed(2)} ms/MiB`);
    }
  }
  console.log(lines.join("\n"));
  expect(digests.size).toBe(1);
});
