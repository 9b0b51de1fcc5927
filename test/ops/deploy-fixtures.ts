// Fixtures for the `npm run deploy` tests: wrangler configurations made from the repository's own wrangler.toml
// (so the shipped [env.production] is what gets tested), real secrets made by the same code as `npm run keygen` and
// `npm run user`, and a way to run scripts/deploy.ts as a user would.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateSigningKey, userLine } from "../../scripts/lib/credentials";
import { run, type RunResult } from "../../scripts/lib/processes";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const HOST = "registry.skiff-ops.test";

export function tmpDir(name: string): string {
  const base = path.join(process.env.TMPDIR ?? "/tmp", "skiff-ops");
  mkdirSync(base, { recursive: true });
  return mkdtempSync(path.join(base, `${name}-`));
}

/**
 * The repository's wrangler.toml, written to `dir` with its paths made absolute, then `edit`ed. `ready` fills in
 * what the guide tells a user to fill in: the host in AUTH_REALM/AUTH_SERVICE and the custom-domain route.
 */
export function writeConfig(dir: string, { ready = true, edit = (t: string) => t }: { ready?: boolean; edit?: (toml: string) => string } = {}): string {
  let text = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = "src\/index.ts"$/m, `main = ${JSON.stringify(path.join(ROOT, "src/index.ts"))}`)
    .replace(/"\.\/src\/storage\/sdk-xml\.ts"/, JSON.stringify(path.join(ROOT, "src/storage/sdk-xml.ts")));
  if (ready) {
    // The top level's [vars] has the same commented example: only the production one is filled in.
    const at = text.indexOf("[env.production.vars]");
    if (at < 0) throw new Error("wrangler.toml no longer has [env.production.vars]");
    text = text.slice(0, at) + replaceOnce(text.slice(at), `# AUTH_REALM = "https://registry.example.com/token"\n# AUTH_SERVICE = "registry.example.com"`, `AUTH_REALM = "https://${HOST}/token"\nAUTH_SERVICE = "${HOST}"`);
    text = replaceOnce(text, `# routes = [{ pattern = "registry.example.com", custom_domain = true }]`, `routes = [{ pattern = "${HOST}", custom_domain = true }]`);
  }
  const file = path.join(dir, "wrangler.toml");
  writeFileSync(file, edit(text));
  return file;
}

/** Replaces `from` (which must be there: the shipped file changed otherwise, and the test must say so). */
export function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`wrangler.toml no longer contains: ${from}`);
  return text.replace(from, to);
}

export interface SecretFiles {
  key: string;
  users: string;
  rules: string;
  /** Every secret value, to look for in output and argv. */
  values: string[];
  keyJson: string;
  usersText: string;
}

/** A signing key, a user file and access rules in `dir`, as the guide makes them. */
export async function writeSecrets(dir: string): Promise<SecretFiles> {
  const { privateJwk } = await generateSigningKey("ES256");
  const keyJson = JSON.stringify(privateJwk);
  const password = `pw-${crypto.randomUUID()}`;
  const usersText = (await userLine("alice", password, { iterations: 1000 })) + "\n" + (await userLine("ci-bot", `${password}-ci`, { iterations: 1000 })) + "\n";
  const rules = JSON.stringify({ admins: ["alice"], groups: { ci: ["ci-bot"] }, rules: [{ repos: ["apps/*"], who: ["@ci"], actions: ["push"] }] });
  const files = { key: path.join(dir, "key.json"), users: path.join(dir, "users.txt"), rules: path.join(dir, "rules.json") };
  writeFileSync(files.key, keyJson + "\n");
  writeFileSync(files.users, usersText);
  writeFileSync(files.rules, rules + "\n");
  // The private part of the key, the password hashes, and the passwords themselves (which must never reach a file).
  const hashes = usersText.trim().split("\n").map((l) => l.slice(l.indexOf(":") + 1));
  return { ...files, keyJson, usersText, values: [privateJwk.d as string, keyJson, ...hashes, password] };
}

/** `npm run deploy -- ARGS` as a child process (what `npm run` runs: tsx scripts/deploy.ts), in the repository. */
export function deploy(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<RunResult> {
  return run(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, "scripts", "deploy.ts"), ...args], {
    cwd: ROOT,
    env: { WRANGLER_SEND_METRICS: "false", ...opts.env },
    input: opts.input,
    allowFail: true,
    timeoutMs: 240_000,
  });
}

/** Fails with the first secret value found in `text` (named by position only, so the failure does not print it). */
export function expectNoSecret(text: string, values: string[]): void {
  const i = values.findIndex((v) => v && text.includes(v));
  if (i >= 0) throw new Error(`secret value #${i} appears in the output`);
}
