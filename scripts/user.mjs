#!/usr/bin/env node
// `npm run user -- add NAME [--generate] [--iterations N] [--bcrypt COST]`: prints an AUTH_USERS line
// `NAME:<hash>` for a password read from the terminal (hidden) or stdin, or a generated one (robots, CI).
// Only the hash goes into the Worker's secret; the password is shown once, only when generated.
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import bcrypt from "bcryptjs";
import { generateSigningKeySync } from "./keygen.mjs";

// Workers' WebCrypto refuses PBKDF2 above 100,000 iterations; that is the default and the ceiling.
export const MAX_ITERATIONS = 100_000;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** The PBKDF2-SHA256 entry Skiff verifies with WebCrypto: $pbkdf2-sha256$i=N$salt$hash (base64, no padding). */
export function hashPassword(password, iterations = MAX_ITERATIONS) {
  if (!Number.isInteger(iterations) || iterations < 1000 || iterations > MAX_ITERATIONS) throw new Error(`iterations must be from 1000 to ${MAX_ITERATIONS}`);
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const b64 = (b) => b.toString("base64").replace(/=+$/, "");
  return `$pbkdf2-sha256$i=${iterations}$${b64(salt)}$${b64(hash)}`;
}

export function randomPassword() {
  return randomBytes(24).toString("base64url");
}

export function userLine(name, password, opts = {}) {
  if (!USER_NAME.test(name)) throw new Error(`invalid user name ${JSON.stringify(name)}: letters, digits and . _ @ - (not starting with a symbol)`);
  const hash = opts.bcryptCost ? bcrypt.hashSync(password, opts.bcryptCost) : hashPassword(password, opts.iterations);
  return `${name}:${hash}`;
}

/** Keys of a .dev.vars file (dotenv syntax), without their values. */
export function devVarsKeys(file) {
  if (!existsSync(file)) return new Set();
  return new Set([...readFileSync(file, "utf8").matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]));
}

/**
 * How `npm start` authenticates: token auth ON, as in a deployment, with a development admin `dev` whose password
 * is printed at start. The user and a development signing key are made once and kept in <persistTo>/dev-auth.json
 * (next to the local R2 data, git-ignored), so a restart keeps `docker login` valid. Settings in .dev.vars win:
 * with AUTH_USERS or SKIFF_AUTH there, only a missing signing key is supplied. Never use these keys in production.
 * @returns {{ vars: Record<string,string>, bannerLines: string[], credentials: { user: string, password: string } | null }}
 */
export function localDevAuth({ persistTo, registry, projectRoot }) {
  const configured = devVarsKeys(path.join(projectRoot, ".dev.vars"));
  const file = path.join(persistTo, "dev-auth.json");
  let saved = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
  if (!saved?.signingKey || !saved?.entry) {
    const password = randomPassword();
    saved = { user: "dev", password, entry: hashPassword(password), signingKey: generateSigningKeySync().privateJwk };
    mkdirSync(persistTo, { recursive: true });
    writeFileSync(file, JSON.stringify(saved, null, 2) + "\n", { mode: 0o600 });
  }
  const key = { AUTH_SIGNING_KEY: JSON.stringify(saved.signingKey) };
  if (configured.has("AUTH_USERS") || configured.has("SKIFF_AUTH")) {
    return {
      vars: configured.has("AUTH_SIGNING_KEY") ? {} : key,
      bannerLines: ["Auth is configured by .dev.vars (SKIFF_AUTH / AUTH_USERS / AUTH_RULES there)."],
      credentials: null,
    };
  }
  return {
    vars: { SKIFF_AUTH: "token", AUTH_USERS: `${saved.user}:${saved.entry}`, AUTH_RULES: JSON.stringify({ admins: [saved.user] }), ...key },
    bannerLines: [
      "AUTH IS ON (token auth, as in a deployment). Development admin user:",
      `   user: ${saved.user}   password: ${saved.password}`,
      `   echo '${saved.password}' | docker login -u ${saved.user} --password-stdin ${registry}`,
      `   (kept in ${file}; delete it for a new one; other users and rules: see .dev.vars.example)`,
      "Open mode, anyone may push and pull: SKIFF_AUTH=open npm start",
    ],
    credentials: { user: saved.user, password: saved.password },
  };
}

async function readPassword() {
  if (!process.stdin.isTTY) {
    let text = "";
    for await (const chunk of process.stdin) text += chunk;
    return text.replace(/\r?\n$/, "");
  }
  const ask = (prompt) =>
    new Promise((resolve) => {
      process.stderr.write(prompt);
      const stdin = process.stdin;
      stdin.setRawMode(true);
      stdin.resume();
      let value = "";
      const onData = (buf) => {
        for (const ch of buf.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            stdin.setRawMode(false);
            stdin.pause();
            stdin.off("data", onData);
            process.stderr.write("\n");
            return resolve(value);
          }
          if (ch === "\u0003") process.exit(130);
          if (ch === "\u007f") value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on("data", onData);
    });
  const first = await ask("Password: ");
  const again = await ask("Again: ");
  if (first !== again) throw new Error("the passwords differ");
  return first;
}

function option(argv, name) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv) {
  const [command, name] = argv;
  if (command !== "add" || !name || name.startsWith("-")) {
    console.error("usage: npm run user -- add NAME [--generate] [--iterations N (1000..100000)] [--bcrypt COST]");
    process.exit(2);
  }
  const iterations = option(argv, "--iterations") ? Number(option(argv, "--iterations")) : MAX_ITERATIONS;
  const bcryptCost = option(argv, "--bcrypt") ? Number(option(argv, "--bcrypt")) : undefined;
  const generate = argv.includes("--generate");
  const password = generate ? randomPassword() : await readPassword();
  if (!password) throw new Error("empty password");
  process.stdout.write(userLine(name, password, { iterations, bcryptCost }) + "\n");
  if (generate) console.error(`Generated password for ${name} (shown once): ${password}`);
  console.error("Add the line above to the AUTH_USERS secret (one user per line): npx wrangler secret put AUTH_USERS");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`user: ${e.message}`);
    process.exit(1);
  });
}
