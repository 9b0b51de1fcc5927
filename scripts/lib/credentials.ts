// Keys and users: token signing keys (`npm run keygen`, `npm start`'s development key, the tests' keys) and
// AUTH_USERS lines (`npm run user`, `npm start`'s development user, the tests' users). The PBKDF2 line is made by
// the Worker's own code (src/auth/passwords.ts, WebCrypto, which Node has too), so its format exists once.
import { randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import { hashPasswordPbkdf2, PBKDF2_MAX_ITERATIONS, PBKDF2_MIN_ITERATIONS } from "../../src/auth/passwords";
import { recordSecrets } from "./log-capture";

export const ALGS = ["ES256", "EdDSA", "RS256"] as const;
export type SigningAlg = (typeof ALGS)[number];

export type SigningJwk = JWK & { kid: string; alg: SigningAlg };

/** A fresh signing key: { privateJwk, publicJwk }, both with kid (the RFC 7638 thumbprint) and alg set. */
export async function generateSigningKey(alg: string = "ES256"): Promise<{ privateJwk: SigningJwk; publicJwk: SigningJwk & { use: "sig" } }> {
  if (!(ALGS as readonly string[]).includes(alg)) throw new Error(`--alg must be one of ${ALGS.join(", ")}`);
  const a = alg as SigningAlg;
  const opts = a === "EdDSA" ? { crv: "Ed25519", extractable: true } : a === "RS256" ? { modulusLength: 3072, extractable: true } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(a, opts);
  const pub = await exportJWK(publicKey);
  const kid = (await calculateJwkThumbprint(pub)).slice(0, 32);
  return { privateJwk: { ...(await exportJWK(privateKey)), kid, alg: a }, publicJwk: { ...pub, kid, alg: a, use: "sig" } };
}

// Workers' WebCrypto refuses PBKDF2 above 100,000 iterations; that is the default and the ceiling.
export const MAX_ITERATIONS = PBKDF2_MAX_ITERATIONS;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** The PBKDF2-SHA256 entry Skiff verifies: $pbkdf2-sha256$i=N$salt$hash (base64, no padding). */
export async function hashPassword(password: string, iterations = MAX_ITERATIONS): Promise<string> {
  if (!Number.isInteger(iterations) || iterations < PBKDF2_MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new Error(`iterations must be from ${PBKDF2_MIN_ITERATIONS} to ${MAX_ITERATIONS}`);
  }
  recordSecrets([password]); // for the end-to-end log check, when on (log-capture.ts)
  return hashPasswordPbkdf2(password, iterations);
}

export function randomPassword(): string {
  return randomBytes(24).toString("base64url");
}

/** An AUTH_USERS line `NAME:<hash>`: PBKDF2 (default), or bcrypt with `bcryptCost` (as `htpasswd -B`). */
export async function userLine(name: string, password: string, opts: { iterations?: number; bcryptCost?: number } = {}): Promise<string> {
  if (!USER_NAME.test(name)) throw new Error(`invalid user name ${JSON.stringify(name)}: letters, digits and . _ @ - (not starting with a symbol)`);
  if (opts.bcryptCost) recordSecrets([password]);
  const hash = opts.bcryptCost ? bcrypt.hashSync(password, opts.bcryptCost) : await hashPassword(password, opts.iterations);
  return `${name}:${hash}`;
}
