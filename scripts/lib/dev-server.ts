// Skiff under `wrangler dev`, as `npm start` (local R2 bucket) and `npm run start:s3` (S3) run it. The end-to-end
// tests and the bench start Skiff through `startSkiff` below, so they run exactly what `npm start` runs.
//
// Why https with wrangler's self-signed certificate: docker, podman, skopeo and buildah first try https on a
// registry at 127.0.0.1 and fall back to http only after their TLS handshake timeout, which a plain-http workerd
// socket never ends early. The measurements and the alternatives weighed: docs/testing.md#local-https. Plain http
// to this port fails at once (connection closed), never hangs.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { generateSigningKey, hashPassword, randomPassword } from "./credentials";
import { appendCapture, newCaptureFile, recordSecrets, secretsOfVars } from "./log-capture";
import { freePort, httpStatus, portIsFree, sleep, startDaemon, type Daemon } from "./processes";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEFAULT_PORT = 8787;
export const DEFAULT_PERSIST_DIR = path.join(PROJECT_ROOT, ".wrangler", "state");
const WRANGLER = path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

export interface DevAuth {
  /** Worker variables passed to `wrangler dev` with --var. */
  vars: Record<string, string>;
  /** What the banner says about auth. */
  bannerLines: string[];
  /** The development user (auth "dev" only). */
  credentials: { user: string; password: string } | null;
}

// ---- Local development auth. `npm start` runs token auth with a development user (localDevAuth, startSkiff's
// auth: "dev"); this is the open mode: `SKIFF_AUTH=open npm start`, and startSkiff's default for callers that do not
// ask for "dev" (the e2e tests pass their own auth settings as vars). ----
export const LOCAL_AUTH: Omit<DevAuth, "credentials"> = {
  vars: { SKIFF_AUTH: "open" },
  bannerLines: [
    "AUTH IS OPEN: anyone who can reach this port can push, pull and delete, anonymously.",
    "This is for local development only. Never expose this port or deploy with SKIFF_AUTH=open.",
  ],
};

/** Keys of a .dev.vars file (dotenv syntax), without their values. */
export function devVarsKeys(file: string): Set<string> {
  if (!existsSync(file)) return new Set();
  return new Set([...readFileSync(file, "utf8").matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]));
}

/**
 * How `npm start` authenticates: token auth ON, as in a deployment, with a development admin `dev` whose password
 * is printed at start. The user and a development signing key are made once and kept in <persistTo>/dev-auth.json
 * (next to the local R2 data, git-ignored), so a restart keeps `docker login` valid. Settings in .dev.vars win:
 * with AUTH_USERS or SKIFF_AUTH there, only a missing signing key is supplied. Never use these keys in production.
 */
export async function localDevAuth({ persistTo, registry }: { persistTo: string; registry: string }): Promise<DevAuth> {
  const configured = devVarsKeys(path.join(PROJECT_ROOT, ".dev.vars"));
  const file = path.join(persistTo, "dev-auth.json");
  let saved = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
  if (!saved?.signingKey || !saved?.entry) {
    const password = randomPassword();
    saved = { user: "dev", password, entry: await hashPassword(password), signingKey: (await generateSigningKey("ES256")).privateJwk };
    mkdirSync(persistTo, { recursive: true });
    writeFileSync(file, JSON.stringify(saved, null, 2) + "\n", { mode: 0o600 });
  }
  const key = { AUTH_SIGNING_KEY: JSON.stringify(saved.signingKey) };
  if (configured.has("AUTH_USERS") || configured.has("SKIFF_AUTH")) {
    return {
      vars: configured.has("AUTH_SIGNING_KEY") ? {} : key,
      bannerLines: ["Auth is configured by .dev.vars (SKIFF_AUTH / AUTH_USERS / AUTH_RULES there)."],
      credentials: null,
    };
  }
  return {
    vars: { SKIFF_AUTH: "token", AUTH_USERS: `${saved.user}:${saved.entry}`, AUTH_RULES: JSON.stringify({ admins: [saved.user] }), ...key },
    bannerLines: [
      "AUTH IS ON (token auth, as in a deployment). Development admin user:",
      `   user: ${saved.user}   password: ${saved.password}`,
      `   echo '${saved.password}' | docker login -u ${saved.user} --password-stdin ${registry}`,
      `   (kept in ${file}; delete it for a new one; other users and rules: see .dev.vars.example)`,
      "Open mode, anyone may push and pull: SKIFF_AUTH=open npm start",
    ],
    credentials: { user: saved.user, password: saved.password },
  };
}

