// The checks `npm run deploy` makes before anything is uploaded. Pure: the Worker's own config parser
// (src/config parseConfig, with its storage, auth, key, user and rules parsers) judges the values, and the rest
// is what only a deployment knows (plans, https, the environment's bindings). Every problem is one line with its
// fix; no message quotes a secret's value (the parsers never quote values; our own lines name settings only).
import { parseConfig, ConfigError } from "../../../src/config/index";
import { SETTINGS, type SettingName } from "../../../src/config/settings";
import { isLoopbackHost } from "../../../src/config/values";
import type { DeployTarget } from "./target";
import type { Secrets } from "./secrets";

export type ZonePlan = "free" | "pro" | "business" | "enterprise";
export type WorkersPlan = "free" | "paid";
export const ZONE_PLANS: readonly ZonePlan[] = ["free", "pro", "business", "enterprise"];

/** The request body cap of each zone plan, in MB (/work/shared/docs/platform-facts.md; Enterprise can ask for up to 5,000). */
export const BODY_CAP_MB: Record<ZonePlan, number> = { free: 100, pro: 100, business: 200, enterprise: 500 };
/** limits.cpu_ms's ceiling on Workers Paid (5 minutes); the Free plan has 10 ms and no setting. */
export const MAX_CPU_MS = 300_000;

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];
const isSetting = (n: string): n is SettingName => (SETTING_NAMES as string[]).includes(n);
const isSecretKind = (n: SettingName) => "secret" in SETTINGS[n];

/** What a value may come from when it is not in [vars]: supplied now, stored in the account, or unknown (dry run). */
export interface SecretState {
  supplied: Secrets;
  /** Names stored in the account (`wrangler secret list`); null in a dry run, which cannot ask. */
  stored: Set<string> | null;
}

export interface CheckOptions {
  zonePlan?: ZonePlan;
  workersPlan: WorkersPlan;
  /**
   * Valid stand-in values for secrets whose value cannot be seen here (stored in the account, or not supplied in a
   * dry run), so the parser checks everything else around them. Made by the caller (a fresh key, a hashed line).
   */
  standIns: Partial<Record<SettingName, string>>;
}

export interface CheckResult {
  problems: string[];
  warnings: string[];
  /** Secrets the checks could not see, and why. */
  unchecked: string[];
  /** The names to upload as secrets (supplied ones). */
  upload: string[];
}

/** The secrets this configuration needs, from the values at hand ([vars] and supplied secrets). */
export function requiredSecrets(values: Record<string, string>): SettingName[] {
  const need: SettingName[] = [];
  if ((values.SKIFF_AUTH ?? "token").trim() !== "open") need.push("AUTH_SIGNING_KEY", "AUTH_USERS", "AUTH_RULES");
  const backend = (values.STORAGE_BACKEND ?? "r2").trim();
  if (backend === "s3") need.push("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY");
  if (backend === "r2" && ["R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME"].some((n) => values[n]?.trim())) {
    need.push("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY");
  }
  return need.filter((n) => values[n] === undefined);
}

