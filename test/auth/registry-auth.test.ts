// The registry side: challenges, token checks on every request, access rules, and the attacks on both.
import { describe, it, expect, beforeAll, vi } from "vitest";
import { env } from "cloudflare:workers";
import { SignJWT, importJWK } from "jose";
import { call, bearer, tokenFor, forge, b64url, decodePayload, expectOciError, parseChallenge, pushImage, sha256, uniq, OLD_JWK, SIGNING_JWK, ORIGIN } from "./helpers";
import { SERVICE, ISSUER } from "./fixtures";

const e = env as unknown as Record<string, string>;
const now = () => Math.floor(Date.now() / 1000);

describe("challenges", () => {
  it("GET /v2/ without a token: 401, Bearer challenge with realm and service, OCI UNAUTHORIZED body", async () => {
    const res = await call("/v2/");
    const err = await expectOciError(res, 401, "UNAUTHORIZED");
    expect(err.message).toBeTruthy();
    expect(res.headers.get("WWW-Authenticate")).toBe(`Bearer realm="${ORIGIN}/token",service="${SERVICE}"`);
  });

  it("repository routes ask for the scope they need: pull, pull+push, delete; catalog asks registry:catalog:*", async () => {
    const digest = "sha256:" + "a".repeat(64);
    const cases: [string, RequestInit, string][] = [
      ["/v2/team/app/manifests/v1", {}, "repository:team/app:pull"],
      ["/v2/team/app/tags/list", {}, "repository:team/app:pull"],
      [`/v2/team/app/blobs/${digest}`, { method: "HEAD" }, "repository:team/app:pull"],
      ["/v2/team/app/blobs/uploads/", { method: "POST" }, "repository:team/app:pull,push"],
      ["/v2/team/app/manifests/v1", { method: "PUT", body: "{}" }, "repository:team/app:pull,push"],
      ["/v2/team/app/manifests/v1", { method: "DELETE" }, "repository:team/app:delete"],
      ["/v2/_catalog", {}, "registry:catalog:*"],
    ];
    for (const [path, init, scope] of cases) {
      const res = await call(path, init);
      expect(res.status, path).toBe(401);
      const ch = parseChallenge(res.headers.get("WWW-Authenticate"));
      expect(ch, `${init.method ?? "GET"} ${path}`).toEqual({ realm: `${ORIGIN}/token`, service: SERVICE, scope });
      if (init.method !== "HEAD") expect((await res.json<any>()).errors[0].code).toBe("UNAUTHORIZED");
    }
  });

  it("a token from the token endpoint opens /v2/, for anonymous callers too", async () => {
    for (const user of ["bob", null] as const) {
      const res = await call("/v2/", { headers: bearer(await tokenFor(user)) });
      expect(res.status).toBe(200);
    }
  });
});

