// A vitest reporter that turns a silent hang into a prompt, explained failure.
//
// Tests in workerd cannot always time out by themselves: when a worker's event loop never goes idle (a busy loop in
// the runtime or the local R2 simulator), workerd never fires the test's own timer, and vitest waits forever. This
// reporter runs in vitest's Node process, which stays responsive. When no test has started or finished for
// SKIFF_TEST_STALL_SECONDS (default 300, well above the slowest test; where stalls happen and how often:
// docs/testing.md#stalls), it names what was running, shows the test processes with their CPU use, kills them,
// and exits with STALLED_EXIT_CODE, which scripts/test.mjs (npm test) tells apart from a failure.
//
// A stopped run writes no other report, so before exiting the watchdog writes its own to SKIFF_TEST_STALL_REPORT
// (when set, by npm test): the tests that failed before the stall, the counts of the test files that finished, and
// the files that did not finish. npm test reruns only those files and still fails for the earlier failures.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import type { Reporter, TestCase, TestModule, TestSpecification } from "vitest/node";
import { cpuMs, descendants } from "./proc";

const STALL_MS = Number(process.env.SKIFF_TEST_STALL_SECONDS ?? 300) * 1000;
/** EX_TEMPFAIL: the run was stopped, not failed by a test. */
export const STALLED_EXIT_CODE = 75;
const CHECK_EVERY_MS = Math.min(15_000, STALL_MS / 4);

/** What SKIFF_TEST_STALL_REPORT holds (read by scripts/test.mjs). */
export interface StallReport {
  /** Tests (or whole files, when a file failed outside a test) that failed before the stall, finished files or not. */
  failures: { project: string; file: string; name: string; message: string }[];
  /** Test counts: every test of the finished files, plus the failed tests of the others. */
  counts: { passed: number; failed: number; skipped: number };
  /** Files that had not finished (absolute paths): the ones to run again. */
  unfinished: { project: string; file: string }[];
}

type Tally = { passed: number; failed: number; skipped: number };
const key = (project: string, file: string) => `${project}\0${file}`;

export default class StallWatchdog implements Reporter {
  private lastActivity = Date.now();
  private readonly running = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private specs: { project: string; file: string }[] = [];
  private readonly finished = new Set<string>();
  private readonly tallies = new Map<string, Tally>();
  private readonly failures: StallReport["failures"] = [];
  /** CPU seconds of each test process at the first check after the last activity: tells a spin from an idle hang. */
  private cpuAtIdle: { at: number; cpu: Map<number, number> } | undefined;

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.lastActivity = Date.now();
    this.specs = specifications.map((s) => ({ project: s.project.name, file: s.moduleId }));
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  onTestModuleStart(module: TestModule): void {
    this.lastActivity = Date.now();
    this.running.set(`module:${module.id}`, `${module.project.name} ${module.moduleId} (collecting or in a hook)`);
  }

  onTestModuleEnd(module: TestModule): void {
    this.lastActivity = Date.now();
    this.running.delete(`module:${module.id}`);
    this.finished.add(key(module.project.name, module.moduleId));
    // A file can fail outside any test (import error, failing beforeAll): that is a failure too.
    for (const e of module.errors()) {
      this.failures.push({ project: module.project.name, file: module.moduleId, name: "(test file)", message: e.message ?? String(e) });
      this.tally(module.project.name, module.moduleId).failed++;
    }
  }

  onTestCaseReady(test: TestCase): void {
    this.lastActivity = Date.now();
    this.running.set(test.id, `${test.project.name} ${test.module.moduleId} > ${test.fullName}`);
  }

  onTestCaseResult(test: TestCase): void {
    this.lastActivity = Date.now();
    this.running.delete(test.id);
    const result = test.result();
    const t = this.tally(test.project.name, test.module.moduleId);
    if (result.state === "passed") t.passed++;
    else if (result.state === "failed") {
      t.failed++;
      const message = result.errors?.[0]?.message ?? "failed";
      this.failures.push({ project: test.project.name, file: test.module.moduleId, name: test.fullName, message });
    } else if (result.state === "skipped") t.skipped++;
  }

  onTestRunEnd(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private tally(project: string, file: string): Tally {
    const k = key(project, file);
    let t = this.tallies.get(k);
    if (!t) this.tallies.set(k, (t = { passed: 0, failed: 0, skipped: 0 }));
    return t;
  }

  private report(): StallReport {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const [k, t] of this.tallies) {
      counts.failed += t.failed;
      // The passed and skipped tests of an unfinished file are counted by its rerun.
      if (this.finished.has(k)) {
        counts.passed += t.passed;
        counts.skipped += t.skipped;
      }
    }
    const unfinished = this.specs.filter((s) => !this.finished.has(key(s.project, s.file)));
    return { failures: this.failures, counts, unfinished };
  }

  private async check(): Promise<void> {
    const idle = Date.now() - this.lastActivity;
    if (!this.cpuAtIdle || this.cpuAtIdle.at < this.lastActivity) {
      const cpu = new Map<number, number>();
      for (const { pid } of descendants(process.pid)) cpu.set(pid, (cpuMs(pid) ?? 0) / 1000);
      this.cpuAtIdle = { at: Date.now(), cpu };
    }
    if (idle < STALL_MS || this.stopping) return;
    this.stopping = true;
    const lines = [
      "",
      `stall-watchdog: no test started or finished for ${Math.round(idle / 1000)} s (SKIFF_TEST_STALL_SECONDS=${STALL_MS / 1000}).`,
      "Running when it stalled:",
      ...[...this.running.values()].map((name) => `  ${name}`),
    ];
    if (this.failures.length > 0) {
      lines.push("Failed before the stall:", ...this.failures.map((f) => `  ${f.project} ${f.file} > ${f.name}: ${f.message.split("\n")[0]}`));
    }
    const children = descendants(process.pid);
    if (children.length > 0) {
      try {
        const table = execFileSync("ps", ["-o", "pid=,ppid=,pcpu=,etime=,args=", "-p", children.map((c) => c.pid).join(",")], { encoding: "utf8" });
        // %cpu of the whole life (ps) and while stalled: a spin keeps a core busy, a hang waiting for I/O does not.
        const base = this.cpuAtIdle!;
        const secs = (Date.now() - base.at) / 1000;
        const rows = table.trimEnd().split("\n").map((l) => {
          const pid = Number(l.trim().split(/\s+/)[0]);
          const ms = cpuMs(pid);
          const now = ms === null ? null : ms / 1000;
          const during = now === null || !base.cpu.has(pid) || secs < 1 ? "?" : Math.round((100 * (now - base.cpu.get(pid)!)) / secs);
          return `  ${String(during).padStart(4)} ${l.trim()}`.slice(0, 200);
        });
        lines.push(`Test processes (%cpu in the last ${Math.round(secs)} s, then pid ppid %cpu elapsed command):`, ...rows);
      } catch (err) {
        lines.push(`(could not list processes: ${(err as Error).message})`);
      }
    }
    lines.push("Stopping the run: a hung test would otherwise hold it until CI's own time limit.", "");
    process.stderr.write(lines.join("\n"));
    const reportFile = process.env.SKIFF_TEST_STALL_REPORT;
    if (reportFile) writeFileSync(reportFile, JSON.stringify(this.report(), null, 1));
    for (const { pid } of children) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    // Exit handlers still run (test/s3/rgw.ts stops the Ceph daemons started from this process); vitest's own
    // teardown, globalSetup's included, does not.
    process.exit(STALLED_EXIT_CODE);
  }
}
