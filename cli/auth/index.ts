// The credentials a push uses: explicit --username/--password-stdin, else what docker or podman has stored.
import type { Credentials } from "./credentials";
import { credentialsFromConfig } from "./docker-config";

export type { Credentials } from "./credentials";
export { describeCredentials } from "./credentials";

export interface ExplicitLogin {
  username: string;
  password: string;
}

export async function resolveCredentials(host: string, explicit?: ExplicitLogin | null, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | null> {
  if (explicit) {
    if (!explicit.username) throw new Error("--username is empty");
    // --password-stdin reads a line: its newline is not part of the password (docker strips it too).
    const password = explicit.password.replace(/\r?\n$/, "");
    if (!password) throw new Error("the password from --password-stdin is empty");
    return { kind: "basic", username: explicit.username, password, from: "--username/--password-stdin" };
  }
  return credentialsFromConfig(host, env);
}
