#!/usr/bin/env node
// `npm start`: Skiff under `wrangler dev` on https://127.0.0.1:8787, offline, on a local R2 bucket persisted in
// .wrangler/state. The end-to-end tests start Skiff through `startSkiff` below, so they run exactly what this runs.
//
// Why https with wrangler's self-signed certificate: docker, podman, skopeo and buildah first try https on a
// registry at 127.0.0.1 and fall back to http only after their 10 s TLS handshake timeout, because a plain-http
// workerd socket never answers a TLS ClientHello. Measured here (small 2-layer image): docker push 10.2 s on http,
// 0.06-0.15 s on https; skopeo 10.1 s -> 0.13 s; podman 10.1 s -> 0.07 s. A front proxy that refuses the TLS probe
// at once was as fast (and as fast for 256 MiB uploads), but it is one more process in the data path and more
// code, while https is built into wrangler, works offline and is what clients meet in production (Workers serve
// https only). Plain http to this port fails at once (connection closed), never hangs.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { devVarsKeys, localDevAuth } from "./user.mjs";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_PORT = 8787;
export const DEFAULT_PERSIST_DIR = path.join(PROJECT_ROOT, ".wrangler", "state");

// ---- Local development auth. `npm start` runs token auth with a development user (localDevAuth in user.mjs,
// startSkiff's auth: "dev"); this block is the open mode: `SKIFF_AUTH=open npm start`, and startSkiff's default
// for callers that do not ask for "dev" (the e2e tests pass their own auth settings as vars). ----
export const LOCAL_AUTH = {
  /** Worker variables passed to `wrangler dev` with --var. */
  vars: { SKIFF_AUTH: "open" },
  /** What the banner says about auth. */
  bannerLines: [
    "AUTH IS OPEN: anyone who can reach this port can push, pull and delete, anonymously.",
    "This is for local development only. Never expose this port or deploy with SKIFF_AUTH=open.",
  ],
};

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort(host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on host:port (so wrangler will not silently serve elsewhere, or we poll someone else). */
function portIsFree(port, host) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Any HTTP answer from GET /v2/ (200 open, 401 with auth) means the worker is serving. */
function probe(url) {
  return new Promise((resolve) => {
    const lib = url.startsWith("https:") ? https : http;
    const req = lib.get(`${url}/v2/`, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `wrangler dev` (the project's own wrangler) and resolves once it answers GET /v2/.
 * @param {object} [opts]
 * @param {number} [opts.port] listen port (default 8787)
 * @param {string} [opts.host] listen address (default 127.0.0.1)
 * @param {string} [opts.persistTo] local R2 state directory (default .wrangler/state)
 * @param {number} [opts.inspectorPort] devtools port (default: a free one, so instances never collide)
 * @param {"https"|"http"} [opts.protocol] default https (see the top of this file)
 * @param {"dev"|"open"} [opts.auth] "dev": token auth with the development user (what `npm start` runs, see
 *   localDevAuth in user.mjs); "open" (default here, for now): LOCAL_AUTH below
 * @param {Record<string,string>} [opts.vars] extra worker variables (after the auth vars, so they win). AUTH_REALM
 *   and AUTH_SERVICE default to this server's <url>/token and host:port (unless .dev.vars sets them)
 * @param {(chunk: string) => void} [opts.onOutput] receives wrangler's stdout and stderr as they arrive
 * @param {number} [opts.readyTimeoutMs] default 60 s
 */
export async function startSkiff(opts = {}) {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? DEFAULT_PORT;
  const protocol = opts.protocol ?? "https";
  const persistTo = path.resolve(opts.persistTo ?? DEFAULT_PERSIST_DIR);
  const inspectorPort = opts.inspectorPort ?? (await freePort());
  const auth = opts.auth === "dev" ? localDevAuth({ persistTo, registry: `${host}:${port}`, projectRoot: PROJECT_ROOT }) : { ...LOCAL_AUTH, credentials: null };
  const url = `${protocol}://${host}:${port}`;
  // Token auth takes its realm and service from the configuration only, never from the Host header: this server's
  // own, unless .dev.vars sets them (--var would override .dev.vars).
  const configured = devVarsKeys(path.join(PROJECT_ROOT, ".dev.vars"));
  const site = Object.entries({ AUTH_REALM: `${url}/token`, AUTH_SERVICE: `${host}:${port}` }).filter(([k]) => !configured.has(k));
  const vars = { ...Object.fromEntries(site), ...auth.vars, ...(opts.vars ?? {}) };

  const wranglerBin = path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  if (!existsSync(wranglerBin)) throw new Error(`wrangler is not installed (${wranglerBin} missing): run npm ci`);
  if (!(await portIsFree(port, host))) throw new Error(`port ${host}:${port} is already in use; pick another with --port`);

  const args = [
    wranglerBin, "dev",
    "--config", path.join(PROJECT_ROOT, "wrangler.toml"),
    "--ip", host,
    "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--local-protocol", protocol,
    "--persist-to", persistTo,
    "--show-interactive-dev-session=false",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  // Own process group: stop() signals wrangler and its workerd children together.
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: process.env.NO_COLOR ?? "1" },
  });
  let output = "";
  const onData = (buf) => {
    const s = buf.toString();
    output = (output + s).slice(-1_000_000); // keep the last MB: tests read request logs from it
    opts.onOutput?.(s);
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  let exitCode = null;
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exitCode = code ?? signal))));
  const killGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  const lastResort = () => killGroup("SIGKILL");
  process.once("exit", lastResort);

  const handle = {
    url,
    host,
    port,
    protocol,
    /** "127.0.0.1:port", as image references spell it. */
    registry: `${host}:${port}`,
    persistTo,
    inspectorPort,
    /** The auth it runs with: banner lines and, for "dev", the development user's credentials. */
    auth,
    pid: child.pid,
    child,
    exited,
    /** Everything wrangler printed so far (at most the last MB). */
    output: () => output,
    /** Stops wrangler and workerd: SIGTERM to the group, SIGKILL after `graceMs`. */
    async stop(graceMs = 5000) {
      process.removeListener("exit", lastResort);
      if (exitCode !== null) return;
      killGroup("SIGTERM");
      await Promise.race([exited, sleep(graceMs)]);
      // After the grace period, or even after wrangler exited: workerd children may outlive it by a moment.
      killGroup("SIGKILL");
      await exited;
    },
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exitCode !== null) throw new Error(`wrangler dev exited (${exitCode}) before it was ready`);
      // "Ready on <url>" proves wrangler serves where we asked; the probe proves the worker answers.
      if (output.includes(`Ready on ${url}`) && (await probe(url))) break;
      if (Date.now() > deadline) throw new Error(`wrangler dev was not ready on ${url} after ${opts.readyTimeoutMs ?? 60_000} ms`);
      await sleep(100);
    }
  } catch (err) {
    await handle.stop();
    err.message += `\n--- wrangler output ---\n${output.slice(-4000)}`;
    throw err;
  }
  return handle;
}

