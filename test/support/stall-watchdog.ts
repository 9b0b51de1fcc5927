// A vitest reporter that turns a silent hang into a prompt, explained failure.
//
// Tests in workerd cannot always time out by themselves: when a worker's event loop never goes idle (a busy loop in
// the runtime or the local R2 simulator), workerd never fires the test's own timer, and vitest waits forever. This
// reporter runs in vitest's Node process, which stays responsive. When no test has started or finished for
// SKIFF_TEST_STALL_SECONDS (default 300: seven times the slowest test, a 1 GiB chunked upload under load), it names
// what was running, shows the test processes with their CPU use, kills them, and exits with STALLED_EXIT_CODE,
// which scripts/test.mjs (npm test) tells apart from a failure.
import { execFileSync } from "node:child_process";
import type { Reporter, TestCase, TestModule } from "vitest/node";
import { descendants } from "./proc";

const STALL_MS = Number(process.env.SKIFF_TEST_STALL_SECONDS ?? 300) * 1000;
/** EX_TEMPFAIL: the run was stopped, not failed by a test. */
export const STALLED_EXIT_CODE = 75;
const CHECK_EVERY_MS = Math.min(15_000, STALL_MS / 4);

export default class StallWatchdog implements Reporter {
  private lastActivity = Date.now();
  private readonly running = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;

  onTestRunStart(): void {
    this.lastActivity = Date.now();
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
  }

  onTestCaseReady(test: TestCase): void {
    this.lastActivity = Date.now();
    this.running.set(test.id, `${test.project.name} ${test.module.moduleId} > ${test.fullName}`);
  }

  onTestCaseResult(test: TestCase): void {
    this.lastActivity = Date.now();
    this.running.delete(test.id);
  }

  onTestRunEnd(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    const idle = Date.now() - this.lastActivity;
    if (idle < STALL_MS || this.stopping) return;
    this.stopping = true;
    const lines = [
      "",
      `stall-watchdog: no test started or finished for ${Math.round(idle / 1000)} s (SKIFF_TEST_STALL_SECONDS=${STALL_MS / 1000}).`,
      "Running when it stalled:",
      ...[...this.running.values()].map((name) => `  ${name}`),
    ];
    const children = await descendants(process.pid).catch(() => []);
    if (children.length > 0) {
      try {
        const table = execFileSync("ps", ["-o", "pid=,ppid=,pcpu=,etime=,args=", "-p", children.map((c) => c.pid).join(",")], { encoding: "utf8" });
        lines.push("Test processes (pid ppid %cpu elapsed command):", ...table.trimEnd().split("\n").map((l) => `  ${l.trim().slice(0, 200)}`));
      } catch (err) {
        lines.push(`(could not list processes: ${(err as Error).message})`);
      }
    }
    lines.push("Stopping the run: a hung test would otherwise hold it until CI's own time limit.", "");
    process.stderr.write(lines.join("\n"));
    for (const { pid } of children) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    process.exit(STALLED_EXIT_CODE);
  }
}