describe("access", () => {
  const repo = uniq("team");
  let bobToken: string;
  beforeAll(async () => {
    bobToken = await tokenFor("bob", [`repository:${repo}:pull,push,delete`]);
    await pushImage(bobToken, repo, "v1");
  });

  it("bob (devs) pushes, pulls, lists and deletes in team/*", async () => {
    let res = await call(`/v2/${repo}/tags/list`, { headers: bearer(bobToken) });
    expect(await res.json()).toEqual({ name: repo, tags: ["v1"] });
    res = await call(`/v2/${repo}/manifests/v1`, { headers: bearer(bobToken) });
    expect(res.status).toBe(200);
    const digest = await pushImage(bobToken, repo, "gone", "2");
    res = await call(`/v2/${repo}/manifests/${digest}`, { method: "DELETE", headers: bearer(bobToken) });
    expect(res.status).toBe(202);
  });

  it("carol (pull only) pulls; her push is denied with 403 DENIED naming what she may not do", async () => {
    const t = await tokenFor("carol", [`repository:${repo}:pull,push`]);
    expect((await call(`/v2/${repo}/manifests/v1`, { headers: bearer(t) })).status).toBe(200);
    const res = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST", headers: bearer(t) });
    const err = await expectOciError(res, 403, "DENIED");
    expect(err.message).toContain(`carol may not pull+push ${repo}`);
    const del = await call(`/v2/${repo}/manifests/v1`, { method: "DELETE", headers: bearer(t) });
    await expectOciError(del, 403, "DENIED");
  });

  it("a pull token used to push: 401 insufficient_scope when the user may push (ask again), with the needed scope", async () => {
    const t = await tokenFor("bob", [`repository:${repo}:pull`]);
    const res = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST", headers: bearer(t) });
    await expectOciError(res, 401, "UNAUTHORIZED");
    expect(parseChallenge(res.headers.get("WWW-Authenticate"))).toEqual({ realm: `${ORIGIN}/token`, service: SERVICE, scope: `repository:${repo}:pull,push`, error: "insufficient_scope" });
  });

  it("anonymous pulls public repositories and nothing else; anonymous push is told to authenticate", async () => {
    const pub = uniq("library");
    await pushImage(await tokenFor("alice", [`repository:${pub}:pull,push`]), pub, "latest");
    const anon = await tokenFor(null, [`repository:${pub}:pull,push`, `repository:${repo}:pull`]);
    expect((await call(`/v2/${pub}/manifests/latest`, { headers: bearer(anon) })).status).toBe(200);
    const push = await call(`/v2/${pub}/blobs/uploads/`, { method: "POST", headers: bearer(anon) });
    await expectOciError(push, 401, "UNAUTHORIZED");
    expect(parseChallenge(push.headers.get("WWW-Authenticate")).error).toBe("insufficient_scope");
    await expectOciError(await call(`/v2/${repo}/manifests/v1`, { headers: bearer(anon) }), 401, "UNAUTHORIZED");
  });

  it("dave (no rules) gets 403 on team/*, pulls public repositories", async () => {
    const t = await tokenFor("dave", [`repository:${repo}:pull`]);
    await expectOciError(await call(`/v2/${repo}/manifests/v1`, { headers: bearer(t) }), 403, "DENIED");
  });

  it("the push-only robot pushes to ci/* and may not read or write elsewhere", async () => {
    const ci = uniq("ci");
    const t = await tokenFor("robot", [`repository:${ci}:pull,push`]);
    await pushImage(t, ci, "build-1");
    const other = await tokenFor("robot", [`repository:${repo}:pull,push`]);
    await expectOciError(await call(`/v2/${repo}/manifests/v1`, { headers: bearer(other) }), 403, "DENIED");
    await expectOciError(await call(`/v2/${ci}/manifests/build-1`, { method: "DELETE", headers: bearer(t) }), 403, "DENIED");
  });

  it("the catalog is for admins: alice lists it, bob gets 403", async () => {
    const a = await call("/v2/_catalog", { headers: bearer(await tokenFor("alice", ["registry:catalog:*"])) });
    expect(a.status).toBe(200);
    expect((await a.json<any>()).repositories).toContain(repo);
    await expectOciError(await call("/v2/_catalog", { headers: bearer(await tokenFor("bob", ["registry:catalog:*"])) }), 403, "DENIED");
  });

  it("a token for repository A does not work on B, however B is spelled", async () => {
    const other = uniq("team");
    await pushImage(await tokenFor("bob", [`repository:${other}:pull,push`]), other, "v1");
    const carolA = await tokenFor("carol", [`repository:${repo}:pull`]);
    const [prefix, leaf] = other.split("/");
    const names = [
      other,
      other.toUpperCase(),
      `${repo}/../${leaf}`,
      `${repo}%2F..%2F..%2F${other.replace("/", "%2F")}`,
      `${repo}/%2e%2e/%2e%2e/${other}`,
      `${prefix}%2F${leaf}`,
      `${repo}%00`,
      `${repo}/`,
      `${repo}%2F`,
      `${repo.toUpperCase()}`,
    ];
    for (const name of names) {
      const res = await call(`/v2/${name}/manifests/v1`, { headers: bearer(carolA) });
      // Either the name is refused (400 NAME_INVALID), or it is B and the token does not cover it (401),
      // or it normalised into a path that has no route (404). Never 200.
      expect([400, 401, 404], `${name} -> ${res.status}`).toContain(res.status);
      expect(res.status, name).not.toBe(200);
    }
    // The encoded spelling of A itself is A: the name authorized is the name served.
    const [p, l] = repo.split("/");
    expect((await call(`/v2/${p}%2F${l}/manifests/v1`, { headers: bearer(carolA) })).status).toBe(200);
  });

  it("an upload session of bob cannot be continued by alice (admin) or by carol", async () => {
    const start = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST", headers: bearer(bobToken) });
    expect(start.status).toBe(202);
    const location = start.headers.get("Location")!;
    const data = new TextEncoder().encode("chunk of bob");
    const alice = await tokenFor("alice", [`repository:${repo}:pull,push`]);
    const patch = await call(location, { method: "PATCH", headers: { ...bearer(alice), "Content-Type": "application/octet-stream" }, body: data });
    await expectOciError(patch, 404, "BLOB_UPLOAD_UNKNOWN");
    const put = await call(`${location}?digest=${await sha256(data)}`, { method: "PUT", headers: bearer(alice), body: data });
    await expectOciError(put, 404, "BLOB_UPLOAD_UNKNOWN");
    // bob himself continues it.
    const own = await call(`${location}?digest=${await sha256(data)}`, { method: "PUT", headers: bearer(bobToken), body: data });
    expect(own.status).toBe(201);
  });

  it("mounting from a repository the token cannot read falls back to a plain upload (202), never copies", async () => {
    const secret = uniq("team");
    const aliceT = await tokenFor("alice", [`repository:${secret}:pull,push`]);
    const blob = new TextEncoder().encode("secret layer");
    const d = await sha256(blob);
    expect((await call(`/v2/${secret}/blobs/uploads/?digest=${d}`, { method: "POST", headers: { ...bearer(aliceT), "Content-Length": String(blob.length) }, body: blob })).status).toBe(201);
    const ci = uniq("ci");
    const robot = await tokenFor("robot", [`repository:${ci}:pull,push`, `repository:${secret}:pull`]);
    const res = await call(`/v2/${ci}/blobs/uploads/?mount=${d}&from=${secret}`, { method: "POST", headers: bearer(robot) });
    expect(res.status).toBe(202);
    expect((await call(`/v2/${ci}/blobs/${d}`, { method: "HEAD", headers: bearer(robot) })).status).toBe(404);
    // bob may read `secret`: his mount works.
    const bobT = await tokenFor("bob", [`repository:${repo}:pull,push`, `repository:${secret}:pull`]);
    expect((await call(`/v2/${repo}/blobs/uploads/?mount=${d}&from=${secret}`, { method: "POST", headers: bearer(bobT) })).status).toBe(201);
  });
});

