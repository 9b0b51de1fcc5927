// setupFile for every test project: makes sure that a failed test's result has left the test process before the
// next test starts. vitest sends results in batches at most every 100 ms; if the next test spins (the workerd stall
// that test/support/stall-watchdog.ts stops), the batch never leaves, and the failure would be lost with the run.
// Costs nothing while tests pass: the wait only follows a failure.
import { afterEach, beforeEach } from "vitest";

let unsent = false;

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") unsent = true;
});

beforeEach(async () => {
  if (!unsent) return;
  unsent = false;
  await new Promise((resolve) => setTimeout(resolve, 300));
});
