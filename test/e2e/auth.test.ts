// Token auth with real clients against `wrangler dev` (started exactly as `npm start` starts it, with auth set
// through worker variables): docker login (GET flow with Basic, then the identity token through POST refresh),
// push and pull; a push docker reports as denied; anonymous pull of a public repository; podman and skopeo login,
// push and pull; containerd (`ctr -u`) with the POST password grant.
import { describe, expect, beforeAll, afterAll } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";
import { startDockerd, type DockerEngine } from "../support/docker";
import { ContainerTools, ctrRegistryArgs, itWith, missingTools } from "../support/clients";
import { removeDir, run, tempDir } from "../support/proc";
import { request } from "../support/http";
import { generateSigningKey, hashPassword } from "../../scripts/lib/credentials";
import { recordSecrets } from "../../scripts/lib/log-capture";
import { banner, startSkiff } from "../../scripts/lib/dev-server";
import { freePort } from "../../scripts/lib/processes";

const PW = { alice: "alice-e2e-pw", bob: "bob-e2e-pw", carol: "carol-e2e-pw" };
const RULES = {
  admins: ["alice"],
  public: ["library/*"],
  rules: [
    { repos: ["team/*"], who: ["bob"], actions: ["pull", "push", "delete"] },
    { repos: ["team/*"], who: ["carol"], actions: ["pull"] },
  ],
};

/** Worker variables: alice from the real `htpasswd -B` (bcrypt), bob and carol from `npm run user` (PBKDF2). */
async function authVars(): Promise<Record<string, string>> {
  // htpasswd hashes alice's password outside credentials.ts: list it for the end-to-end log check.
  recordSecrets([PW.alice]);
  const alice = (await run("htpasswd", ["-nbBC", "10", "alice", PW.alice])).stdout.trim();
  const { privateJwk } = await generateSigningKey("ES256");
  return {
    SKIFF_AUTH: "token",
    AUTH_USERS: [alice, `bob:${await hashPassword(PW.bob)}`, `carol:${await hashPassword(PW.carol)}`].join("\n"),
    AUTH_RULES: JSON.stringify(RULES),
    AUTH_SIGNING_KEY: JSON.stringify(privateJwk),
  };
}

