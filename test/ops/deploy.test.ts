// `npm run deploy` as a user runs it (tsx scripts/deploy.ts, a child process): the dry run with the real wrangler
// building the real bundle offline, and the real deploy path. No Cloudflare account exists here, so the real path
// runs against a stand-in `wrangler` executable put first on PATH: it records each call's argv and stdin and answers
// as the account would (which secrets exist, whether the bucket and its lifecycle rules exist). What it proves: which
// commands run in which order, that secrets travel on stdin only, and that no secret reaches argv or the output.
// What it cannot prove: that Cloudflare accepts them (the commands' syntax was checked against wrangler 4.86's --help).
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { deploy, expectNoSecret, tmpDir, writeConfig, writeSecrets, type SecretFiles } from "./deploy-fixtures";

let dir: string;
let config: string;
let secrets: SecretFiles;

beforeAll(async () => {
  dir = tmpDir("deploy");
  config = writeConfig(dir);
  secrets = await writeSecrets(dir);
});

describe("npm run deploy -- --dry-run", () => {
  it("checks a good configuration, builds the bundle offline and prints what a deploy would run", async () => {
    const outdir = path.join(dir, "bundle");
    const r = await deploy(["--dry-run", "--config", config, "--outdir", outdir, "--signing-key-file", secrets.key, "--users-file", secrets.users, "--rules-file", secrets.rules], {
      // Offline: no account, no token; a proxy that answers nothing makes any network use fail loudly.
      env: { CLOUDFLARE_API_TOKEN: "", HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" },
    });
    expectNoSecret(r.stdout + r.stderr, secrets.values);
    expect(r.stderr, r.stdout).not.toMatch(/✗/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("✓ configuration checked");
    expect(r.stdout).toMatch(/✓ bundle built: [\d.]+ KiB \/ gzip: [\d.]+ KiB/);
    const bundle = path.join(outdir, "index.js");
    expect(existsSync(bundle)).toBe(true);
    expect(statSync(bundle).size).toBeGreaterThan(100_000);
    const code = readFileSync(bundle, "utf8");
    expect(code).toContain("GcWorkflow"); // the Workflow class the production environment binds
    // The plan, in order, with the secrets named but not shown.
    const plan = r.stdout.slice(r.stdout.indexOf("A real deploy"));
    const order = [
      /wrangler r2 bucket create skiff-registry/,
      /wrangler r2 bucket lifecycle add skiff-registry skiff-abort-multipart --abort-multipart-days 7 --force/,
      /wrangler r2 bucket lifecycle add skiff-registry skiff-upload-leftovers uploads\/ --expire-days 7 --force/,
      /wrangler r2 bucket lifecycle add skiff-registry skiff-gc-runs gc\/runs\/ --expire-days 90 --force/,
      /wrangler secret bulk --config \S+ --env production\s+\(stdin: a JSON object of AUTH_SIGNING_KEY, AUTH_USERS, AUTH_RULES;/,
      /wrangler deploy --config \S+ --env production$/m,
    ];
    let at = 0;
    for (const re of order) {
      const m = re.exec(plan.slice(at));
      expect(m, `${re} after position ${at} in:\n${plan}`).not.toBeNull();
      at += m!.index + m![0].length;
    }
  });
});

/** A stand-in wrangler on PATH (see the file's comment); `state` is what the account holds. */
function fakeWrangler(state: { loggedOut?: boolean; secrets: string[] | null; bucketExists: boolean; rules: string[]; failDeploy?: boolean }) {
  const d = tmpDir("fake-wrangler");
  const log = path.join(d, "calls.jsonl");
  const script = `#!${process.execPath}
const fs = require("node:fs");
const argv = process.argv.slice(2);
const stdin = fs.readFileSync(0, "utf8");
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv, stdin }) + "\\n");
const state = ${JSON.stringify(state)};
const cmd = argv.filter((a) => !a.startsWith("-")).slice(0, 3).join(" ");
if (state.loggedOut) { console.error("✘ [ERROR] In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN environment variable for wrangler to work."); process.exit(1); }
if (argv[0] === "secret" && argv[1] === "list" && state.secrets === null) { console.error('✘ [ERROR] Worker "skiff-production" (env: production) not found.'); process.exit(1); }
if (argv[0] === "secret" && argv[1] === "list") { console.log(JSON.stringify(state.secrets.map((name) => ({ name, type: "secret_text" })))); process.exit(0); }
if (cmd.startsWith("r2 bucket info")) { if (state.bucketExists) { console.log("name: skiff-registry"); process.exit(0); } console.error("The specified bucket does not exist. [code: 10006]"); process.exit(1); }
if (cmd.startsWith("r2 bucket lifecycle") && argv[3] === "list") { console.log(state.rules.length ? state.rules.map((r) => "name:    " + r + "\\nenabled: Yes").join("\\n\\n") : "There are no lifecycle rules"); process.exit(0); }
if (argv[0] === "deploy" && state.failDeploy) { console.error("deploy failed on purpose"); process.exit(1); }
console.log("ok: " + argv.slice(0, 4).join(" "));
`;
  writeFileSync(path.join(d, "wrangler"), script);
  chmodSync(path.join(d, "wrangler"), 0o755);
  return {
    env: { PATH: `${d}${path.delimiter}${process.env.PATH}` },
    calls: (): { argv: string[]; stdin: string }[] => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l)) : []),
  };
}

