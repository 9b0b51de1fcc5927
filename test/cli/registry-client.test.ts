// The registry client against real registries: Skiff under wrangler dev with token auth (https on 127.0.0.1, so
// the client's http → https fallback runs too), distribution 2.8.2 with htpasswd (Basic), and retries against a
// small fault-injecting HTTP server (a stand-in: no real registry fails on cue).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { createRegistryClient, RegistryError } from "../../cli/registry/client";
import { parseChallenges } from "../../cli/registry/challenge";
import { openSource } from "../../cli/sources/index";
import { generateSigningKey, hashPassword } from "../../scripts/lib/credentials";
import { freePort } from "../../scripts/lib/processes";
import { makeOciLayout, type OciImage } from "../support/oci-layout";
import { removeDir, run, startDaemon, tempDir, waitFor } from "../support/proc";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";
import { request } from "../support/http";
import { miniPush } from "./mini-push";

const PW = { bob: "bob-cli-pw", carol: "carol-cli-pw" };
let root: string;
let image: OciImage;

beforeAll(async () => {
  root = await tempDir("cli-client");
  image = await makeOciLayout(path.join(root, "layout"), { layerSizes: [20_000], tag: "v1" });
});
afterAll(async () => {
  await removeDir(root);
});

describe("token auth against Skiff (wrangler dev)", () => {
  let reg: RegistryUnderTest;
  beforeAll(async () => {
    const { privateJwk } = await generateSigningKey("ES256");
    reg = await startSkiffRegistry({
      vars: {
        SKIFF_AUTH: "token",
        AUTH_USERS: [`bob:${await hashPassword(PW.bob)}`, `carol:${await hashPassword(PW.carol)}`].join("\n"),
        AUTH_RULES: JSON.stringify({ rules: [{ repos: ["team/*"], who: ["bob"], actions: ["pull", "push", "delete"] }, { repos: ["team/*"], who: ["carol"], actions: ["pull"] }] }),
        AUTH_SIGNING_KEY: JSON.stringify(privateJwk),
      },
    });
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });
  const tokenRequests = async () => (await reg.requests()).filter((r) => r.path === "/token");

  it("pushes with a password: Bearer challenge, GET realm with Basic, one token per scope set, reused", async () => {
    const client = createRegistryClient({ host: reg.host, credentials: { kind: "basic", username: "bob", password: PW.bob, from: "test" } });
    const before = (await tokenRequests()).length;
    const digest = await miniPush(await openSource(`oci:${image.dir}:v1`), client, "team/app", "v1");
    expect(client.origin).toBe(reg.url); // the http probe fell back to https (wrangler dev speaks TLS only)
    const got = await client.request("/v2/team/app/manifests/v1", { method: "GET", scopes: [{ repo: "team/app", actions: ["pull"] }], headers: { Accept: image.manifest.mediaType } });
    expect(got.status).toBe(200);
    expect(got.headers.get("docker-content-digest")).toBe(digest);
    const tokens = (await tokenRequests()).slice(before);
    // pull,push for the upload and manifests; pull for the GET: two token fetches for 2 blobs + 1 manifest
    expect(tokens.map((t) => `${t.method} ${t.status}`)).toEqual(["GET 200", "GET 200"]);
  });

  it("pushes with an identity token (POST realm, grant_type=refresh_token)", async () => {
    const login = await request(`${reg.url}/token?service=${encodeURIComponent(reg.host)}&offline_token=true&client_id=docker&account=bob`, {
      headers: { Authorization: `Basic ${Buffer.from(`bob:${PW.bob}`).toString("base64")}` },
    });
    const refresh = JSON.parse(login.body.toString()).refresh_token as string;
    expect(refresh).toBeTruthy();
    const client = createRegistryClient({ host: reg.host, credentials: { kind: "identity-token", username: "", token: refresh, from: "test" } });
    const before = (await tokenRequests()).length;
    await miniPush(await openSource(`oci:${image.dir}:v1`), client, "team/other", "v1");
    expect((await tokenRequests()).slice(before).map((t) => `${t.method} ${t.status}`)).toEqual(["POST 200"]);
  });

  it("a wrong password fails at the token endpoint with a message that names the user, not the password", async () => {
    const client = createRegistryClient({ host: reg.host, credentials: { kind: "basic", username: "bob", password: "wrong-pw-xyz", from: "test" } });
    const err = (await client.request("/v2/team/app/tags/list", { method: "GET", scopes: [{ repo: "team/app", actions: ["pull"] }] }).catch((e) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/getting a token from .*\/token as user "bob" from test: 401/);
    expect(err.message).not.toContain("wrong-pw-xyz");
  });

  it("a pull-only user gets the registry's refusal back as the response", async () => {
    const client = createRegistryClient({ host: reg.host, credentials: { kind: "basic", username: "carol", password: PW.carol, from: "test" } });
    const res = await client.request("/v2/team/app/blobs/uploads/", { method: "POST", scopes: [{ repo: "team/app", actions: ["pull", "push"] }] });
    expect([401, 403]).toContain(res.status);
    const ok = await client.request("/v2/team/app/tags/list", { method: "GET", scopes: [{ repo: "team/app", actions: ["pull"] }] });
    expect(ok.status).toBe(200);
  });
});

describe("Basic auth against distribution 2.8.2 (htpasswd)", () => {
  it("answers the Basic challenge, and is refused with a wrong password", async () => {
    const dir = path.join(root, "dist");
    const port = await freePort();
    const line = (await run("htpasswd", ["-nbB", "dan", "dan-pw"])).stdout.trim();
    await run("mkdir", ["-p", dir]);
    await writeFile(path.join(dir, "htpasswd"), line + "\n");
    await writeFile(
      path.join(dir, "config.yml"),
      [
        "version: 0.1",
        "log: { level: warn }",
        `storage: { filesystem: { rootdirectory: ${path.join(dir, "data")} } }`,
        `http: { addr: "127.0.0.1:${port}", secret: local-test-only }`,
        `auth: { htpasswd: { realm: basic-realm, path: ${path.join(dir, "htpasswd")} } }`,
        "",
      ].join("\n"),
    );
    const daemon = startDaemon("docker-registry", ["serve", path.join(dir, "config.yml")], { cwd: dir });
    try {
      await waitFor(() => request(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 401, () => false), "distribution", 20_000, daemon.output);
      const host = `127.0.0.1:${port}`;
      const client = createRegistryClient({ host, credentials: { kind: "basic", username: "dan", password: "dan-pw", from: "test" } });
      await miniPush(await openSource(`oci:${image.dir}:v1`), client, "team/app", "v1");
      expect(client.origin).toBe(`http://${host}`);
      const anon = createRegistryClient({ host, credentials: null });
      expect((await anon.request("/v2/team/app/tags/list", { method: "GET", scopes: [{ repo: "team/app", actions: ["pull"] }] })).status).toBe(401);
      const wrong = createRegistryClient({ host, credentials: { kind: "basic", username: "dan", password: "nope", from: "test" } });
      expect((await wrong.request("/v2/team/app/tags/list", { method: "GET", scopes: [{ repo: "team/app", actions: ["pull"] }] })).status).toBe(401);
    } finally {
      await daemon.stop();
    }
  });
});

describe("retries (a fault-injecting stand-in server)", () => {
  let server: http.Server;
  let host: string;
  const hits: Record<string, number> = {};
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const p = req.url!;
      hits[p] = (hits[p] ?? 0) + 1;
      const n = hits[p];
      if (p === "/v2/") return res.end("{}");
      if (p === "/v2/flaky/tags/list" && n <= 2) return res.writeHead(503).end();
      if (p === "/v2/reset/tags/list" && n === 1) return req.socket.destroy();
      if (p === "/v2/busy/tags/list" && n === 1) return res.writeHead(429, { "Retry-After": "0" }).end();
      if (p === "/v2/down/tags/list") {
        return res.writeHead(500, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNKNOWN", message: "storage is down" }] }));
      }
      if (p === "/v2/once/blobs/uploads/") return res.writeHead(502).end();
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ ok: p }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it("retries 5xx, 429 and reset connections, then answers; gives up after 5 attempts with the OCI message", async () => {
    const client = createRegistryClient({ host, credentials: null, retryBaseMs: 5 });
    const get = (repo: string, retry?: boolean) => client.request(`/v2/${repo}/tags/list`, { method: "GET", scopes: [{ repo, actions: ["pull"] }], retry });
    expect((await get("flaky")).status).toBe(200);
    expect(hits["/v2/flaky/tags/list"]).toBe(3);
    expect((await get("reset")).status).toBe(200);
    expect((await get("busy")).status).toBe(200);
    const err = (await get("down").catch((e) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(500);
    expect(err.code).toBe("UNKNOWN");
    expect(err.message).toMatch(/GET \/v2\/down\/tags\/list on http:\/\/127.0.0.1:\d+: 500 Internal Server Error \(UNKNOWN: storage is down\) after 5 attempts/);
    expect(hits["/v2/down/tags/list"]).toBe(5);
    // retry: false hands the first answer back; the body factory is called once per attempt
    let calls = 0;
    const res = await client.request("/v2/once/blobs/uploads/", { method: "POST", scopes: [], retry: false, body: () => (calls++, "x") });
    expect(res.status).toBe(502);
    expect(calls).toBe(1);
  });
});

describe("WWW-Authenticate parsing", () => {
  it("reads Bearer and Basic challenges with quoted and bare values", () => {
    expect(parseChallenges(['Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push"', "Basic realm=plain"])).toEqual([
      { scheme: "bearer", params: { realm: "https://a/token", service: "reg", scope: "repository:x/y:pull,push" } },
      { scheme: "basic", params: { realm: "plain" } },
    ]);
    expect(parseChallenges(['Basic realm="x", Bearer realm="y\\"z"'])).toEqual([
      { scheme: "basic", params: { realm: "x" } },
      { scheme: "bearer", params: { realm: 'y"z' } },
    ]);
  });
});
