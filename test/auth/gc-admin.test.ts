// The garbage collection endpoints (/_skiff/gc...) under token auth: admins only. Admin = a token whose access
// includes registry:catalog:*, which the rules grant to admins (alice) alone.
import { describe, it, expect } from "vitest";
import { call, bearer, basic, tokenFor, expectOciError, parseChallenge } from "./helpers";
import { PASSWORDS, REALM, SERVICE } from "./fixtures";

const CATALOG = "registry:catalog:*";
/** A changed env (a fresh config): on-demand runs may have grace 0, and no quarantine (the step sleeps otherwise). */
const NO_WAIT = { GC_MIN_GRACE_HOURS: "0", GC_QUARANTINE_HOURS: "0" };

const ENDPOINTS: [string, string][] = [
  ["POST", "/_skiff/gc"],
  ["POST", "/_skiff/gc?dry-run=1"],
  ["POST", "/_skiff/gc/step"],
  ["GET", "/_skiff/gc"],
  ["GET", "/_skiff/gc/runs"],
  ["GET", "/_skiff/gc/runs/2026-01-01T00:00:00Z-abcd"],
];

describe("garbage collection endpoints under token auth", () => {
  it.each(ENDPOINTS)("%s %s: anonymous callers are sent to the token endpoint for registry:catalog:*", async (method, path) => {
    const res = await call(path, { method });
    await expectOciError(res.clone(), 401, "UNAUTHORIZED");
    const c = parseChallenge(res.headers.get("WWW-Authenticate"));
    expect(c).toMatchObject({ realm: REALM, service: SERVICE, scope: CATALOG });
  });

  it.each(ENDPOINTS)("%s %s: a signed-in user who is not an admin gets 403 DENIED", async (method, path) => {
    const err = await expectOciError(await call(path, { method, headers: bearer(await tokenFor("bob", [CATALOG])) }), 403, "DENIED");
    expect(err.message).toMatch(/garbage collection is for admins/);
  });

  it("an anonymous token, or an admin's token without the catalog scope, does not do", async () => {
    await expectOciError(await call("/_skiff/gc", { method: "POST", headers: bearer(await tokenFor(null, [CATALOG])) }), 401, "UNAUTHORIZED");
    const res = await call("/_skiff/gc", { method: "POST", headers: bearer(await tokenFor("alice", ["repository:team/app:pull"])) });
    await expectOciError(res.clone(), 401, "UNAUTHORIZED");
    expect(parseChallenge(res.headers.get("WWW-Authenticate"))).toMatchObject({ scope: CATALOG, error: "insufficient_scope" });
  });

  it("Basic credentials are not taken here, even an admin's (tokens only, as on /v2/)", async () => {
    await expectOciError(await call("/_skiff/gc", { method: "POST", headers: { Authorization: basic("alice", PASSWORDS.alice) } }), 401, "UNAUTHORIZED");
  });

  it("an admin starts a run, steps it to the end, lists the runs and reads the report", async () => {
    const auth = bearer(await tokenFor("alice", [CATALOG]));
    const started = await call("/_skiff/gc?grace=0&quarantine=0", { method: "POST", headers: auth }, NO_WAIT);
    expect(started.status, await started.clone().text()).toBe(202);
    expect(started.headers.get("Cache-Control")).toBe("no-store");
    let status = await started.json<{ run: string; done: boolean; dryRun: boolean; resumeAt?: number }>();
    expect(status.dryRun).toBe(false);
    const run = status.run;

    // A second start while the run is in progress: 409.
    await expectOciError(await call("/_skiff/gc", { method: "POST", headers: auth }, NO_WAIT), 409, "UNSUPPORTED");

    for (let n = 0; !status.done; n++) {
      expect(n, "the run ends within 200 steps").toBeLessThan(200);
      const res = await call("/_skiff/gc/step", { method: "POST", headers: auth }, NO_WAIT);
      expect(res.status, await res.clone().text()).toBe(200);
      status = await res.json();
      expect(status.run).toBe(run);
    }
    const current = await call("/_skiff/gc", { headers: auth }, NO_WAIT);
    expect(current.status).toBe(200);
    expect(await current.json()).toMatchObject({ run, done: true });

    const runs = await call("/_skiff/gc/runs", { headers: auth });
    expect(runs.status).toBe(200);
    expect((await runs.json<{ runs: string[] }>()).runs).toContain(run);
    const report = await call(`/_skiff/gc/runs/${encodeURIComponent(run)}`, { headers: auth });
    expect(report.status).toBe(200);
    expect(await report.json()).toMatchObject({ run, dryRun: false });
  });

  it("grace below GC_MIN_GRACE_HOURS is refused with 400 (the default minimum is 1 h)", async () => {
    const auth = bearer(await tokenFor("alice", [CATALOG]));
    const err = await expectOciError(await call("/_skiff/gc?grace=60", { method: "POST", headers: auth }), 400, "UNSUPPORTED");
    expect(err.message).toMatch(/at least 3600 seconds/);
  });
});
