// `npm run deploy [-- --dry-run ...]`: checks the production configuration (every problem with its fix, before
// anything is uploaded), creates the R2 bucket and its lifecycle rules, uploads the secrets on stdin, deploys.
// The steps and why: scripts/lib/deploy/deploy.ts; the guide: README "Deploy on Cloudflare R2 with a custom domain".
import { createRunner } from "./lib/deploy/runner";
import { parseOptions, runDeploy, USAGE } from "./lib/deploy/deploy";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const options = parseOptions(argv, process.cwd());
if (typeof options === "string") {
  console.error(`deploy: ${options}\n${USAGE}`);
  process.exit(2);
}
runDeploy(options, {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  stdin: process.stdin,
  wrangler: createRunner(),
})
  .then((code) => process.exit(code))
  .catch((e) => {
    // Our own errors never carry a secret; a stack from a library could quote input, so print the message only.
    console.error(`deploy: ${(e as Error).message}`);
    process.exit(1);
  });
