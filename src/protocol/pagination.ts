// `n` and `last` query parameters of tag and catalog listings, and the Link header to the next page.
import { RegistryError } from "./errors";

export const MAX_PAGE_SIZE = 1000;

export interface PageRequest {
  /** How many entries at most; undefined: the registry's page size. */
  n?: number;
  last?: string;
}

export function parsePageRequest(n: string | undefined, last: string | undefined): PageRequest {
  const page: PageRequest = {};
  if (n !== undefined && n !== "") {
    if (!/^\d{1,9}$/.test(n)) throw new RegistryError("PAGINATION_NUMBER_INVALID", `invalid n ${JSON.stringify(n.slice(0, 40))}: expected a non-negative integer`, undefined, { status: 400 });
    page.n = Number(n);
  }
  if (last !== undefined && last !== "") page.last = last;
  return page;
}

/** `Link: </v2/...?n=N&last=X>; rel="next"` */
export function nextLink(path: string, n: number, last: string): string {
  const q = new URLSearchParams({ n: String(n), last });
  return `<${path}?${q.toString()}>; rel="next"`;
}