/** `wrangler dev` as `npm start` runs it (offline, local bucket state in `persistTo`), for any wrangler config. */
export function wranglerDev(opts: {
  config: string;
  host: string;
  port: number;
  inspectorPort: number;
  protocol: "https" | "http";
  persistTo: string;
  vars?: Record<string, string>;
  logFile?: string;
  onOutput?: (chunk: string) => void;
  /** Run wrangler's DevTools inspector proxy (off unless asked for: see below). */
  devtools?: boolean;
  /** Serve GET /__scheduled, which fires the Worker's scheduled handler (the garbage collection cron). */
  testScheduled?: boolean;
}): Daemon {
  if (!existsSync(WRANGLER)) throw new Error(`wrangler is not installed (${WRANGLER} missing): run npm ci`);
  // SKIFF_LOG_CAPTURE_DIR: keep workerd's output and the configured secrets for the end-to-end log check.
  const capture = newCaptureFile("wrangler");
  if (capture) recordSecrets(secretsOfVars(opts.vars ?? {}));
  const onOutput = capture ? (s: string) => (appendCapture(capture, s), opts.onOutput?.(s)) : opts.onOutput;
  const args = [
    WRANGLER, "dev",
    "--config", opts.config,
    "--ip", opts.host,
    "--port", String(opts.port),
    "--inspector-port", String(opts.inspectorPort),
    "--local-protocol", opts.protocol,
    "--persist-to", opts.persistTo,
    "--show-interactive-dev-session=false",
    ...(opts.testScheduled ? ["--test-scheduled"] : []),
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  // Own process group: stop() signals wrangler and its workerd children together.
  return startDaemon(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: {
      WRANGLER_SEND_METRICS: "false",
      // Miniflare fetches the `Request.cf` placeholder from workers.cloudflare.com at every start (offline: a
      // getaddrinfo ENOTFOUND stack trace, twice). Skiff reads nothing from request.cf, so the built-in placeholder
      // does. This is Miniflare's switch for it; a value set in the environment wins.
      CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
      NO_COLOR: process.env.NO_COLOR ?? "1",
      // wrangler 4.86's DevTools inspector proxy turns on the runtime's Network domain and posts every event to
      // wrangler's Node process as a new HTTP request whose socket stays open: one per 4 KiB of every S3 response
      // the Worker reads. A 256 MiB read-back opened ~65,000 sockets and workerd died of "Too many open files".
      // wrangler's CLI has no switch for it; it leaves the inspector out when it believes it runs in a VS Code
      // debug terminal, which is what this variable says. `SKIFF_DEVTOOLS=1 npm start` keeps it (for debugging).
      ...((opts.devtools ?? process.env.SKIFF_DEVTOOLS === "1") ? {} : { VSCODE_INSPECTOR_OPTIONS: process.env.VSCODE_INSPECTOR_OPTIONS ?? "{}" }),
    },
    logFile: opts.logFile,
    onOutput,
  });
}

export interface StartSkiffOptions {
  /** listen port (default 8787) */
  port?: number;
  /** listen address (default 127.0.0.1) */
  host?: string;
  /** local R2 state directory (default .wrangler/state) */
  persistTo?: string;
  /** devtools port (default: a free one, so instances never collide) */
  inspectorPort?: number;
  /** default https (see the top of this file) */
  protocol?: "https" | "http";
  /** "dev": token auth with the development user (what `npm start` runs, see localDevAuth); "open" (default here): LOCAL_AUTH */
  auth?: "dev" | "open";
  /** Extra worker variables (after the auth vars, so they win). AUTH_REALM and AUTH_SERVICE default to this server's
   * <url>/token and host:port (unless .dev.vars sets them). */
  vars?: Record<string, string>;
  /** Receives wrangler's stdout and stderr as they arrive. */
  onOutput?: (chunk: string) => void;
  /** default 60 s */
  readyTimeoutMs?: number;
  /** Serve GET /__scheduled (wrangler dev --test-scheduled): fires the scheduled handler (garbage collection). */
  testScheduled?: boolean;
}

