// The stand-in hash an unknown user is checked against: same kind and cost as the configured users, chosen
// deterministically, never matching any password.
import { describe, it, expect } from "vitest";
import bcrypt from "bcryptjs";
import { hashPasswordPbkdf2, parsePasswordHash, standInHash, verifyPassword, type PasswordHash } from "../../src/auth/passwords";
import { parseAuthSettings } from "../../src/auth/settings";
import { checkPassword } from "../../src/auth/credentials";

const pbkdf2 = async (iterations: number) => parsePasswordHash(await hashPasswordPbkdf2("pw", iterations)) as PasswordHash;
const bcryptOf = (cost: number) => parsePasswordHash(bcrypt.hashSync("pw", cost)) as PasswordHash;
const params = (h: PasswordHash) => (h.kind === "bcrypt" ? { kind: h.kind, cost: h.cost } : { kind: h.kind, iterations: h.iterations });

describe("standInHash", () => {
  it("uses the users' own kind and cost when they all agree", async () => {
    expect(params(standInHash([bcryptOf(10), bcryptOf(10)]))).toEqual({ kind: "bcrypt", cost: 10 });
    expect(params(standInHash([await pbkdf2(10_000)]))).toEqual({ kind: "pbkdf2-sha256", iterations: 10_000 });
    expect(params(standInHash([await pbkdf2(100_000), await pbkdf2(100_000)]))).toEqual({ kind: "pbkdf2-sha256", iterations: 100_000 });
  });

  it("with a mix, takes the most common parameters, and on a tie the most expensive (whatever the order)", async () => {
    const mix = [bcryptOf(5), await pbkdf2(1000), await pbkdf2(1000), bcryptOf(5), await pbkdf2(1000)];
    expect(params(standInHash(mix))).toEqual({ kind: "pbkdf2-sha256", iterations: 1000 });
    const tie = [await pbkdf2(1000), bcryptOf(6), await pbkdf2(50_000)];
    expect(params(standInHash(tie))).toEqual({ kind: "pbkdf2-sha256", iterations: 50_000 });
    expect(params(standInHash([...tie].reverse()))).toEqual({ kind: "pbkdf2-sha256", iterations: 50_000 });
    // bcrypt cost 10 outweighs PBKDF2 100k (relativeCost in src/auth/passwords.ts; figures: README "Setting up auth").
    expect(params(standInHash([await pbkdf2(100_000), bcryptOf(10)]))).toEqual({ kind: "bcrypt", cost: 10 });
  });

  it("with no users, falls back to PBKDF2 at the maximum iterations", () => {
    expect(params(standInHash([]))).toEqual({ kind: "pbkdf2-sha256", iterations: 100_000 });
  });

  it("is a well-formed hash that no password matches, including the empty one", async () => {
    for (const h of [standInHash([bcryptOf(4)]), standInHash([await pbkdf2(1000)])]) {
      if (h.kind === "bcrypt") expect(parsePasswordHash(h.entry)).toMatchObject({ kind: "bcrypt", cost: 4 });
      for (const pw of ["", "pw", "password"]) expect(await verifyPassword(h, pw)).toBe(false);
    }
  });

  it("is made once per parsed configuration (per isolate), not per request", async () => {
    const problems: string[] = [];
    const settings = parseAuthSettings({ SKIFF_AUTH: "token", AUTH_USERS: `bob:${bcrypt.hashSync("pw", 4)}`, AUTH_RATE_LIMIT: "off" }, problems);
    if (settings.mode !== "token") throw new Error("expected token mode");
    expect(params(settings.standIn)).toEqual({ kind: "bcrypt", cost: 4 });
    const before = settings.standIn;
    expect(await checkPassword(settings, "nobody", "pw")).toBeNull();
    expect(await checkPassword(settings, "bob", "pw")).toBe("bob");
    expect(settings.standIn).toBe(before);
  });
});
