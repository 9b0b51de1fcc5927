// Token keys: the signing key (a private JWK in the AUTH_SIGNING_KEY secret) and the keys accepted when
// verifying (its public half plus AUTH_VERIFY_KEYS, the public JWKs of earlier keys, so keys can rotate).
//
// Each key carries its own `alg`; a token is verified only with the key its `kid` names and only with that
// key's algorithm, so `alg: none`, HMAC-with-the-public-key and a key of another type never get a chance.
// Keys are checked when the config is parsed (synchronously) and imported into WebCrypto on first use.
import { importJWK, type JWK } from "jose";

export type SigningAlg = "ES256" | "EdDSA" | "RS256";
export const SIGNING_ALGS: readonly SigningAlg[] = ["ES256", "EdDSA", "RS256"];
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/** What /.well-known/jwks.json publishes of a key: its public members by type, nothing else a JWK may carry. */
const PUBLIC_MEMBERS: Record<SigningAlg, string[]> = { ES256: ["kty", "crv", "x", "y"], EdDSA: ["kty", "crv", "x"], RS256: ["kty", "n", "e"] };

export interface KeySpec {
  kid: string;
  alg: SigningAlg;
  /** Public members only: what /.well-known/jwks.json publishes. */
  publicJwk: JWK;
  /** Present for the signing key only. */
  privateJwk?: JWK;
}

export interface KeyConfig {
  signing: KeySpec;
  /** kid -> key, the signing key included. */
  verify: Map<string, KeySpec>;
}

export interface ImportedKeys {
  signing: { kid: string; alg: SigningAlg; key: CryptoKey };
  verify: Map<string, { alg: SigningAlg; key: CryptoKey }>;
  jwks: { keys: JWK[] };
}

/** Checks one JWK's shape for its declared alg; returns a problem or the key spec. */
export function checkJwk(raw: unknown, path: string, wantPrivate: boolean): KeySpec | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return `${path} must be a JWK object`;
  const jwk = raw as Record<string, unknown>;
  const alg = jwk.alg;
  if (typeof alg !== "string" || !(SIGNING_ALGS as string[]).includes(alg)) {
    return `${path}.alg must be one of ${SIGNING_ALGS.join(", ")}; npm run keygen writes it`;
  }
  if (typeof jwk.kid !== "string" || !/^[A-Za-z0-9._:-]{1,128}$/.test(jwk.kid)) return `${path}.kid must be a short id of letters, digits and . _ : -`;
  const str = (k: string) => typeof jwk[k] === "string" && (jwk[k] as string).length > 0;
  if (alg === "ES256" && !(jwk.kty === "EC" && jwk.crv === "P-256" && str("x") && str("y"))) return `${path}: ES256 needs an EC P-256 key (kty "EC", crv "P-256", x, y)`;
  if (alg === "EdDSA" && !(jwk.kty === "OKP" && jwk.crv === "Ed25519" && str("x"))) return `${path}: EdDSA needs an Ed25519 key (kty "OKP", crv "Ed25519", x)`;
  if (alg === "RS256") {
    if (!(jwk.kty === "RSA" && str("n") && str("e"))) return `${path}: RS256 needs an RSA key (kty "RSA", n, e)`;
    if ((jwk.n as string).length < 342) return `${path}: RSA keys must have at least 2048 bits`;
  }
  const hasPrivate = PRIVATE_MEMBERS.some((m) => m in jwk);
  if (wantPrivate && !str("d")) return `${path} must be a private key (with "d"); npm run keygen prints one`;
  if (!wantPrivate && hasPrivate) return `${path} holds private key material; list only public keys here`;
  if (jwk.use !== undefined && jwk.use !== "sig") return `${path}.use must be "sig" if present`;
  // Only the known public members: anything else in a private JWK (a note, a tool's extra field) stays private.
  const publicJwk: JWK = { kid: jwk.kid, alg };
  for (const k of PUBLIC_MEMBERS[alg as SigningAlg]) (publicJwk as Record<string, unknown>)[k] = jwk[k];
  publicJwk.use = "sig";
  return { kid: jwk.kid, alg: alg as SigningAlg, publicJwk, privateJwk: wantPrivate ? (jwk as JWK) : undefined };
}

/** Parses AUTH_SIGNING_KEY and AUTH_VERIFY_KEYS; problems name the setting. */
export function parseKeys(signingText: string | undefined, verifyText: string | undefined, problems: string[]): KeyConfig | null {
  if (signingText === undefined) return null;
  let signingRaw: unknown;
  try {
    signingRaw = JSON.parse(signingText);
  } catch {
    // Not V8's message: it quotes the input, a private key.
    problems.push("AUTH_SIGNING_KEY is not valid JSON; it must be the private JWK that `npm run keygen` prints");
    return null;
  }
  const signing = checkJwk(signingRaw, "AUTH_SIGNING_KEY", true);
  if (typeof signing === "string") {
    problems.push(signing);
    return null;
  }
  const verify = new Map<string, KeySpec>([[signing.kid, signing]]);
  if (verifyText !== undefined) {
    let list: unknown;
    try {
      list = JSON.parse(verifyText);
    } catch {
      problems.push("AUTH_VERIFY_KEYS is not valid JSON; it must be a list of public JWKs");
      return null;
    }
    if (!Array.isArray(list)) problems.push("AUTH_VERIFY_KEYS must be a JSON list of public JWKs");
    else {
      list.forEach((raw, i) => {
        const k = checkJwk(raw, `AUTH_VERIFY_KEYS[${i}]`, false);
        if (typeof k === "string") problems.push(k);
        else if (verify.has(k.kid)) problems.push(`AUTH_VERIFY_KEYS[${i}]: its kid is used by another key`);
        else verify.set(k.kid, k);
      });
    }
  }
  return { signing, verify };
}

/** The keys as CryptoKeys (the caller keeps them: see keySource in context.ts). */
export async function importKeys(config: KeyConfig): Promise<ImportedKeys> {
  const s = config.signing;
  const signingKey = (await importJWK(s.privateJwk!, s.alg)) as CryptoKey;
  const verify = new Map<string, { alg: SigningAlg; key: CryptoKey }>();
  for (const [kid, k] of config.verify) verify.set(kid, { alg: k.alg, key: (await importJWK(k.publicJwk, k.alg)) as CryptoKey });
  return { signing: { kid: s.kid, alg: s.alg, key: signingKey }, verify, jwks: { keys: [...config.verify.values()].map((k) => k.publicJwk) } };
}