describe("token auth with real clients", () => {
  let reg: RegistryUnderTest;
  let engine: DockerEngine | undefined;
  let tools: ContainerTools;
  let dir: string;
  const count = async (method: string, p: string, status?: number) => (await reg.requests()).filter((r) => r.method === method && r.path === p && (status === undefined || r.status === status)).length;

  beforeAll(async () => {
    dir = await tempDir("auth-e2e");
    reg = await startSkiffRegistry({ vars: await authVars() });
    tools = await new ContainerTools(path.join(dir, "tools")).init();
    if (!missingTools(["docker"]).length) engine = await startDockerd();
  }, 120_000);

  afterAll(async () => {
    if (process.env.SKIFF_AUTH_E2E_LOG) console.log((await reg?.requests())?.map((r) => `${r.method} ${r.path} ${r.status}`).join("\n"));
    await engine?.stop();
    await reg?.stop();
    if (dir) await removeDir(dir);
  });

  itWith([], "a request without a token gets the Bearer challenge that names this registry's token endpoint", async () => {
    const res = await request(`${reg.url}/v2/team/app/tags/list`);
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe(`Bearer realm="${reg.url}/token",service="${reg.host}",scope="repository:team/app:pull"`);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe("UNAUTHORIZED");
  });

  itWith(["docker"], "docker: push refused before login; login (GET + Basic) stores an identity token; push and pull use it (POST refresh)", async () => {
    const d = engine!.docker;
    const ctx = path.join(dir, "ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, "hello.txt"), `hello from the auth e2e test ${Date.now()}\n`);
    await writeFile(path.join(ctx, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
    const ref = `${reg.host}/team/app:v1`;
    await d(["build", "-q", "-t", ref, ctx], { env: { DOCKER_BUILDKIT: "0" } });

    const anon = await d(["push", ref], { allowFail: true });
    expect(anon.code).not.toBe(0);
    // Anonymous callers get a token without push; docker words that as its usual "denied" message.
    expect(anon.stderr + anon.stdout).toMatch(/denied: requested access to the resource is denied|authentication required/i);

    const wrong = await d(["login", "-u", "bob", "--password-stdin", reg.host], { input: "not-the-password", allowFail: true });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/incorrect username or password/);

    const getsBefore = await count("GET", "/token", 200);
    const login = await d(["login", "-u", "bob", "--password-stdin", reg.host], { input: PW.bob });
    expect(login.stdout).toMatch(/Login Succeeded/);
    expect(await count("GET", "/token", 200)).toBe(getsBefore + 1);
    const config = JSON.parse(await readFile(path.join(engine!.dir, "dockercfg", "config.json"), "utf8"));
    // The refresh token became docker's identity token: docker keeps the user name, not the password.
    expect(config.auths[reg.host].identitytoken).toMatch(/^ey/);
    expect(Buffer.from(config.auths[reg.host].auth, "base64").toString()).toBe("bob:");

    const postsBefore = await count("POST", "/token", 200);
    const getsBeforePush = await count("GET", "/token");
    await d(["push", ref]);
    expect(await count("POST", "/token", 200)).toBeGreaterThan(postsBefore);
    expect(await count("GET", "/token")).toBe(getsBeforePush);

    await d(["rmi", ref]);
    await d(["pull", ref]);
    const tags = await request(`${reg.url}/v2/team/app/tags/list`);
    expect(tags.status).toBe(401);
  }, 300_000);

  itWith(["docker"], "docker: a push without the right is reported as denied", async () => {
    const d = engine!.docker;
    await d(["login", "-u", "carol", "--password-stdin", reg.host], { input: PW.carol });
    const ref = `${reg.host}/team/app:v1`;
    await d(["pull", ref]);
    const target = `${reg.host}/team/carol:v1`;
    await d(["tag", ref, target]);
    const push = await d(["push", target], { allowFail: true });
    expect(push.code).not.toBe(0);
    expect(push.stderr + push.stdout).toMatch(/denied: requested access to the resource is denied: user carol may not pull\+push team\/carol/);
    await d(["rmi", target]);
  }, 300_000);

  itWith(["docker"], "docker: anonymous pull of a public repository works; of a private one it does not", async () => {
    const d = engine!.docker;
    await d(["login", "-u", "alice", "--password-stdin", reg.host], { input: PW.alice });
    const pub = `${reg.host}/library/hello:v1`;
    await d(["tag", `${reg.host}/team/app:v1`, pub]);
    await d(["push", pub]);
    await d(["logout", reg.host]);
    await d(["rmi", pub, `${reg.host}/team/app:v1`]);
    await d(["pull", pub]);
    const priv = await d(["pull", `${reg.host}/team/app:v1`], { allowFail: true });
    expect(priv.code).not.toBe(0);
    expect(priv.stderr).toMatch(/pull access denied|unauthorized|authentication required/i);
  }, 300_000);

  itWith(["podman", "docker"], "podman: login, pull, push, and refused after logout", async () => {
    const tls = "--tls-verify=false";
    const bad = await tools.podman(["login", tls, "-u", "bob", "-p", "wrong", reg.host], { allowFail: true });
    expect(bad.code).not.toBe(0);
    await tools.podman(["login", tls, "-u", "bob", "-p", PW.bob, reg.host]);
    await tools.podman(["pull", tls, `${reg.host}/team/app:v1`]);
    await tools.podman(["tag", `${reg.host}/team/app:v1`, `${reg.host}/team/podman:v1`]);
    await tools.podman(["push", tls, `${reg.host}/team/podman:v1`]);
    await tools.podman(["logout", reg.host]);
    const anon = await tools.podman(["push", tls, `${reg.host}/team/podman:v2`], { allowFail: true });
    expect(anon.code).not.toBe(0);
  }, 300_000);

  itWith(["skopeo", "docker"], "skopeo: login, copy from and to the registry, inspect", async () => {
    const out = path.join(dir, "skopeo-dir");
    await tools.skopeo(["login", "--tls-verify=false", "-u", "bob", "-p", PW.bob, reg.host]);
    await tools.skopeo(["copy", "--src-tls-verify=false", `docker://${reg.host}/team/app:v1`, `dir:${out}`]);
    await tools.skopeo(["copy", "--dest-tls-verify=false", `dir:${out}`, `docker://${reg.host}/team/skopeo:v1`]);
    const inspect = await tools.skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/team/skopeo:v1`]);
    expect(JSON.parse(inspect.stdout).Name).toBe(`${reg.host}/team/skopeo`);
    // Cross-repository copy: skopeo mounts the blobs with a token that holds pull on the source.
    await tools.skopeo(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${reg.host}/team/skopeo:v1`, `docker://${reg.host}/team/mounted:v1`]);
    await tools.skopeo(["logout", reg.host]);
    const anon = await tools.skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/team/skopeo:v1`], { allowFail: true });
    expect(anon.code).not.toBe(0);
  }, 300_000);

  itWith(["ctr"], "containerd (ctr -u): the POST password grant, no GET fallback, pull and push", async () => {
    const hosts = await ctrRegistryArgs(reg, dir);
    const ctr = engine!.ctr;
    const src = `${reg.host}/team/app:v1`;
    const dst = `${reg.host}/team/ctr:v1`;
    const postsBefore = await count("POST", "/token", 200);
    const getsBefore = await count("GET", "/token");
    await ctr(["images", "pull", ...hosts, "-u", `bob:${PW.bob}`, src]);
    await ctr(["images", "tag", src, dst]);
    await ctr(["images", "push", ...hosts, "-u", `bob:${PW.bob}`, dst]);
    expect(await count("POST", "/token", 200)).toBeGreaterThan(postsBefore);
    expect(await count("GET", "/token")).toBe(getsBefore);
    // Wrong password: POST answers 401, containerd falls back to GET, which also refuses.
    const bad = await ctr(["images", "push", ...hosts, "-u", "bob:wrong", dst], { allowFail: true });
    expect(bad.code).not.toBe(0);
    const m = await request(`${reg.url}/v2/team/ctr/manifests/v1`);
    expect(m.status).toBe(401);
  }, 300_000);
});

describe("npm start's development auth", () => {
  itWith(["skopeo"], "runs token auth with a development admin whose printed password logs in, kept across restarts", async () => {
    const persistTo = await tempDir("devauth");
    const tools = await new ContainerTools(path.join(persistTo, "tools")).init();
    try {
      const start = async () => startSkiff({ port: await freePort(), persistTo, auth: "dev" });
      let skiff = await start();
      const creds = skiff.auth.credentials!;
      try {
        expect(banner(skiff)).toContain(`password: ${creds.password}`);
        expect((await request(`${skiff.url}/v2/`)).status).toBe(401);
        await tools.skopeo(["login", "--tls-verify=false", "-u", creds.user, "-p", creds.password, skiff.registry]);
        const bad = await tools.skopeo(["login", "--tls-verify=false", "-u", creds.user, "-p", "wrong", skiff.registry], { allowFail: true });
        expect(bad.code).not.toBe(0);
      } finally {
        await skiff.stop();
      }
      // A restart keeps the user, the password and the signing key (docker's stored identity token stays valid).
      skiff = await start();
      try {
        expect(skiff.auth.credentials).toEqual(creds);
        const basic = "Basic " + Buffer.from(`${creds.user}:${creds.password}`).toString("base64");
        const res = await request(`${skiff.url}/token?scope=registry:catalog:*`, { headers: { Authorization: basic } });
        expect(res.status).toBe(200);
        const token = JSON.parse(res.body.toString()).token;
        expect((await request(`${skiff.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      } finally {
        await skiff.stop();
      }
    } finally {
      await removeDir(persistTo);
    }
  }, 180_000);
});
