// Credentials as the user has them: docker's config.json (auths, identitytoken, credsStore, credHelpers with a real
// helper program on PATH), podman's auth.json, and explicit --username/--password-stdin. No secret in any error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { resolveCredentials } from "../../cli/auth/index";
import { removeDir, tempDir } from "../support/proc";

let root: string;
let bin: string;
const b64 = (s: string) => Buffer.from(s).toString("base64");

beforeAll(async () => {
  root = await tempDir("cli-creds");
  bin = path.join(root, "bin");
  await mkdir(bin);
  // A credential helper as docker-credential-helpers behave: the server URL on stdin, JSON on stdout, or
  // "credentials not found in native keychain" and exit 1. It records what it was asked.
  const helper = [
    "#!/bin/sh",
    `[ "$1" = get ] || exit 2`,
    `read -r server`,
    `echo "$server" >> "${path.join(root, "helper-asked")}"`,
    `case "$server" in`,
    `  helped.example:5000) printf '{"ServerURL":"%s","Username":"helen","Secret":"helper-secret-1"}' "$server" ;;`,
    `  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"hub-refresh-token"}' "$server" ;;`,
    `  *) echo "credentials not found in native keychain"; exit 1 ;;`,
    `esac`,
  ].join("\n");
  await writeFile(path.join(bin, "docker-credential-test"), helper + "\n");
  await chmod(path.join(bin, "docker-credential-test"), 0o755);
  await writeFile(path.join(bin, "docker-credential-broken"), "#!/bin/sh\necho 'backend locked' >&2\nexit 3\n");
  await chmod(path.join(bin, "docker-credential-broken"), 0o755);
});
afterAll(async () => {
  await removeDir(root);
});

async function configDir(name: string, config: unknown): Promise<NodeJS.ProcessEnv> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return { PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: dir, HOME: root };
}

describe("docker config.json", () => {
  it("auths: base64 user:password, keys written as host, https://host or Docker Hub's URL; identitytoken; none", async () => {
    const env = await configDir("auths", {
      auths: {
        "127.0.0.1:5000": { auth: b64("alice:pw:with:colons") },
        "https://reg.example": { auth: b64("bob:bobpw") },
        "https://index.docker.io/v1/": { auth: b64("hubuser:") , identitytoken: "refresh-abc" },
      },
    });
    expect(await resolveCredentials("127.0.0.1:5000", null, env)).toMatchObject({ kind: "basic", username: "alice", password: "pw:with:colons" });
    expect(await resolveCredentials("reg.example", null, env)).toMatchObject({ kind: "basic", username: "bob", password: "bobpw" });
    expect(await resolveCredentials("docker.io", null, env)).toMatchObject({ kind: "identity-token", username: "hubuser", token: "refresh-abc" });
    expect(await resolveCredentials("other.example", null, env)).toBeNull();
  });

  it("credHelpers[host] and credsStore run docker-credential-<name> get with the server on stdin", async () => {
    const env = await configDir("helpers", { credsStore: "test", credHelpers: { "helped.example:5000": "test", "locked.example": "broken" }, auths: { "helped.example:5000": {} } });
    expect(await resolveCredentials("helped.example:5000", null, env)).toEqual({ kind: "basic", username: "helen", password: "helper-secret-1", from: "docker-credential-test" });
    // Username "<token>": the secret is an identity token. Docker Hub is asked for under its v1 URL.
    expect(await resolveCredentials("docker.io", null, env)).toMatchObject({ kind: "identity-token", token: "hub-refresh-token" });
    expect(await resolveCredentials("unknown.example", null, env)).toBeNull();
    expect((await readFile(path.join(root, "helper-asked"), "utf8")).trim().split("\n")).toEqual(["helped.example:5000", "https://index.docker.io/v1/", "unknown.example"]);
    await expect(resolveCredentials("locked.example", null, env)).rejects.toThrow("docker-credential-broken get failed (exit 3): backend locked");
    const missing = await configDir("nohelper", { credsStore: "absent" });
    await expect(resolveCredentials("x.example", null, missing)).rejects.toThrow("credential helper docker-credential-absent is not on PATH");
  });

  it("a config.json that is not JSON is named, its text (holding secrets) is not quoted", async () => {
    const env = await configDir("broken", `{"auths": {"r.example": {"auth": "${b64("u:very-secret")}"}} oops`);
    const err = await resolveCredentials("r.example", null, env).catch((e: Error) => e);
    expect(String(err)).toMatch(/config.json is not valid JSON/);
    expect(String(err)).not.toContain(b64("u:very-secret"));
    expect(String(err)).not.toContain("very-secret");
  });
});

describe("podman auth.json and explicit credentials", () => {
  it("REGISTRY_AUTH_FILE when docker has nothing for the host", async () => {
    const env = await configDir("podman", { auths: {} });
    const file = path.join(root, "auth.json");
    await writeFile(file, JSON.stringify({ auths: { "quay.example": { auth: b64("pat:patpw") } } }));
    expect(await resolveCredentials("quay.example", null, { ...env, REGISTRY_AUTH_FILE: file })).toMatchObject({ kind: "basic", username: "pat", from: file });
  });

  it("--username/--password-stdin win; the newline that ends the password line is not part of it", async () => {
    const env = await configDir("explicit", { auths: { "r.example": { auth: b64("stored:pw") } } });
    expect(await resolveCredentials("r.example", { username: "me", password: "s3cret\n" }, env)).toMatchObject({ kind: "basic", username: "me", password: "s3cret" });
    await expect(resolveCredentials("r.example", { username: "me", password: "\n" }, env)).rejects.toThrow("the password from --password-stdin is empty");
  });
});
