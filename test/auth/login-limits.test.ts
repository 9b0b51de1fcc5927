// Login rate limits (issue 8, section 3): password checks per user name and per client address, on GET /token
// with Basic credentials and on POST /token grant_type=password, answered 429 TOOMANYREQUESTS with Retry-After.
// The api-auth project's own LOGIN_LIMIT_* bindings have a limit so high that the other tests never reach it;
// these tests swap in TEST_TIGHT_LIMIT, a real rate limiting binding (Miniflare's) with limit 5 per 60 s.
import { describe, it, expect, beforeEach, vi } from "vitest";
import { env } from "cloudflare:workers";
import { call, basic, tokenUrl, form, login, expectOciError } from "./helpers";
import { PASSWORDS } from "./fixtures";
import { clientAddressKey } from "../../src/auth/login-limits";

const TIGHT = 5;
const e = env as unknown as Record<string, unknown>;
const tight = { LOGIN_LIMIT_USER: e.TEST_TIGHT_LIMIT, LOGIN_LIMIT_ADDRESS: e.TEST_TIGHT_LIMIT };

/** A random client address (each test its own, so counts never carry over between tests). */
const randomIp = () => `10.${Array.from(crypto.getRandomValues(new Uint8Array(3))).join(".")}`;
const randomName = () => `nobody-${crypto.randomUUID().slice(0, 8)}`;

function getToken(user: string, password: string, ip: string | null, patch: Record<string, unknown> = tight) {
  const headers: Record<string, string> = { Authorization: basic(user, password) };
  if (ip) headers["CF-Connecting-IP"] = ip;
  return call(tokenUrl(["repository:team/app:pull"]), { headers }, patch);
}

function postToken(user: string, password: string, ip: string, patch: Record<string, unknown> = tight) {
  const init = form({ grant_type: "password", username: user, password, service: "registry.test" });
  return call("/token", { ...init, headers: { ...(init.headers as Record<string, string>), "CF-Connecting-IP": ip } }, patch);
}

async function expectLimited(res: Response) {
  const err = await expectOciError(res, 429, "TOOMANYREQUESTS");
  expect(res.headers.get("Retry-After")).toBe("60");
  expect(err.message).toMatch(/try again in 60 seconds/);
  return err;
}

