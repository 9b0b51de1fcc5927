#!/usr/bin/env node
// `npm run keygen [-- --alg ES256|EdDSA|RS256]`: prints a new token signing key (a private JWK) for
// `wrangler secret put AUTH_SIGNING_KEY`, and its public half for AUTH_VERIFY_KEYS when keys rotate.
import { generateKeyPair, exportJWK, calculateJwkThumbprint } from "jose";
import { pathToFileURL } from "node:url";
import { createHash, generateKeyPairSync } from "node:crypto";

export const ALGS = ["ES256", "EdDSA", "RS256"];

/** A fresh signing key: { privateJwk, publicJwk }, both with kid (the RFC 7638 thumbprint) and alg set. */
export async function generateSigningKey(alg = "ES256") {
  if (!ALGS.includes(alg)) throw new Error(`--alg must be one of ${ALGS.join(", ")}`);
  const opts = alg === "EdDSA" ? { crv: "Ed25519", extractable: true } : alg === "RS256" ? { modulusLength: 3072, extractable: true } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, opts);
  const pub = await exportJWK(publicKey);
  const kid = (await calculateJwkThumbprint(pub)).slice(0, 32);
  return { privateJwk: { ...(await exportJWK(privateKey)), kid, alg }, publicJwk: { ...pub, kid, alg, use: "sig" } };
}

/** The same, synchronously, from node:crypto (ES256 only): for `npm start`'s development key. */
export function generateSigningKeySync() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pub = publicKey.export({ format: "jwk" });
  // RFC 7638 thumbprint of an EC key: its required members in lexicographic order.
  const kid = createHash("sha256").update(JSON.stringify({ crv: pub.crv, kty: pub.kty, x: pub.x, y: pub.y })).digest("base64url").slice(0, 32);
  return { privateJwk: { ...privateKey.export({ format: "jwk" }), kid, alg: "ES256" }, publicJwk: { ...pub, kid, alg: "ES256", use: "sig" } };
}

async function main(argv) {
  const i = argv.indexOf("--alg");
  const alg = i >= 0 ? argv[i + 1] : "ES256";
  if (argv.includes("--help") || argv.includes("-h")) {
    console.error("usage: npm run keygen [-- --alg ES256|EdDSA|RS256]");
    return;
  }
  const { privateJwk, publicJwk } = await generateSigningKey(alg);
  process.stdout.write(JSON.stringify(privateJwk) + "\n");
  console.error(`
New ${alg} signing key (kid ${privateJwk.kid}) printed above. It is a secret: store it, do not commit it:
  npm run keygen > key.json && npx wrangler secret put AUTH_SIGNING_KEY < key.json && rm key.json
Rotating keys: add the OLD key's public half to AUTH_VERIFY_KEYS (a JSON list) before switching, so tokens
already issued stay valid until they expire. This key's public half (for a later rotation):
  ${JSON.stringify(publicJwk)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`keygen: ${e.message}`);
    process.exit(1);
  });
}
