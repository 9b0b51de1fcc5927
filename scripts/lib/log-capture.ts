// Optional capture of workerd's output for the "no secret in any log line" check of the end-to-end run
// (test/support/log-capture-global.ts). With SKIFF_LOG_CAPTURE_DIR set, every `wrangler dev` started through
// dev-server.ts appends its output to a file there, and the secrets the run configures (secret worker variables,
// private key members, test passwords as they are hashed) are listed next to it, so the check can look for each.
// The list holds test credentials only (generated per run); the files are private to the user (0600).
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { SETTINGS } from "../../src/config/settings";

export const LOG_CAPTURE_ENV = "SKIFF_LOG_CAPTURE_DIR";
export const SECRETS_DIR = "secrets";

export function captureDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = env[LOG_CAPTURE_ENV];
  return dir ? path.resolve(dir) : null;
}

let files = 0;

/** A new file for one wrangler's output, or null when capture is off. */
export function newCaptureFile(label: string): string | null {
  const dir = captureDir();
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${label}-${process.pid}-${++files}.log`);
}

export function appendCapture(file: string, text: string): void {
  appendFileSync(file, text, { mode: 0o600 });
}

/** Notes values that must never appear in a log line (no-op when capture is off). One JSON string per line. */
export function recordSecrets(values: (string | undefined)[]): void {
  const dir = captureDir();
  const keep = values.filter((v): v is string => typeof v === "string" && v.length >= 6);
  if (!dir || !keep.length) return;
  mkdirSync(path.join(dir, SECRETS_DIR), { recursive: true, mode: 0o700 });
  appendFileSync(path.join(dir, SECRETS_DIR, `${process.pid}.txt`), keep.map((v) => JSON.stringify(v) + "\n").join(""), { mode: 0o600 });
}

// The members of a private JWK (EC/OKP `d`, RSA's primes and exponents) and an HMAC key (`k`).
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

/** The secret values among worker variables: settings marked secret, their lines and hashes, private key members. */
export function secretsOfVars(vars: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(vars)) {
    const spec = (SETTINGS as Record<string, { secret?: boolean; kind: string }>)[name];
    if (!spec?.secret) continue;
    out.push(value);
    if (spec.kind === "users") for (const line of value.split("\n")) out.push(line.slice(line.indexOf(":") + 1).trim());
    if (spec.kind === "jwk") {
      try {
        const jwk = JSON.parse(value) as Record<string, unknown>;
        for (const m of PRIVATE_JWK_MEMBERS) if (typeof jwk[m] === "string") out.push(jwk[m] as string);
      } catch {
        // Not JSON: the whole value is already listed.
      }
    }
  }
  return out;
}
