// Small helpers shared by the unit tests of the upload byte path (read-back, carried SHA-256, upload state).
import { expect } from "vitest";
import { RegistryError } from "../../src/protocol/errors";

/** `n` reproducible pseudo-random bytes (a linear congruential generator): the same seed gives the same bytes. */
export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The RegistryError `p` rejects with; fails the test when it resolves or rejects with something else. */
export async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}
