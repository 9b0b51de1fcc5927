// Retention policies (the RETENTION setting) and the pure planner that applies one to a repository's manifests and
// tags. No I/O: the executor (retention.ts) reads the repository, asks this module what to delete, and deletes it.
//
//   RETENTION='[{"repositories": ["ci/*"], "untaggedDays": 7,
//                "keepTags": [{"match": "pr-*", "newest": 10}], "protectTags": ["v*", "latest"]}]'
//
// Rules (docs/gc.md §9):
// - The FIRST policy whose `repositories` match a repository is the one applied to it; later ones are ignored there.
// - A tag matching any `protectTags` glob is never deleted.
// - For each `keepTags` entry, among the unprotected tags matching `match`, the `newest` newest (by the time the
//   tag was last pushed) are kept and the others are candidates. A tag matching several entries is deleted only if
//   every entry it matches makes it a candidate. A tag matching no entry is never deleted.
// - With `untaggedDays`, a manifest is deleted when, after the tag deletions, it is not needed: needed = tagged,
//   or pushed at most `untaggedDays` ago, and closed under index -> its children, referrer -> its subject, and
//   subject -> its referrers. Without `untaggedDays` no manifest is deleted.
// Tag globs: `*` is any run of characters (also none), `?` exactly one; every other character stands for itself.
import type { RetentionPolicy } from "./types";
import { matchesRepo, parseRepoPattern, type RepoPattern } from "../protocol/repo-patterns";
import { parseJsonSetting } from "../config/values";

export const DAY_MS = 24 * 3600 * 1000;

/** Bounds on what RETENTION may hold, so that a typo cannot make every step slow. */
export const RETENTION_LIMITS = {
  policies: 100,
  repositories: 100,
  keepTags: 50,
  protectTags: 100,
  /** A tag is at most 128 characters; a glob a little more than that is never needed. */
  globLength: 128,
  maxNewest: 100_000,
  maxUntaggedDays: 36_500,
} as const;

// Tag characters (names.ts) plus the two wildcards.
const GLOB_TEXT = /^[A-Za-z0-9_.\-*?]+$/;

// ---------------------------------------------------------------------------------------------------------------
// Globs

/**
 * A matcher for a tag glob. No regular expression is built from the pattern: the pattern is split at `*` into
 * fixed-length segments (`?` matches any one character), the first anchored at the start, the last at the end, and
 * each middle one matched at its leftmost place after the previous one. Leftmost is always right for fixed-length
 * segments (it leaves the most room for the rest), so there is no backtracking: at most tag length × pattern length
 * character comparisons, whatever the pattern (e.g. "*a*a*a*a*a*b").
 */
export function compileGlob(pattern: string): (text: string) => boolean {
  const segments = pattern.split("*");
  if (segments.length === 1) return (text) => text.length === pattern.length && segmentAt(text, 0, pattern);
  const first = segments[0];
  const last = segments[segments.length - 1];
  const middle = segments.slice(1, -1).filter((s) => s.length > 0);
  const minLength = first.length + last.length + middle.reduce((n, s) => n + s.length, 0);
  return (text) => {
    if (text.length < minLength) return false;
    if (!segmentAt(text, 0, first)) return false;
    const end = text.length - last.length;
    if (!segmentAt(text, end, last)) return false;
    let pos = first.length;
    for (const seg of middle) {
      let found = -1;
      for (let i = pos; i + seg.length <= end; i++) {
        if (segmentAt(text, i, seg)) {
          found = i;
          break;
        }
      }
      if (found < 0) return false;
      pos = found + seg.length;
    }
    return true;
  };
}

