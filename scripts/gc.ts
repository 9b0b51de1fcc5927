// `npm run gc -- [--dry-run] [--url URL] [--grace SECONDS] [--quarantine SECONDS] [--user NAME --password-stdin]
//                [--resume] [--json]`
// Runs garbage collection on a Skiff through its admin endpoints (src/http/routes/gc.ts): starts a run, then asks
// for one bounded step after another until the run is done (one line per step), and prints the report's summary.
// Default URL: https://127.0.0.1:8787, where `npm start` serves (self-signed: certificates of loopback hosts are not
// checked). With token auth it logs in at the registry's token endpoint as an admin (the `skiff` CLI's way: the
// challenge names the realm); with SKIFF_AUTH=open no login is needed. During the quarantine it waits until the
// run may go on; Ctrl-C leaves the run where it is (`--resume` goes on with it later, as does the cron's Workflow).
import { parseChallenges } from "../cli/registry/challenge";
import { basicHeader } from "../cli/registry/tokens";
import { isLocalHost } from "../cli/registry/client";
import { send } from "../cli/registry/transport";
import type { GcStatus } from "../src/gc/types";

const USAGE = "usage: npm run gc -- [--dry-run] [--url URL] [--grace SECONDS] [--quarantine SECONDS] [--user NAME --password-stdin] [--resume] [--json]";

interface Options {
  url: URL;
  dryRun: boolean;
  grace?: string;
  quarantine?: string;
  user?: string;
  passwordStdin: boolean;
  resume: boolean;
  json: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const o: Partial<Options> & { url?: URL } = { dryRun: false, passwordStdin: false, resume: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--dry-run") o.dryRun = true;
    else if (flag === "--url") o.url = new URL(value());
    else if (flag === "--grace" || flag === "--quarantine") {
      const v = value();
      if (!/^\d+$/.test(v)) throw new UsageError(`${flag} takes a whole number of seconds`);
      o[flag === "--grace" ? "grace" : "quarantine"] = v;
    } else if (flag === "--user") o.user = value();
    else if (flag === "--password-stdin") o.passwordStdin = true;
    else if (flag === "--resume") o.resume = true;
    else if (flag === "--json") o.json = true;
    else if (flag === "--help" || flag === "-h") throw new UsageError(USAGE);
    else throw new UsageError(`unknown option ${argv[i]}\n${USAGE}`);
  }
  if (o.user && !o.passwordStdin) throw new UsageError("--user needs --password-stdin (the password is read from standard input)");
  if (o.passwordStdin && !o.user) throw new UsageError("--password-stdin needs --user");
  return { ...o, url: o.url ?? new URL(process.env.SKIFF_URL ?? "https://127.0.0.1:8787") } as Options;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** The registry's error message from an OCI (or OAuth) JSON error body, else the status. */
async function describe(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    const e = body?.errors?.[0];
    if (e?.message) return `${res.status} ${e.code}: ${e.message}`;
    if (body?.error_description) return `${res.status}: ${body.error_description}`;
  } catch {
    /* not JSON */
  }
  return `${res.status} ${text.slice(0, 200)}`;
}

class Admin {
  private token: string | null = null;

  constructor(
    private readonly base: URL,
    private readonly credentials: { user: string; password: string } | null,
  ) {}

  private exchange(url: URL, method: string, headers: Record<string, string> = {}): Promise<Response> {
    return send({ url, method, headers: { Accept: "application/json", ...headers }, body: null, skipTlsVerify: url.protocol === "https:" && isLocalHost(url.host) });
  }

  /** One admin call; logs in (again) when the registry asks for a token. */
  async call(method: string, path: string): Promise<Response> {
    const url = new URL(path, this.base);
    for (let attempt = 0; ; attempt++) {
      const res = await this.exchange(url, method, this.token ? { Authorization: `Bearer ${this.token}` } : {});
      if (res.status !== 401 || attempt > 0) return res;
      const bearer = parseChallenges(res.headers.get("www-authenticate") ? [res.headers.get("www-authenticate")!] : []).find((c) => c.scheme === "bearer");
      if (!bearer) return res;
      await res.body?.cancel();
      if (!this.credentials) throw new Error(`${this.base.origin} needs an admin login: --user NAME --password-stdin`);
      this.token = await this.login(bearer.params.realm, bearer.params.service, bearer.params.scope ?? "registry:catalog:*");
    }
  }

