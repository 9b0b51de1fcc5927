// `skiff` command line: `skiff push [options] SOURCE DEST` (docs/skiff-push.md). Exit codes: 0 pushed, 1 the push
// failed, 2 usage, 130 interrupted (Ctrl-C; the resume state is kept, the same command continues).
import { resolveCredentials } from "./auth";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createRegistryClient } from "./registry/client";
import { parseDestination } from "./registry/reference";
import { openSource as defaultOpenSource } from "./sources/index";
import type { ImageSource } from "./types";
import { errorText, Interrupted, PushError } from "./push/errors";
import { push, type PushSummary } from "./push/engine";
import { MiB, MIN_PART_SIZE, MAX_PART_SIZE } from "./push/plan";
import { barProgress, formatBytes, formatRate, lineProgress, quietProgress, type Progress } from "./push/progress";
import { defaultStateDir, StateStore } from "./push/state";

export interface MainDeps {
  /** How SOURCE is opened (tests pass their own; the default is cli/sources). */
  openSource?: (spec: string) => Promise<ImageSource>;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
  stdin?: NodeJS.ReadableStream;
}

const USAGE = `Usage: skiff push [options] SOURCE DEST

Pushes an image from SOURCE to the registry repository DEST (HOST/REPOSITORY[:TAG][@DIGEST]).

Options:
  --username U         user name at the registry
  --password-stdin     read the password (or token) from standard input
  --jobs N             blobs uploaded at once (default 3; 1 for sequential sources)
  --parts N            part uploads in flight, all blobs together (default 8; memory: N x part size)
  --part-size MiB      part size of direct uploads (default 16, at least 5)
  --chunk-size MiB     chunk size of PATCH uploads (default: 64, at most the registry's OCI-Chunk-Max-Length,
                       a multiple of its OCI-Chunk-Min-Length)
  --no-direct          never upload straight to the bucket, always PATCH chunks
  --insecure           no certificate checks, plain http if the registry has no TLS (always so for localhost)
  --state-dir DIR      resume state (default $XDG_STATE_HOME/skiff or ~/.local/state/skiff)
  --quiet              print errors only
  --json               print a JSON summary on stdout at the end
  --help, --version

Exit codes: 0 pushed, 1 push failed, 2 usage error, 130 interrupted (run the same command again to resume).
`;

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined, def: number, max: number): number {
  if (value === undefined) return def;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  return Number(value);
}

function mib(name: string, value: string | undefined, min: number, max: number): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n * MiB >= min) || n * MiB > max) {
    throw new UsageError(`--${name} is in MiB, from ${min / MiB} to ${max / MiB}, got ${JSON.stringify(value)}`);
  }
  return Math.floor(n * MiB);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}