/** The text `npm start` prints once Skiff is up. */
export function banner(s) {
  const reg = s.registry;
  return [
    "",
    "============================================================================================",
    ` Skiff is running at ${s.url}`,
    ` Local R2 bucket persisted in ${s.persistTo.startsWith(PROJECT_ROOT + path.sep) ? path.relative(PROJECT_ROOT, s.persistTo) : s.persistTo} (offline, no account needed)`,
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
    " Ctrl-C stops it. Options: --port N, --persist-to DIR",
    "============================================================================================",
    "",
  ].join("\n");
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.split("=", 2);
    const value = () => inline ?? argv[++i];
    if (flag === "--port") out.port = Number(value());
    else if (flag === "--persist-to") out.persistTo = value();
    else if (flag === "--help" || flag === "-h") out.help = true;
    else throw new Error(`unknown option ${a} (options: --port N, --persist-to DIR)`);
  }
  if (out.port !== undefined && !(Number.isInteger(out.port) && out.port > 0 && out.port < 65536)) throw new Error("--port needs a port number");
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log("npm start [-- --port N] [-- --persist-to DIR]: run Skiff locally under wrangler dev (token auth with a printed dev user; SKIFF_AUTH=open for open mode; local R2)");
    return;
  }
  const skiff = await startSkiff({
    port: args.port ?? (Number(process.env.PORT) || DEFAULT_PORT),
    persistTo: args.persistTo,
    // Auth on with a development user, as newcomers should meet it; SKIFF_AUTH=open npm start runs it open.
    auth: process.env.SKIFF_AUTH === "open" ? "open" : "dev",
    onOutput: (s) => process.stdout.write(s),
  });
  process.stdout.write(banner(skiff));
  let stopping = false;
  const stop = (signal) => async () => {
    if (stopping) return;
    stopping = true;
    await skiff.stop();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, stop(sig));
  const code = await skiff.exited;
  if (!stopping) {
    console.error(`wrangler dev exited (${code})`);
    process.exit(typeof code === "number" ? code || 1 : 1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(err?.message ?? err);
    process.exit(1);
  });
}
