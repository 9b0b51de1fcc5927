// How the GC Workflow steps a run (src/gc/runner.ts driveRun). The Workflow's `step` is a stand-in here that runs each
// callback at once and moves the test's clock on a sleep: Miniflare's Workflows run under `wrangler dev`
// (test/cli/gc-script.test.ts fires the cron there), but cannot have their clock moved through a 24 h quarantine.
import { describe, it, expect } from "vitest";
import { MemoryStore } from "../../src/storage/memory";
import { startRun } from "../../src/gc";
import { driveRun, type GcWorkflowStep } from "../../src/gc/runner";
import { HOUR, gcDeps, pushBlob } from "./helpers";

function fakeStep(clock: { now: number }) {
  const names: string[] = [];
  const step: GcWorkflowStep = {
    async do(name, _config, callback) {
      names.push(name);
      return callback();
    },
    async sleepUntil(name, timestamp) {
      names.push(name);
      const t = typeof timestamp === "number" ? timestamp : timestamp.getTime();
      expect(t).toBeGreaterThan(clock.now); // never a sleep until a moment already past
      clock.now = t;
    },
  };
  return { step, names };
}

describe("the GC Workflow's run", () => {
  it("sleeps through the quarantine once, then steps the run to its end", async () => {
    const clock = { now: Date.now() };
    const deps = gcDeps(new MemoryStore(), clock);
    await pushBlob(deps, "app", "unreferenced");
    clock.now += 2 * HOUR;
    const { run } = await startRun(deps, { dryRun: false, trigger: "cron", quarantineMs: 24 * HOUR });
    const { step, names } = fakeStep(clock);
    const outcome = await driveRun(deps, run, step);
    expect(outcome).toMatchObject({ run, outcome: "done" });
    expect(names.filter((n) => n.startsWith("quarantine after"))).toHaveLength(1);
  });

  it("takes no sleep when the quarantine is already over (quarantine 0)", async () => {
    const clock = { now: Date.now() };
    const deps = gcDeps(new MemoryStore(), clock);
    await pushBlob(deps, "app", "unreferenced");
    clock.now += 2 * HOUR;
    const { run } = await startRun(deps, { dryRun: false, trigger: "cron", quarantineMs: 0 });
    const { step, names } = fakeStep(clock);
    expect(await driveRun(deps, run, step)).toMatchObject({ outcome: "done" });
    expect(names.filter((n) => n.startsWith("quarantine after"))).toEqual([]);
  });
});
