// Image references as docker reads them: "host[:port]/repo/path[:tag][@digest]". Pure, no I/O.

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPO = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256 = /^sha256:[0-9a-f]{64}$/;
const SHA512 = /^sha512:[0-9a-f]{128}$/;
// host, or IPv4, or [IPv6], with an optional port
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

export const DOCKER_HUB = "docker.io";

export interface ImageReference {
  /** "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000" */
  host: string;
  /** "library/alpine", "team/app" */
  repo: string;
  tag?: string;
  digest?: string;
}

export class ReferenceError extends Error {
  override name = "ReferenceError";
}

export function isValidRepo(repo: string): boolean {
  return repo.length > 0 && repo.length <= 255 && REPO.test(repo);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/** A digest we can check: sha256 or sha512 with the right length; other well-formed ones are refused. */
export function isValidDigest(digest: string): boolean {
  return DIGEST.test(digest) && (SHA256.test(digest) || SHA512.test(digest));
}

/** docker's rule: the first component is a registry host if it has a "." or ":" or is "localhost". */
function looksLikeHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

/** Parses "host[:port]/repo/path[:tag|@digest]" (both tag and digest allowed, as docker does). */
export function parseDestination(ref: string): ImageReference {
  const shown = JSON.stringify(ref.slice(0, 300));
  if (!ref || ref.length > 4096) throw new ReferenceError(`invalid image reference ${shown}`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) throw new ReferenceError(`invalid digest in image reference ${shown} (expected sha256:<64 hex> or sha512:<128 hex>)`);
  }
  const slash = rest.indexOf("/");
  let host = DOCKER_HUB;
  if (slash > 0 && looksLikeHost(rest.slice(0, slash))) {
    host = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
    if (!HOST.test(host)) throw new ReferenceError(`invalid registry host ${JSON.stringify(host)} in image reference ${shown}`);
  }
  // A tag's ":" comes after the last "/" (a host's port is already gone).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw new ReferenceError(`invalid tag ${JSON.stringify(tag)} in image reference ${shown} (rule: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})`);
  }
  let repo = rest;
  if (host === DOCKER_HUB && !repo.includes("/")) repo = `library/${repo}`;
  if (!isValidRepo(repo)) {
    throw new ReferenceError(
      `invalid repository name ${JSON.stringify(repo)} in image reference ${shown} (lowercase components [a-z0-9] separated by '.', '_', '__' or '-', joined by '/')`,
    );
  }
  return { host, repo, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** "host/repo:tag@digest" again; docker.io and library/ are written out. */
export function formatReference(r: ImageReference): string {
  return `${r.host}/${r.repo}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** The same image named two ways? ("alpine" and "docker.io/library/alpine:latest" are.) Unparseable names never match. */
export function sameImageName(a: string, b: string): boolean {
  try {
    const x = parseDestination(a);
    const y = parseDestination(b);
    return x.host === y.host && x.repo === y.repo && (x.tag ?? "latest") === (y.tag ?? "latest") && x.digest === y.digest;
  } catch {
    return false;
  }
}
