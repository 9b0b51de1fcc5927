// README "Operating Skiff", tried with real clients against `wrangler dev` started as `npm start` starts it, with
// users made by `npm run user` and a key by `npm run keygen`, as the guides say:
//   - a CI robot that may push below apps/ only: the GitHub Actions workflow's shell steps (docs/examples/
//     github-actions.yml, run with bash as the runner runs them; the runner itself is not run) push an image, and
//     the same steps for a repository outside apps/ are denied;
//   - Kubernetes: the imagePullSecret's .dockerconfigjson (from the guide's printf, and from `kubectl create secret
//     docker-registry --dry-run=client` where kubectl is installed) used as a docker/skopeo auth file. Kubernetes
//     itself is not run here;
//   - containerd: the guide's hosts.toml with real `ctr images pull --hosts-dir`, for the registry host (with the
//     pull user's credentials) and as a mirror of docker.io (a public repository, anonymous).
// Key rotation is tested in test/auth/key-rotation.test.ts (every step, without restarting a server).
import { describe, expect, beforeAll, afterAll } from "vitest";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { parse } from "yaml";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";
import { startDockerd, DOCKER_CLI, type DockerEngine } from "../support/docker";
import { ContainerTools, itWith, missingTools } from "../support/clients";
import { removeDir, run, tempDir, type RunResult } from "../support/proc";
import { request } from "../support/http";
import { readWorkflow, expand } from "../support/workflow";
import { PROJECT_ROOT } from "../../scripts/lib/dev-server";

const README = readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
const ALICE_PW = "alice-guide-pw";

// The access rules of the guides ("Add a user and a CI robot", "Kubernetes and containerd").
const RULES = {
  admins: ["alice"],
  public: ["library/*"],
  rules: [
    { repos: ["apps/*"], who: ["ci-bot"], actions: ["push"] },
    { repos: ["apps/*"], who: ["k8s-pull"], actions: ["pull"] },
  ],
};

// The guide's commands, checked to be in the README word for word so that guide and test cannot drift apart.
const DOCKERCONFIGJSON_CMD = `printf '{"auths":{"%s":{"auth":"%s"}}}' "$REGISTRY" "$(printf '%s:%s' "$PULL_USER" "$PULL_PASSWORD" | base64 | tr -d '\\n')" | base64 | tr -d '\\n' > dockerconfigjson.b64`;
const hostsToml = (server: string, host: string, localOnly: boolean) =>
  `server = "${server}"\n\n[host."${host}"]\n  capabilities = ["pull", "resolve"]\n` + (localOnly ? "  skip_verify = true\n" : "");

/** `npm run user -- add NAME --generate` as the guide runs it: the AUTH_USERS line and the password shown once. */
async function generatedUser(name: string): Promise<{ line: string; password: string }> {
  const r = await run("npm", ["run", "-s", "user", "--", "add", name, "--generate"], { cwd: PROJECT_ROOT });
  const password = /\(shown once\): (\S+)/.exec(r.stderr)?.[1];
  expect(password, r.stderr).toBeTruthy();
  return { line: r.stdout.trim(), password: password! };
}

