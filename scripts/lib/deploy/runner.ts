// Every wrangler command `npm run deploy` runs goes through here: one place that finds wrangler, passes a secret
// only on stdin (never in argv, which other users of the machine can read in /proc), and tees wrangler's output.
// `wrangler` is looked up on PATH first (npm run puts node_modules/.bin there), so a test can put a stand-in first.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface WranglerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface WranglerRunner {
  /** Runs `wrangler ARGS`, writing `stdin` (if any) to its standard input; `quiet` keeps its output off the console. */
  run(args: string[], opts?: { stdin?: string; quiet?: boolean }): Promise<WranglerResult>;
}

const LOCAL_WRANGLER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "node_modules", "wrangler", "bin", "wrangler.js");

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** The wrangler to run: the first `wrangler` on PATH, else this package's own. */
export function wranglerCommand(): [string, ...string[]] {
  const found = onPath("wrangler");
  return found ? [found] : [process.execPath, LOCAL_WRANGLER];
}

export function createRunner(log: (text: string) => void = (t) => process.stderr.write(t)): WranglerRunner {
  const [cmd, ...pre] = wranglerCommand();
  return {
    run(args, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(cmd, [...pre, ...args], {
          stdio: ["pipe", "pipe", "pipe"],
          // No usage metrics from a deploy script; the rest of the environment (CLOUDFLARE_API_TOKEN...) passes.
          env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (b: Buffer) => {
          stdout += b;
          if (!opts.quiet) log(b.toString());
        });
        child.stderr.on("data", (b: Buffer) => {
          stderr += b;
          if (!opts.quiet) log(b.toString());
        });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
        child.stdin.on("error", () => {}); // a command that exits without reading stdin must not crash us (EPIPE)
        child.stdin.end(opts.stdin ?? "");
      });
    },
  };
}
