// The registries the e2e suite runs against: Skiff under `wrangler dev` (started exactly as `npm start` starts it)
// and CNCF distribution 2.8.2 as the reference. Both expose the same shape, plus a parsed request log so tests can
// see what clients actually sent (e.g. that a cross-repo copy mounted blobs instead of uploading them).
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { startSkiff } from "../../scripts/lib/dev-server";
import { freePort } from "../../scripts/lib/processes";
import { removeDir, startDaemon, tempDir, waitFor } from "./proc";
import { request } from "./http";

export interface LoggedRequest {
  method: string;
  /** Path without the query string (wrangler does not log queries). */
  path: string;
  status: number;
}

export interface RegistryUnderTest {
  kind: "skiff" | "distribution";
  /** Base URL, e.g. https://127.0.0.1:41234 */
  url: string;
  /** host:port as image references spell it. */
  host: string;
  scheme: "http" | "https";
  /** pid of the main process (wrangler for Skiff). */
  pid: number;
  /** Every request answered before this call, in the order they were logged (see settledLog). */
  requests(): Promise<LoggedRequest[]>;
  /** Raw server output (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Worker variables of a Cloudflare Enterprise zone, whose request body limit goes up to 5 GB: for the tests and the
 * bench that push 1 GiB layers in one request, as docker and containerd do. `npm start` keeps the default 100 MB of
 * Free and Pro zones.
 */
export const ENTERPRISE_BODY_LIMIT: Record<string, string> = { MAX_REQUEST_BODY_MB: "5000" };

/** Skiff via the same code as `npm start`, on a free port, with a fresh temp dir for the local R2 state. */
export async function startSkiffRegistry(opts: { auth?: "dev" | "open"; vars?: Record<string, string> } = {}): Promise<RegistryUnderTest & { persistTo: string }> {
  const persistTo = await tempDir("r2");
  const port = await freePort();
  let skiff;
  try {
    skiff = await startSkiff({ port, persistTo, auth: opts.auth, vars: opts.vars });
  } catch (err) {
    await removeDir(persistTo);
    throw err;
  }
  return {
    kind: "skiff",
    url: skiff.url,
    host: skiff.registry,
    scheme: skiff.protocol,
    pid: skiff.pid,
    persistTo,
    output: skiff.output,
    // [wrangler:info] PATCH /v2/a/b/blobs/uploads/<id> 202 Accepted (12ms)
    requests: () => settledLog(skiff.url, skiff.output, /\[wrangler:info\] ([A-Z]+) (\/\S*) (\d{3}) /g),
    async stop() {
      await skiff.stop();
      await removeDir(persistTo);
    },
  };
}

/** distribution 2.8.2 (`docker-registry serve`), filesystem storage in a temp dir, delete enabled, plain http. */
export async function startDistribution(): Promise<RegistryUnderTest> {
  const dir = await tempDir("dist");
  const port = await freePort();
  const config = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog: { disabled: false }",
    "storage:",
    `  filesystem: { rootdirectory: ${path.join(dir, "data")} }`,
    "  delete: { enabled: true }",
    `http: { addr: "127.0.0.1:${port}", secret: local-test-only }`,
    "",
  ].join("\n");
  await writeFile(path.join(dir, "config.yml"), config);
  const daemon = startDaemon("docker-registry", ["serve", path.join(dir, "config.yml")], { cwd: dir });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (!daemon.isRunning()) throw new Error(`docker-registry exited:\n${daemon.output()}`);
        return request(`${url}/v2/`).then((r) => r.status === 200, () => false);
      },
      "distribution to answer",
      20_000,
      daemon.output,
    );
  } catch (err) {
    await daemon.stop();
    await removeDir(dir);
    throw err;
  }
  return {
    kind: "distribution",
    url,
    host: `127.0.0.1:${port}`,
    scheme: "http",
    pid: daemon.pid,
    output: daemon.output,
    // 127.0.0.1 - - [28/Nov/2026:22:52:56 +0000] "POST /v2/a/b/blobs/uploads/?mount=... HTTP/1.1" 202 0 "" "ua"
    requests: () => settledLog(url, daemon.output, /"([A-Z]+) (\/[^\s?]*)\S* HTTP\/[\d.]+" (\d{3}) /g),
    async stop() {
      await daemon.stop();
      await removeDir(dir);
    },
  };
}

const BARRIER = "/v2/_log_barrier/";

/**
 * The server's request log, up to now. Servers write it asynchronously, so a request a client has already seen
 * answered may not be in it yet: send a marker request and wait until the log shows it; everything answered before
 * is then logged too. Marker requests are left out.
 */
async function settledLog(url: string, output: () => string, re: RegExp): Promise<LoggedRequest[]> {
  const marker = `${BARRIER}${randomUUID()}`;
  await request(`${url}${marker}`).catch(() => {});
  await waitFor(() => output().includes(marker), "the request log to show a marker request", 10_000, output);
  return parseLog(output(), re).filter((r) => !r.path.startsWith(BARRIER));
}

function parseLog(text: string, re: RegExp): LoggedRequest[] {
  return [...text.matchAll(re)].map((m) => ({ method: m[1], path: m[2].split("?")[0], status: Number(m[3]) }));
}

export const REGISTRY_KINDS = ["skiff", "distribution"] as const;

export function startRegistry(kind: (typeof REGISTRY_KINDS)[number]): Promise<RegistryUnderTest> {
  return kind === "skiff" ? startSkiffRegistry() : startDistribution();
}
