// Repository patterns, as access rules, immutable tags and retention policies name repositories:
// a repository name, `prefix/*` (every repository below prefix/, at any depth) or `*` (all).
import { isValidName } from "./names";

export type RepoPattern = { exact: string } | { prefix: string } | { all: true };

/** The pattern, or null when the text is none of the three forms. */
export function parseRepoPattern(text: string): RepoPattern | null {
  if (text === "*") return { all: true };
  if (text.endsWith("/*") && isValidName(text.slice(0, -2))) return { prefix: text.slice(0, -1) };
  if (isValidName(text)) return { exact: text };
  return null;
}

export function matchesRepo(patterns: readonly RepoPattern[], name: string): boolean {
  return patterns.some((p) => ("all" in p ? true : "prefix" in p ? name.startsWith(p.prefix) : name === p.exact));
}
