// `npm run deploy`'s checks on bad configurations: each names its problem with a fix, every problem is listed at
// once, the exit code is 1, nothing reaches wrangler, and no secret value appears in any output. runDeploy runs
// in this process (the configurations are read by wrangler's own reader, the values judged by the Worker's own
// parser); its wrangler runner here only records calls: a stand-in, since no Cloudflare account exists here, and
// a failing check must not call wrangler at all. The child-process runs (real wrangler build, a stand-in wrangler
// executable for the real deploy path) are in deploy.test.ts.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseOptions, runDeploy } from "../../scripts/lib/deploy/deploy";
import type { WranglerRunner } from "../../scripts/lib/deploy/runner";
import { expectNoSecret, HOST, replaceOnce, tmpDir, writeConfig, writeSecrets, type SecretFiles } from "./deploy-fixtures";

let dir: string;
let secrets: SecretFiles;

beforeAll(async () => {
  dir = tmpDir("deploy-checks");
  secrets = await writeSecrets(dir);
});

interface Outcome {
  code: number;
  out: string;
  err: string;
  calls: string[][];
}

/** runDeploy with ARGS against a configuration made by `edit`; `list` is what `wrangler secret list` answers. */
async function deployWith(args: string[], edit?: (t: string) => string, opts: { list?: string; ready?: boolean } = {}): Promise<Outcome> {
  const d = tmpDir("case");
  const config = writeConfig(d, { edit, ready: opts.ready });
  const parsed = parseOptions(["--config", config, "--outdir", path.join(d, "out"), ...args], process.cwd());
  if (typeof parsed === "string") throw new Error(parsed);
  const calls: string[][] = [];
  const lines = { out: [] as string[], err: [] as string[] };
  const wrangler: WranglerRunner = {
    async run(a) {
      calls.push(a);
      if (a[0] === "secret" && a[1] === "list") return { code: 0, stdout: opts.list ?? "[]", stderr: "" };
      return { code: 0, stdout: "", stderr: "" };
    },
  };
  const code = await runDeploy(parsed, { out: (l) => lines.out.push(l), err: (l) => lines.err.push(l), stdin: process.stdin, wrangler });
  const out = { code, out: lines.out.join("\n"), err: lines.err.join("\n"), calls };
  expectNoSecret(out.out + out.err, secrets.values);
  return out;
}

const allSecrets = () => ["--signing-key-file", secrets.key, "--users-file", secrets.users, "--rules-file", secrets.rules];
const problemLines = (o: Outcome) => o.err.split("\n").filter((l) => l.trim().startsWith("✗"));
const setVar = (name: string, value: string) => (t: string) => replaceOnce(t, `MAX_REQUEST_BODY_MB = "100"\n`, `MAX_REQUEST_BODY_MB = "100"\n${name} = ${JSON.stringify(value)}\n`);

