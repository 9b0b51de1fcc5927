// Access rules: who may do what in which repositories. Parsed from the AUTH_RULES setting (JSON):
//
//   {
//     "admins": ["alice"],                               // everything, everywhere, and the catalog
//     "groups": { "devs": ["bob", "carol"] },
//     "public": ["library/*"],                           // anyone, signed in or not, may pull these
//     "rules": [
//       { "repos": ["team/*", "tools"], "who": ["@devs"], "actions": ["pull", "push", "delete"] },
//       { "repos": ["team/*"], "who": ["ci-bot"], "actions": ["push"] },
//       { "repos": ["shared/*"], "who": ["*"], "actions": ["pull"] }   // "*": every signed-in user
//     ]
//   }
//
// A pattern is a repository name, `prefix/*` (every repository below prefix/, at any depth) or `*`.
// "push" includes "pull": every push reads (HEAD of blobs, GET of manifests), and clients ask for both.
import { isValidName } from "../protocol/names";
import { parseRepoPattern, matchesRepo, type RepoPattern } from "../protocol/repo-patterns";
import type { Action, Scope } from "./types";
import { parseJsonSetting } from "../config/values";

export const ACTIONS: readonly Action[] = ["pull", "push", "delete"];
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

type Pattern = RepoPattern;

interface Rule {
  patterns: Pattern[];
  users: Set<string>;
  groups: Set<string>;
  anyUser: boolean;
  actions: Set<Action>;
}

export interface AccessRules {
  admins: { users: Set<string>; groups: Set<string> };
  groups: Map<string, Set<string>>;
  publicRepos: Pattern[];
  rules: Rule[];
}

export const NO_RULES: AccessRules = { admins: { users: new Set(), groups: new Set() }, groups: new Map(), publicRepos: [], rules: [] };

/**
 * Parses AUTH_RULES; every problem is pushed to `problems` with the path of the offending value, never the value
 * (problems are logged, and AUTH_RULES may be kept as a secret): `AUTH_RULES.rules[0].who[1]`, groups by position.
 */
export function parseRules(text: string | undefined, problems: string[]): AccessRules {
  if (text === undefined) return NO_RULES;
  const { value: raw, problem } = parseJsonSetting(text);
  if (problem) {
    problems.push(`AUTH_RULES ${problem}`);
    return NO_RULES;
  }
  const where = "AUTH_RULES";
  if (!isObject(raw)) {
    problems.push(`${where} must be a JSON object with "admins", "groups", "public" and "rules"`);
    return NO_RULES;
  }
  unknownKeys(raw, ["admins", "groups", "public", "rules"], where, problems);

  const groups = new Map<string, Set<string>>();
  if (raw.groups !== undefined) {
    if (!isObject(raw.groups)) problems.push(`${where}.groups must be an object of group name -> list of user names`);
    else {
      Object.entries(raw.groups).forEach(([g, members], i) => {
        const path = `${where}.groups (group no. ${i + 1})`;
        if (!GROUP_NAME.test(g)) problems.push(`${path}: the group name must be letters, digits and . _ - (at most 64)`);
        const list = stringList(members, path, problems);
        list.forEach((m, j) => USER_NAME.test(m) || problems.push(`${path}[${j}] is not a valid user name`));
        groups.set(g, new Set(list));
      });
    }
  }
  const who = (value: unknown, path: string, allowAny: boolean) => {
    const users = new Set<string>();
    const gs = new Set<string>();
    let anyUser = false;
    stringList(value, path, problems).forEach((w, i) => {
      if (w === "*" && allowAny) anyUser = true;
      else if (w.startsWith("@")) {
        if (!groups.has(w.slice(1))) problems.push(`${path}[${i}] is an unknown "@group" (define it under "groups")`);
        gs.add(w.slice(1));
      } else if (USER_NAME.test(w)) users.add(w);
      else problems.push(`${path}[${i}] is not a user name, "@group"${allowAny ? ' or "*"' : ""}`);
    });
    return { users, groups: gs, anyUser };
  };
  const admins = raw.admins === undefined ? { users: new Set<string>(), groups: new Set<string>() } : who(raw.admins, `${where}.admins`, false);
  const publicRepos = raw.public === undefined ? [] : patterns(raw.public, `${where}.public`, problems);

  const rules: Rule[] = [];
  if (raw.rules !== undefined) {
    if (!Array.isArray(raw.rules)) problems.push(`${where}.rules must be a list of {"repos", "who", "actions"}`);
    else {
      raw.rules.forEach((r, i) => {
        const path = `${where}.rules[${i}]`;
        if (!isObject(r)) return void problems.push(`${path} must be an object {"repos", "who", "actions"}`);
        unknownKeys(r, ["repos", "who", "actions"], path, problems);
        const actions = new Set<Action>();
        stringList(r.actions, `${path}.actions`, problems).forEach((a, j) => {
          if (!(ACTIONS as string[]).includes(a)) problems.push(`${path}.actions[${j}] is an unknown action (use pull, push, delete)`);
          else actions.add(a as Action);
        });
        if (actions.has("push")) actions.add("pull");
        rules.push({ patterns: patterns(r.repos, `${path}.repos`, problems), ...who(r.who, `${path}.who`, true), actions });
      });
    }
  }
  return { admins, groups, publicRepos, rules };
}

