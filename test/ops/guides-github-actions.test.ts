// The example GitHub Actions workflow of README "GitHub Actions", offline: it parses as YAML, it uses exactly the
// secrets and variables the guide tells you to create, and secrets reach the shell only through env (never pasted
// into a script, where a quote in a password would break it and the script file would hold it). Its shell steps run
// against a local Skiff with docker in test/e2e/guides-operating.test.ts; the Actions runner itself is not run.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readWorkflow } from "../support/workflow";

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../README.md");

/** The README's "### GitHub Actions" sub-section, up to the next heading of the same or a higher level. */
function readmeSection(title: string): string {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf(`\n### ${title}\n`);
  expect(start, `README has a "### ${title}" section`).toBeGreaterThan(0);
  const rest = text.slice(start + 1);
  const end = rest.slice(4).search(/\n#{1,3} /);
  return end < 0 ? rest : rest.slice(0, end + 4);
}

describe("docs/examples/github-actions.yml", () => {
  const wf = readWorkflow();

  it("parses as a workflow: a trigger, one job on a GitHub-hosted runner, read-only repository permissions", () => {
    expect(wf.doc.name).toBeTruthy();
    expect(wf.doc.on.push.branches).toEqual(["main"]);
    expect(wf.doc.permissions).toEqual({ contents: "read" });
    const jobs = Object.values<any>(wf.doc.jobs);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]["runs-on"]).toBe("ubuntu-latest");
    expect(jobs[0].steps[0].uses).toMatch(/^actions\/checkout@v\d+$/);
  });

  it("uses exactly the secrets and variables the README guide names, and names no other", () => {
    expect([...wf.secrets].sort()).toEqual(["SKIFF_PASSWORD", "SKIFF_USER"]);
    expect([...wf.vars].sort()).toEqual(["SKIFF_IMAGE", "SKIFF_REGISTRY"]);
    const guide = readmeSection("GitHub Actions");
    for (const name of [...wf.secrets, ...wf.vars]) expect(guide, name).toContain(name);
    const mentioned = new Set(guide.match(/\bSKIFF_[A-Z_]+\b/g));
    expect([...mentioned].sort()).toEqual([...wf.secrets, ...wf.vars].sort());
  });

  it("secrets reach the shell only through env, and the password only on stdin", () => {
    for (const step of wf.steps) expect(step.run, step.name).not.toMatch(/\$\{\{/);
    const login = wf.steps.find((s) => /docker login/.test(s.run));
    expect(login?.env.SKIFF_PASSWORD).toMatch(/^\$\{\{\s*secrets\.SKIFF_PASSWORD\s*\}\}$/);
    expect(login?.run).toMatch(/--password-stdin/);
    expect(login?.run).not.toMatch(/(-p|--password)\s/);
    // Only the login step sees the secrets.
    for (const step of wf.steps.filter((s) => s !== login)) expect(Object.values(step.env).join(" "), step.name).not.toMatch(/secrets\./);
  });

  it("logs out even when a step failed", () => {
    const logout = wf.steps.find((s) => /docker logout/.test(s.run));
    expect(logout?.if).toBe("always()");
  });
});