export function checkDeployment(target: DeployTarget, secrets: SecretState, opts: CheckOptions): CheckResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const unchecked: string[] = [];
  const envTable = `[env.${target.env}]`;
  const varsTable = `[env.${target.env}.vars]`;
  const { vars } = target;
  const fix = (what: string, how: string) => problems.push(`${what} → fix: ${how}`);

  if (!target.envDeclared) {
    fix(`${target.configLabel} has no ${envTable} section, so wrangler would deploy the development settings`, `add ${envTable} (the repository's wrangler.toml has one to copy), or pick one with --env NAME`);
  }

  // Names: supplied secrets must be settings the Worker reads, and a name lives either in [vars] or in the secrets.
  for (const name of secrets.supplied.keys()) {
    if (!isSetting(name)) fix(`the supplied secret ${name} is not a Skiff setting`, `check its spelling (the settings: README "Storage", .dev.vars.example)`);
    else if (name in vars) fix(`${name} is both in ${varsTable} and among the supplied secrets (Cloudflare refuses a secret named like a var)`, `keep it in one place`);
  }
  for (const name of Object.keys(vars)) {
    if (isSetting(name) && isSecretKind(name)) fix(`${name} is a secret but sits in ${varsTable}, in clear text in the configuration and the dashboard`, `remove it there and supply it with --secrets-file (or stdin)`);
  }

  // The values the Worker will see. A secret we cannot see gets a valid stand-in, so that the parser checks the
  // rest; it is listed as unchecked instead.
  const values: Record<string, string> = { ...vars };
  for (const [name, value] of secrets.supplied) if (isSetting(name)) values[name] = value;
  for (const name of requiredSecrets(values)) {
    if (secrets.stored?.has(name)) unchecked.push(`${name}: stored in the account; Cloudflare never returns a secret's value, so only its presence was checked`);
    else if (secrets.stored === null) unchecked.push(`${name}: not supplied, and a dry run cannot ask the account which secrets it holds (supply it with --secrets-file to check it)`);
    else {
      fix(`${name} is not set: not supplied and not stored in the account`, secretHowTo(name));
      continue;
    }
    const standIn = opts.standIns[name];
    if (standIn !== undefined) values[name] = standIn;
  }

  if ((values.SKIFF_AUTH ?? "").trim() === "open") {
    fix(`SKIFF_AUTH is "open": anyone could push, pull and delete, anonymously`, `remove SKIFF_AUTH (token auth is the default); open auth is for local development only`);
  }

  // The Worker's own parser, with stand-ins for the bindings this environment declares.
  const env: Record<string, unknown> = { ...values };
  for (const b of target.r2Buckets) env[b.binding] = { standIn: "R2 bucket binding" };
  for (const r of target.rateLimits) env[r] = { limit: async () => ({ success: true }) };
  for (const w of target.workflows) env[w] = { standIn: "Workflow binding" };
  const standInNames = new Set<string>();
  for (const name of Object.keys(opts.standIns)) if (values[name] === opts.standIns[name as SettingName]) standInNames.add(name);
  try {
    const config = parseConfig(env);
    // Users the rules name but AUTH_USERS lacks: a typo that grants nobody. Counted, not named: user names are
    // part of the AUTH_USERS secret.
    if (config.auth.mode === "token" && !standInNames.has("AUTH_USERS") && !standInNames.has("AUTH_RULES")) {
      const { rules, users } = config.auth;
      const named = new Set([...rules.admins.users, ...[...rules.groups.values()].flatMap((g) => [...g]), ...rules.rules.flatMap((r) => [...r.users])]);
      const unknown = [...named].filter((u) => !users.has(u)).length;
      if (unknown) warnings.push(`AUTH_RULES names ${unknown} user${unknown > 1 ? "s" : ""} that AUTH_USERS does not define (a typo grants nobody anything)`);
    }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) problems.push(`${p} → fix: ${whereToFix(p, target, secrets.supplied)}`);
  }
  const r2 = target.r2Buckets.find((b) => b.binding === "BUCKET");
  if ((values.STORAGE_BACKEND ?? "r2").trim() === "r2" && r2 && !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(r2.bucketName)) {
    fix(`the BUCKET binding's bucket_name is not an R2 bucket name (3 to 63 lower-case letters, digits and -)`, `set bucket_name under [[env.${target.env}.r2_buckets]]`);
  }

  if ((values.STORAGE_BACKEND ?? "r2").trim() === "s3" && r2) {
    warnings.push(`STORAGE_BACKEND is s3 but ${envTable} still binds the R2 bucket ${r2.bucketName}: unused, and the deploy fails unless that bucket exists (remove [[env.${target.env}.r2_buckets]])`);
  }

  // Where clients find this registry: https, a real host, and the host the routes serve.
  const service = values.AUTH_SERVICE?.trim();
  const realm = values.AUTH_REALM?.trim();
  if ((values.SKIFF_AUTH ?? "token").trim() !== "open") {
    let realmHost: string | undefined;
    try {
      if (realm) realmHost = new URL(realm).hostname;
    } catch {
      /* the parser reported it */
    }
    if (realm && realm.startsWith("http:")) fix(`AUTH_REALM is http: a deployed registry is served over https only`, `set AUTH_REALM = "https://<your host>/token" in ${varsTable}`);
    if (realmHost && isLoopbackHost(realmHost)) fix(`AUTH_REALM points at this machine (${realmHost}), which clients of the deployed registry cannot reach`, `set it to https://<your host>/token in ${varsTable}`);
    for (const [name, host] of [["AUTH_SERVICE", service?.replace(/:\d+$/, "")], ["AUTH_REALM", realmHost]] as const) {
      if (host && /(^|\.)example\.(com|org|net)$/.test(host)) fix(`${name} still names the example host ${host}`, `set your registry's host name in ${varsTable}`);
    }
    if (service && realmHost && service.replace(/:\d+$/, "") !== realmHost) {
      warnings.push(`AUTH_SERVICE (${service}) and the host of AUTH_REALM (${realmHost}) differ; usually both are the registry's host`);
    }
    const hosts = target.routes.map((r) => r.pattern.replace(/^https?:\/\//, "").split("/")[0]);
    if (service && hosts.length && !hosts.some((h) => h === service.replace(/:\d+$/, "") || (h.startsWith("*.") && service.endsWith(h.slice(1))))) {
      warnings.push(`AUTH_SERVICE (${service}) is not among the routes' hosts (${hosts.join(", ")}); clients must reach the registry at AUTH_SERVICE`);
    }
  }
  if (!target.routes.length) {
    warnings.push(`no routes or custom domain in ${envTable}: the worker answers on its *.workers.dev address only, where the edge cache does nothing (uncomment the routes example in wrangler.toml)`);
  }

  // Limits: the zone plan's body cap, the Workers plan's CPU.
  const bodyText = values.MAX_REQUEST_BODY_MB?.trim();
  const bodyMB = bodyText && /^\d+$/.test(bodyText) ? Number(bodyText) : (SETTINGS.MAX_REQUEST_BODY_MB.default as number);
  if (opts.zonePlan) {
    const cap = BODY_CAP_MB[opts.zonePlan];
    if (bodyMB > cap && opts.zonePlan !== "enterprise") {
      fix(`MAX_REQUEST_BODY_MB is ${bodyMB}, but the ${opts.zonePlan} plan's edge refuses bodies over ${cap} MB before the worker runs`, `set MAX_REQUEST_BODY_MB = "${cap}" in ${varsTable}`);
    } else if (bodyMB > cap) {
      warnings.push(`MAX_REQUEST_BODY_MB is ${bodyMB}: above Enterprise's default ${cap} MB; make sure Cloudflare raised your zone's cap`);
    } else if (bodyMB < cap) {
      warnings.push(`MAX_REQUEST_BODY_MB is ${bodyMB}, below the ${opts.zonePlan} plan's ${cap} MB: clients are told to send smaller chunks than the edge allows`);
    }
  } else if (bodyMB > BODY_CAP_MB.pro) {
    fix(`MAX_REQUEST_BODY_MB is ${bodyMB}, over the 100 MB that Free and Pro zones let through`, `name your zone's plan with --zone-plan business|enterprise, or set MAX_REQUEST_BODY_MB = "100" in ${varsTable}`);
  }
  if (target.cpuMs !== undefined) {
    if (opts.workersPlan === "free") {
      fix(`limits.cpu_ms is set, but the Workers Free plan has a fixed 10 ms of CPU per request`, `remove [env.${target.env}.limits] (and expect pushes over about 20 MB to fail), or use Workers Paid (--workers-plan paid)`);
    } else if (target.cpuMs > MAX_CPU_MS) {
      fix(`limits.cpu_ms is ${target.cpuMs}, over Workers Paid's ${MAX_CPU_MS}`, `set cpu_ms = ${MAX_CPU_MS} in [env.${target.env}.limits]`);
    }
  } else if (opts.workersPlan === "paid") {
    warnings.push(`no limits.cpu_ms in ${envTable}: 30 s of CPU per request; the final PUT of a very large chunked or direct upload may need more`);
  }
  if (opts.workersPlan === "free") {
    warnings.push(`Workers Free: 10 ms of CPU per request covers hashing about 20 MB and a cheap login only (README "CPU cost of a login")`);
  }

  // Garbage collection and logs: the deployment works without them, but should not.
  if (!target.crons.length) warnings.push(`no cron trigger in ${envTable}: garbage collection never runs by itself (add [env.${target.env}.triggers] crons)`);
  if (!target.workflows.includes("GC_WORKFLOW")) warnings.push(`no GC_WORKFLOW binding in ${envTable}: each cron steps garbage collection for 20 s only, so a run takes days`);
  if (!target.observability) warnings.push(`observability is off in ${envTable}: the worker's logs (configuration problems included) are not kept`);

  return { problems, warnings, unchecked, upload: [...secrets.supplied.keys()].filter(isSetting) };
}

/** Where the setting a parser problem names is set, so the fix says which file to edit. */
function whereToFix(problem: string, target: DeployTarget, supplied: Secrets): string {
  if (/binding named|rate limiting binding/.test(problem)) {
    return `declare the binding in the [[env.${target.env}.*]] tables of ${target.configLabel} (wrangler does not inherit bindings into an environment)`;
  }
  // The setting the problem is about: the one it says is needed ("STORAGE_BACKEND=s3 needs S3_BUCKET"), else the
  // first it names.
  const needed = /\bneeds ([A-Z][A-Z0-9_]+)/.exec(problem)?.[1];
  const mentioned = SETTING_NAMES.map((n) => ({ n, at: problem.search(new RegExp(`\\b${n}\\b`)) })).filter((m) => m.at >= 0).sort((a, b) => a.at - b.at);
  const name = needed && isSetting(needed) ? needed : mentioned[0]?.n;
  if (!name) return `see the message; settings are in [env.${target.env}.vars] of ${target.configLabel} and the supplied secrets`;
  if (supplied.has(name)) return `correct the value of ${name} you supply (secrets file, key or users file, or stdin)`;
  if (name in target.vars) return `correct ${name} in [env.${target.env}.vars] of ${target.configLabel}`;
  if (isSecretKind(name)) return secretHowTo(name);
  return `set ${name} in [env.${target.env}.vars] of ${target.configLabel}`;
}

function secretHowTo(name: SettingName): string {
  switch (name) {
    case "AUTH_SIGNING_KEY":
      return "npm run keygen > key.json, then pass --signing-key-file key.json";
    case "AUTH_USERS":
      return "npm run --silent user -- add NAME >> users.txt (one line per user), then pass --users-file users.txt";
    case "AUTH_RULES":
      return `write the access rules (README "Setting up auth") to rules.json and pass --rules-file rules.json`;
    default:
      return `supply ${name} in a secrets file (--secrets-file FILE: JSON or NAME=VALUE lines) or on stdin (--secrets-stdin)`;
  }
}
