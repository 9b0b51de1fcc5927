// CPU cost of auth per request, measured in Node with the same code the Worker runs (jose over WebCrypto,
// bcryptjs in pure JS). Timings inside workerd/Miniflare are not representative (workerd's clocks stand still while
// code runs without I/O); Node's WebCrypto (OpenSSL) and workerd's (BoringSSL) are both native, and V8 runs bcryptjs
// in both. Its figures are quoted once, in README "Setting up auth".
//   npx tsx test/auth/bench.mts
import bcrypt from "bcryptjs";
import { generateKeyPair, exportJWK } from "jose";
import { importKeys, parseKeys } from "../../src/auth/keys";
import { issueAccessToken, verifyAccessToken, issueRefreshToken, verifyRefreshToken, passwordVersion } from "../../src/auth/tokens";
import { hashPasswordPbkdf2, parsePasswordHash, verifyPassword, type PasswordHash } from "../../src/auth/passwords";
import type { Scope } from "../../src/auth/types";

// CPU time of the whole process (all threads: Node runs WebCrypto work on its thread pool), not wall time, so
// other load on the machine does not inflate the numbers.
const proc = (globalThis as unknown as { process: { cpuUsage(prev?: unknown): { user: number; system: number } } }).process;

async function time(label: string, n: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm up (JIT)
  const c0 = proc.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = (performance.now() - t0) / n;
  const c = proc.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000 / n;
  console.log(`${label.padEnd(58)} cpu ${cpu.toFixed(3).padStart(8)} ms   wall ${wall.toFixed(3).padStart(8)} ms`);
  return cpu;
}

const ctx = { issuer: "skiff", service: "registry.example.com" };
const access: Scope[] = [
  { type: "repository", name: "team/app", actions: ["pull", "push"] },
  { type: "repository", name: "team/base", actions: ["pull"] },
];

for (const alg of ["ES256", "EdDSA", "RS256"] as const) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 3072 } : {}) });
  const jwk = { ...(await exportJWK(privateKey)), alg, kid: "bench" };
  const problems: string[] = [];
  const config = parseKeys(JSON.stringify(jwk), undefined, problems)!;
  if (problems.length) throw new Error(problems.join("; "));
  const t0 = performance.now();
  const keys = await importKeys(config);
  console.log(`${`${alg}: key import (once per isolate)`.padEnd(58)} ${(performance.now() - t0).toFixed(3).padStart(9)} ms`);
  const token = await issueAccessToken(keys, ctx, "bob", access, 300);
  await time(`${alg}: issue access token`, 500, () => issueAccessToken(keys, ctx, "bob", access, 300));
  await time(`${alg}: check access token (every registry request)`, 500, () => verifyAccessToken(keys, ctx, token));
  const pwv = await passwordVersion("bob", "$pbkdf2-sha256$...");
  const refresh = await issueRefreshToken(keys, ctx, "bob", pwv, 86400);
  await time(`${alg}: check refresh token + password version`, 500, async () => {
    await verifyRefreshToken(keys, ctx, refresh);
    await passwordVersion("bob", "$pbkdf2-sha256$...");
  });
}

const entries: [string, PasswordHash][] = [];
for (const it of [100_000, 10_000]) entries.push([`PBKDF2-SHA256 ${it} iterations`, parsePasswordHash(await hashPasswordPbkdf2("pw", it)) as PasswordHash]);
for (const cost of [10, 8, 5]) entries.push([`bcrypt cost ${cost} (bcryptjs)`, parsePasswordHash(bcrypt.hashSync("pw", cost)) as PasswordHash]);
for (const [label, hash] of entries) {
  const n = hash.kind === "bcrypt" && hash.cost >= 10 ? 10 : 30;
  await time(`password check: ${label}`, n, () => verifyPassword(hash, "pw"));
}
