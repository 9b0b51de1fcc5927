#!/usr/bin/env node
// `npm test`: every vitest project (test/projects.mjs), each in its own vitest process, one after another, then one
// summary line ("tests: N passed, N failed, N skipped") for CI's log reader.
//
// Why one process per project, and why a stalled one runs again: workerd (the local Workers runtime, and the R2
// simulator inside it) now and then spins: its event loop never goes idle, so no timer inside it fires and a test in
// it can never time out. test/support/stall-watchdog.ts notices from vitest's Node process, stops the run and exits
// with 75. Such a project runs again (at most twice more), with a loud note. A test that fails is never rerun: any
// exit other than 75 is final.
//
// `npm test -- ARGS` passes ARGS to a single `vitest run` instead (for example `npm test -- --project unit`), with
// the same stall handling.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECTS } from "../test/projects.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const vitest = path.join(root, "node_modules", ".bin", "vitest");
const STALLED = 75;
const ATTEMPTS = 3;
const WATCHDOG = "--reporter=./test/support/stall-watchdog.ts";

function runVitest(args) {
  for (let attempt = 1; ; attempt++) {
    const { status, signal } = spawnSync(vitest, ["run", ...args], { cwd: root, stdio: "inherit" });
    if (status !== STALLED) return status ?? (signal ? 1 : 0);
    if (attempt === ATTEMPTS) {
      console.error(`\ntest: vitest stalled ${ATTEMPTS} times in a row (vitest run ${args.join(" ")}); giving up.`);
      return 1;
    }
    console.error(`\ntest: STALLED: the watchdog stopped a hung run (attempt ${attempt} of ${ATTEMPTS}); running it again: vitest run ${args.join(" ")}\n`);
  }
}

const extra = process.argv.slice(2);
if (extra.length > 0) process.exit(runVitest(extra));

const resultsDir = path.join(root, ".tmp", "test-results");
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
const failedProjects = [];
for (const project of PROJECTS) {
  const json = path.join(resultsDir, `${project}.json`);
  const status = runVitest(["--project", project, "--reporter=default", WATCHDOG, "--reporter=json", `--outputFile.json=${json}`]);
  let counted = false;
  try {
    const r = JSON.parse(readFileSync(json, "utf8"));
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    totals.skipped += r.numPendingTests + r.numTodoTests;
    counted = true;
  } catch {
    // no report: the project did not run to its end
  }
  if (status !== 0 || !counted) failedProjects.push(project);
}

console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped` + (failedProjects.length ? ` (projects not passing: ${failedProjects.join(", ")})` : ""));
process.exit(failedProjects.length ? 1 : 0);
