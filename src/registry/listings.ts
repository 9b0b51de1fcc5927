// Tags, catalog and referrers: listings over key prefixes, in lexical order, paginated with n/last.
import { RegistryError } from "../protocol/errors";
import type { Digest } from "../protocol/digest";
import { MAX_PAGE_SIZE, type PageRequest } from "../protocol/pagination";
import type { Descriptor } from "../protocol/manifest";
import { keys } from "./paths";
import type { RegistryDeps } from "./deps";

export interface Page {
  entries: string[];
  /** Set when more entries follow: the `last` of the next page. */
  next?: string;
}

async function listNames(deps: RegistryDeps, prefix: string, page: PageRequest): Promise<Page> {
  const n = Math.min(page.n ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
  if (n === 0) return { entries: [] };
  const result = await deps.store.list({ prefix, startAfter: page.last !== undefined ? prefix + page.last : undefined, limit: n });
  const entries = result.objects.map((o) => o.key.slice(prefix.length));
  const more = result.cursor !== undefined || (entries.length === n && (await deps.store.list({ prefix, startAfter: prefix + entries[n - 1], limit: 1 })).objects.length > 0);
  return { entries, next: more && entries.length ? entries[entries.length - 1] : undefined };
}

export async function listTags(deps: RegistryDeps, name: string, page: PageRequest): Promise<Page> {
  const result = await listNames(deps, keys.tagsPrefix(name), page);
  // An empty page may be past the last tag of a known repository: only a repository never pushed is unknown.
  if (result.entries.length === 0 && !(await deps.store.head(keys.catalog(name)))) {
    throw new RegistryError("NAME_UNKNOWN", `repository ${name} not known to registry`, { name });
  }
  return result;
}

export function listRepositories(deps: RegistryDeps, page: PageRequest): Promise<Page> {
  return listNames(deps, keys.catalogPrefix, page);
}

/** The referrers of `subject` in `name`, optionally only those of one artifactType. */
export async function listReferrers(deps: RegistryDeps, name: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
  const prefix = keys.referrersPrefix(name, subject);
  const found: Descriptor[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.list({ prefix, cursor });
    const bodies = await Promise.all(
      page.objects.map(async (o) => {
        const obj = await deps.store.get(o.key);
        if (!obj) return null; // deleted meanwhile
        try {
          return JSON.parse(await new Response(obj.body).text()) as Descriptor;
        } catch {
          return null;
        }
      }),
    );
    for (const d of bodies) if (d && (!artifactType || d.artifactType === artifactType)) found.push(d);
    cursor = page.cursor;
  } while (cursor);
  found.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  return found;
}

export function referrersIndex(manifests: Descriptor[]) {
  return { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests };
}
