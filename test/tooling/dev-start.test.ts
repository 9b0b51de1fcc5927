// What `npm start` and `npm run start:s3` print: the banner names the storage the registry really uses, and start-up
// is quiet offline (this machine has no network: Miniflare's fetch of the `Request.cf` placeholder from
// workers.cloudflare.com used to print a getaddrinfo ENOTFOUND stack trace, twice, at every start).
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { banner, LOCAL_AUTH, PROJECT_ROOT, type SkiffHandle } from "../../scripts/lib/dev-server";
import { freePort } from "../../scripts/lib/processes";
import { removeDir, sleep, startDaemon, tempDir, type Daemon } from "../support/proc";

/** A handle with what banner() reads; the rest is never touched by it. */
function handle(over: Partial<SkiffHandle> = {}): SkiffHandle {
  return {
    url: "https://127.0.0.1:8787",
    host: "127.0.0.1",
    port: 8787,
    protocol: "https",
    registry: "127.0.0.1:8787",
    persistTo: path.join(PROJECT_ROOT, ".wrangler", "state"),
    inspectorPort: 9229,
    auth: { ...LOCAL_AUTH, credentials: null },
    ...over,
  } as SkiffHandle;
}

describe("the start banner", () => {
  it("npm start: names the local R2 bucket and where it persists, and npm start's options", () => {
    const text = banner(handle());
    expect(text).toContain("Skiff is running at https://127.0.0.1:8787");
    expect(text).toContain("Local R2 bucket persisted in .wrangler/state (offline, no account needed)");
    expect(text).toContain("--persist-to DIR");
    expect(text).not.toMatch(/\bS3\b/);
  });

  it("npm run start:s3: names the S3 endpoint and bucket, and claims no R2 bucket nor --persist-to", () => {
    const where = "S3 at http://127.0.0.1:7480, bucket skiff (local Ceph RGW, discarded on exit)";
    const text = banner(handle(), { backend: "s3", where });
    expect(text).toContain(`Storage: ${where}`);
    expect(text).not.toMatch(/R2/);
    expect(text).not.toContain("persist");
    expect(text).toContain("PORT=N");
  });
});

describe("npm start, offline", () => {
  let daemon: Daemon | undefined;
  let persist: string | undefined;

  afterAll(async () => {
    await daemon?.stop(30_000);
    if (persist) await removeDir(persist);
  }, 60_000);

  it("starts without a getaddrinfo error (no fetch of the Request.cf object) and says it runs on the local R2 bucket", async () => {
    persist = await tempDir("dev-start");
    const port = await freePort();
    // scripts/dev.ts is what `npm start` runs (tsx scripts/dev.ts), here with its default auth (the dev user).
    daemon = startDaemon(process.execPath, ["--import", "tsx", path.join("scripts", "dev.ts"), "--port", String(port), "--persist-to", persist], {
      cwd: PROJECT_ROOT,
      // NODE_ENV=test (set by vitest) makes Miniflare skip the cf fetch by itself: run it as a shell would.
      env: { NO_COLOR: "1", NODE_ENV: undefined },
    });
    const deadline = Date.now() + 120_000;
    while (!/Skiff is running at/.test(daemon.output())) {
      if (!daemon.isRunning() || Date.now() > deadline) throw new Error(`npm start did not start:\n${daemon.output().slice(-4000)}`);
      await sleep(200);
    }
    // Miniflare's cf fetch gives up after 3 s offline; its warning could come after the banner. Wait past that.
    await sleep(4000);
    const out = daemon.output();
    expect(out).toContain(`Local R2 bucket persisted in ${persist}`);
    expect(out).toContain("AUTH IS ON");
    expect(out).not.toMatch(/getaddrinfo|ENOTFOUND|EAI_AGAIN/);
    expect(out).not.toContain("Unable to fetch the `Request.cf` object");
  }, 180_000);
});
