// Login timing must not tell which user names exist: an unknown user costs what a wrong password for a known
// user costs, for bcrypt and for PBKDF2 users alike (issue 8, section 4).
import { describe, it, expect } from "vitest";
import bcrypt from "bcryptjs";
import { env } from "cloudflare:workers";
import app from "../../src/index";
import { ORIGIN, basic, tokenUrl } from "./helpers";
import { hashPasswordPbkdf2 } from "../../src/auth/passwords";

const N = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Wall time of `repeat` GET /token with Basic credentials against a Worker whose only users are `users`
 * (workerd's clock ticks in whole milliseconds, so cheap hashes are timed a few at a time).
 */
async function loginMs(workerEnv: object, user: string, password: string, repeat: number): Promise<number> {
  // A timer round trip first and last: workerd advances its clock only at I/O, so this brackets the requests.
  await new Promise((r) => setTimeout(r, 0));
  const t0 = performance.now();
  for (let i = 0; i < repeat; i++) {
    const req = new Request(new URL(tokenUrl(), ORIGIN), { headers: { Authorization: basic(user, password) } });
    const res = await app.fetch(req, workerEnv, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);
    await res.arrayBuffer();
    expect(res.status).toBe(401);
  }
  await new Promise((r) => setTimeout(r, 0));
  return performance.now() - t0;
}

/** Medians of N wrong-password and N unknown-user samples, interleaved so machine load hits both alike. */
async function medians(users: string, known: string, repeat: number): Promise<{ wrong: number; unknown: number }> {
  // One env object for all the requests: the Worker parses it once, as an isolate does.
  const workerEnv = { ...env, AUTH_USERS: users };
  const wrong: number[] = [];
  const unknown: number[] = [];
  await loginMs(workerEnv, known, "warm-up", 1); // JIT, config, key import
  for (let i = 0; i < N; i++) {
    // Alternate which goes first, so neither always runs right after the other's garbage.
    if (i % 2) unknown.push(await loginMs(workerEnv, `nobody-${i}`, `wrong-${i}`, repeat));
    wrong.push(await loginMs(workerEnv, known, `wrong-${i}`, repeat));
    if (!(i % 2)) unknown.push(await loginMs(workerEnv, `nobody-${i}`, `wrong-${i}`, repeat));
  }
  return { wrong: median(wrong), unknown: median(unknown) };
}

describe("login timing", () => {
  const cases: [string, number, () => Promise<string>][] = [
    ["bcrypt cost 10 (htpasswd -B)", 1, async () => `alice:${bcrypt.hashSync("pw", 10)}\nbob:${bcrypt.hashSync("pw2", 10)}`],
    ["PBKDF2 10,000 iterations", 4, async () => `alice:${await hashPasswordPbkdf2("pw", 10_000)}\nbob:${await hashPasswordPbkdf2("pw2", 10_000)}`],
  ];
  for (const [label, repeat, users] of cases) {
    it(`an unknown user costs what a wrong password costs: ${label}`, async () => {
      const m = await medians(await users(), "alice", repeat);
      const ratio = m.unknown / m.wrong;
      console.log(`${label}: median of ${repeat} wrong-password logins ${m.wrong.toFixed(1)} ms, of ${repeat} unknown-user logins ${m.unknown.toFixed(1)} ms, ratio ${ratio.toFixed(2)}`);
      // Wide enough for a loaded 2-core machine; the stand-in of the wrong kind or cost is 5-20x off.
      expect(ratio).toBeGreaterThan(0.6);
      expect(ratio).toBeLessThan(1.6);
    });
  }
});