// The binding counts in fixed 60 s windows; start each test well inside one, so no count resets mid-test.
beforeEach(async () => {
  const into = Date.now() % 60_000;
  if (into > 45_000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
}, 30_000); // waits up to 15 s

describe("login rate limits", () => {
  it("limits password checks per user name, from any address, and then refuses even the right password", async () => {
    for (let i = 0; i < TIGHT; i++) expect((await getToken("carol", `guess-${i}`, randomIp())).status).toBe(401);
    await expectLimited(await getToken("carol", `guess-x`, randomIp()));
    await expectLimited(await getToken("carol", PASSWORDS.carol, randomIp()));
    // Other users are not affected; with the project's own (high) limits carol still logs in.
    expect((await getToken("dave", PASSWORDS.dave, randomIp())).status).toBe(200);
    await login("carol");
  });

  it("counts unknown user names like known ones (a 429 does not tell whether a name exists)", async () => {
    const name = randomName();
    for (let i = 0; i < TIGHT; i++) expect((await getToken(name, "pw", randomIp())).status).toBe(401);
    await expectLimited(await getToken(name, "pw", randomIp()));
  });

  it("limits password checks per client address (CF-Connecting-IP), whatever the user names", async () => {
    const ip = randomIp();
    for (let i = 0; i < TIGHT; i++) expect((await getToken(randomName(), "pw", ip)).status).toBe(401);
    await expectLimited(await getToken(randomName(), "pw", ip));
    await expectLimited(await getToken("robot", PASSWORDS.robot, ip));
    expect((await getToken("robot", PASSWORDS.robot, randomIp())).status).toBe(200);
  });

  it("counts an IPv6 client by its /64, since one host usually holds a whole /64", async () => {
    const prefix = `2001:db8:${crypto.getRandomValues(new Uint16Array(1))[0].toString(16)}:1`;
    for (let i = 0; i < TIGHT; i++) expect((await getToken(randomName(), "pw", `${prefix}::${i + 1}`)).status).toBe(401);
    await expectLimited(await getToken(randomName(), "pw", `${prefix}:0:0:0:ffff`));
  });

  it("limits POST /token grant_type=password too, with the same counts as GET", async () => {
    const ip = randomIp();
    for (let i = 0; i < 3; i++) expect((await getToken(randomName(), "pw", ip)).status).toBe(401);
    for (let i = 3; i < TIGHT; i++) expect((await postToken(randomName(), "pw", ip)).status).toBe(401);
    const res = await postToken("alice", PASSWORDS.alice, ip);
    const body = await res.clone().json<Record<string, unknown>>();
    await expectLimited(res);
    expect(body.error).toBe("slow_down");
  });

  it("does not limit the refresh_token grant (a signed token cannot be guessed, and checking one is cheap)", async () => {
    const refresh = (await login("bob", [], { offline_token: "true" })).refresh_token!;
    const ip = randomIp();
    for (let i = 0; i <= TIGHT; i++) await getToken("bob", "wrong", ip);
    await expectLimited(await getToken("bob", PASSWORDS.bob, randomIp()));
    for (let i = 0; i < TIGHT + 2; i++) {
      const init = form({ grant_type: "refresh_token", refresh_token: refresh, service: "registry.test" });
      const res = await call("/token", { ...init, headers: { ...(init.headers as Record<string, string>), "CF-Connecting-IP": ip } }, tight);
      expect(res.status, await res.text()).toBe(200);
    }
  });

  it("does not limit anonymous token requests (no password to check)", async () => {
    const ip = randomIp();
    for (let i = 0; i < TIGHT + 2; i++) {
      const res = await call(tokenUrl(["repository:library/alpine:pull"]), { headers: { "CF-Connecting-IP": ip } }, tight);
      expect(res.status).toBe(200);
    }
  });

  it("counts requests without CF-Connecting-IP (not through Cloudflare's edge) as one shared address", async () => {
    const patch = { LOGIN_LIMIT_USER: e.LOGIN_LIMIT_USER, LOGIN_LIMIT_ADDRESS: e.TEST_TIGHT_LIMIT_2 };
    for (let i = 0; i < TIGHT; i++) expect((await getToken(randomName(), "pw", null, patch)).status).toBe(401);
    await expectLimited(await getToken(randomName(), "pw", null, patch));
    expect((await getToken(randomName(), "pw", randomIp(), patch)).status).toBe(401);
  });

  it("is switched off by AUTH_RATE_LIMIT=off", async () => {
    const ip = randomIp();
    for (let i = 0; i < TIGHT + 2; i++) expect((await getToken("dave", "wrong", ip, { ...tight, AUTH_RATE_LIMIT: "off" })).status).toBe(401);
    expect((await getToken("dave", PASSWORDS.dave, ip, { ...tight, AUTH_RATE_LIMIT: "off" })).status).toBe(200);
  });

  it("answers 503 (the log names the setting) when a binding is missing or AUTH_RATE_LIMIT is not on/off", async () => {
    for (const [patch, named] of [
      [{ LOGIN_LIMIT_USER: undefined }, "LOGIN_LIMIT_USER"],
      [{ LOGIN_LIMIT_ADDRESS: "not a binding" }, "LOGIN_LIMIT_ADDRESS"],
      [{ AUTH_RATE_LIMIT: "sometimes" }, "AUTH_RATE_LIMIT"],
    ] as const) {
      // Clients get the generic answer; the log names the setting.
      const logged = vi.spyOn(console, "error").mockImplementation(() => {});
      try {
        const res = await getToken("dave", PASSWORDS.dave, randomIp(), patch);
        const text = await res.text();
        expect(res.status, text).toBe(503);
        expect(text).toContain("UNAVAILABLE");
        expect(text).not.toContain(named);
        expect(logged.mock.calls.flat().join("\n")).toContain(named);
      } finally {
        logged.mockRestore();
      }
    }
  });
});

describe("clientAddressKey", () => {
  it("keys IPv4 by address, IPv6 by /64 in any spelling, and a missing header as one shared key", () => {
    expect(clientAddressKey("203.0.113.7")).toBe("address:203.0.113.7");
    expect(clientAddressKey(null)).toBe("address:unknown");
    expect(clientAddressKey("  ")).toBe("address:unknown");
    const same = ["2001:db8:0:1::1", "2001:0DB8:0000:0001:ffff:ffff:ffff:ffff", "2001:db8::1:0:0:0:5", "2001:db8:0:1:0:0:1.2.3.4"];
    for (const ip of same) expect(clientAddressKey(ip), ip).toBe("address:2001:db8:0:1::/64");
    expect(clientAddressKey("2001:db8:0:2::1")).toBe("address:2001:db8:0:2::/64");
    expect(clientAddressKey("::1")).toBe("address:0:0:0:0::/64");
    // Not an address (only a misconfigured proxy would send it): counted as given, never a crash.
    expect(clientAddressKey("1:2:3")).toBe("address:1:2:3");
    expect(clientAddressKey("a::b::c")).toBe("address:a::b::c");
  });
});