export async function main(argv: string[], deps: MainDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const env = deps.env ?? process.env;
  const say = (line: string) => void stderr.write(line + "\n");

  const [command, ...rest] = argv;
  if (command === "--version" || command === "version") {
    stdout.write(`skiff ${version()}\n`);
    return 0;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    stdout.write(USAGE);
    return 0;
  }
  if (command !== "push") {
    say(command ? `skiff: unknown command ${JSON.stringify(command)}` : "skiff: a command is needed");
    stderr.write(USAGE);
    return 2;
  }

  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        username: { type: "string" },
        "password-stdin": { type: "boolean" },
        jobs: { type: "string" },
        parts: { type: "string" },
        "part-size": { type: "string" },
        "chunk-size": { type: "string" },
        "no-direct": { type: "boolean" },
        insecure: { type: "boolean" },
        "state-dir": { type: "string" },
        quiet: { type: "boolean", short: "q" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    }));
  } catch (err) {
    say(`skiff push: ${(err as Error).message}`);
    return 2;
  }
  if (values.help) {
    stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    stdout.write(`skiff ${version()}\n`);
    return 0;
  }

  let settings;
  try {
    if (positionals.length !== 2) throw new UsageError(`push needs SOURCE and DEST, got ${positionals.length} argument(s)`);
    if (values["password-stdin"] && !values.username) throw new UsageError("--password-stdin needs --username");
    let dest;
    try {
      dest = parseDestination(positionals[1]);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    settings = {
      source: positionals[0],
      dest,
      jobs: positiveInt("jobs", values.jobs, 3, 64),
      parts: positiveInt("parts", values.parts, 8, 64),
      partSize: mib("part-size", values["part-size"], MIN_PART_SIZE, MAX_PART_SIZE) ?? 16 * MiB,
      chunkSize: mib("chunk-size", values["chunk-size"], 1, MAX_PART_SIZE),
      stateDir: values["state-dir"] ?? defaultStateDir(env),
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    say(`skiff push: ${err.message}\nSee skiff push --help.`);
    return 2;
  }

  const quiet = Boolean(values.quiet);
  const progress: Progress = quiet ? quietProgress : stderr.isTTY ? barProgress(stderr) : lineProgress(say);
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: now
    interrupted = true;
    abort.abort();
  };
  process.on("SIGINT", onSigint);

  let source: ImageSource | null = null;
  try {
    const explicit = values.username
      ? { username: values.username, password: values["password-stdin"] ? await readAll(deps.stdin ?? process.stdin) : "" }
      : null;
    const credentials = await resolveCredentials(settings.dest.host, explicit);
    const { dest } = settings;
    const client = createRegistryClient({ host: dest.host, credentials, insecure: Boolean(values.insecure), userAgent: `skiff/${version()}` });
    source = await (deps.openSource ?? defaultOpenSource)(settings.source);
    const work = push({
      source,
      client,
      registry: dest.host,
      repo: dest.repo,
      tag: dest.tag,
      digest: dest.digest,
      jobs: settings.jobs,
      parts: settings.parts,
      partSize: settings.partSize,
      chunkSize: settings.chunkSize,
      direct: !values["no-direct"],
      state: new StateStore(settings.stateDir),
      progress,
      signal: abort.signal,
    });
    // Ctrl-C: the engine stops at its next step; a registry request already on the wire gets a moment to finish
    // (so its resume state is written), not more.
    const stopped = new Promise<"interrupted">((resolve) =>
      abort.signal.addEventListener("abort", () => setTimeout(() => resolve("interrupted"), 2000).unref(), { once: true }),
    );
    work.catch(() => {}); // after an interrupt its late failure is no news
    const summary = await Promise.race([work, stopped]);
    if (summary === "interrupted") throw new Interrupted();
    progress.stop();
    if (!quiet) say(summaryLine(summary));
    if (values.json) stdout.write(JSON.stringify(summary) + "\n");
    return 0;
  } catch (err) {
    progress.stop();
    if (err instanceof Interrupted || interrupted) {
      if (!quiet) say(`skiff push: interrupted; run the same command again to resume (state in ${settings.stateDir})`);
      if (values.json) stdout.write(JSON.stringify({ error: "interrupted" }) + "\n");
      return 130;
    }
    const message = err instanceof PushError ? err.message : errorText(err);
    say(`skiff push: ${message}`);
    if (values.json) stdout.write(JSON.stringify({ error: message }) + "\n");
    return 1;
  } finally {
    process.off("SIGINT", onSigint);
    await source?.close().catch(() => {});
  }
}

export function summaryLine(s: PushSummary): string {
  const t = s.totals;
  const uploaded = t.direct + t.chunked + t.monolithic;
  const at = s.digest ? `@${s.digest}` : "";
  return `pushed ${s.destination}${at}: ${t.blobs} blobs (${t.skipped} skipped, ${t.mounted} mounted, ${uploaded} uploaded), ` +
    `${formatBytes(t.bytesSent)} sent in ${t.seconds.toFixed(1)} s (${formatRate(t.bytesSent, t.seconds)}), ${s.manifests.length} manifest(s)`;
}
