// `npm start [-- --port N] [-- --persist-to DIR]`: Skiff under `wrangler dev` on https://127.0.0.1:8787, offline, on
// a local R2 bucket persisted in .wrangler/state, token auth with a printed development user (SKIFF_AUTH=open: open
// mode). How it is started: scripts/lib/dev-server.ts, which the end-to-end tests and the bench use too.
import { banner, DEFAULT_PORT, serveUntilStopped, startSkiff } from "./lib/dev-server";

function parseArgs(argv: string[]): { port?: number; persistTo?: string; help?: boolean } {
  const out: { port?: number; persistTo?: string; help?: boolean } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.split("=", 2);
    const value = () => inline ?? argv[++i];
    if (flag === "--port") out.port = Number(value());
    else if (flag === "--persist-to") out.persistTo = value();
    else if (flag === "--help" || flag === "-h") out.help = true;
    else throw new Error(`unknown option ${a} (options: --port N, --persist-to DIR)`);
  }
  if (out.port !== undefined && !(Number.isInteger(out.port) && out.port > 0 && out.port < 65536)) throw new Error("--port needs a port number");
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log("npm start [-- --port N] [-- --persist-to DIR]: run Skiff locally under wrangler dev (token auth with a printed dev user; SKIFF_AUTH=open for open mode; local R2)");
    return;
  }
  const skiff = await startSkiff({
    port: args.port ?? (Number(process.env.PORT) || DEFAULT_PORT),
    persistTo: args.persistTo,
    // Auth on with a development user, as newcomers should meet it; SKIFF_AUTH=open npm start runs it open.
    auth: process.env.SKIFF_AUTH === "open" ? "open" : "dev",
    onOutput: (s) => process.stdout.write(s),
  });
  process.stdout.write(banner(skiff));
  await serveUntilStopped(skiff);
}

main().catch((err) => {
  console.error(err?.message ?? err);
  process.exit(1);
});
