// `npm run deploy`: check the configuration, create what wrangler can create, upload the secrets, deploy.
// `--dry-run` does every check and builds the bundle, offline, and prints the commands a real deploy would run.
import path from "node:path";
import { existsSync } from "node:fs";
import { generateSigningKey, hashPassword } from "../credentials";
import { PBKDF2_MIN_ITERATIONS } from "../../../src/auth/passwords";
import type { SettingName } from "../../../src/config/settings";
import { checkDeployment, requiredSecrets, ZONE_PLANS, type WorkersPlan, type ZonePlan } from "./checks";
import { parseSecretsText, readAll, readSecretFile, readSecretsFile, type Secrets } from "./secrets";
import { promptHidden } from "../prompt";
import { readTarget, type DeployTarget } from "./target";
import type { WranglerRunner } from "./runner";

export interface DeployOptions {
  env: string;
  config: string;
  dryRun: boolean;
  outdir: string;
  secretsFiles: string[];
  signingKeyFile?: string;
  usersFile?: string;
  rulesFile?: string;
  secretsStdin: boolean;
  prompt: boolean;
  /** The R2 bucket and its lifecycle rules are managed elsewhere (infra/cloudflare): create nothing. */
  skipBucket: boolean;
  zonePlan?: ZonePlan;
  workersPlan: WorkersPlan;
}

export const USAGE = `usage: npm run deploy -- [--dry-run] [--env production] [--config wrangler.toml]
         [--signing-key-file key.json] [--users-file users.txt] [--rules-file rules.json]
         [--secrets-file FILE]... [--secrets-stdin] [--no-prompt] [--skip-bucket]
         [--zone-plan free|pro|business|enterprise] [--workers-plan paid|free] [--outdir dist/production]`;

