// Repository names, tags and references, as the OCI distribution spec's grammar defines them.
import { RegistryError } from "./errors";
import { parseDigest, type Digest } from "./digest";

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

export function requireName(name: string): string {
  if (!isValidName(name)) {
    throw new RegistryError("NAME_INVALID", `invalid repository name ${JSON.stringify(name.slice(0, 300))}`, {
      rule: "lowercase components [a-z0-9]+ separated by '.', '_', '__' or '-', joined by '/', at most 255 characters",
    });
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function requireTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(tag.slice(0, 200))}`, {
      rule: "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
    });
  }
  return tag;
}

export type Reference = { kind: "tag"; tag: string } | { kind: "digest"; digest: Digest };

/** A manifest reference is a digest when it contains ':', a tag otherwise. */
export function parseReference(ref: string): Reference {
  if (ref.includes(":")) {
    const digest = parseDigest(ref);
    if (!digest) throw new RegistryError("DIGEST_INVALID", `invalid digest reference ${JSON.stringify(ref.slice(0, 200))}`);
    return { kind: "digest", digest };
  }
  return { kind: "tag", tag: requireTag(ref) };
}

/**
 * GET and HEAD: a reference that is neither a valid tag nor a digest names no manifest, so it is unknown (404
 * MANIFEST_UNKNOWN, as distribution and zot answer); PUT and DELETE keep parseReference's 400.
 */
export function parseLookupReference(ref: string): Reference {
  if (ref.includes(":")) {
    const digest = parseDigest(ref);
    if (digest) return { kind: "digest", digest };
  } else if (isValidTag(ref)) {
    return { kind: "tag", tag: ref };
  }
  throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${JSON.stringify(ref.slice(0, 200))} unknown: not a valid tag or digest`, { reference: ref.slice(0, 200) });
}
