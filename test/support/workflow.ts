// The example GitHub Actions workflow (docs/examples/github-actions.yml), read as the Actions runner would read
// what matters to us: its `${{ secrets.X }}` and `${{ vars.X }}` references and its `run:` steps with their env.
// The runner itself is not run (it needs GitHub); test/e2e/guides-operating.test.ts runs the steps' shell.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const WORKFLOW_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/examples/github-actions.yml");

export interface RunStep {
  name: string;
  /** The shell script, as written. */
  run: string;
  /** Job env then step env, values as written (may hold `${{ }}` expressions). */
  env: Record<string, string>;
  /** The step's `if:`, when it has one. */
  if?: string;
}

export interface Workflow {
  text: string;
  doc: any;
  secrets: Set<string>;
  vars: Set<string>;
  steps: RunStep[];
}

export function readWorkflow(file = WORKFLOW_FILE): Workflow {
  const text = readFileSync(file, "utf8");
  // uniqueKeys and strict parsing: a duplicated key or bad indentation is an error, as on GitHub.
  const doc = parse(text, { uniqueKeys: true, strict: true });
  const names = (kind: string) => new Set([...text.matchAll(new RegExp(String.raw`\$\{\{\s*${kind}\.([A-Za-z0-9_]+)\s*\}\}`, "g"))].map((m) => m[1]));
  const steps: RunStep[] = [];
  for (const job of Object.values<any>(doc.jobs ?? {})) {
    for (const step of job.steps ?? []) {
      if (typeof step.run !== "string") continue;
      steps.push({ name: step.name ?? step.run.slice(0, 40), run: step.run, env: { ...(job.env ?? {}), ...(step.env ?? {}) }, if: step.if });
    }
  }
  return { text, doc, secrets: names("secrets"), vars: names("vars"), steps };
}

/** Replaces `${{ secrets.X }}` and `${{ vars.X }}` in an env value as the runner does; anything else is an error. */
export function expand(value: string, context: { secrets: Record<string, string>; vars: Record<string, string> }): string {
  const out = value.replace(/\$\{\{\s*(secrets|vars)\.([A-Za-z0-9_]+)\s*\}\}/g, (_, kind: "secrets" | "vars", name: string) => {
    const v = context[kind][name];
    if (v === undefined) throw new Error(`the workflow uses ${kind}.${name}, which the test does not provide`);
    return v;
  });
  if (out.includes("${{")) throw new Error(`an expression the test cannot evaluate: ${value}`);
  return out;
}
