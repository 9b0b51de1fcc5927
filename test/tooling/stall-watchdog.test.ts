// The stall watchdog (test/support/stall-watchdog.ts) and npm test's rerun of a stalled run (scripts/test.mjs),
// on fixture tests that spin on purpose (test/tooling/fixtures).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it, expect } from "vitest";
import { itWith } from "../support/clients";
import { removeDir, run, tempDir } from "../support/proc";

const root = fileURLToPath(new URL("../..", import.meta.url));
const config = path.join(root, "test/tooling/fixtures/vitest.config.ts");
const vitest = path.join(root, "node_modules/.bin/vitest");
// 8 s: long enough for vitest to start a fixture on a busy machine, short enough for tests that stall 4 times.
const env = (fixture: string, more: Record<string, string> = {}) => ({ FIXTURE: fixture, SKIFF_TEST_STALL_SECONDS: "8", ...more });
// The watchdog's clock runs while globalSetup or a test starts RGW (about 20 s on a busy machine).
const RGW_STALL_SECONDS = "60";
const npmTest = (e: Record<string, string>, timeoutMs = 120_000) =>
  run(process.execPath, ["scripts/test.mjs", "--config", config], { cwd: root, env: e, allowFail: true, timeoutMs });

/** Runs `fn` with a fresh directory for the fixtures' run counters. */
async function withState<T>(fn: (dir: string, runs: (fixture: string) => number) => Promise<T>): Promise<T> {
  const dir = await tempDir("tooling");
  const runs = (fixture: string) => {
    try {
      return Number(readFileSync(path.join(dir, fixture), "utf8"));
    } catch {
      return 0;
    }
  };
  try {
    return await fn(dir, runs);
  } finally {
    await removeDir(dir);
  }
}

/** Ceph daemons (ceph-mon, ceph-osd, radosgw) whose environment mentions `dir` (their CEPH_CONF lives under it). */
function cephProcessesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (!["ceph-mon", "ceph-osd", "radosgw"].includes(comm)) continue;
      if (readFileSync(`/proc/${pid}/environ`, "utf8").includes(dir)) found.push(`${pid} ${comm}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** So that a failing test leaves nothing running. */
function killCephUnder(dir: string): void {
  for (const p of cephProcessesUnder(dir)) {
    try {
      process.kill(Number(p.split(" ")[0]), "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

describe("stall watchdog", () => {
  it("stops a spinning run with exit 75, naming the test file and its process", async () => {
    const r = await run(vitest, ["run", "--config", config], { cwd: root, env: env("spin"), allowFail: true, timeoutMs: 60_000 });
    expect(r.code).toBe(75);
    expect(r.stderr).toContain("stall-watchdog: no test started or finished for");
    expect(r.stderr).toContain("spin.fixture.ts");
    // The spinning fixture shows as busy during the stall (the machine may be loaded: any clear share of a core).
    const busy = /Test processes \(%cpu in the last \d+ s, then pid ppid %cpu elapsed command\):\n +(\d+) +\d+/.exec(r.stderr);
    expect(busy, r.stderr).not.toBeNull();
    expect(Number(busy![1])).toBeGreaterThan(10);
    expect(r.ms).toBeLessThan(30_000);
  });

  it("leaves a run that makes progress alone", async () => {
    const r = await run(vitest, ["run", "--config", config], { cwd: root, env: env("pass"), allowFail: true, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("stall-watchdog");
  });

  itWith(["ceph"], "stops the Ceph daemons that the run's globalSetup started", async () => {
    const tmp = await tempDir("rgw-stall");
    try {
      await withState(async (state) => {
        const r = await run(vitest, ["run", "--config", config], {
          cwd: root,
          env: env("rgw-global-spin", { FIXTURE_GLOBAL_SETUP: "s3", FIXTURE_STATE: state, TMPDIR: tmp, SKIFF_TEST_STALL_SECONDS: RGW_STALL_SECONDS }),
          allowFail: true,
          timeoutMs: 180_000,
        });
        expect(r.code, r.stderr).toBe(75);
        expect(readFileSync(path.join(state, "rgw-endpoint"), "utf8")).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/); // RGW was up
        expect(cephProcessesUnder(tmp)).toEqual([]);
      });
    } finally {
      killCephUnder(tmp);
      await removeDir(tmp);
    }
  }, 240_000);
});

describe("npm test (scripts/test.mjs)", () => {
  it("reruns a stalled run three times, then fails", async () => {
    const r = await npmTest(env("spin"));
    expect(r.code).toBe(1);
    for (const attempt of [1, 2, 3]) expect(r.stderr).toContain(`STALLED: the watchdog stopped a hung run (attempt ${attempt} of 4)`);
    expect(r.stderr).toContain("stalled 4 times in a row");
  });

  it("passes a run that passes through, once, and prints the summary line", async () => {
    await withState(async (state, runs) => {
      const r = await npmTest(env("pass", { FIXTURE_STATE: state }), 60_000);
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain("STALLED");
      expect(r.stdout).toContain("tests: 1 passed, 0 failed, 0 skipped");
      expect(runs("pass")).toBe(1);
    });
  });

  it("fails when a test failed before the run stalled, even though the rerun passes", async () => {
    await withState(async (state, runs) => {
      const r = await npmTest(env("fail-then-spin", { FIXTURE_STATE: state }));
      expect(runs("fail-then-spin")).toBe(2); // stalled once, then the rerun passed
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("tests: 2 passed, 1 failed, 0 skipped");
      expect(r.stdout).toMatch(/failed before the run stalled.*\n.*fail-then-spin\.fixture\.ts.*fails on the first run/);
    });
  });

  it("reruns only the files that had not finished when the run stalled", async () => {
    await withState(async (state, runs) => {
      // Both files start at once (fixtures/vitest.config.ts: 2 workers): pass finishes while spin-once spins.
      const r = await npmTest(env("pass,spin-once", { FIXTURE_STATE: state }));
      expect(r.stderr).toContain("STALLED: the watchdog stopped a hung run (attempt 1 of 4)");
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(runs("spin-once")).toBe(2);
      expect(runs("pass")).toBe(1);
      expect(r.stdout).toContain("tests: 2 passed, 0 failed, 0 skipped");
    });
  });

  itWith(["ceph"], "leaves no Ceph daemon behind when the watchdog kills a test process that started RGW", async () => {
    const tmp = await tempDir("rgw-npm-test");
    try {
      await withState(async (state, runs) => {
        const r = await npmTest(env("rgw-spin-once", { TMPDIR: tmp, FIXTURE_STATE: state, SKIFF_TEST_STALL_SECONDS: RGW_STALL_SECONDS }), 400_000);
        expect(runs("rgw-spin-once")).toBe(2);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(cephProcessesUnder(tmp)).toEqual([]);
      });
    } finally {
      killCephUnder(tmp);
      await removeDir(tmp);
    }
  }, 450_000);
});

describe("entry points", () => {
  it("every npm script that runs tests goes through scripts/test.mjs", () => {
    const scripts = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts as Record<string, string>;
    const testScripts = Object.entries(scripts).filter(([name, cmd]) => name.startsWith("test") || /\bvitest\b/.test(cmd));
    expect(testScripts.length).toBeGreaterThan(2);
    // `npm test` type-checks first; the tests themselves still run only through scripts/test.mjs.
    for (const [name, cmd] of testScripts) expect(`${name}: ${cmd}`).toMatch(new RegExp(`^${name}: (tsc -b && )?node scripts/test\\.mjs( |$)`));
    expect(scripts.test).toMatch(/^tsc -b && /);
  });
});
