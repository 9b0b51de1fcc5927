// Request log lines under token auth (src/http/observe.ts): the token endpoint's issues and denials with the user
// they concern, the caller of a registry request, and that no password, token, hash or key appears in any line
// the requests below produce. And /_skiff/health answers without a token while /v2/ still asks for one.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import { PASSWORDS } from "./fixtures";
import { basic, bearer, call, form, login, pushImage, tokenUrl, SIGNING_JWK } from "./helpers";
import { SKIFF_VERSION } from "../../src/version";
import { findSecrets } from "../support/log-secrets";

const lines: string[] = [];
beforeAll(() => {
  for (const m of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
});
afterAll(() => vi.restoreAllMocks());

const requestLines = () => lines.flatMap((l) => (l.startsWith("{") && l.includes('"requestId"') ? [JSON.parse(l) as Record<string, any>] : []));
const last = () => requestLines().at(-1)!;
/** Everything secret this project configures: passwords, the signing key's private part, the users' hashes. */
const SECRETS = [
  ...Object.values(PASSWORDS),
  (SIGNING_JWK as Record<string, string>).d,
  ...String((env as unknown as Record<string, string>).AUTH_USERS).split("\n").map((l) => l.slice(l.indexOf(":") + 1)),
];

describe("request log lines under token auth", () => {
  it("token issued (GET Basic, POST password and refresh grants) and denied, with the user, never the credentials", async () => {
    const got = await login("carol", ["repository:team/app:pull"], { offline_token: "true" });
    expect(last()).toMatchObject({ event: "token_issued", route: "/token", method: "GET", status: 200, user: "carol" });

    const wrong = await call(tokenUrl(["repository:team/app:pull"]), { headers: { Authorization: basic("carol", "not-the-password") } });
    expect(wrong.status).toBe(401);
    expect(last()).toMatchObject({ event: "token_denied", level: "warn", status: 401, code: "UNAUTHORIZED", user: "anonymous" });

    const posted = await call("/token", form({ grant_type: "password", username: "robot", password: PASSWORDS.robot, service: "registry.test", access_type: "offline" }));
    expect(posted.status).toBe(200);
    expect(last()).toMatchObject({ event: "token_issued", method: "POST", user: "robot" });

    const refreshed = await call("/token", form({ grant_type: "refresh_token", refresh_token: got.refresh_token!, service: "registry.test" }));
    expect(refreshed.status).toBe(200);
    expect(last()).toMatchObject({ event: "token_issued", user: "carol" });

    const bad = await call("/token", form({ grant_type: "refresh_token", refresh_token: got.refresh_token! + "x", service: "registry.test" }));
    expect(bad.status).toBe(401);
    expect(last()).toMatchObject({ event: "token_denied", user: "anonymous" });

    const text = lines.join("\n");
    for (const t of [got.token, got.refresh_token!, "not-the-password"]) expect(text).not.toContain(t);
  });

  it("a registry request names its caller; a refused one says UNAUTHORIZED or DENIED", async () => {
    const { token } = await login("bob", ["repository:team/logs:pull,push"]);
    const digest = await pushImage(token, "team/logs", "v1");
    expect(last()).toMatchObject({ event: "manifest_put", user: "bob", repository: "team/logs", digest });

    expect((await call("/v2/team/logs/manifests/v1")).status).toBe(401);
    expect(last()).toMatchObject({ status: 401, code: "UNAUTHORIZED", user: "anonymous", repository: "team/logs", event: "challenge", level: "info" });
    const forged = `${token.slice(0, -4)}AAAA`; // a token whose signature does not verify: a refusal, not a handshake
    expect((await call("/v2/team/logs/manifests/v1", { headers: bearer(forged) })).status).toBe(401);
    expect(last()).toMatchObject({ status: 401, code: "UNAUTHORIZED", user: "anonymous", event: "error", level: "warn" });

    const carol = (await login("carol", ["repository:team/logs:pull"])).token;
    expect((await call("/v2/team/logs/manifests/v1", { method: "DELETE", headers: bearer(carol) })).status).toBe(403);
    expect(last()).toMatchObject({ method: "DELETE", status: 403, code: "DENIED", user: "carol" });
    expect((await call("/v2/team/logs/manifests/v1", { headers: bearer(carol) })).status).toBe(200);
    expect(last()).toMatchObject({ event: "manifest_pull", user: "carol" });
    expect(lines.join("\n")).not.toContain(carol);
  });

  it("/_skiff/health answers without a token; /v2/ still asks for one", async () => {
    const res = await call("/_skiff/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", version: SKIFF_VERSION });
    const v2 = await call("/v2/");
    expect(v2.status).toBe(401);
    expect(v2.headers.get("www-authenticate")).toMatch(/^Bearer realm=/);
    // A token is not needed, and one that does not verify changes nothing either.
    expect((await call("/_skiff/health", { headers: bearer("not.a.token") })).status).toBe(200);
  });

  it("no line of this file's requests holds a secret", () => {
    expect(requestLines().length).toBeGreaterThan(10);
    expect(findSecrets(lines.join("\n"), SECRETS)).toEqual([]);
  });
});