export interface SkiffHandle {
  url: string;
  host: string;
  port: number;
  protocol: "https" | "http";
  /** "127.0.0.1:port", as image references spell it. */
  registry: string;
  persistTo: string;
  inspectorPort: number;
  /** The auth it runs with: banner lines and, for "dev", the development user's credentials. */
  auth: DevAuth;
  /** pid of the wrangler process (leader of its own process group). */
  pid: number;
  child: Daemon["child"];
  exited: Promise<number | string>;
  /** Everything wrangler printed so far (at most the last 2 MB). */
  output(): string;
  /** Stops wrangler and workerd: SIGTERM to the group, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `wrangler dev` (the project's own wrangler) on Skiff and resolves once it answers GET /v2/. */
export async function startSkiff(opts: StartSkiffOptions = {}): Promise<SkiffHandle> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? DEFAULT_PORT;
  const protocol = opts.protocol ?? "https";
  const persistTo = path.resolve(opts.persistTo ?? DEFAULT_PERSIST_DIR);
  const inspectorPort = opts.inspectorPort ?? (await freePort());
  const auth = opts.auth === "dev" ? await localDevAuth({ persistTo, registry: `${host}:${port}` }) : { ...LOCAL_AUTH, credentials: null };
  const url = `${protocol}://${host}:${port}`;
  // Token auth takes its realm and service from the configuration only, never from the Host header: this server's
  // own, unless .dev.vars sets them (--var would override .dev.vars).
  const configured = devVarsKeys(path.join(PROJECT_ROOT, ".dev.vars"));
  const site = Object.entries({ AUTH_REALM: `${url}/token`, AUTH_SERVICE: `${host}:${port}` }).filter(([k]) => !configured.has(k));
  const vars = { ...Object.fromEntries(site), ...auth.vars, ...(opts.vars ?? {}) };

  if (!(await portIsFree(port, host))) throw new Error(`port ${host}:${port} is already in use; pick another with --port`);
  const wrangler = wranglerDev({ config: path.join(PROJECT_ROOT, "wrangler.toml"), host, port, inspectorPort, protocol, persistTo, vars, onOutput: opts.onOutput, testScheduled: opts.testScheduled });
  const handle: SkiffHandle = {
    url,
    host,
    port,
    protocol,
    registry: `${host}:${port}`,
    persistTo,
    inspectorPort,
    auth,
    pid: wrangler.pid,
    child: wrangler.child,
    exited: wrangler.exited,
    output: wrangler.output,
    stop: wrangler.stop,
  };

  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + readyTimeoutMs;
  try {
    for (;;) {
      if (!wrangler.isRunning()) throw new Error(`wrangler dev exited (${await wrangler.exited}) before it was ready`);
      // "Ready on <url>" proves wrangler serves where we asked; any answer to GET /v2/ (200 open, 401 with auth)
      // proves the worker answers.
      if (wrangler.output().includes(`Ready on ${url}`) && typeof (await httpStatus(`${url}/v2/`)) === "number") break;
      if (Date.now() > deadline) throw new Error(`wrangler dev was not ready on ${url} after ${readyTimeoutMs} ms`);
      await sleep(100);
    }
  } catch (err) {
    await wrangler.stop();
    (err as Error).message += `\n--- wrangler output ---\n${wrangler.output().slice(-4000)}`;
    throw err;
  }
  return handle;
}

/** Where a started Skiff keeps its bytes, as its banner tells it. */
export type BannerStorage =
  | { backend: "r2" }
  /** `where`: e.g. "S3 at http://127.0.0.1:7480, bucket skiff (local Ceph RGW, discarded on exit)" */
  | { backend: "s3"; where: string };

