#!/usr/bin/env node
// `npm test`: every vitest project (test/projects.mjs), each in its own vitest process, one after another, then one
// summary line ("tests: N passed, N failed, N skipped") for CI's log reader.
//
// Why separate processes, and why a stalled one runs again: workerd (the local Workers runtime) now and then spins on
// the simulated R2 bucket: its event loop never goes idle, so no timer inside it fires and a test in it can never
// time out. It has only been seen in the api-r2 project, and its chance grows with the work done in one workerd (5 of
// 13 whole-project runs stalled here, 1 of about 60 single-file runs). So api-r2 runs one file per process
// (`eachFile`), and test/support/stall-watchdog.ts stops a process that stalls anyway (exit 75). Such a run goes
// again, at most three times more, with a loud note. A test that fails is never rerun: any exit other than 75 is final.
//
// `npm test -- ARGS` passes ARGS to a single `vitest run` instead (for example `npm test -- --project unit`), with
// the same stall handling.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECTS } from "../test/projects.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const vitest = path.join(root, "node_modules", ".bin", "vitest");
const STALLED = 75; // STALLED_EXIT_CODE in test/support/stall-watchdog.ts
const ATTEMPTS = 4;

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

/** Test files under `dir` (relative to the repository), sorted. */
function testFiles(dir) {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => path.posix.join(dir, f.split(path.sep).join("/")))
    .sort();
}

const extra = process.argv.slice(2);
if (extra.length > 0) process.exit(runVitest(extra));

const resultsDir = path.join(root, ".tmp", "test-results");
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

// One vitest process per project, or per file of an `eachFile` project.
const runs = PROJECTS.flatMap(({ name, eachFile }) =>
  eachFile ? testFiles(eachFile).map((file) => ({ label: `${name} ${file}`, args: ["--project", name, file] })) : [{ label: name, args: ["--project", name] }],
);

const totals = { passed: 0, failed: 0, skipped: 0 };
const notPassing = [];
runs.forEach(({ label, args }, i) => {
  const json = path.join(resultsDir, `${i}.json`);
  const status = runVitest([...args, "--reporter=default", "--reporter=./test/support/stall-watchdog.ts", "--reporter=json", `--outputFile.json=${json}`]);
  let counted = false;
  try {
    const r = JSON.parse(readFileSync(json, "utf8"));
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    totals.skipped += r.numPendingTests + r.numTodoTests;
    counted = true;
  } catch {
    // no report: the run did not reach its end
  }
  if (status !== 0 || !counted) notPassing.push(label);
});

console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped` + (notPassing.length ? ` (not passing: ${notPassing.join("; ")})` : ""));
process.exit(notPassing.length ? 1 : 0);