  private async login(realm: string | undefined, service: string | undefined, scope: string): Promise<string> {
    if (!realm) throw new Error("the registry's challenge names no token realm");
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    url.searchParams.set("scope", scope);
    const { user, password } = this.credentials!;
    const res = await this.exchange(url, "GET", { Authorization: basicHeader(user, password) });
    if (res.status !== 200) throw new Error(`login as ${user} failed: ${await describe(res)}`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error("the token endpoint answered no token");
    return token;
  }

  async json<T>(method: string, path: string, ok: number[] = [200]): Promise<T> {
    const res = await this.call(method, path);
    if (!ok.includes(res.status)) throw new Error(`${method} ${path}: ${await describe(res)}`);
    return (await res.json()) as T;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (n: unknown) => (typeof n === "number" ? `${(n / 1e6).toFixed(1)} MB` : "?");

/** A few lines from the report (docs/gc.md §10); fields the report lacks are left out. */
function summary(report: Record<string, any>): string[] {
  const L: string[] = [];
  const d = report.deleted ?? {};
  const would = report.dryRun ? "would free" : "freed";
  L.push(`run ${report.run}${report.dryRun ? " (dry run)" : ""}: ${report.steps?.length ?? "?"} steps, ${report.startedAt ?? "?"} → ${report.finishedAt ?? "?"}`);
  if (report.marked) L.push(`marked: ${Object.entries(report.marked).map(([k, v]) => `${v} ${k}`).join(", ")}`);
  if (report.tombstoned !== undefined) L.push(`tombstoned ${report.tombstoned}, revived ${report.revived ?? 0}, skipped young ${report.skippedYoung ?? 0}, skipped raced ${report.skippedRaced ?? 0}`);
  if (d.blobs !== undefined) L.push(`blobs ${would}: ${d.blobs} (${mb(d.bytesFreed)})`);
  if (d.orphanData) L.push(`orphan data ${would}: ${d.orphanData.objects} objects (${mb(d.orphanData.bytes)})`);
  const rest = ["links", "referrers", "catalog", "sessions", "tails", "multipartAborted"].filter((k) => d[k] !== undefined);
  if (rest.length) L.push(rest.map((k) => `${k} ${d[k]}`).join(", "));
  if (report.retention) L.push(`retention: ${report.retention.manifests?.length ?? 0} manifests, ${report.retention.tags?.length ?? 0} tags`);
  const errors: unknown[] = report.errors ?? [];
  L.push(errors.length ? `ERRORS (${errors.length}): ${errors.slice(0, 5).map((e) => JSON.stringify(e)).join("; ")}` : "no errors");
  return L;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const credentials = opts.user ? { user: opts.user, password: await readStdin() } : null;
  if (credentials && !credentials.password) throw new UsageError("no password on standard input");
  const admin = new Admin(opts.url, credentials);
  const out = (line: string) => (opts.json ? process.stderr : process.stdout).write(line + "\n");

  const q = new URLSearchParams();
  if (opts.dryRun) q.set("dry-run", "1");
  if (opts.grace !== undefined) q.set("grace", opts.grace);
  if (opts.quarantine !== undefined) q.set("quarantine", opts.quarantine);
  let status: GcStatus;
  const started = await admin.call("POST", `/_skiff/gc${q.size ? `?${q}` : ""}`);
  if (started.status === 409 && opts.resume) {
    await started.body?.cancel();
    const current = await admin.json<GcStatus | null>("GET", "/_skiff/gc");
    if (!current) throw new Error("no run to resume");
    status = current;
    out(`resuming run ${status.run} (phase ${status.phase})`);
  } else if (started.status === 202 || started.status === 200) {
    status = (await started.json()) as GcStatus;
    out(`started run ${status.run}${status.dryRun ? " (dry run)" : ""} on ${opts.url.origin}`);
  } else {
    const why = await describe(started);
    throw new Error(`could not start a run: ${why}${started.status === 409 ? " (--resume steps the run in progress)" : ""}`);
  }

  const run = status.run;
  for (let n = 1; !status.done; n++) {
    if (status.resumeAt !== undefined && status.resumeAt > Date.now()) {
      out(`quarantine: the run goes on at ${new Date(status.resumeAt).toISOString()}; waiting (Ctrl-C leaves it; --resume later)`);
      await sleep(status.resumeAt - Date.now() + 100);
    }
    const t0 = performance.now();
    status = await admin.json<GcStatus>("POST", "/_skiff/gc/step");
    if (status.run !== run) throw new Error(`run ${run} ended and run ${status.run} is current (stepped by someone else?)`);
    const s = status.step;
    out(`step ${String(n).padStart(3)}  ${(s?.phase ?? status.phase).padEnd(10)}  ${String(s?.subrequests ?? "?").padStart(5)} subrequests  ${String(s?.wallMs ?? "?").padStart(6)} ms in the Worker  ${Math.round(performance.now() - t0)} ms here`);
  }
  const report = await admin.json<Record<string, any>>("GET", `/_skiff/gc/runs/${encodeURIComponent(run)}`);
  if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else for (const line of summary(report)) out(line);
  out(`report: GET ${new URL(`/_skiff/gc/runs/${encodeURIComponent(run)}`, opts.url)} (bucket key gc/runs/${run}/report.json)`);
  if ((report.errors ?? []).length) process.exitCode = 2;
}

main().catch((err) => {
  console.error(err instanceof UsageError ? err.message : `gc: ${(err as Error).message}`);
  process.exit(err instanceof UsageError ? 64 : 1);
});