function segmentAt(text: string, at: number, seg: string): boolean {
  for (let j = 0; j < seg.length; j++) {
    const c = seg.charCodeAt(j);
    if (c !== 63 /* ? */ && c !== text.charCodeAt(at + j)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses RETENTION (a JSON list of policies; unset or empty = retention off). Every problem is pushed to `problems`
 * with the path of the offending value (`RETENTION[0].keepTags[1].newest`), never the value itself.
 */
export function parseRetention(text: string | undefined, problems: string[]): RetentionPolicy[] {
  if (text === undefined) return [];
  const { value: raw, problem } = parseJsonSetting(text);
  if (problem) {
    problems.push(`RETENTION ${problem}`);
    return [];
  }
  const where = "RETENTION";
  if (!Array.isArray(raw)) {
    problems.push(`${where} must be a JSON list of policies {"repositories", "untaggedDays", "keepTags", "protectTags"}`);
    return [];
  }
  if (raw.length > RETENTION_LIMITS.policies) {
    problems.push(`${where} holds more than ${RETENTION_LIMITS.policies} policies`);
    return [];
  }
  const policies: RetentionPolicy[] = [];
  raw.forEach((p, i) => {
    const path = `${where}[${i}]`;
    if (!isObject(p)) return void problems.push(`${path} must be an object {"repositories", "untaggedDays", "keepTags", "protectTags"}`);
    unknownKeys(p, ["repositories", "untaggedDays", "keepTags", "protectTags"], path, problems);

    const repositories: RepoPattern[] = [];
    const repoTexts = stringList(p.repositories, `${path}.repositories`, RETENTION_LIMITS.repositories, problems);
    if (Array.isArray(p.repositories) && p.repositories.length === 0) problems.push(`${path}.repositories must name at least one repository pattern`);
    repoTexts.forEach((t, j) => {
      const pattern = parseRepoPattern(t);
      if (pattern) repositories.push(pattern);
      else problems.push(`${path}.repositories[${j}] is not a repository name, "prefix/*" or "*"`);
    });

    const policy: RetentionPolicy = { repositories, keepTags: [], protectTags: [] };
    if (p.untaggedDays !== undefined) {
      const n = integer(p.untaggedDays, 1, RETENTION_LIMITS.maxUntaggedDays);
      // At least a day: an index is pushed after its children, which are untagged until then.
      if (n === undefined) problems.push(`${path}.untaggedDays must be an integer from 1 to ${RETENTION_LIMITS.maxUntaggedDays}`);
      else policy.untaggedDays = n;
    }
    if (p.keepTags !== undefined) {
      if (!Array.isArray(p.keepTags)) problems.push(`${path}.keepTags must be a list of {"match", "newest"}`);
      else if (p.keepTags.length > RETENTION_LIMITS.keepTags) problems.push(`${path}.keepTags holds more than ${RETENTION_LIMITS.keepTags} entries`);
      else {
        p.keepTags.forEach((k, j) => {
          const kpath = `${path}.keepTags[${j}]`;
          if (!isObject(k)) return void problems.push(`${kpath} must be an object {"match", "newest"}`);
          unknownKeys(k, ["match", "newest"], kpath, problems);
          const match = glob(k.match, `${kpath}.match`, problems);
          const newest = integer(k.newest, 1, RETENTION_LIMITS.maxNewest);
          if (newest === undefined) problems.push(`${kpath}.newest must be an integer from 1 to ${RETENTION_LIMITS.maxNewest}`);
          if (match !== undefined && newest !== undefined) policy.keepTags.push({ match, newest });
        });
      }
    }
    if (p.protectTags !== undefined) {
      stringList(p.protectTags, `${path}.protectTags`, RETENTION_LIMITS.protectTags, problems).forEach((t, j) => {
        const g = glob(t, `${path}.protectTags[${j}]`, problems);
        if (g !== undefined) policy.protectTags.push(g);
      });
    }
    if (p.untaggedDays === undefined && p.keepTags === undefined) problems.push(`${path} deletes nothing: give "untaggedDays", "keepTags" or both`);
    policies.push(policy);
  });
  return policies;
}

function glob(v: unknown, path: string, problems: string[]): string | undefined {
  if (typeof v !== "string" || v.length === 0 || v.length > RETENTION_LIMITS.globLength || !GLOB_TEXT.test(v)) {
    problems.push(`${path} must be a tag pattern of 1 to ${RETENTION_LIMITS.globLength} letters, digits, "_", ".", "-", "*" and "?"`);
    return undefined;
  }
  return v.replace(/\*{2,}/g, "*"); // "**" means "*"; fewer segments to scan
}

function integer(v: unknown, min: number, max: number): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unknownKeys(o: Record<string, unknown>, known: string[], path: string, problems: string[]) {
  const ks = Object.keys(o);
  ks.forEach((k, i) => known.includes(k) || problems.push(`${path}: key no. ${i + 1} of ${ks.length} is unknown (known: ${known.join(", ")})`));
}

function stringList(v: unknown, path: string, max: number, problems: string[]): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    problems.push(`${path} must be a list of strings`);
    return [];
  }
  if (v.length > max) {
    problems.push(`${path} holds more than ${max} entries`);
    return [];
  }
  return v as string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Planning

/** The policy applied to a repository: the first whose repositories match it. */
export function policyFor(policies: readonly RetentionPolicy[], repo: string): RetentionPolicy | undefined {
  return policies.find((p) => matchesRepo(p.repositories, repo));
}

export interface RetentionManifest {
  /** `sha256:<hex>`. */
  digest: string;
  /** When it was pushed (ms since epoch): its `at` metadata, else storage's write time. */
  at: number;
  /** Child manifests (an index). */
  children: readonly string[];
  /** The manifest it is a referrer of. */
  subject?: string;
  /** false: only a tag holds these bytes (no `_manifests/` object): never a deletion candidate. */
  present?: boolean;
}

export interface RetentionTag {
  name: string;
  digest: string;
  /** When the tag was last pushed (ms since epoch). */
  at: number;
}

export interface RetentionPlan {
  tags: string[];
  manifests: string[];
}

/** The tags the policy deletes, in name order. */
export function planTags(policy: RetentionPolicy, tags: readonly RetentionTag[]): string[] {
  if (policy.keepTags.length === 0) return [];
  const protect = policy.protectTags.map(compileGlob);
  const open = tags.filter((t) => !protect.some((m) => m(t.name)));
  // Per tag: matched by some entry, and kept by some entry.
  const matched = new Set<string>();
  const kept = new Set<string>();
  for (const entry of policy.keepTags) {
    const m = compileGlob(entry.match);
    const hits = open.filter((t) => m(t.name)).sort(newestFirst);
    hits.forEach((t, i) => {
      matched.add(t.name);
      if (i < entry.newest) kept.add(t.name);
    });
  }
  return [...matched].filter((n) => !kept.has(n)).sort();
}

// Newest first; equal times by name, so that a plan never depends on listing order.
function newestFirst(a: RetentionTag, b: RetentionTag): number {
  return b.at - a.at || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * The manifests needed given `roots`: the roots, and everything reachable from them by index -> child,
 * referrer -> subject and subject -> referrer (among `manifests`). Digests outside `manifests` may be in the result.
 */
export function neededManifests(manifests: readonly RetentionManifest[], roots: Iterable<string>): Set<string> {
  const byDigest = new Map(manifests.map((m) => [m.digest, m]));
  const referrers = new Map<string, string[]>();
  for (const m of manifests) {
    if (m.subject === undefined) continue;
    const list = referrers.get(m.subject);
    if (list) list.push(m.digest);
    else referrers.set(m.subject, [m.digest]);
  }
  const needed = new Set<string>();
  const work: string[] = [];
  const add = (d: string) => {
    if (needed.has(d)) return;
    needed.add(d);
    work.push(d);
  };
  for (const r of roots) add(r);
  while (work.length) {
    const d = work.pop()!;
    const m = byDigest.get(d);
    if (m) {
      m.children.forEach(add);
      if (m.subject !== undefined) add(m.subject);
    }
    referrers.get(d)?.forEach(add);
  }
  return needed;
}

/**
 * The manifests the policy deletes, given the tags that remain (after the tag deletions), in digest order. None
 * without `untaggedDays`.
 */
export function planManifests(policy: RetentionPolicy, manifests: readonly RetentionManifest[], remainingTags: readonly RetentionTag[], now: number): string[] {
  if (policy.untaggedDays === undefined) return [];
  const maxAge = policy.untaggedDays * DAY_MS;
  const roots = new Set(remainingTags.map((t) => t.digest));
  for (const m of manifests) if (m.present === false || now - m.at <= maxAge) roots.add(m.digest);
  const needed = neededManifests(manifests, roots);
  return manifests
    .filter((m) => m.present !== false && !needed.has(m.digest))
    .map((m) => m.digest)
    .sort();
}

/** The whole plan for one repository (what a dry run reports): tags first, then manifests as if those were gone. */
export function planRetention(policy: RetentionPolicy, manifests: readonly RetentionManifest[], tags: readonly RetentionTag[], now: number): RetentionPlan {
  const doomed = new Set(planTags(policy, tags));
  const remaining = tags.filter((t) => !doomed.has(t.name));
  return { tags: [...doomed].sort(), manifests: planManifests(policy, manifests, remaining, now) };
}
