#!/usr/bin/env node
// `npm test`: every vitest project, in vitest.config.ts's order, each in its own vitest process, one after another, then one
// summary line ("tests: N passed, N failed, N skipped") for CI's log reader.
//
// Why separate processes, and why a stalled one runs again: workerd (the local Workers runtime) now and then spins on
// the simulated R2 bucket: its event loop never goes idle, so no timer inside it fires and a test in it can never
// time out. It has only been seen in the api-r2 project, and its chance grows with the work done in one workerd (5 of
// 13 whole-project runs stalled here, about 1 in 25 single-file runs). So api-r2 runs one file per process
// (EACH_FILE), and test/support/stall-watchdog.ts stops a process that stalls anyway (exit 75). Such a run goes
// again, at most three times more, with a loud note. A test that fails is never rerun: any exit other than 75 is final.
//
// `npm test -- ARGS` passes ARGS to a single `vitest run` instead (for example `npm test -- --project unit`), with
// the same stall handling.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const vitest = path.join(root, "node_modules", ".bin", "vitest");
const STALLED = 75; // STALLED_EXIT_CODE in test/support/stall-watchdog.ts
const ATTEMPTS = 4;
/** Projects run one test file per vitest process, so that each file gets a fresh workerd. */
const EACH_FILE = new Set(["api-r2"]);

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

/** Every test file with its project, as vitest itself resolves the config (grouped by project, in config order). */
function listTestFiles() {
  const { stdout, status } = spawnSync(vitest, ["list", "--filesOnly", "--json"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (status !== 0) throw new Error(`vitest list failed (${status})`);
  return JSON.parse(stdout).map(({ file, projectName }) => ({ project: projectName, file: path.relative(root, file) }));
}

const extra = process.argv.slice(2);
if (extra.length > 0) process.exit(runVitest(extra));

const resultsDir = path.join(root, ".tmp", "test-results");
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

// One vitest process per project, or per file of an EACH_FILE project.
const runs = [];
for (const { project, file } of listTestFiles()) {
  if (EACH_FILE.has(project)) runs.push({ label: `${project} ${file}`, args: ["--project", project, file] });
  else if (!runs.some((r) => r.label === project)) runs.push({ label: project, args: ["--project", project] });
}

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