function patterns(value: unknown, path: string, problems: string[]): Pattern[] {
  return stringList(value, path, problems).flatMap((p, i): Pattern[] => {
    const pattern = parseRepoPattern(p);
    if (pattern) return [pattern];
    problems.push(`${path}[${i}] is not a repository name, "prefix/*" or "*"`);
    return [];
  });
}

const matches = matchesRepo;

function inGroupOf(rules: AccessRules, subject: string, groups: Set<string>): boolean {
  for (const g of groups) if (rules.groups.get(g)?.has(subject)) return true;
  return false;
}

export function isAdmin(rules: AccessRules, subject: string | null): boolean {
  return subject !== null && (rules.admins.users.has(subject) || inGroupOf(rules, subject, rules.admins.groups));
}

/** What `subject` (null: anonymous) may do in repository `name` under these rules. */
export function allowedActions(rules: AccessRules, subject: string | null, name: string): Set<Action> {
  if (isAdmin(rules, subject)) return new Set(ACTIONS);
  const out = new Set<Action>();
  if (matches(rules.publicRepos, name)) out.add("pull");
  if (subject === null) return out;
  for (const r of rules.rules) {
    if (!matches(r.patterns, name)) continue;
    if (r.anyUser || r.users.has(subject) || inGroupOf(rules, subject, r.groups)) for (const a of r.actions) out.add(a);
  }
  return out;
}

/** The part of `scope` that `subject` may have (the token spec's intersection); null when nothing of it. */
export function grant(rules: AccessRules, subject: string | null, scope: Scope): Scope | null {
  if (scope.type === "registry") return isAdmin(rules, subject) ? scope : null;
  const allowed = allowedActions(rules, subject, scope.name);
  const actions = scope.actions.filter((a) => allowed.has(a));
  return actions.length ? { type: "repository", name: scope.name, actions } : null;
}

/**
 * Parses one `type:name:actions` scope. Unknown types and names that are not valid repository names give null
 * (nothing is granted for them; the spec says a partial grant is not an error). The name may hold a ':' (a host
 * with a port), so the actions are what follows the last ':'.
 */
export function parseScope(text: string): Scope | null {
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first <= 0 || last === first) return null;
  const type = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(",");
  if (type === "registry") return name === "catalog" && actions.includes("*") ? { type: "registry", name: "catalog", actions: ["*"] } : null;
  if (type !== "repository" || !isValidName(name)) return null;
  const known = ACTIONS.filter((a) => actions.includes(a));
  return known.length ? { type: "repository", name, actions: known } : null;
}

export function formatScope(s: Scope): string {
  return `${s.type}:${s.name}:${s.actions.join(",")}`;
}

/** Merges scopes on the same resource, so a token lists each resource once. */
export function mergeScopes(scopes: Scope[]): Scope[] {
  const byKey = new Map<string, Scope>();
  for (const s of scopes) {
    const key = `${s.type}:${s.name}`;
    const prev = byKey.get(key);
    if (!prev) byKey.set(key, { ...s, actions: [...s.actions] } as Scope);
    else if (prev.type === "repository" && s.type === "repository") {
      prev.actions = ACTIONS.filter((a) => prev.actions.includes(a) || s.actions.includes(a));
    }
  }
  return [...byKey.values()];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unknownKeys(o: Record<string, unknown>, known: string[], path: string, problems: string[]) {
  const keys = Object.keys(o);
  keys.forEach((k, i) => known.includes(k) || problems.push(`${path}: key no. ${i + 1} of ${keys.length} is unknown (known: ${known.join(", ")})`));
}

function stringList(v: unknown, path: string, problems: string[]): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    problems.push(`${path} must be a list of strings`);
    return [];
  }
  return v as string[];
}
