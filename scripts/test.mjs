#!/usr/bin/env node
// `npm test [-- ARGS]`: the test files vitest selects (all of them, or those ARGS select: `--project NAME`, file
// filters, `--config`, `-t`...), run project by project, each in its own vitest process, one after another, then one
// summary line ("tests: N passed, N failed, N skipped") for CI's log reader. `npm run test:unit` and `test:e2e` are
// this script with ARGS, so every entry point follows the same rules.
//
// The rule (the why, and the measured stall rates: docs/testing.md#stalls): a hang can neither eat CI's time nor hide
// a failure. The local workerd can spin where no test timeout fires, so api-r2 runs one file per process
// (EACH_FILE), test/support/stall-watchdog.ts stops a stalled process (exit 75) after writing which tests failed and
// which files had not finished, and only those files run again, at most three times more, with a loud note. A test
// that failed in any attempt fails npm test even when the rerun passes; the summary counts every attempt's failures.
// Ceph clusters of the S3 tests are made under this run's SKIFF_RGW_DIR (test/s3/rgw.ts) and swept after every
// vitest process, since their daemons outlive a killed vitest.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseCLI } from "vitest/node";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const vitest = path.join(root, "node_modules", ".bin", "vitest");
const STALLED = 75; // STALLED_EXIT_CODE in test/support/stall-watchdog.ts
const ATTEMPTS = 4;
/** Projects run one test file per vitest process, so that each file gets a fresh workerd. */
const EACH_FILE = new Set(["api-r2"]);

/**
 * ARGS without their file filters and `--project` options: what every vitest process of the run gets, since each
 * is given its project and files explicitly. Checked by parsing the result again, as vitest would.
 */
function commonArgs(args) {
  const { filter, options } = parseCLI(["vitest", "run", ...args]);
  const filters = [...filter];
  const out = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--project") i++;
    else if (a.startsWith("--project=")) continue;
    else if (filters.includes(a)) filters.splice(filters.indexOf(a), 1);
    else out.push(a);
  }
  const again = parseCLI(["vitest", "run", ...out]);
  const withoutProject = ({ project, ...rest }) => JSON.stringify(rest);
  if (again.filter.length > 0 || withoutProject(again.options) !== withoutProject(options)) {
    throw new Error(`test: cannot tell file filters from options in "${args.join(" ")}"; write options as --name=value`);
  }
  return { common: out, userReporters: options.reporter !== undefined };
}

