// `npm run gc` (scripts/gc.ts) against Skiff under `wrangler dev` with token auth and its development admin (as
// `npm start` runs it), and the cron path there: `wrangler dev --test-scheduled` serves /__scheduled, which fires the
// scheduled handler; it starts a run and creates a GC_WORKFLOW instance (Miniflare simulates Workflows) that steps
// the run to its report. GC_MIN_GRACE_HOURS=0 and GC_QUARANTINE_HOURS=0: nothing waits.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSkiff, PROJECT_ROOT, type SkiffHandle } from "../../scripts/lib/dev-server";
import { freePort, run, waitFor } from "../../scripts/lib/processes";
import { send } from "../../cli/registry/transport";
import { basicHeader } from "../../cli/registry/tokens";
import { removeDir, tempDir } from "../support/proc";

const TSX = path.join(PROJECT_ROOT, "node_modules", ".bin", "tsx");
const GC = path.join(PROJECT_ROOT, "scripts", "gc.ts");

describe("npm run gc and the cron path under wrangler dev (token auth)", () => {
  let skiff: SkiffHandle;
  let persistTo: string;
  let user: { user: string; password: string };

  beforeAll(async () => {
    persistTo = await tempDir("gc-script");
    skiff = await startSkiff({
      port: await freePort(),
      persistTo,
      auth: "dev",
      testScheduled: true,
      vars: { GC_MIN_GRACE_HOURS: "0", GC_QUARANTINE_HOURS: "0" },
    });
    user = skiff.auth.credentials!;
  });
  afterAll(async () => {
    await skiff?.stop();
    if (persistTo) await removeDir(persistTo);
  });

  const gc = (args: string[], input?: string) => run(TSX, [GC, "--url", skiff.url, ...args], { allowFail: true, input, timeoutMs: 120_000 });

  /**
   * GET with the development admin's token, fetched as any client would, once a minute at most: polls must not
   * trip the login rate limit (tokens live 5 minutes).
   */
  let cached: { token: string; at: number } | null = null;
  async function adminGet(p: string): Promise<{ status: number; body: any }> {
    const url = (u: string) => new URL(u, skiff.url);
    const token = cached && Date.now() - cached.at < 60_000 ? cached.token : await login(url);
    cached = { token, at: cached?.token === token ? cached.at : Date.now() };
    const res = await send({ url: url(p), method: "GET", headers: { Authorization: `Bearer ${token}` }, body: null, skipTlsVerify: true });
    return { status: res.status, body: await res.json() };
  }

  async function login(url: (u: string) => URL): Promise<string> {
    const tok = await send({
      url: url(`/token?service=${encodeURIComponent(skiff.registry)}&scope=registry:catalog:*`),
      method: "GET",
      headers: { Authorization: basicHeader(user.user, user.password) },
      body: null,
      skipTlsVerify: true,
    });
    expect(tok.status).toBe(200);
    return ((await tok.json()) as { token: string }).token;
  }

  it("logs in as the admin, steps a run to its end and prints the summary", async () => {
    const r = await gc(["--grace", "0", "--quarantine", "0", "--user", user.user, "--password-stdin"], `${user.password}\n`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^started run \S+ on https:/m);
    expect(r.stdout).toMatch(/^step +1 /m);
    expect(r.stdout).toMatch(/no errors/);
    const runId = /^started run (\S+)/m.exec(r.stdout)![1];
    expect(r.stdout).toContain(`gc/runs/${runId}/report.json`);
    const report = await adminGet(`/_skiff/gc/runs/${encodeURIComponent(runId)}`);
    expect(report).toMatchObject({ status: 200, body: { run: runId, dryRun: false, graceMs: 0 } });
  });

  it("a dry run with --json prints the report as JSON on stdout", async () => {
    const r = await gc(["--dry-run", "--quarantine", "0", "--json", "--user", user.user, "--password-stdin"], user.password);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true });
  });

  it("fails clearly without a login, with a wrong password, and on bad options", async () => {
    const anon = await gc([]);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toMatch(/needs an admin login/);
    const wrong = await gc(["--user", user.user, "--password-stdin"], "not-the-password");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/login as dev failed: 401/);
    expect(wrong.stderr).not.toContain("not-the-password");
    const bad = await gc(["--grace", "soon"]);
    expect(bad.code).toBe(64);
    // The registry refuses what the script lets through: an out-of-range value is a 400 with the reason.
    const big = await gc(["--quarantine", "99999999", "--user", user.user, "--password-stdin"], user.password);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/could not start a run: 400 UNSUPPORTED: quarantine must be/);
  });

  it("GET /__scheduled starts a run that the GC_WORKFLOW instance steps to its report", async () => {
    const before = new Set<string>((await adminGet("/_skiff/gc/runs")).body.runs);
    const fired = await send({ url: new URL("/__scheduled?cron=17+3+*+*+*", skiff.url), method: "GET", headers: {}, body: null, skipTlsVerify: true });
    expect(fired.status).toBe(200);
    await fired.text();
    let cronRun: string | undefined;
    await waitFor(
      async () => {
        const runs: string[] = (await adminGet("/_skiff/gc/runs")).body.runs;
        cronRun = runs.find((r) => !before.has(r));
        return cronRun !== undefined;
      },
      "the Workflow to finish the cron's run",
      60_000,
      () => skiff.output(),
    );
    expect((await adminGet(`/_skiff/gc/runs/${encodeURIComponent(cronRun!)}`)).body).toMatchObject({ run: cronRun, trigger: "cron", dryRun: false });
    expect(skiff.output()).toContain(`Skiff gc: run ${cronRun} started (cron), Workflow instance`);
  });
});