/** The text `npm start` (local R2 bucket) and `npm run start:s3` print once Skiff is up. */
export function banner(s: SkiffHandle, storage: BannerStorage = { backend: "r2" }): string {
  const reg = s.registry;
  const persisted = s.persistTo.startsWith(PROJECT_ROOT + path.sep) ? path.relative(PROJECT_ROOT, s.persistTo) : s.persistTo;
  return [
    "",
    "============================================================================================",
    ` Skiff is running at ${s.url}`,
    storage.backend === "r2"
      ? ` Local R2 bucket persisted in ${persisted} (offline, no account needed)`
      : ` Storage: ${storage.where}`,
    "",
    ...(s.auth?.bannerLines ?? LOCAL_AUTH.bannerLines).map((l) => ` ${l}`),
    "",
    " It serves https with a self-signed certificate (so clients never wait for a TLS probe):",
    `   docker tag IMAGE ${reg}/team/app:v1 && docker push ${reg}/team/app:v1   (127.0.0.1 needs no config)`,
    `   podman push --tls-verify=false IMAGE ${reg}/team/app:v1`,
    `   skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://${reg}/team/app:v1`,
    `   curl -k ${s.url}/v2/team/app/tags/list`,
    `   ctr (containerd 1.6 uses plain http for 127.0.0.1): --hosts-dir DIR with DIR/${reg}/hosts.toml:`,
    `     server = "${s.url}"  +  [host."${s.url}"] skip_verify = true`,
    "",
    storage.backend === "r2"
      ? " Ctrl-C stops it. Options: --port N, --persist-to DIR. DevTools (off: it floods on big uploads): SKIFF_DEVTOOLS=1"
      : " Ctrl-C stops it. Port: PORT=N. DevTools (off: it floods on big uploads): SKIFF_DEVTOOLS=1",
    "============================================================================================",
    "",
  ].join("\n");
}

/**
 * Keeps a command-line Skiff running until a signal (then stops it, runs `cleanup`, exits 130/143) or until wrangler
 * exits by itself (then runs `cleanup` and exits with wrangler's code, or 1).
 */
export async function serveUntilStopped(skiff: SkiffHandle, cleanup: () => Promise<void> = async () => {}): Promise<never> {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => async () => {
    if (stopping) return;
    stopping = true;
    await skiff.stop();
    await cleanup();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, stop(sig));
  const code = await skiff.exited;
  if (!stopping) {
    await cleanup();
    console.error(`wrangler dev exited (${code})`);
    process.exit(typeof code === "number" ? code || 1 : 1);
  }
  return new Promise<never>(() => {}); // a signal handler is stopping it and exits
}

// ---- S3 ----

const runFile = promisify(execFile);
const CEPH = path.join(PROJECT_ROOT, "infra", "ceph-s3");

export interface LocalS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** Worker variables that point Skiff at it (STORAGE_BACKEND=s3, S3_*). */
  vars: Record<string, string>;
  /** The cluster's directory (config, logs, `run/*.pid` of ceph-mon, ceph-osd and radosgw: the bench reads their CPU). */
  cephDir: string;
  /** Stops the daemons and deletes the data. */
  stop(): Promise<void>;
}

/** Starts Ceph RGW (infra/ceph-s3) on free 127.0.0.1 ports with one bucket; returns the variables that point Skiff at it. */
export async function startLocalS3(opts: { bucket?: string; log?: (s: string) => void } = {}): Promise<LocalS3> {
  const dir = await mkdtemp(path.join(tmpdir(), "skiff-s3-"));
  const bucket = opts.bucket ?? "skiff";
  const env = {
    ...process.env,
    CEPH_DIR: path.join(dir, "ceph"),
    S3_ACCESS_KEY: "skiff-local",
    S3_SECRET_KEY: `local-${crypto.randomUUID()}`,
    S3_BUCKETS: bucket,
  };
  const stop = async () => {
    await runFile(path.join(CEPH, "stop.sh"), [], { env }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { stdout } = await runFile(path.join(CEPH, "start.sh"), [], { env, timeout: 120_000 });
    opts.log?.(stdout);
  } catch (err) {
    await stop();
    const e = err as Error & { stderr?: string };
    throw new Error(`could not start the local S3 server (is Ceph installed? see infra/ceph-s3/start.sh): ${e.stderr || e.message}`);
  }
  const endpoint = /^S3_ENDPOINT=(.*)$/m.exec(await readFile(path.join(env.CEPH_DIR, "env"), "utf8"))![1];
  return {
    endpoint,
    cephDir: env.CEPH_DIR,
    vars: {
      STORAGE_BACKEND: "s3",
      S3_ENDPOINT: endpoint,
      S3_REGION: "us-east-1",
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: env.S3_SECRET_KEY,
      S3_FORCE_PATH_STYLE: "true",
    },
    stop,
  };
}

/** S3_* and BLOB_* settings from the environment, for the worker. */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => /^(S3_|BLOB_)/.test(e[0]) && Boolean(e[1])));
}
