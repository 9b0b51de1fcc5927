// What `npm run deploy` deploys: one environment of the wrangler configuration, read by wrangler's own reader (so
// inheritance and validation are wrangler's, not a second TOML interpretation). Values only, no I/O beyond the file.
import path from "node:path";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";

export interface DeployTarget {
  configPath: string;
  /** configPath as the user named it, for messages. */
  configLabel: string;
  env: string;
  /** false when the configuration has no [env.<env>] section (wrangler would then deploy the top level). */
  envDeclared: boolean;
  workerName: string;
  /** The environment's [vars] that are text (the Worker reads only text settings). */
  vars: Record<string, string>;
  r2Buckets: { binding: string; bucketName: string; jurisdiction?: string }[];
  rateLimits: string[];
  workflows: string[];
  crons: string[];
  compatibilityDate?: string;
  cpuMs?: number;
  observability: boolean;
  routes: { pattern: string; customDomain: boolean }[];
  workersDev?: boolean;
}

interface WranglerEnvConfig {
  name?: string;
  vars?: Record<string, unknown>;
  r2_buckets?: { binding: string; bucket_name?: string; jurisdiction?: string }[];
  ratelimits?: { name: string }[];
  workflows?: { binding: string }[];
  triggers?: { crons?: string[] };
  compatibility_date?: string;
  limits?: { cpu_ms?: number };
  observability?: { enabled?: boolean };
  routes?: (string | { pattern: string; custom_domain?: boolean })[];
  workers_dev?: boolean;
}

export function readTarget(configPath: string, env: string): DeployTarget {
  const raw = experimental_readRawConfig({ config: configPath }).rawConfig as { env?: Record<string, unknown> };
  // Only the fields used here, typed by hand: wrangler's declaration of its Config does not resolve from this package.
  const c = unstable_readConfig({ config: configPath, env }) as unknown as WranglerEnvConfig;
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.vars ?? {})) if (typeof v === "string") vars[k] = v;
  return {
    configPath,
    configLabel: path.relative(process.cwd(), configPath) || configPath,
    env,
    envDeclared: raw.env?.[env] !== undefined,
    workerName: c.name ?? "",
    vars,
    r2Buckets: (c.r2_buckets ?? []).map((b) => ({ binding: b.binding, bucketName: b.bucket_name ?? "", jurisdiction: b.jurisdiction })),
    rateLimits: (c.ratelimits ?? []).map((r) => r.name),
    workflows: (c.workflows ?? []).map((w) => w.binding),
    crons: c.triggers?.crons ?? [],
    compatibilityDate: c.compatibility_date,
    cpuMs: c.limits?.cpu_ms,
    observability: c.observability?.enabled === true,
    routes: (c.routes ?? []).map((r) => (typeof r === "string" ? { pattern: r, customDomain: false } : { pattern: r.pattern, customDomain: r.custom_domain === true })),
    workersDev: c.workers_dev,
  };
}
