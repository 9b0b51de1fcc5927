// Login rate limits with real clients against `wrangler dev` (started as `npm start` starts it, so with the
// rate limiting bindings and limits of wrangler.toml): wrong passwords again and again end in a message that says
// the client was rate limited and how long to wait, and then even the right password is refused for a while.
import { describe, expect, beforeAll, afterAll } from "vitest";
import path from "node:path";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";
import { startDockerd, type DockerEngine } from "../support/docker";
import { ContainerTools, itWith, missingTools } from "../support/clients";
import { removeDir, tempDir } from "../support/proc";
import { generateSigningKey, hashPassword } from "../../scripts/lib/credentials";

const PW = { bob: "bob-limits-pw", carol: "carol-limits-pw" };
/** wrangler.toml's LOGIN_LIMIT_USER: password checks per user name per minute. */
const USER_LIMIT = 30;
const LIMITED = /too many login attempts for this user name or from this address; try again in 60 seconds/;

/**
 * Waits for the start of a fresh minute. The local rate limiter (Miniflare's) counts in fixed windows aligned to the
 * clock's minutes, so a run of attempts that crosses a minute boundary starts counting again halfway; the tests
 * count exactly, so each starts at the beginning of a window.
 */
async function startOfFreshWindow(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 2_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200));
}

describe("login rate limits with real clients", () => {
  let reg: RegistryUnderTest;
  let engine: DockerEngine | undefined;
  let tools: ContainerTools;
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir("limits-e2e");
    const { privateJwk } = await generateSigningKey("ES256");
    reg = await startSkiffRegistry({
      vars: {
        SKIFF_AUTH: "token",
        // PBKDF2 with 1,000 iterations: the test is about counting, not about the hash's cost.
        AUTH_USERS: [`bob:${await hashPassword(PW.bob, 1000)}`, `carol:${await hashPassword(PW.carol, 1000)}`].join("\n"),
        AUTH_RULES: JSON.stringify({ admins: ["bob"] }),
        AUTH_SIGNING_KEY: JSON.stringify(privateJwk),
      },
    });
    tools = await new ContainerTools(path.join(dir, "tools")).init();
    if (!missingTools(["docker"]).length) engine = await startDockerd();
  }, 120_000);

  afterAll(async () => {
    await engine?.stop();
    await reg?.stop();
    if (dir) await removeDir(dir);
  });

  itWith(["docker"], "docker login: wrong passwords end in a clear rate-limit message; then the right one is refused too", async () => {
    const d = engine!.docker;
    const login = (pw: string) => d(["login", "-u", "bob", "--password-stdin", reg.host], { input: pw, allowFail: true });
    let out = "";
    let attempts = 0;
    await startOfFreshWindow();
    for (; attempts <= USER_LIMIT + 1; attempts++) {
      const r = await login(`guess-${attempts}`);
      expect(r.code).not.toBe(0);
      out = r.stderr + r.stdout;
      if (!/incorrect username or password/.test(out)) break;
    }
    console.log(`docker login, attempt ${attempts + 1}: ${out.trim()}`);
    expect(attempts).toBe(USER_LIMIT);
    expect(out).toMatch(LIMITED);
    const right = await login(PW.bob);
    expect(right.code).not.toBe(0);
    expect(right.stderr).toMatch(LIMITED);
    const logged = (await reg.requests()).filter((r) => r.method === "GET" && r.path === "/token" && r.status === 429);
    expect(logged.length).toBeGreaterThanOrEqual(2);
  }, 300_000);

  itWith(["podman"], "podman login: wrong passwords end in a rate-limit error", async () => {
    const tls = "--tls-verify=false";
    let out = "";
    await startOfFreshWindow();
    for (let i = 0; i <= USER_LIMIT + 1; i++) {
      const r = await tools.podman(["login", tls, "-u", "carol", "-p", `guess-${i}`, reg.host], { allowFail: true });
      expect(r.code).not.toBe(0);
      out = r.stderr + r.stdout;
      if (!/invalid username\/password|unauthorized/i.test(out)) break;
    }
    console.log(`podman login, when limited: ${out.trim()}`);
    expect(out).toMatch(/too many requests/i);
  }, 300_000);
});
