// Bindings for the api-auth vitest project, made in Node when vitest loads its config: a fresh ES256 signing key,
// an old EdDSA key still accepted for verification (its private half is passed to the tests as TEST_OLD_KEY so
// they can sign with it), and the test users hashed the way `npm run user` does (bob with bcrypt, as htpasswd -B).
import { generateSigningKey, userLine } from "../../scripts/lib/credentials";
import { PASSWORDS, RULES, SERVICE, ISSUER, REALM } from "./fixtures";

export async function authTestBindings(): Promise<Record<string, string>> {
  const signing = await generateSigningKey("ES256");
  const old = await generateSigningKey("EdDSA");
  const users = await Promise.all(
    Object.entries(PASSWORDS).map(([name, pw]) =>
      // Low PBKDF2 iterations / bcrypt cost keep the suite fast; production defaults are tested in the bench.
      userLine(name, pw, name === "bob" ? { bcryptCost: 4 } : { iterations: 1000 }),
    ),
  );
  return {
    SKIFF_AUTH: "token",
    AUTH_USERS: ["# test users", ...users].join("\n"),
    AUTH_RULES: JSON.stringify(RULES),
    AUTH_SIGNING_KEY: JSON.stringify(signing.privateJwk),
    AUTH_VERIFY_KEYS: JSON.stringify([old.publicJwk]),
    AUTH_SERVICE: SERVICE,
    AUTH_REALM: REALM,
    AUTH_ISSUER: ISSUER,
    TEST_OLD_KEY: JSON.stringify(old.privateJwk),
  };
}

/**
 * Rate limiting bindings for the api-auth project (they replace wrangler.toml's): the login limits so high that
 * the suite's many logins never reach them, and real bindings with a low limit that test/auth/login-limits
 * swaps in (two, so that one test can tighten only the per-address limit).
 */
export function authTestRateLimits() {
  const tight = { simple: { limit: 5, period: 60 } };
  return {
    LOGIN_LIMIT_USER: { simple: { limit: 1_000_000, period: 60 } },
    LOGIN_LIMIT_ADDRESS: { simple: { limit: 1_000_000, period: 60 } },
    TEST_TIGHT_LIMIT: tight,
    TEST_TIGHT_LIMIT_2: tight,
  };
}