export function parseOptions(argv: string[], cwd: string): DeployOptions | string {
  const o: DeployOptions = {
    env: "production",
    config: path.join(cwd, "wrangler.toml"),
    dryRun: false,
    outdir: path.join(cwd, "dist", "production"),
    secretsFiles: [],
    secretsStdin: false,
    prompt: true,
    skipBucket: false,
    workersPlan: "paid",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value`);
      return v;
    };
    try {
      switch (a) {
        case "--dry-run": o.dryRun = true; break;
        case "--env": case "-e": o.env = value(); break;
        case "--config": case "-c": o.config = path.resolve(cwd, value()); break;
        case "--outdir": o.outdir = path.resolve(cwd, value()); break;
        case "--secrets-file": o.secretsFiles.push(path.resolve(cwd, value())); break;
        case "--signing-key-file": o.signingKeyFile = path.resolve(cwd, value()); break;
        case "--users-file": o.usersFile = path.resolve(cwd, value()); break;
        case "--rules-file": o.rulesFile = path.resolve(cwd, value()); break;
        case "--secrets-stdin": o.secretsStdin = true; break;
        case "--no-prompt": o.prompt = false; break;
        case "--skip-bucket": o.skipBucket = true; break;
        case "--zone-plan": {
          const v = value();
          if (!(ZONE_PLANS as string[]).includes(v)) return `--zone-plan must be one of ${ZONE_PLANS.join(", ")}`;
          o.zonePlan = v as ZonePlan;
          break;
        }
        case "--workers-plan": {
          const v = value();
          if (v !== "free" && v !== "paid") return "--workers-plan must be free or paid";
          o.workersPlan = v;
          break;
        }
        default:
          return `unknown argument ${a}`;
      }
    } catch (e) {
      return (e as Error).message;
    }
  }
  return o;
}

export interface DeployIO {
  out(line: string): void;
  err(line: string): void;
  stdin: NodeJS.ReadStream;
  wrangler: WranglerRunner;
}

/** Lifecycle rules the R2 bucket gets (README "Deploy on Cloudflare R2"): ids, so a second deploy finds them. */
export const LIFECYCLE_RULES = [
  // Multipart uploads nobody completes (a client that gave up): no upload session lives longer than
  // UPLOAD_TTL_HOURS (at most 6 days), so after 7 days nothing can still complete them.
  { id: "skiff-abort-multipart", args: ["--abort-multipart-days", "7"] },
  // Session state and tail objects of abandoned uploads, past any session's life; garbage collection removes them
  // too, this is the net when it does not run.
  { id: "skiff-upload-leftovers", prefix: "uploads/", args: ["--expire-days", "7"] },
  // Old garbage collection reports and the scratch of crashed runs; a run reads its own marks for at most a
  // quarantine (up to 30 days). The same rules as infra/ (infra/README.md), which manages them instead with
  // --skip-bucket.
  { id: "skiff-gc-runs", prefix: "gc/runs/", args: ["--expire-days", "90"] },
];

/** Runs the deploy; returns the exit code (0 done, 1 a problem, 2 usage). */
export async function runDeploy(o: DeployOptions, io: DeployIO): Promise<number> {
  const { out, err } = io;
  const mode = o.dryRun ? "dry run" : "deploy";
  if (!existsSync(o.config)) {
    err(`deploy: ${o.config} not found → fix: run from the repository's root, or pass --config`);
    return 1;
  }
  const target = readTarget(o.config, o.env);
  const common = ["--config", o.config, "--env", o.env];
  out(`Skiff ${mode}: environment "${o.env}" of ${path.relative(process.cwd(), o.config) || o.config}, worker "${target.workerName}"`);

  // Secrets: files, stdin; then (a real deploy) what the account holds, and a hidden prompt for what is missing.
  const problems: string[] = [];
  const supplied: Secrets = new Map();
  const add = (name: string, value: string | undefined) => value !== undefined && supplied.set(name, value);
  for (const f of o.secretsFiles) for (const [k, v] of readSecretsFile(f, problems)) add(k, v);
  if (o.secretsStdin) for (const [k, v] of parseSecretsText(await readAll(io.stdin), "stdin", problems)) add(k, v);
  if (o.signingKeyFile) add("AUTH_SIGNING_KEY", readSecretFile(o.signingKeyFile, "signing key", problems));
  if (o.usersFile) add("AUTH_USERS", readSecretFile(o.usersFile, "users", problems));
  if (o.rulesFile) add("AUTH_RULES", readSecretFile(o.rulesFile, "rules", problems));

  const standIns = await makeStandIns();
  const report = (problems: string[]) => {
    err(`\n${problems.length} problem${problems.length > 1 ? "s" : ""}; nothing was uploaded:`);
    for (const p of problems) err(`  ✗ ${p}`);
    return 1;
  };
  // First everything that needs no account, so a broken configuration is named before any login is needed.
  const offline = checkDeployment(target, { supplied, stored: null }, { zonePlan: o.zonePlan, workersPlan: o.workersPlan, standIns });
  if (problems.length || offline.problems.length) {
    for (const w of offline.warnings) out(`  warning: ${w}`);
    return report([...problems, ...offline.problems]);
  }

  let stored: Set<string> | null = null;
  if (!o.dryRun) {
    const listed = await listStoredSecrets(io.wrangler, common);
    if (typeof listed === "string") {
      err(`deploy: ${listed}`);
      return 1;
    }
    stored = listed;
    const values = { ...target.vars, ...Object.fromEntries(supplied) };
    const missing = requiredSecrets(values).filter((n) => !stored!.has(n));
    if (missing.length && o.prompt && io.stdin.isTTY && !o.secretsStdin) {
      err(`Secrets not supplied and not stored in the account: ${missing.join(", ")}. Paste each (not shown; one line):`);
      for (const name of missing) {
        const v = (await promptHidden(name, io.stdin)).trim();
        if (v) supplied.set(name, v);
      }
    }
  }

  // Then with what the account holds (and what was typed at the prompt).
  const result = stored === null && o.dryRun ? offline : checkDeployment(target, { supplied, stored }, { zonePlan: o.zonePlan, workersPlan: o.workersPlan, standIns });
  for (const w of result.warnings) out(`  warning: ${w}`);
  for (const u of result.unchecked) out(`  not checked: ${u}`);
  if (result.problems.length) return report(result.problems);
  out(`  ✓ configuration checked: storage, signing key, users, access rules, limits, AUTH_REALM/AUTH_SERVICE`);

  const steps = plannedSteps(target, supplied, result.upload, common, o.skipBucket);
  if (o.dryRun) {
    out(`\nBuilding the bundle (offline): wrangler deploy --dry-run --outdir ${path.relative(process.cwd(), o.outdir) || o.outdir}`);
    const build = await io.wrangler.run(["deploy", "--dry-run", "--outdir", o.outdir, ...common], { quiet: true });
    if (build.code !== 0) {
      err(build.stdout + build.stderr);
      err(`deploy: the bundle did not build (wrangler exited ${build.code}) → fix: see wrangler's output above`);
      return 1;
    }
    const size = /Total Upload: ([^\n]+)/.exec(build.stdout + build.stderr)?.[1];
    out(`  ✓ bundle built${size ? `: ${size.trim()}` : ""} in ${path.join(path.relative(process.cwd(), o.outdir) || o.outdir, "index.js")}`);
    out(`\nA real deploy (without --dry-run) would run:`);
    for (const s of steps) out(`  ${s.describe.replaceAll(o.config, target.configLabel)}`);
    return 0;
  }

  for (const s of steps) {
    out(`\n→ ${s.describe.replaceAll(o.config, target.configLabel)}`);
    const ok = await s.run(io.wrangler);
    if (ok !== true) {
      err(`deploy: ${ok}`);
      return 1;
    }
  }
  out(`\nDeployed. Check it: curl -sI https://${target.vars.AUTH_SERVICE ?? "<your host>"}/v2/ (401 with a Bearer challenge)`);
  return 0;
}

