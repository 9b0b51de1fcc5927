// `npm run user -- add NAME [--generate] [--iterations N] [--bcrypt COST]`: prints an AUTH_USERS line
// `NAME:<hash>` for a password read from the terminal (hidden) or stdin, or a generated one (robots, CI).
// Only the hash goes into the Worker's secret; the password is shown once, only when generated.
import { MAX_ITERATIONS, randomPassword, userLine } from "./lib/credentials";
import { promptHidden } from "./lib/prompt";

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let text = "";
    for await (const chunk of process.stdin) text += chunk;
    return text.replace(/\r?\n$/, "");
  }
  const first = await promptHidden("Password");
  const again = await promptHidden("Again");
  if (first !== again) throw new Error("the passwords differ");
  return first;
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]) {
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
  process.stdout.write((await userLine(name, password, { iterations, bcryptCost })) + "\n");
  if (generate) console.error(`Generated password for ${name} (shown once): ${password}`);
  console.error("Add the line above to your users file (npm run --silent user -- add NAME >> users.txt; one user per line) and pass it to npm run deploy with --users-file users.txt");
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`user: ${e.message}`);
  process.exit(1);
});