/** The test files ARGS select, with their project, as vitest itself resolves the config (in config order). */
function listTestFiles(args) {
  const { stdout, status } = spawnSync(vitest, ["list", "--filesOnly", "--json", ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (status !== 0) throw new Error(`vitest list failed (${status})`);
  return JSON.parse(stdout).map(({ file, projectName }) => ({ project: projectName ?? "", file }));
}

/** Ceph daemons whose configuration lives under `dir` (start.sh exports CEPH_CONF=$CEPH_DIR/ceph.conf). */
function cephDaemonsUnder(dir) {
  const found = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (!["ceph-mon", "ceph-osd", "radosgw"].includes(comm)) continue;
      if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").some((v) => v.startsWith(`CEPH_CONF=${dir}/`))) found.push({ pid: Number(pid), comm });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

/** Stops every Ceph cluster started under `dir` (by its pid files, then by force), and deletes their data. */
function sweepCeph(dir) {
  for (const cluster of existsSync(dir) ? readdirSync(dir) : []) {
    const cephDir = path.join(dir, cluster, "ceph");
    if (existsSync(path.join(cephDir, "run"))) {
      spawnSync(path.join(root, "infra/ceph-s3/stop.sh"), [], { env: { ...process.env, CEPH_DIR: cephDir }, stdio: "ignore", timeout: 30_000 });
    }
    rmSync(path.join(dir, cluster), { recursive: true, force: true });
  }
  for (const { pid, comm } of cephDaemonsUnder(dir)) {
    console.error(`test: ${comm} (pid ${pid}) of this run was still up after stop.sh; killing it`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

const userArgs = process.argv.slice(2);
const { common, userReporters } = commonArgs(userArgs);
const resultsDir = path.join(root, ".tmp", "test-results");
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });
const rgwDir = mkdtempSync(path.join(os.tmpdir(), "skiff-test-rgw-"));

// One vitest process per project, or per file of an EACH_FILE project.
const runs = [];
for (const { project, file } of listTestFiles(userArgs)) {
  const label = EACH_FILE.has(project) ? `${project} ${path.relative(root, file)}` : project || "tests";
  const r = runs.find((x) => x.label === label);
  if (r) r.files.push(file);
  else runs.push({ label, project, files: [file] });
}

if (runs.length === 0) {
  console.error(`test: no test files match "${userArgs.join(" ")}"`);
  process.exit(1);
}

const reporters = [
  ...(userReporters ? [] : ["--reporter=default"]),
  `--reporter=${path.join(root, "test/support/stall-watchdog.ts")}`,
  "--reporter=json",
];
const totals = { passed: 0, failed: 0, skipped: 0 };
const notPassing = [];
/** Failures seen in attempts that the watchdog stopped: they count whatever a rerun does. */
const failedBeforeStall = [];
let n = 0;

for (const { label, project, files: allFiles } of runs) {
  let files = allFiles;
  for (let attempt = 1; ; attempt++) {
    const json = path.join(resultsDir, `${++n}.json`);
    const stallReport = path.join(resultsDir, `${n}.stall.json`);
    const args = ["run", ...common, ...(project ? ["--project", project] : []), ...files, ...reporters, `--outputFile.json=${json}`];
    const { status, signal } = spawnSync(vitest, args, {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, SKIFF_TEST_STALL_REPORT: stallReport, SKIFF_RGW_DIR: rgwDir },
    });
    sweepCeph(rgwDir);

    if (status !== STALLED) {
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
      if (status !== 0 || signal || !counted) notPassing.push(label);
      break;
    }

    let report;
    try {
      report = JSON.parse(readFileSync(stallReport, "utf8"));
    } catch {
      // Without the watchdog's report nobody knows what failed before the stall: that cannot pass.
      notPassing.push(`${label} (stalled without a report of its results)`);
    }
    if (report) {
      totals.passed += report.counts.passed;
      totals.failed += report.counts.failed;
      totals.skipped += report.counts.skipped;
      if (report.failures.length > 0) {
        failedBeforeStall.push(...report.failures);
        notPassing.push(`${label} (failed before a stall)`);
      }
      const unfinished = new Set(report.unfinished.map((u) => u.file));
      files = files.filter((f) => unfinished.has(f));
      if (files.length === 0) break; // every file had finished; nothing to repeat
    }
    if (attempt === ATTEMPTS) {
      console.error(`\ntest: vitest stalled ${ATTEMPTS} times in a row (${label}); giving up.`);
      notPassing.push(`${label} (stalled ${ATTEMPTS} times)`);
      break;
    }
    const rerun = files.map((f) => path.relative(root, f)).join(" ");
    console.error(`\ntest: STALLED: the watchdog stopped a hung run (attempt ${attempt} of ${ATTEMPTS}); running again what had not finished: ${label}: ${rerun}\n`);
  }
}

sweepCeph(rgwDir);
rmSync(rgwDir, { recursive: true, force: true });

if (failedBeforeStall.length > 0) {
  console.log(`\ntests that failed before the run stalled (a passing rerun does not undo them):`);
  for (const f of failedBeforeStall) console.log(`  ${f.project ? `${f.project} ` : ""}${path.relative(root, f.file)} > ${f.name}: ${f.message.split("\n")[0]}`);
}
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped` + (notPassing.length ? ` (not passing: ${notPassing.join("; ")})` : ""));
process.exit(notPassing.length ? 1 : 0);
