// PLACEHOLDER (engine branch): the real parser (docker-style defaults, validation) comes from the sources/auth
// branch and replaces this file at merge. Same signature: "host[:port]/repo[:tag][@digest]" → parts.
export interface Destination {
  host: string;
  repo: string;
  tag?: string;
  digest?: string;
}

export function parseDestination(ref: string): Destination {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = rest.indexOf("/");
  if (slash <= 0) throw new Error(`destination must be HOST/REPOSITORY[:TAG][@DIGEST], got ${JSON.stringify(ref)}`);
  const host = rest.slice(0, slash);
  let repo = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repo.lastIndexOf(":");
  if (colon >= 0) {
    tag = repo.slice(colon + 1);
    repo = repo.slice(0, colon);
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) throw new Error(`invalid repository name in ${JSON.stringify(ref)}`);
  if (tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) throw new Error(`invalid tag in ${JSON.stringify(ref)}`);
  if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`invalid digest in ${JSON.stringify(ref)}`);
  return { host, repo, tag: tag ?? (digest ? undefined : "latest"), digest };
}