describe("attacks on the token", () => {
  const repo = "team/app";
  const need = `/v2/${repo}/tags/list`;
  async function rejected(token: string, why: string) {
    const res = await call(need, { headers: bearer(token) });
    const text = await res.text();
    expect(res.status, `${why}: ${text}`).toBe(401);
    expect(JSON.parse(text).errors[0].code, why).toBe("UNAUTHORIZED");
    expect(parseChallenge(res.headers.get("WWW-Authenticate")).error, why).toBe("invalid_token");
  }

  it("a well-formed forged token with the real key is accepted (the baseline the attacks change)", async () => {
    const res = await call(need, { headers: bearer(await forge()) });
    expect([200, 404]).toContain(res.status);
  });

  it("expired and not-yet-valid tokens (beyond the 30 s leeway)", async () => {
    await rejected(await forge({ claims: { exp: now() - 31, iat: now() - 400, nbf: now() - 400 } }), "expired");
    await rejected(await forge({ claims: { nbf: now() + 120 } }), "not yet valid");
    // Within the leeway, both pass.
    expect((await call(need, { headers: bearer(await forge({ claims: { exp: now() - 5 } })) })).status).not.toBe(401);
  });

  it("wrong audience, wrong issuer, missing claims", async () => {
    await rejected(await forge({ claims: { aud: "other.example" } }), "audience");
    await rejected(await forge({ claims: { iss: "someone-else" } }), "issuer");
    for (const claim of ["exp", "nbf", "iat", "jti", "sub"]) await rejected(await forge({ drop: [claim] }), `missing ${claim}`);
  });

  it("unknown kid, missing kid, and a key that is not ours", async () => {
    await rejected(await forge({ header: { kid: "nope" } }), "unknown kid");
    await rejected(await forge({ header: { kid: undefined } }), "missing kid");
    const { generateKeyPair, exportJWK } = await import("jose");
    const k = await generateKeyPair("ES256", { extractable: true });
    const stranger = { ...(await exportJWK(k.privateKey)), alg: "ES256", kid: SIGNING_JWK.kid };
    await rejected(await forge({ jwk: stranger }), "foreign key with our kid");
  });

  it("alg none", async () => {
    const header = b64url(JSON.stringify({ alg: "none", typ: "JWT", kid: SIGNING_JWK.kid }));
    const payload = (await forge()).split(".")[1];
    await rejected(`${header}.${payload}.`, "alg none, empty signature");
    await rejected(`${header}.${payload}`, "alg none, no signature part");
  });

  it("HMAC token signed with the public key as the secret", async () => {
    const { d: _d, ...pub } = SIGNING_JWK as Record<string, string>;
    const secrets = [JSON.stringify(pub), JSON.stringify(SIGNING_JWK), pub.x];
    for (const s of secrets) {
      const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(s), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const token = await new SignJWT({ iss: ISSUER, sub: "alice", aud: SERVICE, iat: now(), nbf: now(), exp: now() + 300, jti: "x", access: [{ type: "repository", name: repo, actions: ["pull"] }] })
        .setProtectedHeader({ alg: "HS256", kid: SIGNING_JWK.kid, typ: "JWT" })
        .sign(key);
      await rejected(token, "HS256 with public key");
    }
  });

  it("a key of the wrong type for the algorithm: RS256/EdDSA headers on our ES256 kid, ES256 on the EdDSA kid", async () => {
    const good = await forge();
    const [, payload, sig] = good.split(".");
    for (const alg of ["RS256", "EdDSA", "ES384", "PS256"]) {
      await rejected(`${b64url(JSON.stringify({ alg, kid: SIGNING_JWK.kid, typ: "JWT" }))}.${payload}.${sig}`, `alg ${alg}`);
    }
    await rejected(`${b64url(JSON.stringify({ alg: "ES256", kid: OLD_JWK.kid, typ: "JWT" }))}.${payload}.${sig}`, "ES256 on EdDSA kid");
  });

  it("a tampered payload (access widened, subject changed) with the original signature", async () => {
    const good = await forge({ claims: { sub: "carol", access: [{ type: "repository", name: repo, actions: ["pull"] }] } });
    const [h, p, s] = good.split(".");
    const claims = decodePayload(good);
    for (const change of [{ access: [{ type: "repository", name: repo, actions: ["pull", "push"] }] }, { sub: "alice" }, { exp: claims.exp + 3600 }]) {
      await rejected(`${h}.${b64url(JSON.stringify({ ...claims, ...change }))}.${s}`, `tampered ${Object.keys(change)}`);
    }
    // A flipped signature bit.
    const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
    await rejected(`${h}.${p}.${flipped}`, "tampered signature");
  });

  it("a refresh token used as an access token", async () => {
    const res = await call(`/token?service=${SERVICE}&offline_token=true`, { headers: { Authorization: "Basic " + btoa("bob:bob-dev-pw") } });
    const { refresh_token } = await res.json<any>();
    await rejected(refresh_token, "refresh token as access token");
  });

  it("garbage, empty, oversized and odd Authorization headers: 401, never 500", async () => {
    const headers = ["Bearer", "Bearer ", "Bearer a.b", "Bearer a.b.c", "Bearer ...", "Bearer " + "A".repeat(9000), "Bearer " + "eyJ".repeat(4000) + ".x.y", "Bearer ey.ey.ey extra", "Bearer \u00e9"];
    for (const h of headers) {
      const res = await call(need, { headers: { Authorization: h } });
      expect(res.status, h.slice(0, 30)).toBe(401);
      expect((await res.json<any>()).errors[0].code).toBe("UNAUTHORIZED");
    }
    const basicRes = await call(need, { headers: { Authorization: "Basic " + btoa("bob:bob-dev-pw") } });
    expect(basicRes.status).toBe(401);
    expect(parseChallenge(basicRes.headers.get("WWW-Authenticate")).scope).toBe(`repository:${repo}:pull`);
  });

  it("a malformed access claim makes the whole token invalid", async () => {
    for (const access of ["all", [{ type: "repository", name: repo, actions: "pull" }], [null], [{ type: "repository", actions: ["pull"] }]]) {
      await rejected(await forge({ claims: { access } }), `access ${JSON.stringify(access)}`);
    }
  });

  it("tokens signed by the previous key (AUTH_VERIFY_KEYS) are still accepted while keys rotate", async () => {
    const res = await call(need, { headers: bearer(await forge({ jwk: OLD_JWK })) });
    expect([200, 404]).toContain(res.status);
    // ...but not once that key is dropped from the list.
    const dropped = await call(need, { headers: bearer(await forge({ jwk: OLD_JWK })) }, { AUTH_VERIFY_KEYS: "[]" });
    expect(dropped.status).toBe(401);
  });

  it("the token's subject is the upload owner: a token naming another subject is a different owner", async () => {
    const t = await tokenFor("bob", [`repository:${repo}:pull,push`]);
    expect(decodePayload(t).sub).toBe("bob");
  });
});

