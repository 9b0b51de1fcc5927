// The token endpoint: GET (Basic, docker login), POST (OAuth2 password and refresh_token grants), JWKS.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import { call, basic, login, tokenUrl, form, decodePayload, decodeHeader, expectOciError, bearer } from "./helpers";
import { PASSWORDS, SERVICE, ISSUER } from "./fixtures";
import { hashPasswordPbkdf2 } from "../../src/auth/passwords";

const e = env as unknown as Record<string, string>;

/** AUTH_USERS with one user's line replaced (or removed when `line` is null). */
function usersWith(name: string, line: string | null): string {
  return e.AUTH_USERS.split("\n")
    .filter((l) => !l.startsWith(`${name}:`))
    .concat(line ? [line] : [])
    .join("\n");
}

describe("GET /token", () => {
  it("answers an anonymous caller with a token that holds only what anyone may do", async () => {
    const body = await login(null, ["repository:library/alpine:pull,push", "repository:team/app:pull"]);
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBeGreaterThanOrEqual(60);
    expect(Date.parse(body.issued_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(body.refresh_token).toBeUndefined();
    const claims = decodePayload(body.token);
    expect(claims.sub).toBe("");
    expect(claims.access).toEqual([{ type: "repository", name: "library/alpine", actions: ["pull"] }]);
  });

  it("issues the JWT the spec describes: ES256, kid, iss, sub, aud, exp, nbf, iat, jti, access", async () => {
    const { token } = await login("bob", ["repository:team/app:pull,push"]);
    const header = decodeHeader(token);
    expect(header).toMatchObject({ alg: "ES256", typ: "JWT", kid: JSON.parse(e.AUTH_SIGNING_KEY).kid });
    const c = decodePayload(token);
    expect(c).toMatchObject({ iss: ISSUER, sub: "bob", aud: SERVICE, access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }] });
    expect(c.exp - c.iat).toBe(300);
    expect(c.nbf).toBe(c.iat);
    expect(typeof c.jti).toBe("string");
    const again = decodePayload((await login("bob", ["repository:team/app:pull"])).token);
    expect(again.jti).not.toBe(c.jti);
  });

  it("grants the intersection of what was asked and what is allowed; a partial grant is not an error", async () => {
    const carol = decodePayload((await login("carol", ["repository:team/app:pull,push,delete", "repository:other/x:pull"])).token);
    expect(carol.access).toEqual([{ type: "repository", name: "team/app", actions: ["pull"] }]);
    const bob = decodePayload((await login("bob", ["repository:team/app:push,delete"])).token);
    expect(bob.access).toEqual([{ type: "repository", name: "team/app", actions: ["push", "delete"] }]);
    const dave = decodePayload((await login("dave", ["repository:team/app:pull", "repository:library/x:pull"])).token);
    expect(dave.access).toEqual([{ type: "repository", name: "library/x", actions: ["pull"] }]);
  });

  it("gives the catalog scope to admins only", async () => {
    expect(decodePayload((await login("alice", ["registry:catalog:*"])).token).access).toEqual([{ type: "registry", name: "catalog", actions: ["*"] }]);
    expect(decodePayload((await login("bob", ["registry:catalog:*"])).token).access).toEqual([]);
    expect(decodePayload((await login(null, ["registry:catalog:*"])).token).access).toEqual([]);
  });

  it("gives a push-only robot push (with the pull every push needs) on its repositories and nothing else", async () => {
    const c = decodePayload((await login("robot", ["repository:ci/build:pull,push,delete", "repository:team/app:pull"])).token);
    expect(c.access).toEqual([{ type: "repository", name: "ci/build", actions: ["pull", "push"] }]);
  });

  it("takes several scopes in one parameter (space separated) and merges repeats", async () => {
    const c = decodePayload((await login("bob", ["repository:team/a:pull repository:team/b:push", "repository:team/a:push"])).token);
    expect(c.access).toEqual([
      { type: "repository", name: "team/a", actions: ["pull", "push"] },
      { type: "repository", name: "team/b", actions: ["push"] },
    ]);
  });

  it("ignores scopes it cannot parse or names that are not repository names (grants nothing for them)", async () => {
    const c = decodePayload((await login("alice", ["repository:Team/App:pull", "repository:a/../b:pull", "repository:x", "bogus:thing:pull", "repository:ok/one:fly"])).token);
    expect(c.access).toEqual([]);
  });

  it("accepts a name with a registry host and port in it (the grammar allows one ':')", async () => {
    const c = decodePayload((await login("alice", ["repository:localhost:5000/x:pull"])).token);
    // Such a name is not a repository name of this registry, so nothing is granted, and nothing breaks.
    expect(c.access).toEqual([]);
  });

  it("returns a refresh token with offline_token=true for a signed-in user (docker login), none for anonymous", async () => {
    const body = await login("bob", [], { offline_token: "true", client_id: "docker", account: "bob" });
    expect(body.refresh_token).toMatch(/^ey/);
    expect(decodeHeader(body.refresh_token!).typ).toBe("skiff-refresh+jwt");
    expect((await login(null, [], { offline_token: "true" })).refresh_token).toBeUndefined();
  });

  it("checks bcrypt (htpasswd) and PBKDF2 users", async () => {
    for (const user of ["bob", "alice"] as const) expect(decodePayload((await login(user)).token).sub).toBe(user);
  });

  it("answers 401 to a wrong password, an unknown user, and a missing or garbled Basic header", async () => {
    const cases: Record<string, string> = {
      wrongPassword: basic("bob", "nope"),
      unknownUser: basic("mallory", "x"),
      emptyPassword: basic("bob", ""),
      notBase64: "Basic !!!!",
      noColon: "Basic " + btoa("bob"),
      emptyUser: "Basic " + btoa(":pw"),
      badUtf8: "Basic " + btoa("\xff\xfe:\xff"),
      bearerInstead: "Bearer abc",
      schemeOnly: "Basic",
      oversized: "Basic " + "A".repeat(10_000),
    };
    for (const [name, header] of Object.entries(cases)) {
      const res = await call(tokenUrl(["repository:team/app:pull"]), { headers: { Authorization: header } });
      const text = await res.text();
      expect(res.status, `${name}: ${text}`).toBe(401);
      const body = JSON.parse(text);
      expect(body.errors[0].code).toBe("UNAUTHORIZED");
      expect(text).not.toContain("token\":");
    }
  });

  it("refuses another service's name (400)", async () => {
    const res = await call(tokenUrl([], { service: "other.example" }), { headers: { Authorization: basic("bob", PASSWORDS.bob) } });
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toBe("invalid_request");
  });

  it("refuses too many scopes (400), not a 500", async () => {
    const scopes = Array.from({ length: 40 }, (_, i) => `repository:team/r${i}:pull`);
    const res = await call(tokenUrl(scopes));
    expect(res.status).toBe(400);
  });

  it("marks answers as not cacheable", async () => {
    const res = await call(tokenUrl([]));
    expect(res.headers.get("Cache-Control")).toBe("no-store");
  });
});