describe("npm run deploy (a stand-in wrangler: no Cloudflare account here)", () => {
  it("first deploy: creates the bucket and its lifecycle rules, uploads the secrets on stdin, deploys", async () => {
    // As wrangler 4.86 answers `secret list` for a worker that does not exist yet.
    const fake = fakeWrangler({ secrets: null, bucketExists: false, rules: [] });
    const stdin = JSON.stringify({ AUTH_SIGNING_KEY: secrets.keyJson, AUTH_USERS: secrets.usersText });
    const r = await deploy(["--config", config, "--secrets-stdin", "--rules-file", secrets.rules, "--zone-plan", "pro"], { env: fake.env, input: stdin });
    expectNoSecret(r.stdout + r.stderr, secrets.values);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const calls = fake.calls();
    for (const c of calls) expectNoSecret(c.argv.join(" "), secrets.values);
    const common = ["--config", config, "--env", "production"];
    expect(calls.map((c) => c.argv)).toEqual([
      ["secret", "list", "--format", "json", ...common],
      ["r2", "bucket", "info", "skiff-registry", ...common],
      ["r2", "bucket", "create", "skiff-registry", ...common],
      ["r2", "bucket", "lifecycle", "list", "skiff-registry", ...common],
      ["r2", "bucket", "lifecycle", "add", "skiff-registry", "skiff-abort-multipart", "--abort-multipart-days", "7", "--force", ...common],
      ["r2", "bucket", "lifecycle", "add", "skiff-registry", "skiff-upload-leftovers", "uploads/", "--expire-days", "7", "--force", ...common],
      ["r2", "bucket", "lifecycle", "add", "skiff-registry", "skiff-gc-runs", "gc/runs/", "--expire-days", "90", "--force", ...common],
      ["secret", "bulk", ...common],
      ["deploy", ...common],
    ]);
    // The secrets, exactly as supplied, only on the stdin of `secret bulk`.
    const bulk = calls.find((c) => c.argv[1] === "bulk")!;
    expect(JSON.parse(bulk.stdin)).toEqual({ AUTH_SIGNING_KEY: secrets.keyJson, AUTH_USERS: secrets.usersText, AUTH_RULES: readFileSync(secrets.rules, "utf8").trim() });
    for (const c of calls.filter((c) => c !== bulk)) expect(c.stdin).toBe("");
  });

  it("a later deploy: creates nothing that exists, keeps the stored secrets, deploys", async () => {
    const fake = fakeWrangler({ secrets: ["AUTH_SIGNING_KEY", "AUTH_USERS", "AUTH_RULES"], bucketExists: true, rules: ["skiff-abort-multipart", "skiff-upload-leftovers", "skiff-gc-runs"] });
    const r = await deploy(["--config", config], { env: fake.env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/not checked: AUTH_SIGNING_KEY: stored in the account/);
    expect(fake.calls().map((c) => c.argv.slice(0, 4).join(" "))).toEqual([
      "secret list --format json",
      "r2 bucket info skiff-registry",
      "r2 bucket lifecycle list",
      "deploy --config " + config + " --env",
    ]);
  });

  it("refuses open auth for production before calling wrangler at all (no login needed to see a problem)", async () => {
    const fake = fakeWrangler({ secrets: [], bucketExists: true, rules: [] });
    const openConfig = writeConfig(tmpDir("open"), { edit: (t) => t.replace(`MAX_REQUEST_BODY_MB = "100"\n`, `MAX_REQUEST_BODY_MB = "100"\nSKIFF_AUTH = "open"\n`) });
    const r = await deploy(["--config", openConfig], { env: fake.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✗ SKIFF_AUTH is "open": anyone could push, pull and delete, anonymously → fix: remove SKIFF_AUTH/);
    expect(fake.calls()).toEqual([]);
  });

  it("not logged in: stops at the first question to the account, before anything is created or uploaded", async () => {
    const fake = fakeWrangler({ loggedOut: true, secrets: [], bucketExists: false, rules: [] });
    const r = await deploy(["--config", config, "--signing-key-file", secrets.key, "--users-file", secrets.users, "--rules-file", secrets.rules], { env: fake.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wrangler secret list .* failed \(exit 1\) → fix: log in \(npx wrangler login, or set CLOUDFLARE_API_TOKEN\)/);
    expect(fake.calls().map((c) => c.argv.slice(0, 2).join(" "))).toEqual(["secret list"]);
    expectNoSecret(r.stdout + r.stderr, secrets.values);
  });

  it("a failing wrangler step stops the deploy with exit 1 and says which command failed", async () => {
    const fake = fakeWrangler({ secrets: ["AUTH_SIGNING_KEY", "AUTH_USERS", "AUTH_RULES"], bucketExists: true, rules: ["skiff-abort-multipart", "skiff-upload-leftovers", "skiff-gc-runs"], failDeploy: true });
    const r = await deploy(["--config", config], { env: fake.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/deploy: wrangler deploy --config \S+ --env production failed \(exit 1\) → fix:/);
  });
});
