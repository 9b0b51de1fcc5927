// The stall watchdog (test/support/stall-watchdog.ts) and npm test's rerun of a stalled run (scripts/test.mjs),
// on a fixture test that spins on purpose.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it, expect } from "vitest";
import { run } from "../support/proc";

const root = fileURLToPath(new URL("../..", import.meta.url));
const config = path.join(root, "test/tooling/fixtures/vitest.config.ts");
const vitest = path.join(root, "node_modules/.bin/vitest");
const env = (fixture: string) => ({ FIXTURE: fixture, SKIFF_TEST_STALL_SECONDS: "3" });

describe("stall watchdog", () => {
  it("stops a spinning run with exit 75, naming the test file and its process", async () => {
    const r = await run(vitest, ["run", "--config", config], { cwd: root, env: env("spin"), allowFail: true, timeoutMs: 60_000 });
    expect(r.code).toBe(75);
    expect(r.stderr).toContain("stall-watchdog: no test started or finished for");
    expect(r.stderr).toContain("spin.fixture.ts");
    expect(r.stderr).toMatch(/Test processes \(pid ppid %cpu elapsed command\):\n +\d+/);
    expect(r.ms).toBeLessThan(30_000);
  });

  it("leaves a run that makes progress alone", async () => {
    const r = await run(vitest, ["run", "--config", config], { cwd: root, env: env("pass"), allowFail: true, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("stall-watchdog");
  });
});

describe("npm test (scripts/test.mjs)", () => {
  it("reruns a stalled run three times, then fails", async () => {
    const r = await run(process.execPath, ["scripts/test.mjs", "--config", config], { cwd: root, env: env("spin"), allowFail: true, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    for (const attempt of [1, 2, 3]) expect(r.stderr).toContain(`STALLED: the watchdog stopped a hung run (attempt ${attempt} of 4)`);
    expect(r.stderr).toContain("stalled 4 times in a row");
  });

  it("passes a run that passes through, once", async () => {
    const r = await run(process.execPath, ["scripts/test.mjs", "--config", config], { cwd: root, env: env("pass"), allowFail: true, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("STALLED");
    expect(r.stdout).toContain("1 passed");
  });
});