describe("README 'Operating Skiff' with real clients", () => {
  let reg: RegistryUnderTest;
  let engine: DockerEngine | undefined;
  let tools: ContainerTools;
  let dir: string;
  let robot: { line: string; password: string };
  let puller: { line: string; password: string };
  const sha = randomBytes(20).toString("hex");
  const tagsOf = async (repo: string) => {
    const t = await request(`${reg.url}/token?service=${encodeURIComponent(reg.host)}&scope=repository:${repo}:pull`, { headers: { Authorization: "Basic " + Buffer.from(`alice:${ALICE_PW}`).toString("base64") } });
    const token = JSON.parse(t.body.toString()).token;
    const res = await request(`${reg.url}/v2/${repo}/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    return res.status === 200 ? (JSON.parse(res.body.toString()).tags as string[]).sort() : res.status;
  };

  beforeAll(async () => {
    dir = await tempDir("guides");
    robot = await generatedUser("ci-bot");
    puller = await generatedUser("k8s-pull");
    const alice = await run("npm", ["run", "-s", "user", "--", "add", "alice"], { cwd: PROJECT_ROOT, input: `${ALICE_PW}\n` });
    const key = await run("npm", ["run", "-s", "keygen"], { cwd: PROJECT_ROOT });
    reg = await startSkiffRegistry({
      vars: {
        SKIFF_AUTH: "token",
        AUTH_USERS: [alice.stdout.trim(), robot.line, puller.line].join("\n"),
        AUTH_RULES: JSON.stringify(RULES),
        AUTH_SIGNING_KEY: key.stdout.trim(),
      },
    });
    tools = await new ContainerTools(path.join(dir, "tools")).init();
    if (!missingTools(["docker"]).length) engine = await startDockerd();
  }, 180_000);

  afterAll(async () => {
    await engine?.stop();
    await reg?.stop();
    if (dir) await removeDir(dir);
  });

  /** Runs the workflow's `run:` steps as the runner would (bash -eo pipefail, `if: always()` after a failure). */
  async function runWorkflow(image: string): Promise<{ step: string; result: RunResult }[]> {
    const wf = readWorkflow();
    const work = path.join(dir, `checkout-${image.replace(/\W/g, "-")}`);
    await mkdir(work, { recursive: true });
    await writeFile(path.join(work, "app.txt"), `built by the workflow test ${sha}\n`);
    await writeFile(path.join(work, "Dockerfile"), "FROM scratch\nCOPY app.txt /app.txt\n");
    // `docker` on the runner is the engine's CLI; here it is the private engine's (/usr/local/bin/docker is another CLI).
    const bin = path.join(dir, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, "docker"), `#!/bin/sh\nexec ${DOCKER_CLI} -H unix://${engine!.socket} "$@"\n`);
    await chmod(path.join(bin, "docker"), 0o755);
    const context = { secrets: { SKIFF_USER: "ci-bot", SKIFF_PASSWORD: robot.password }, vars: { SKIFF_REGISTRY: reg.host, SKIFF_IMAGE: image } };
    const runner = {
      PATH: `${bin}:${process.env.PATH}`,
      DOCKER_CONFIG: path.join(work, ".docker"),
      // docker 20.10 here has no buildx; the runner's docker builds with BuildKit. Same Dockerfile, same push.
      DOCKER_BUILDKIT: "0",
      GITHUB_SHA: sha,
      GITHUB_REF_TYPE: "tag",
      GITHUB_REF_NAME: "v1.0.0",
    };
    const results: { step: string; result: RunResult }[] = [];
    let failed = false;
    for (const step of wf.steps) {
      if (failed && step.if !== "always()") continue;
      const env = Object.fromEntries(Object.entries(step.env).map(([k, v]) => [k, expand(String(v), context)]));
      const result = await run("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", step.run], { cwd: work, env: { ...runner, ...env }, allowFail: true });
      results.push({ step: step.name, result });
      if (result.code !== 0) failed = true;
    }
    // No step printed the robot's password (GitHub masks secrets in logs, but better none is printed at all).
    for (const { step, result } of results) expect(result.stdout + result.stderr, step).not.toContain(robot.password);
    // Logged out: the runner's docker config no longer holds the registry.
    const config = JSON.parse(await readFile(path.join(work, ".docker", "config.json"), "utf8"));
    expect(config.auths?.[reg.host]).toBeUndefined();
    return results;
  }

  itWith(["docker"], "GitHub Actions: the workflow's steps log the CI robot in and push the commit and the version tag", async () => {
    const results = await runWorkflow("apps/web");
    for (const { step, result } of results) expect(result.code, `${step}\n${result.stdout}\n${result.stderr}`).toBe(0);
    expect(results.map((r) => r.step)).toEqual(["Log in to Skiff", "Build", "Push", "Log out"]);
    expect(await tagsOf("apps/web")).toEqual([sha, "v1.0.0"].sort());
  });

  itWith(["docker"], "the CI robot outside its prefix: the push is denied, naming what it may not do; log out still runs", async () => {
    const results = await runWorkflow("team/web");
    const push = results.find((r) => r.step === "Push")!;
    expect(push.result.code).not.toBe(0);
    expect(push.result.stderr + push.result.stdout).toMatch(/denied: requested access to the resource is denied: user ci-bot may not pull\+push team\/web/);
    expect(results.at(-1)!.step).toBe("Log out");
    expect(results.at(-1)!.result.code).toBe(0);
    expect(await tagsOf("team/web")).toBe(404);
  });

  itWith(["docker", "skopeo"], "Kubernetes imagePullSecret: its .dockerconfigjson pulls with docker and skopeo, and cannot push", async () => {
    expect(await tagsOf("apps/web"), "the workflow test pushed apps/web first").toContain("v1.0.0");
    expect(README).toContain(DOCKERCONFIGJSON_CMD);
    const made = path.join(dir, "k8s");
    await mkdir(made, { recursive: true });
    await run("bash", ["-eo", "pipefail", "-c", DOCKERCONFIGJSON_CMD], { cwd: made, env: { REGISTRY: reg.host, PULL_USER: "k8s-pull", PULL_PASSWORD: puller.password } });
    const configs: [string, string][] = [["printf", await readFile(path.join(made, "dockerconfigjson.b64"), "utf8")]];
    if ((await run("sh", ["-c", "command -v kubectl"], { allowFail: true })).code === 0) {
      // kubectl's own way (no cluster needed for --dry-run=client): the guide's first choice.
      const k = await run("kubectl", ["create", "secret", "docker-registry", "skiff-pull", `--docker-server=${reg.host}`, "--docker-username=k8s-pull", `--docker-password=${puller.password}`, "--dry-run=client", "-o", "yaml"], { env: { KUBECONFIG: path.join(dir, "no-kubeconfig") } });
      const secret = parse(k.stdout);
      expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
      configs.push(["kubectl", secret.data[".dockerconfigjson"]]);
    } else console.warn("[e2e] kubectl not installed: only the printf form of the imagePullSecret is checked");

    for (const [how, b64] of configs) {
      const cfgDir = path.join(made, how);
      await mkdir(cfgDir, { recursive: true });
      await writeFile(path.join(cfgDir, "config.json"), Buffer.from(b64, "base64"));
      const authfile = ["--authfile", path.join(cfgDir, "config.json")];
      const inspect = await tools.skopeo(["inspect", "--tls-verify=false", ...authfile, `docker://${reg.host}/apps/web:v1.0.0`]);
      expect(JSON.parse(inspect.stdout).Name, how).toBe(`${reg.host}/apps/web`);
      const pull = await engine!.docker(["--config", cfgDir, "pull", `${reg.host}/apps/web:v1.0.0`], { env: { DOCKER_CONFIG: undefined } });
      expect(pull.stdout, how).toContain(`${reg.host}/apps/web:v1.0.0`);
      const push = await tools.skopeo(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", ...authfile, `docker://${reg.host}/apps/web:v1.0.0`, `docker://${reg.host}/apps/web:from-k8s`], { allowFail: true });
      expect(push.code, how).not.toBe(0);
      expect(push.stderr, how).toMatch(/denied|unauthorized/i);
    }
  });

  itWith(["ctr", "skopeo"], "containerd hosts.toml: ctr pulls from the registry host with the pull user, and through a docker.io mirror entry", async () => {
    const local = (server: string) => hostsToml(server, reg.url, true);
    // The guide's files (without the local skip_verify: wrangler dev's certificate is self-signed).
    expect(README).toContain(hostsToml("https://registry.example.com", "https://registry.example.com", false));
    expect(README).toContain(hostsToml("https://registry-1.docker.io", "https://registry.example.com", false));
    const hostsDir = path.join(dir, "certs.d");
    await mkdir(path.join(hostsDir, reg.host), { recursive: true });
    await mkdir(path.join(hostsDir, "docker.io"), { recursive: true });
    await writeFile(path.join(hostsDir, reg.host, "hosts.toml"), local(reg.url));
    await writeFile(path.join(hostsDir, "docker.io", "hosts.toml"), local("https://registry-1.docker.io"));
    const ctr = engine!.ctr;

    const anon = await ctr(["images", "pull", "--hosts-dir", hostsDir, `${reg.host}/apps/web:v1.0.0`], { allowFail: true });
    expect(anon.code).not.toBe(0);
    await ctr(["images", "pull", "--hosts-dir", hostsDir, "-u", `k8s-pull:${puller.password}`, `${reg.host}/apps/web:v1.0.0`]);

    // The mirror: docker.io/library/web is answered by this registry's public library/web (no credentials).
    await tools.skopeo(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", `alice:${ALICE_PW}`, "--dest-creds", `alice:${ALICE_PW}`, `docker://${reg.host}/apps/web:v1.0.0`, `docker://${reg.host}/library/web:v1`]);
    await ctr(["images", "pull", "--hosts-dir", hostsDir, "docker.io/library/web:v1"]);
    const images = await ctr(["images", "ls", "-q"]);
    expect(images.stdout.split("\n")).toContain("docker.io/library/web:v1");
    expect((await reg.requests()).some((r) => r.method === "HEAD" && r.path === "/v2/library/web/manifests/v1" && r.status === 200)).toBe(true);
  });
});