describe("npm run deploy: checks before anything is uploaded", () => {
  it("passes a good configuration (the control for every case below)", async () => {
    const o = await deployWith(["--dry-run", ...allSecrets()]);
    expect(o.err).toBe("");
    expect(o.code).toBe(0);
    expect(o.out).toContain("✓ configuration checked");
    expect(o.out).not.toMatch(/warning|not checked/);
    // The dry run's only wrangler call is the offline build.
    expect(o.calls).toEqual([["deploy", "--dry-run", "--outdir", expect.any(String), "--config", expect.any(String), "--env", "production"]]);
  });

  const cases: { name: string; args?: string[]; edit?: (t: string) => string; problem: RegExp }[] = [
    { name: "auth open", edit: setVar("SKIFF_AUTH", "open"), problem: /SKIFF_AUTH is "open".*→ fix: remove SKIFF_AUTH/ },
    {
      name: "no R2 binding in the environment",
      edit: (t) => replaceOnce(t, `[[env.production.r2_buckets]]\nbinding = "BUCKET"\nbucket_name = "skiff-registry"\n`, ""),
      problem: /needs an R2 bucket binding named BUCKET.*→ fix: declare the binding in the \[\[env\.production\.\*\]\] tables/,
    },
    { name: "S3 backend without its settings", edit: (t) => replaceOnce(t, `[env.production.vars]\nSTORAGE_BACKEND = "r2"`, `[env.production.vars]\nSTORAGE_BACKEND = "s3"`), problem: /STORAGE_BACKEND=s3 needs S3_BUCKET → fix: set S3_BUCKET in \[env\.production\.vars\][\s\S]*needs S3_ENDPOINT .* or an AWS S3_REGION → fix: set S3_ENDPOINT/ },
    { name: "no rate limiting bindings", edit: (t) => t.replace(/\[\[env\.production\.ratelimits\]\][^[]*/g, ""), problem: /LOGIN_LIMIT_USER must be a rate limiting binding.*→ fix: declare the binding/ },
    { name: "realm over http", edit: (t) => replaceOnce(t, `AUTH_REALM = "https://${HOST}/token"`, `AUTH_REALM = "http://127.0.0.1:8787/token"`), problem: /AUTH_REALM is http: a deployed registry is served over https only → fix/ },
    { name: "the example host left in", edit: (t) => t.replaceAll(HOST, "registry.example.com"), problem: /AUTH_SERVICE still names the example host registry\.example\.com → fix: set your registry's host name/ },
    { name: "body limit over the zone plan's cap", args: ["--zone-plan", "pro"], edit: (t) => t.replace(`MAX_REQUEST_BODY_MB = "100"`, `MAX_REQUEST_BODY_MB = "500"`), problem: /MAX_REQUEST_BODY_MB is 500, but the pro plan's edge refuses bodies over 100 MB.*→ fix: set MAX_REQUEST_BODY_MB = "100"/ },
    { name: "body limit over 100 MB with no plan named", edit: (t) => t.replace(`MAX_REQUEST_BODY_MB = "100"`, `MAX_REQUEST_BODY_MB = "200"`), problem: /over the 100 MB that Free and Pro zones let through → fix: name your zone's plan with --zone-plan/ },
    { name: "cpu_ms on Workers Free", args: ["--workers-plan", "free"], problem: /limits\.cpu_ms is set, but the Workers Free plan.*→ fix: remove \[env\.production\.limits\]/ },
    { name: "cpu_ms over the ceiling", edit: (t) => t.replace("cpu_ms = 300000", "cpu_ms = 900000"), problem: /limits\.cpu_ms is 900000, over Workers Paid's 300000 → fix/ },
    { name: "a secret in [vars]", edit: setVar("S3_SECRET_ACCESS_KEY", "in-clear"), problem: /S3_SECRET_ACCESS_KEY is a secret but sits in \[env\.production\.vars\].*→ fix: remove it there/ },
    { name: "a bad setting", edit: setVar("UPLOAD_PART_SIZE_MIB", "64"), problem: /UPLOAD_PART_SIZE_MIB must be an integer from 5 to 32.*→ fix: correct UPLOAD_PART_SIZE_MIB in \[env\.production\.vars\]/ },
    { name: "no production environment", edit: (t) => t.slice(0, t.indexOf("# ---- Production")), problem: /has no \[env\.production\] section.*→ fix: add \[env\.production\]/ },
  ];
  for (const c of cases) {
    it(`refuses: ${c.name}`, async () => {
      const o = await deployWith(["--dry-run", ...allSecrets(), ...(c.args ?? [])], c.edit);
      expect(o.code).toBe(1);
      expect(problemLines(o).join("\n")).toMatch(c.problem);
      expect(o.err).toContain("nothing was uploaded");
      expect(o.calls).toEqual([]);
    });
  }

  it("refuses bad secrets with the Worker's own parsers, never quoting them", async () => {
    const d = tmpDir("bad-secrets");
    // Markers that would show if any message quoted the files' text.
    const files = { key: path.join(d, "key.json"), users: path.join(d, "users.txt"), rules: path.join(d, "rules.json"), extra: path.join(d, "extra.env") };
    writeFileSync(files.key, `{"kty":"EC","d":"SECRET-MARKER-KEY"`);
    writeFileSync(files.users, "SECRET-MARKER-USER:plaintext-password\n");
    writeFileSync(files.rules, `{"admins": ["SECRET-MARKER-RULES"], "bogus": 1}`);
    writeFileSync(files.extra, "AUTH_SINGING_KEY=SECRET-MARKER-TYPO\nnot a line SECRET-MARKER-LINE\n");
    const o = await deployWith(["--dry-run", "--signing-key-file", files.key, "--users-file", files.users, "--rules-file", files.rules, "--secrets-file", files.extra]);
    expect(o.code).toBe(1);
    expect(o.out + o.err).not.toContain("SECRET-MARKER");
    const problems = problemLines(o).join("\n");
    expect(problems).toMatch(/AUTH_SIGNING_KEY is not valid JSON.*→ fix: correct the value of AUTH_SIGNING_KEY you supply/);
    expect(problems).toMatch(/AUTH_USERS entry 1: .*→ fix: correct the value of AUTH_USERS you supply/);
    expect(problems).toMatch(/AUTH_RULES: key no\. 2 of 2 is unknown.*→ fix: correct the value of AUTH_RULES you supply/);
    expect(problems).toMatch(/the supplied secret AUTH_SINGING_KEY is not a Skiff setting → fix: check its spelling/);
    expect(problems).toMatch(/extra\.env line 2 is not NAME=VALUE/);
    expect(o.calls).toEqual([]);
  });

  it("warns of users the rules name but AUTH_USERS lacks, without naming them", async () => {
    const rules = path.join(tmpDir("rules"), "rules.json");
    writeFileSync(rules, JSON.stringify({ admins: ["alice"], groups: { ci: ["ci-bot", "SECRET-MARKER-NAME"] } }));
    const o = await deployWith(["--dry-run", "--signing-key-file", secrets.key, "--users-file", secrets.users, "--rules-file", rules]);
    expect(o.code).toBe(0);
    expect(o.out).toMatch(/warning: AUTH_RULES names 1 user that AUTH_USERS does not define/);
    expect(o.out).not.toContain("SECRET-MARKER");
  });

  it("lists every problem at once", async () => {
    const o = await deployWith(["--dry-run", ...allSecrets(), "--workers-plan", "free"], (t) => setVar("SKIFF_AUTH", "open")(t).replace(`MAX_REQUEST_BODY_MB = "100"`, `MAX_REQUEST_BODY_MB = "300"`));
    expect(o.code).toBe(1);
    const problems = problemLines(o);
    expect(problems.length).toBe(3);
    expect(o.err).toMatch(/^3 problems; nothing was uploaded:$/m);
    expect(problems.join("\n")).toMatch(/SKIFF_AUTH[\s\S]*MAX_REQUEST_BODY_MB[\s\S]*cpu_ms/);
  });

  it("a dry run cannot see the account's secrets: it says which it could not check", async () => {
    const o = await deployWith(["--dry-run"]);
    expect(o.code).toBe(0);
    for (const name of ["AUTH_SIGNING_KEY", "AUTH_USERS", "AUTH_RULES"]) expect(o.out).toMatch(new RegExp(`not checked: ${name}: not supplied, and a dry run cannot ask`));
  });

  it("a real deploy refuses a secret that is neither supplied nor stored, and checks a stored one's presence only", async () => {
    // Not a TTY here, so no prompt: the missing secret is a problem. AUTH_RULES is "stored" per the stand-in's list.
    const o = await deployWith(["--signing-key-file", secrets.key], undefined, { list: `[{"name":"AUTH_RULES","type":"secret_text"}]` });
    expect(o.code).toBe(1);
    expect(problemLines(o).join("\n")).toMatch(/AUTH_USERS is not set: not supplied and not stored in the account → fix: npm run --silent user -- add NAME >> users\.txt.*--users-file users\.txt/);
    expect(o.out).toMatch(/not checked: AUTH_RULES: stored in the account/);
    // Only the question which secrets exist reached wrangler.
    expect(o.calls.map((c) => c.slice(0, 2).join(" "))).toEqual(["secret list"]);
  });

  it("S3 backend (the AWS guide's configuration): passes, creates no R2 bucket, uploads the S3 keys as secrets", async () => {
    const s3env = path.join(tmpDir("s3"), "s3.env");
    writeFileSync(s3env, "S3_ACCESS_KEY_ID=AKIAEXAMPLEEXAMPLE12\nS3_SECRET_ACCESS_KEY='SECRET-MARKER-S3/abc+def'\n");
    const s3 = (t: string) =>
      replaceOnce(replaceOnce(t, `[[env.production.r2_buckets]]\nbinding = "BUCKET"\nbucket_name = "skiff-registry"\n`, ""), `[env.production.vars]\nSTORAGE_BACKEND = "r2"`, `[env.production.vars]\nSTORAGE_BACKEND = "s3"\nS3_REGION = "eu-central-1"\nS3_BUCKET = "acme-skiff-registry"`);
    const o = await deployWith(["--dry-run", ...allSecrets(), "--secrets-file", s3env], s3);
    expect(o.err).toBe("");
    expect(o.code).toBe(0);
    expect(o.out).not.toContain("SECRET-MARKER");
    expect(o.out).not.toMatch(/r2 bucket/);
    expect(o.out).toMatch(/secret bulk .*\(stdin: a JSON object of S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, AUTH_SIGNING_KEY, AUTH_USERS, AUTH_RULES;/);
    // Left bound, the R2 bucket gets a warning (the deploy would need it to exist).
    const kept = await deployWith(["--dry-run", ...allSecrets(), "--secrets-file", s3env], (t) => replaceOnce(t, `[env.production.vars]\nSTORAGE_BACKEND = "r2"`, `[env.production.vars]\nSTORAGE_BACKEND = "s3"\nS3_REGION = "eu-central-1"\nS3_BUCKET = "acme-skiff-registry"`));
    expect(kept.code).toBe(0);
    expect(kept.out).toMatch(/warning: STORAGE_BACKEND is s3 but \[env\.production\] still binds the R2 bucket skiff-registry.*remove \[\[env\.production\.r2_buckets\]\]/);
  });

  it("--skip-bucket leaves the bucket and its lifecycle rules to infra/cloudflare", async () => {
    const o = await deployWith(["--dry-run", ...allSecrets(), "--skip-bucket"]);
    expect(o.code).toBe(0);
    expect(o.out).not.toMatch(/r2 bucket/);
    expect(o.out).toMatch(/wrangler deploy --config \S+ --env production$/m);
  });

  it("the shipped wrangler.toml asks only for the registry's host", async () => {
    const o = await deployWith(["--dry-run", ...allSecrets()], undefined, { ready: false });
    expect(o.code).toBe(1);
    const problems = problemLines(o);
    expect(problems.length).toBe(2);
    expect(problems.join("\n")).toMatch(/AUTH_SERVICE is required[\s\S]*AUTH_REALM is required/);
  });
});
