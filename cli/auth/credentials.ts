// What the registry client authenticates with. Secrets live only here and in request headers: never in messages.

export type Credentials =
  /** user name and password (or a personal access token used as one) */
  | { kind: "basic"; username: string; password: string; from: string }
  /** a refresh token from a token server (docker's "identitytoken"), exchanged with grant_type=refresh_token */
  | { kind: "identity-token"; username: string; token: string; from: string }
  /** a bearer token sent as it is (docker's "registrytoken") */
  | { kind: "registry-token"; token: string; from: string };

// `from` says where they came from, for messages: "--username", "~/.docker/config.json", "docker-credential-pass".

/** For messages: kind, user and origin, never the secret. */
export function describeCredentials(c: Credentials | null): string {
  if (!c) return "anonymous";
  if (c.kind === "registry-token") return `a registry token from ${c.from}`;
  return `${c.kind === "basic" ? "user" : "identity token of"} ${JSON.stringify(c.username)} from ${c.from}`;
}
