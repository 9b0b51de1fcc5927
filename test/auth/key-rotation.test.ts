// Signing key rotation exactly as README "Rotate the signing key" does it, one redeploy per step (each step is an
// env, as after a `wrangler secret` change): before (old key signs), during (new key signs, the old public key taken
// from the registry's own /.well-known/jwks.json is in AUTH_VERIFY_KEYS), after (AUTH_VERIFY_KEYS deleted).
// registry-auth.test.ts checks a hand-signed token against AUTH_VERIFY_KEYS; this follows tokens the token endpoint
// issued, access and refresh (docker's stored identity token), across the whole procedure.
import { describe, it, expect } from "vitest";
import { call, bearer, login, form, decodeHeader, expectOciError, OLD_JWK, SIGNING_JWK, uniq } from "./helpers";
import { SERVICE } from "./fixtures";

// The "old" key is the project's EdDSA test key and the "new" one its ES256 key: a rotation may change algorithm too.
const before = { AUTH_SIGNING_KEY: JSON.stringify(OLD_JWK), AUTH_VERIFY_KEYS: undefined };
const after = { AUTH_SIGNING_KEY: JSON.stringify(SIGNING_JWK), AUTH_VERIFY_KEYS: undefined };

const refreshForm = (refreshToken: string, scope: string) => form({ grant_type: "refresh_token", refresh_token: refreshToken, service: SERVICE, client_id: "docker", scope });

describe("signing key rotation (README 'Rotate the signing key')", () => {
  const repo = uniq("team");
  const scope = `repository:${repo}:pull`;
  const need = `/v2/${repo}/tags/list`;

  it("old tokens work while the old public key is listed, and stop once it is removed; new logins work throughout", async () => {
    // Before: bob logs in as `docker login` does (offline_token: a refresh token comes back).
    const old = await login("bob", [scope], { offline_token: "true", client_id: "docker" }, before);
    expect(decodeHeader(old.token).kid).toBe(OLD_JWK.kid);
    expect(old.refresh_token).toBeTruthy();
    expect((await call(need, { headers: bearer(old.token) }, before)).status).not.toBe(401);

    // Step 1 of the guide: AUTH_VERIFY_KEYS = the keys the running registry publishes.
    const jwks = await (await call("/.well-known/jwks.json", {}, before)).json<{ keys: { kid: string; d?: string }[] }>();
    expect(jwks.keys.map((k) => k.kid)).toEqual([OLD_JWK.kid]);
    expect(jwks.keys.some((k) => "d" in k)).toBe(false);
    const during = { AUTH_SIGNING_KEY: JSON.stringify(SIGNING_JWK), AUTH_VERIFY_KEYS: JSON.stringify(jwks.keys) };

    // During: the configuration is accepted (a bad AUTH_VERIFY_KEYS would make every request a 503)...
    expect((await call("/v2/", { headers: bearer(old.token) }, during)).status).toBe(200);
    // ...the old access token still opens the repository, the old refresh token still gets tokens, now signed by
    // the new key, and a fresh login is signed by the new key.
    expect((await call(need, { headers: bearer(old.token) }, during)).status).not.toBe(401);
    const refreshed = await call("/token", refreshForm(old.refresh_token!, scope), during);
    expect(refreshed.status, await refreshed.clone().text()).toBe(200);
    const refreshedToken = (await refreshed.json<{ token: string }>()).token;
    expect(decodeHeader(refreshedToken).kid).toBe(SIGNING_JWK.kid);
    const fresh = await login("bob", [scope], { offline_token: "true", client_id: "docker" }, during);
    expect(decodeHeader(fresh.token).kid).toBe(SIGNING_JWK.kid);
    const published = await (await call("/.well-known/jwks.json", {}, during)).json<{ keys: { kid: string }[] }>();
    expect(published.keys.map((k) => k.kid).sort()).toEqual([OLD_JWK.kid, SIGNING_JWK.kid].sort());

    // After: the old access token and the old refresh token are refused (docker must log in again); what was
    // issued during the rotation keeps working.
    await expectOciError(await call(need, { headers: bearer(old.token) }, after), 401, "UNAUTHORIZED");
    const refused = await call("/token", refreshForm(old.refresh_token!, scope), after);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toMatch(/unknown key; log in again/);
    expect((await call(need, { headers: bearer(refreshedToken) }, after)).status).not.toBe(401);
    expect((await call("/token", refreshForm(fresh.refresh_token!, scope), after)).status).toBe(200);
  });

  it("listing the current signing key in AUTH_VERIFY_KEYS is refused (why the guide switches both in one step)", async () => {
    const jwks = await (await call("/.well-known/jwks.json", {}, before)).json<{ keys: unknown[] }>();
    const res = await call("/v2/", {}, { ...before, AUTH_VERIFY_KEYS: JSON.stringify(jwks.keys) });
    await expectOciError(res, 503, "UNAVAILABLE");
  });
});
