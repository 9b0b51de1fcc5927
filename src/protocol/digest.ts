// Digests: `algorithm ":" encoded`, with the registered algorithms sha256 and sha512 (lowercase hex).
import { RegistryError } from "./errors";

export const DIGEST_ALGORITHMS = { sha256: { hexLength: 64, webCrypto: "SHA-256" }, sha512: { hexLength: 128, webCrypto: "SHA-512" } } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Parses a digest, or returns null when it is not one this registry accepts. */
export function parseDigest(value: string): Digest | null {
  if (value.length > 256 || !GRAMMAR.test(value)) return null;
  const i = value.indexOf(":");
  const algorithm = value.slice(0, i);
  const hex = value.slice(i + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") return null;
  if (hex.length !== DIGEST_ALGORITHMS[algorithm].hexLength || !/^[0-9a-f]+$/.test(hex)) return null;
  return { algorithm, hex };
}

/** Parses a digest or throws DIGEST_INVALID. */
export function requireDigest(value: string | null | undefined, what = "digest"): Digest {
  const d = value == null ? null : parseDigest(value);
  if (!d) {
    const shown = value == null ? "missing" : JSON.stringify(value.slice(0, 160));
    throw new RegistryError("DIGEST_INVALID", `invalid ${what}: ${shown}; expected sha256:<64 hex> or sha512:<128 hex>`);
  }
  return d;
}

export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < u8.length; i++) out += u8[i].toString(16).padStart(2, "0");
  return out;
}

/** Digest of bytes held in memory (manifests); blobs are hashed as streams elsewhere. */
export async function digestBytes(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): Promise<Digest> {
  const hash = await crypto.subtle.digest(DIGEST_ALGORITHMS[algorithm].webCrypto, bytes);
  return { algorithm, hex: toHex(hash) };
}
