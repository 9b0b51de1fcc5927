// docker's credential helper protocol: `docker-credential-<name> get`, the server on stdin, JSON on stdout.
import { spawn } from "node:child_process";
import type { Credentials } from "./credentials";

const TIMEOUT_MS = 60_000; // helpers may ask the user (a keychain prompt, a hardware key)

/** Runs the helper; null when it has nothing for `server`. Its output is never quoted: it holds the secret. */
export function runCredentialHelper(name: string, server: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | null> {
  const program = `docker-credential-${name}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return Promise.reject(new Error(`invalid credential helper name ${JSON.stringify(name)}`));
  return new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${program} get did not answer within ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code === "ENOENT" ? `credential helper ${program} is not on PATH (named by docker's config.json)` : `${program}: ${e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8").trim();
      if (code !== 0) {
        // The helpers' "not found" answer (docker-credential-helpers' errCredentialsNotFound).
        if (/credentials not found/i.test(stdout) || /credentials not found/i.test(Buffer.concat(err).toString())) return resolve(null);
        // stderr is the helper's own diagnostics, not the secret; keep it short.
        const why = Buffer.concat(err).toString("utf8").trim().slice(0, 300);
        return reject(new Error(`${program} get failed (exit ${code})${why ? `: ${why}` : ""}`));
      }
      let parsed: { Username?: unknown; Secret?: unknown };
      try {
        parsed = JSON.parse(stdout);
      } catch {
        return reject(new Error(`${program} get did not print JSON`));
      }
      const username = typeof parsed.Username === "string" ? parsed.Username : "";
      const secret = typeof parsed.Secret === "string" ? parsed.Secret : "";
      if (!secret) return resolve(null);
      const from = program;
      resolve(username === "<token>" ? { kind: "identity-token", username: "", token: secret, from } : { kind: "basic", username, password: secret, from });
    });
    child.stdin.on("error", () => {}); // a helper that exits without reading stdin
    child.stdin.end(server);
  });
}
