// Global setup of the e2e project: capture every `wrangler dev`'s output for the whole run (SKIFF_LOG_CAPTURE_DIR,
// scripts/lib/log-capture.ts; a fresh directory unless one was given), and after the last test fail the run if any
// line holds a credential's shape or a secret the run configured (test/support/log-secrets.ts).
// A teardown, not a last test file: vitest orders files by its own rules (cached durations), a teardown runs last.
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LOG_CAPTURE_ENV, SECRETS_DIR } from "../../scripts/lib/log-capture";
import { describeFindings, findSecrets } from "./log-secrets";

export default function setup() {
  const given = process.env[LOG_CAPTURE_ENV];
  const dir = given ?? mkdtempSync(path.join(os.tmpdir(), "skiff-logs-"));
  // Test workers inherit the environment: startSkiff there writes into this directory.
  process.env[LOG_CAPTURE_ENV] = dir;
  return () => {
    const problem = checkCapturedLogs(dir);
    if (problem) {
      // vitest reports a teardown's error but exits 0 for it: the exit code is set here (npm test goes by it).
      process.exitCode = 1;
      throw new Error(`${problem}\n(the captured output is kept in ${dir})`);
    }
    if (!given) rmSync(dir, { recursive: true, force: true });
  };
}

/** Scans every captured log in `dir` for the secrets recorded there; a failure message, or null. */
export function checkCapturedLogs(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const secretsDir = path.join(dir, SECRETS_DIR);
  const secrets = existsSync(secretsDir)
    ? readdirSync(secretsDir).flatMap((f) => readFileSync(path.join(secretsDir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as string))
    : [];
  const problems: string[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".log"))) {
    const found = describeFindings(f, findSecrets(readFileSync(path.join(dir, f), "utf8"), secrets));
    if (found) problems.push(found);
  }
  return problems.length ? problems.join("\n") : null;
}
