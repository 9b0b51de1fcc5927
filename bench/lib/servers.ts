// The two registries under test, side by side on free loopback ports with fresh storage, both serving https:
//   Skiff         test/support's startSkiffRegistry, i.e. scripts/lib/dev-server.ts `startSkiff`, the code `npm start` runs:
//                 wrangler dev in open-auth mode (`SKIFF_AUTH=open npm start`), local R2 simulator, https with
//                 wrangler's self-signed certificate;
//   distribution  CNCF distribution 2.8.2 (`docker-registry serve`), filesystem storage, https with a self-signed
//                 certificate made here, so both sides pay for TLS and clients treat them alike (test/support's
//                 startDistribution serves plain http, which is right for the e2e tests but not for a fair race).
// Plus the bench's floor Worker (bench/floor) under the same wrangler dev, to tell Skiff's cost from the simulator's.
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ENTERPRISE_BODY_LIMIT, startSkiffRegistry } from "../../test/support/registries";
import { wranglerDev } from "../../scripts/lib/dev-server";
import { cmdline, descendants, freePort, run, startDaemon, waitForHttp } from "../../scripts/lib/processes";

export interface Registry {
  name: "skiff" | "distribution";
  /** host:port, as image references name it */
  host: string;
  url: string;
  /** Milliseconds from spawn to serving GET /v2/. */
  startupMs: number;
  /** The process that does the registry's work (Skiff: the workerd running the Worker). */
  mainPid(): number;
  stop(): Promise<void>;
}

export interface WranglerProcesses {
  /** workerd running the Worker and Miniflare's R2 simulator (one process: the "worker process"). */
  runtime: number;
  /** workerd running wrangler's dev proxy in front of it (owns the listening port, terminates TLS; not in production). */
  proxy: number;
  /** wrangler's own Node process (bundler, file watcher, Miniflare's loopback service). */
  wrangler: number;
}

export interface SkiffRegistry extends Registry {
  name: "skiff";
  /** Current processes; re-resolved on every call because wrangler restarts the runtime when sources change. */
  processes(): WranglerProcesses;
}

const ROOT = new URL("../..", import.meta.url).pathname;

/** wrangler dev's processes: the proxy workerd owns the public port, the other workerd runs the Worker. */
export function wranglerProcesses(leader: number, port: number): WranglerProcesses {
  const all = descendants(leader).map((p) => p.pid);
  const workerds = all.filter((p) => (cmdline(p)[0] ?? "").endsWith("/workerd"));
  const proxy = workerds.find((p) => cmdline(p).some((a) => a.startsWith("--socket-addr=entry=") && a.endsWith(`:${port}`)));
  const runtime = workerds.find((p) => p !== proxy);
  const nodes = [leader, ...all].filter((p) => /node$/.test(cmdline(p)[0] ?? "") && cmdline(p).some((a) => a.includes("wrangler")));
  if (!proxy || !runtime) throw new Error(`cannot find wrangler's workerd processes under pid ${leader} (found ${workerds.join(", ") || "none"})`);
  return { runtime, proxy, wrangler: nodes[nodes.length - 1] };
}

/** Starts Skiff; wrangler's output is written to `logDir`/skiff.log when it stops. */
export async function startSkiff(logDir: string, vars: Record<string, string> = {}): Promise<SkiffRegistry> {
  const t0 = performance.now();
  // Open auth (`SKIFF_AUTH=open npm start`): the clients push anonymously, so the numbers are the data path's. The
  // clients send each layer (up to 1 GiB) in one request: an Enterprise zone's body limit.
  const handle = await startSkiffRegistry({ auth: "open", vars: { ...ENTERPRISE_BODY_LIMIT, ...vars } });
  const startupMs = performance.now() - t0;
  const port = Number(handle.host.split(":")[1]);
  const processes = () => wranglerProcesses(handle.pid, port);
  return {
    name: "skiff",
    host: handle.host,
    url: handle.url,
    startupMs,
    processes,
    mainPid: () => processes().runtime,
    async stop() {
      writeFileSync(join(logDir, "skiff.log"), handle.output());
      await handle.stop();
    },
  };
}

/** A self-signed certificate for 127.0.0.1 (openssl), for distribution's https. */
async function selfSignedCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
  return { cert, key };
}

/**
 * distribution over https; `storage` replaces the filesystem driver's YAML lines (e.g. its S3 driver on the same RGW
 * as Skiff, for the big-push section).
 */
export async function startDistribution(workDir: string, storage?: string[]): Promise<Registry> {
  const bin = "/usr/bin/docker-registry";
  if (!existsSync(bin)) throw new Error("docker-registry not found: apt-get install -y docker-registry");
  const port = await freePort();
  const dataDir = join(workDir, "distribution-data");
  mkdirSync(dataDir, { recursive: true });
  const tls = await selfSignedCert(workDir);
  const config = join(workDir, "distribution.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log: { level: error, accesslog: { disabled: true } }",
      "storage:",
      ...(storage ?? [`  filesystem: { rootdirectory: ${JSON.stringify(dataDir)} }`]),
      "  delete: { enabled: true }",
      "  maintenance: { uploadpurging: { enabled: false } }",
      `http: { addr: 127.0.0.1:${port}, secret: bench-local-only, tls: { certificate: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)} } }`,
      "",
    ].join("\n"),
  );
  const t0 = performance.now();
  // distribution 2.8.2's S3 driver panics at start-up when AWS_CA_BUNDLE is set ("HTTPClient's transport unsupported
  // type"); the local RGW is plain http and needs no bundle.
  const daemon = startDaemon(bin, ["serve", config], { logFile: join(workDir, "distribution.log"), env: { AWS_CA_BUNDLE: undefined } });
  const url = `https://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, { timeoutMs: 20_000 });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return {
    name: "distribution",
    host: `127.0.0.1:${port}`,
    url,
    startupMs: performance.now() - t0,
    mainPid: () => daemon.pid,
    stop: () => daemon.stop(),
  };
}

/** The floor Worker (bench/floor/wrangler.toml) under wrangler dev, with the same flags as `npm start`. */
export async function startFloorWorker(workDir: string): Promise<{ url: string; processes(): WranglerProcesses; stop(): Promise<void> }> {
  const port = await freePort();
  const persistTo = join(workDir, "floor-state");
  mkdirSync(persistTo, { recursive: true });
  const wrangler = wranglerDev({
    config: join(ROOT, "bench/floor/wrangler.toml"),
    host: "127.0.0.1",
    port,
    inspectorPort: await freePort(),
    protocol: "https",
    persistTo,
    logFile: join(workDir, "floor.log"),
  });
  const url = `https://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/`, { timeoutMs: 90_000 });
  } catch (err) {
    await wrangler.stop();
    throw err;
  }
  return { url, processes: () => wranglerProcesses(wrangler.pid, port), stop: () => wrangler.stop() };
}

/** One timed transfer of one round into one registry: the fields both bench runs (r2 and s3) record. */
export interface Transfer {
  kind: "skopeo" | "docker" | "raw";
  /** push | pull | one-request PUT | chunked PATCH 16 MiB */
  op: string;
  sizeMiB: number;
  registry: Registry["name"];
  round: number;
  bytes: number;
  ms: number;
  mbps: number;
}