describe("configuration", () => {
  it("a deployment with no users denies every request and says why", async () => {
    const res = await call("/v2/", {}, { AUTH_USERS: undefined });
    const err = await expectOciError(res, 401, "UNAUTHORIZED");
    expect(err.message).toMatch(/no users are configured/);
    const tok = await call("/token", { headers: { Authorization: "Basic " + btoa("bob:bob-dev-pw") } }, { AUTH_USERS: "" });
    expect(tok.status).toBe(401);
    // A token issued before is worthless there too.
    const t = await tokenFor("alice", ["repository:team/app:pull"]);
    expect((await call("/v2/team/app/tags/list", { headers: bearer(t) }, { AUTH_USERS: "" })).status).toBe(401);
  });

  it("SKIFF_AUTH=open is the explicit open mode: no token needed, /token says so", async () => {
    expect((await call("/v2/", {}, { SKIFF_AUTH: "open" })).status).toBe(200);
    expect((await call("/token", {}, { SKIFF_AUTH: "open" })).status).toBe(404);
  });

  it("bad settings: the log names the setting and the problem; clients get a generic 503", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ AUTH_RULES: "{not json" }, /AUTH_RULES is not valid JSON/],
      [{ AUTH_RULES: JSON.stringify({ rules: [{ repos: ["team/*"], who: ["@nogroup"], actions: ["pull"] }] }) }, /AUTH_RULES.rules\[0\].who\[0\] is an unknown "@group"/],
      [{ AUTH_RULES: JSON.stringify({ rules: [{ repos: ["Team/*"], who: ["bob"], actions: ["pull"] }] }) }, /AUTH_RULES.rules\[0\].repos\[0\] is not a repository name/],
      [{ AUTH_RULES: JSON.stringify({ rules: [{ repos: ["x"], who: ["bob"], actions: ["write"] }] }) }, /AUTH_RULES.rules\[0\].actions\[0\] is an unknown action/],
      [{ AUTH_RULES: JSON.stringify({ admin: ["bob"] }) }, /AUTH_RULES: key no. 1 of 1 is unknown/],
      [{ AUTH_USERS: "bob:plaintext-password" }, /AUTH_USERS entry 1: not a recognised hash/],
      [{ AUTH_USERS: "bob:$apr1$abc$def" }, /only bcrypt htpasswd entries/],
      [{ AUTH_SIGNING_KEY: "nope" }, /AUTH_SIGNING_KEY is not valid JSON/],
      [{ AUTH_SIGNING_KEY: JSON.stringify({ ...SIGNING_JWK, alg: "HS256" }) }, /AUTH_SIGNING_KEY.alg must be one of/],
      [{ AUTH_SIGNING_KEY: JSON.stringify({ ...SIGNING_JWK, alg: "EdDSA" }) }, /EdDSA needs an Ed25519 key/],
      [{ AUTH_SIGNING_KEY: JSON.stringify({ ...SIGNING_JWK, d: undefined }) }, /must be a private key/],
      [{ AUTH_SIGNING_KEY: undefined as unknown as string }, /AUTH_SIGNING_KEY is required/],
      [{ AUTH_VERIFY_KEYS: JSON.stringify([SIGNING_JWK]) }, /holds private key material/],
      [{ AUTH_TOKEN_TTL_SECONDS: "5" }, /AUTH_TOKEN_TTL_SECONDS must be an integer from 60 to 3600/],
      [{ SKIFF_AUTH: "tokens" }, /SKIFF_AUTH must be "open" or "token"/],
    ];
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const [patch, re] of cases) {
        errors.mockClear();
        const res = await call("/v2/", {}, patch);
        const text = await res.text();
        expect(res.status, text).toBe(503);
        expect(JSON.parse(text).errors).toEqual([{ code: "UNAVAILABLE", message: "registry misconfigured, see the logs" }]);
        // Log lines are JSON (src/observability/log.ts): match the decoded message, check secrets in both forms.
        const raw = errors.mock.calls.map((args) => args.join(" ")).join("\n");
        const logged = `${raw}\n${errors.mock.calls.map((args) => JSON.parse(String(args[0])).message).join("\n")}`;
        expect(logged).toMatch(re);
        for (const secret of [(SIGNING_JWK as Record<string, string>).d, "plaintext-password", "nogroup", "Team/", '"write"', '"admin"']) expect(logged).not.toContain(secret);
      }
    } finally {
      errors.mockRestore();
    }
  });

  it("EdDSA and RS256 signing keys work end to end", async () => {
    for (const alg of ["EdDSA", "RS256"] as const) {
      const { generateKeyPair, exportJWK } = await import("jose");
      const k = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
      const jwk = { ...(await exportJWK(k.privateKey)), alg, kid: `test-${alg}` };
      const patch = { AUTH_SIGNING_KEY: JSON.stringify(jwk) };
      const res = await call(`/token?service=${SERVICE}&scope=repository:team/app:pull`, { headers: { Authorization: "Basic " + btoa("bob:bob-dev-pw") } }, patch);
      const { token } = await res.json<any>();
      expect(JSON.parse(atob(token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).alg).toBe(alg);
      const ok = await call("/v2/team/app/tags/list", { headers: bearer(token) }, patch);
      expect([200, 404], alg).toContain(ok.status);
      // The ES256 deployment does not know this key.
      expect((await call("/v2/team/app/tags/list", { headers: bearer(token) })).status).toBe(401);
      void importJWK;
    }
  });
});