interface Step {
  describe: string;
  /** true, or what went wrong (no secret in it). */
  run(w: WranglerRunner): Promise<true | string>;
}

const show = (args: string[]) => `wrangler ${args.map((a) => (/^[\w./:@=,-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}`;

function failed(args: string[], r: { code: number }): string {
  return `${show(args)} failed (exit ${r.code}) → fix: see wrangler's output above (logged in? npx wrangler login, or CLOUDFLARE_API_TOKEN)`;
}

function plannedSteps(target: DeployTarget, secrets: Secrets, upload: string[], common: string[], skipBucket: boolean): Step[] {
  const steps: Step[] = [];
  const r2 = (target.vars.STORAGE_BACKEND ?? "r2").trim() === "r2";
  const bucket = r2 && !skipBucket ? target.r2Buckets.find((b) => b.binding === "BUCKET") : undefined;
  if (bucket) {
    const j = bucket.jurisdiction ? ["--jurisdiction", bucket.jurisdiction] : [];
    const info = ["r2", "bucket", "info", bucket.bucketName, ...j, ...common];
    const create = ["r2", "bucket", "create", bucket.bucketName, ...j, ...common];
    steps.push({
      describe: `${show(create)}   (only if \`${show(info)}\` does not find it)`,
      async run(w) {
        if ((await w.run(info, { quiet: true })).code === 0) return true;
        const r = await w.run(create);
        return r.code === 0 ? true : failed(create, r);
      },
    });
    const list = ["r2", "bucket", "lifecycle", "list", bucket.bucketName, ...j, ...common];
    const adds = LIFECYCLE_RULES.map((rule) => ({ rule, args: ["r2", "bucket", "lifecycle", "add", bucket.bucketName, rule.id, ...(rule.prefix ? [rule.prefix] : []), ...rule.args, "--force", ...j, ...common] }));
    steps.push({
      describe: `${adds.map((a) => show(a.args)).join("\n  ")}   (each only if \`${show(list)}\` does not list its name)`,
      async run(w) {
        const listed = await w.run(list, { quiet: true });
        if (listed.code !== 0) return failed(list, listed);
        for (const a of adds) {
          // The list prints each rule as "name: <id>".
          if (new RegExp(`name:\\s*${a.rule.id}\\s*$`, "m").test(listed.stdout)) continue;
          const r = await w.run(a.args);
          if (r.code !== 0) return failed(a.args, r);
        }
        return true;
      },
    });
  }
  if (upload.length) {
    const bulk = ["secret", "bulk", ...common];
    steps.push({
      describe: `${show(bulk)}   (stdin: a JSON object of ${upload.join(", ")}; values never in argv or output)`,
      async run(w) {
        const json = JSON.stringify(Object.fromEntries(upload.map((n) => [n, secrets.get(n)!])));
        const r = await w.run(bulk, { stdin: json });
        return r.code === 0 ? true : failed(bulk, r);
      },
    });
  }
  const deploy = ["deploy", ...common];
  steps.push({
    describe: show(deploy),
    async run(w) {
      const r = await w.run(deploy);
      return r.code === 0 ? true : failed(deploy, r);
    },
  });
  return steps;
}

/** The secrets in the account (`wrangler secret list`, JSON); an empty set when the worker does not exist yet. */
async function listStoredSecrets(w: WranglerRunner, common: string[]): Promise<Set<string> | string> {
  const args = ["secret", "list", "--format", "json", ...common];
  const r = await w.run(args, { quiet: true });
  if (r.code !== 0) {
    // A first deploy: the worker does not exist yet, so it holds no secrets (wrangler 4.86's message for its
    // "worker not found" API errors).
    if (/Worker "[^"]+"( \(env: [^)]*\))? not found/.test(r.stdout + r.stderr)) return new Set();
    return `${show(args)} failed (exit ${r.code}) → fix: log in (npx wrangler login, or set CLOUDFLARE_API_TOKEN); wrangler said:\n${r.stdout}${r.stderr}`;
  }
  try {
    const list = JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as { name?: unknown }[];
    return new Set(list.map((s) => s.name).filter((n): n is string => typeof n === "string"));
  } catch {
    return `${show(args)} did not print a JSON list of secrets; cannot tell which secrets the account holds`;
  }
}

/** Valid stand-ins for secrets whose values cannot be seen here, so the parser checks everything around them. */
async function makeStandIns(): Promise<Partial<Record<SettingName, string>>> {
  const text = "stand-in";
  return {
    AUTH_SIGNING_KEY: JSON.stringify((await generateSigningKey("ES256")).privateJwk),
    AUTH_USERS: `stand-in:${await hashPassword(crypto.randomUUID(), PBKDF2_MIN_ITERATIONS)}`,
    AUTH_RULES: "{}",
    S3_ACCESS_KEY_ID: text,
    S3_SECRET_ACCESS_KEY: text,
    R2_ACCESS_KEY_ID: text,
    R2_SECRET_ACCESS_KEY: text,
  };
}