describe("POST /token", () => {
  it("password grant (containerd): access_token, scope, expires_in, issued_at", async () => {
    const res = await call("/token", form({ grant_type: "password", username: "bob", password: PASSWORDS.bob, service: SERVICE, client_id: "containerd-client", scope: "repository:team/app:pull,push repository:library/x:pull" }));
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.access_token).toMatch(/^ey/);
    expect(body.scope).toBe("repository:team/app:pull,push repository:library/x:pull");
    expect(body.expires_in).toBe(300);
    expect(typeof body.issued_at).toBe("string");
    expect(body.refresh_token).toBeUndefined();
    expect(decodePayload(body.access_token).sub).toBe("bob");
  });

  it("password grant with access_type=offline returns a refresh token; refresh grant (docker identity token) uses it", async () => {
    const first = await (await call("/token", form({ grant_type: "password", username: "carol", password: PASSWORDS.carol, service: SERVICE, client_id: "x", access_type: "offline" }))).json<any>();
    expect(first.refresh_token).toMatch(/^ey/);
    const res = await call("/token", form({ grant_type: "refresh_token", refresh_token: first.refresh_token, service: SERVICE, client_id: "docker", scope: "repository:team/app:pull,push" }));
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.refresh_token).toBe(first.refresh_token);
    expect(body.scope).toBe("repository:team/app:pull");
    expect(decodePayload(body.access_token)).toMatchObject({ sub: "carol", access: [{ type: "repository", name: "team/app", actions: ["pull"] }] });
  });

  it("accepts the refresh token of a GET docker login", async () => {
    const { refresh_token } = await login("bob", [], { offline_token: "true", client_id: "docker" });
    const res = await call("/token", form({ grant_type: "refresh_token", refresh_token: refresh_token!, service: SERVICE, client_id: "docker", scope: "repository:team/app:push" }));
    expect(res.status).toBe(200);
  });

  it("answers 401 to bad credentials, so containerd falls back to GET and reports them", async () => {
    for (const [username, password] of [["bob", "wrong"], ["nobody", "x"]]) {
      const res = await call("/token", form({ grant_type: "password", username, password, service: SERVICE }));
      expect(res.status).toBe(401);
      const body = await res.json<any>();
      expect(body.error).toBe("invalid_grant");
      expect(body.errors[0].code).toBe("UNAUTHORIZED");
    }
  });

  it("answers 400 unsupported_grant_type to an unknown grant and 400 to a missing one", async () => {
    let res = await call("/token", form({ grant_type: "authorization_code", code: "x", service: SERVICE }));
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toBe("unsupported_grant_type");
    res = await call("/token", form({ service: SERVICE }));
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toBe("invalid_request");
  });

  it("answers 400 to a body that is not a form, or too large", async () => {
    let res = await call("/token", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(res.status).toBe(400);
    res = await call("/token", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "grant_type=password&x=" + "a".repeat(20_000) });
    expect(res.status).toBe(400);
  });

  it("rejects garbage, an access token, and a refresh token from another key as refresh tokens", async () => {
    const access = (await login("bob")).token;
    for (const rt of ["garbage", access, access.slice(0, -4) + "AAAA"]) {
      const res = await call("/token", form({ grant_type: "refresh_token", refresh_token: rt, service: SERVICE }));
      expect(res.status, rt.slice(0, 20)).toBe(401);
    }
  });

  it("invalidates refresh tokens when the user's password changes or the user is removed", async () => {
    const { refresh_token } = await login("bob", [], { offline_token: "true" });
    const refresh = (patch?: Record<string, string>) => call("/token", form({ grant_type: "refresh_token", refresh_token: refresh_token!, service: SERVICE }), patch);
    // Same users (a redeploy without changes): still good.
    expect((await refresh({ AUTH_USERS: e.AUTH_USERS })).status).toBe(200);
    // bob's password changed: the refresh token is dead, the new password works.
    const changed = usersWith("bob", `bob:${await hashPasswordPbkdf2("new-pw", 1000)}`);
    const res = await refresh({ AUTH_USERS: changed });
    expect(res.status).toBe(401);
    expect((await res.json<any>()).error_description).toMatch(/removed or changed password/);
    const relog = await call(tokenUrl([]), { headers: { Authorization: basic("bob", "new-pw") } }, { AUTH_USERS: changed });
    expect(relog.status).toBe(200);
    // bob removed: dead too, and so are his access tokens.
    const removed = usersWith("bob", null);
    expect((await refresh({ AUTH_USERS: removed })).status).toBe(401);
    const access = (await login("bob", ["repository:team/app:pull"])).token;
    const res2 = await call("/v2/team/app/tags/list", { headers: bearer(access) }, { AUTH_USERS: removed });
    await expectOciError(res2, 401, "UNAUTHORIZED");
  });
});

describe("GET /.well-known/jwks.json", () => {
  it("publishes the public signing key and the older verification key, and no private members", async () => {
    const res = await call("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    const { keys } = await res.json<{ keys: Record<string, string>[] }>();
    expect(keys.map((k) => k.kid).sort()).toEqual([JSON.parse(e.AUTH_SIGNING_KEY).kid, JSON.parse(e.TEST_OLD_KEY).kid].sort());
    for (const k of keys) {
      expect(k.d).toBeUndefined();
      expect(k.use).toBe("sig");
      expect(["ES256", "EdDSA"]).toContain(k.alg);
    }
  });
});
