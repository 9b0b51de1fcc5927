// Retention policies: the RETENTION parser, the tag glob matcher and the pure planner (src/gc/retention-policy.ts).
import { describe, it, expect } from "vitest";
import {
  compileGlob,
  parseRetention,
  policyFor,
  planTags,
  planManifests,
  planRetention,
  neededManifests,
  DAY_MS,
  RETENTION_LIMITS,
  type RetentionManifest,
  type RetentionTag,
} from "../../src/gc/retention-policy";
import type { RetentionPolicy } from "../../src/gc/types";
import { parseConfig, ConfigError } from "../../src/config";
import type { Env } from "../../src/config/settings";
import { env } from "cloudflare:workers";

function parsed(value: unknown): { policies: RetentionPolicy[]; problems: string[] } {
  const problems: string[] = [];
  const policies = parseRetention(typeof value === "string" ? value : JSON.stringify(value), problems);
  return { policies, problems };
}

describe("compileGlob", () => {
  const cases: [string, string, boolean][] = [
    ["latest", "latest", true],
    ["latest", "latest1", false],
    ["latest", "Latest", false],
    ["v?", "v1", true],
    ["v?", "v", false],
    ["v?", "v12", false],
    ["*", "", true],
    ["*", "anything", true],
    ["v*", "v", true],
    ["v*", "v1.2.3", true],
    ["v*", "av1", false],
    ["*-rc", "1.0-rc", true],
    ["*-rc", "1.0-rc1", false],
    ["pr-*", "pr-12", true],
    ["pr-*", "pr", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["a*a", "a", false], // first and last must not overlap
    ["a*a", "aa", true],
    ["*a*a*", "a", false],
    ["*a*a*", "aba", true],
    ["?*?", "x", false],
    ["?*?", "xy", true],
    ["*.?.*", "1.2.3", true],
    ["*.?.*", "1.22.3", false],
    ["*x?z*", "axyyxyz", true],
    ["ab*ab", "ab", false],
    ["ab*ab", "abab", true],
    ["*aab", "aaab", true], // leftmost-start of the end segment is not the answer: it is anchored
    ["*aab*", "aaab", true],
  ];
  for (const [pattern, text, want] of cases) {
    it(`${JSON.stringify(pattern)} ${want ? "matches" : "does not match"} ${JSON.stringify(text)}`, () => {
      expect(compileGlob(pattern)(text)).toBe(want);
    });
  }

  it("agrees with a reference matcher on every short pattern and text over {a, b, *, ?}", () => {
    // Exhaustive cross-check against a direct recursive definition (fine for these tiny sizes).
    const ref = (p: string, t: string): boolean => {
      if (p === "") return t === "";
      if (p[0] === "*") return ref(p.slice(1), t) || (t !== "" && ref(p, t.slice(1)));
      return t !== "" && (p[0] === "?" || p[0] === t[0]) && ref(p.slice(1), t.slice(1));
    };
    const words = (alphabet: string[], max: number) => {
      const out = [""];
      for (let len = 1; len <= max; len++) for (const w of out.filter((x) => x.length === len - 1)) for (const c of alphabet) out.push(w + c);
      return out;
    };
    const patterns = words(["a", "b", "*", "?"], 4);
    const texts = words(["a", "b"], 5);
    let checked = 0;
    for (const p of patterns) {
      const m = compileGlob(p);
      for (const t of texts) {
        if (m(t) !== ref(p, t)) throw new Error(`pattern ${p} text ${t}: got ${m(t)}`);
        checked++;
      }
    }
    expect(checked).toBe(patterns.length * texts.length);
  });

  it("hostile patterns against long texts stay fast (no backtracking)", () => {
    const hostile = ["*a*a*a*a*a*b", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "*??????????????????????????????b", "*a?a?a?a?a?a?a?a?b*", "a*".repeat(60) + "b"];
    const texts = ["a".repeat(128), "a".repeat(100_000), "ab".repeat(50_000) + "a"];
    const start = performance.now();
    for (const p of hostile) {
      const m = compileGlob(p);
      for (const t of texts) expect(m(t)).toBe(false);
    }
    // A backtracking matcher takes exponential time on "a"*128 against the first pattern alone.
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe("parseRetention", () => {
  it("unset means off", () => {
    const problems: string[] = [];
    expect(parseRetention(undefined, problems)).toEqual([]);
    expect(problems).toEqual([]);
    expect(parsed([]).policies).toEqual([]);
  });

  it("the README example", () => {
    const { policies, problems } = parsed([{ repositories: ["ci/*"], untaggedDays: 7, keepTags: [{ match: "pr-*", newest: 10 }], protectTags: ["v*", "latest"] }]);
    expect(problems).toEqual([]);
    expect(policies).toEqual([{ repositories: [{ prefix: "ci/" }], untaggedDays: 7, keepTags: [{ match: "pr-*", newest: 10 }], protectTags: ["v*", "latest"] }]);
  });

  it("a policy with only untaggedDays or only keepTags; '**' is '*'", () => {
    const { policies, problems } = parsed([
      { repositories: ["*"], untaggedDays: 30 },
      { repositories: ["a", "b/c"], keepTags: [{ match: "**x**", newest: 1 }] },
    ]);
    expect(problems).toEqual([]);
    expect(policies[0]).toEqual({ repositories: [{ all: true }], untaggedDays: 30, keepTags: [], protectTags: [] });
    expect(policies[1]).toEqual({ repositories: [{ exact: "a" }, { exact: "b/c" }], keepTags: [{ match: "*x*", newest: 1 }], protectTags: [] });
  });

  const bad: [string, unknown, string][] = [
    ["not JSON", "[{", "RETENTION is not valid JSON"],
    ["not a list", { repositories: ["*"] }, "RETENTION must be a JSON list"],
    ["an entry that is no object", ["x"], "RETENTION[0] must be an object"],
    ["unknown key", [{ repositories: ["*"], untaggedDays: 1, untagedDays: 2 }], "RETENTION[0]: key no. 3 of 3 is unknown"],
    ["no repositories", [{ untaggedDays: 1 }], "RETENTION[0].repositories must be a list of strings"],
    ["empty repositories", [{ repositories: [], untaggedDays: 1 }], "RETENTION[0].repositories must name at least one"],
    ["bad repository pattern", [{ repositories: ["ok", "Bad*"], untaggedDays: 1 }], 'RETENTION[0].repositories[1] is not a repository name'],
    ["deletes nothing", [{ repositories: ["*"], protectTags: ["v*"] }], "RETENTION[0] deletes nothing"],
    ["untaggedDays 0", [{ repositories: ["*"], untaggedDays: 0 }], "RETENTION[0].untaggedDays must be an integer from 1"],
    ["untaggedDays fraction", [{ repositories: ["*"], untaggedDays: 1.5 }], "RETENTION[0].untaggedDays must be an integer"],
    ["untaggedDays string", [{ repositories: ["*"], untaggedDays: "7" }], "RETENTION[0].untaggedDays must be an integer"],
    ["keepTags not a list", [{ repositories: ["*"], keepTags: { match: "x", newest: 1 } }], "RETENTION[0].keepTags must be a list"],
    ["keepTags entry unknown key", [{ repositories: ["*"], keepTags: [{ match: "x", newest: 1, oldest: 2 }] }], "RETENTION[0].keepTags[0]: key no. 3 of 3 is unknown"],
    ["newest 0", [{ repositories: ["*"], keepTags: [{ match: "x", newest: 0 }] }], "RETENTION[0].keepTags[0].newest must be an integer from 1"],
    ["newest missing", [{ repositories: ["*"], keepTags: [{ match: "x" }] }], "RETENTION[0].keepTags[0].newest"],
    ["match with a regex character", [{ repositories: ["*"], keepTags: [{ match: "pr-(.*)+", newest: 1 }] }], "RETENTION[0].keepTags[0].match must be a tag pattern"],
    ["match empty", [{ repositories: ["*"], keepTags: [{ match: "", newest: 1 }] }], "RETENTION[0].keepTags[0].match must be a tag pattern"],
    ["match too long", [{ repositories: ["*"], keepTags: [{ match: "a".repeat(RETENTION_LIMITS.globLength + 1), newest: 1 }] }], "RETENTION[0].keepTags[0].match must be a tag pattern"],
    ["protectTags not strings", [{ repositories: ["*"], untaggedDays: 1, protectTags: [1] }], "RETENTION[0].protectTags must be a list of strings"],
    ["protectTags bad glob", [{ repositories: ["*"], untaggedDays: 1, protectTags: ["ok", "a/b"] }], "RETENTION[0].protectTags[1] must be a tag pattern"],
    ["too many policies", Array.from({ length: RETENTION_LIMITS.policies + 1 }, () => ({ repositories: ["*"], untaggedDays: 1 })), "RETENTION holds more than"],
    ["too many protectTags", [{ repositories: ["*"], untaggedDays: 1, protectTags: Array(RETENTION_LIMITS.protectTags + 1).fill("v*") }], "RETENTION[0].protectTags holds more than"],
    ["too many keepTags", [{ repositories: ["*"], keepTags: Array(RETENTION_LIMITS.keepTags + 1).fill({ match: "x", newest: 1 }) }], "RETENTION[0].keepTags holds more than"],
  ];
  for (const [label, value, message] of bad) {
    it(`refuses ${label}, naming the path`, () => {
      const { problems } = parsed(value);
      expect(problems.some((p) => p.includes(message)), problems.join(" | ")).toBe(true);
    });
  }

  it("problems never quote the value", () => {
    const marker = "SECRETMARKER";
    const { problems } = parsed([{ repositories: [`${marker}!`], keepTags: [{ match: `${marker}(`, newest: marker }], protectTags: [`${marker}/`], [marker]: 1 }]);
    expect(problems.length).toBeGreaterThanOrEqual(4);
    for (const p of problems) expect(p).not.toContain(marker);
    const notJson: string[] = [];
    parseRetention(`[{"repositories": "${marker}`, notJson);
    expect(notJson.join()).not.toContain(marker);
  });

  it("is wired into the configuration: config.gc.retention, and a bad value is a ConfigError", () => {
    const base = { ...(env as Env) }; // the unit project's worker: the R2 binding, auth open
    expect(parseConfig(base).gc.retention).toEqual([]);
    const config = parseConfig({ ...base, RETENTION: JSON.stringify([{ repositories: ["ci/*"], untaggedDays: 7 }]) });
    expect(config.gc.retention).toEqual([{ repositories: [{ prefix: "ci/" }], untaggedDays: 7, keepTags: [], protectTags: [] }]);
    expect(() => parseConfig({ ...base, RETENTION: "[1]" })).toThrow(ConfigError);
  });
});

describe("policyFor", () => {
  it("the first policy whose repositories match", () => {
    const { policies } = parsed([
      { repositories: ["ci/special"], untaggedDays: 1 },
      { repositories: ["ci/*"], untaggedDays: 2 },
      { repositories: ["*"], untaggedDays: 3 },
    ]);
    expect(policyFor(policies, "ci/special")?.untaggedDays).toBe(1);
    expect(policyFor(policies, "ci/other")?.untaggedDays).toBe(2);
    expect(policyFor(policies, "ci/special/sub")?.untaggedDays).toBe(2);
    expect(policyFor(policies, "app")?.untaggedDays).toBe(3);
    expect(policyFor(policies.slice(0, 2), "app")).toBeUndefined();
  });
});

const NOW = 1_000 * DAY_MS;
const daysAgo = (n: number) => NOW - n * DAY_MS;
const D = (c: string) => `sha256:${c.repeat(64)}`;
const tag = (name: string, digest: string, ageDays: number): RetentionTag => ({ name, digest, at: daysAgo(ageDays) });
const man = (digest: string, ageDays: number, extra: Partial<RetentionManifest> = {}): RetentionManifest => ({ digest, at: daysAgo(ageDays), children: [], ...extra });
const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({ repositories: [{ all: true }], keepTags: [], protectTags: [], ...p });

describe("planTags", () => {
  it("keeps the newest K matching tags and deletes the older ones; tags matching no entry stay", () => {
    const tags = [tag("pr-1", D("1"), 10), tag("pr-2", D("2"), 5), tag("pr-3", D("3"), 1), tag("pr-4", D("4"), 3), tag("main", D("5"), 100)];
    expect(planTags(policy({ keepTags: [{ match: "pr-*", newest: 2 }] }), tags)).toEqual(["pr-1", "pr-2"]);
    expect(planTags(policy({ keepTags: [{ match: "pr-*", newest: 4 }] }), tags)).toEqual([]);
    expect(planTags(policy({ keepTags: [{ match: "pr-*", newest: 1 }] }), tags)).toEqual(["pr-1", "pr-2", "pr-4"]);
  });

  it("protected tags are never deleted and do not count towards K", () => {
    const tags = [tag("v1", D("1"), 30), tag("v2", D("2"), 20), tag("v3", D("3"), 10), tag("latest", D("3"), 10)];
    expect(planTags(policy({ keepTags: [{ match: "*", newest: 1 }], protectTags: ["v1", "lat*"] }), tags)).toEqual(["v2"]);
    expect(planTags(policy({ keepTags: [{ match: "*", newest: 1 }], protectTags: ["*"] }), tags)).toEqual([]);
  });

  it("equal ages: the order is by name, not listing order", () => {
    const tags = [tag("b", D("1"), 1), tag("a", D("2"), 1), tag("c", D("3"), 1)];
    const p = policy({ keepTags: [{ match: "*", newest: 1 }] });
    expect(planTags(p, tags)).toEqual(["b", "c"]);
    expect(planTags(p, [...tags].reverse())).toEqual(["b", "c"]);
  });

  it("a tag matching several entries is deleted only if every one of them would delete it", () => {
    const tags = [tag("pr-1-x", D("1"), 3), tag("pr-2", D("2"), 2), tag("x-1", D("3"), 1)];
    const p = policy({ keepTags: [{ match: "pr-*", newest: 1 }, { match: "*x*", newest: 5 }] });
    // pr-1-x is old for "pr-*" but kept by "*x*"; pr-2 is the newest "pr-*".
    expect(planTags(p, tags)).toEqual([]);
    const q = policy({ keepTags: [{ match: "pr-*", newest: 1 }, { match: "*x*", newest: 1 }] });
    expect(planTags(q, tags)).toEqual(["pr-1-x"]);
  });

  it("no keepTags: no tag is deleted", () => {
    expect(planTags(policy({ untaggedDays: 1 }), [tag("a", D("1"), 100)])).toEqual([]);
  });
});

describe("planManifests", () => {
  const p7 = policy({ untaggedDays: 7 });

  it("untagged manifests older than N days are deleted; young or tagged ones stay", () => {
    const ms = [man(D("1"), 30), man(D("2"), 30), man(D("3"), 3), man(D("4"), 7)];
    expect(planManifests(p7, ms, [tag("t", D("2"), 30)], NOW)).toEqual([D("1")]);
  });

  it("exactly N days old stays (\"older than\"); a time in the future is young", () => {
    expect(planManifests(p7, [man(D("1"), 7), { digest: D("2"), at: NOW + DAY_MS, children: [] }], [], NOW)).toEqual([]);
    expect(planManifests(p7, [{ digest: D("1"), at: daysAgo(7) - 1, children: [] }], [], NOW)).toEqual([D("1")]);
  });

  it("without untaggedDays no manifest is deleted", () => {
    expect(planManifests(policy({ keepTags: [{ match: "*", newest: 1 }] }), [man(D("1"), 1000)], [], NOW)).toEqual([]);
  });

  it("children of a tagged index stay, also through nested indexes", () => {
    const ms = [man(D("a"), 30, { children: [D("b"), D("c")] }), man(D("b"), 30, { children: [D("d")] }), man(D("c"), 30), man(D("d"), 30), man(D("e"), 30)];
    expect(planManifests(p7, ms, [tag("t", D("a"), 30)], NOW)).toEqual([D("e")]);
  });

  it("children of a young untagged index stay; children of an old untagged index go with it", () => {
    const ms = [man(D("a"), 1, { children: [D("b")] }), man(D("b"), 30), man(D("c"), 30, { children: [D("d")] }), man(D("d"), 30)];
    expect(planManifests(p7, ms, [], NOW)).toEqual([D("c"), D("d")]);
  });

  it("a child shared by a kept and a deleted index stays", () => {
    const ms = [man(D("a"), 30, { children: [D("s")] }), man(D("b"), 30, { children: [D("s"), D("x")] }), man(D("s"), 30), man(D("x"), 30)];
    expect(planManifests(p7, ms, [tag("t", D("a"), 1)], NOW)).toEqual([D("b"), D("x")]);
  });

  it("referrers of a kept manifest stay (also referrers of referrers); the subject of a kept referrer stays", () => {
    const ms = [
      man(D("s"), 30), // tagged subject
      man(D("r"), 30, { subject: D("s") }), // its signature
      man(D("q"), 30, { subject: D("r") }), // a signature of the signature
      man(D("o"), 30), // old untagged subject of a young referrer
      man(D("y"), 1, { subject: D("o") }),
      man(D("z"), 30, { subject: D("u") }), // referrer of a deleted subject
      man(D("u"), 30),
    ];
    expect(planManifests(p7, ms, [tag("t", D("s"), 30)], NOW)).toEqual([D("u"), D("z")]);
  });

  it("referrers of a child of a tagged index stay, and a referrer's subject keeps the index whose child it is not", () => {
    const ms = [man(D("i"), 30, { children: [D("c")] }), man(D("c"), 30), man(D("r"), 30, { subject: D("c") }), man(D("x"), 30, { subject: D("y") }), man(D("y"), 30)];
    expect(planManifests(p7, ms, [tag("t", D("i"), 30)], NOW)).toEqual([D("x"), D("y")]);
  });

  it("a tag-only entry (no _manifests object) is never deleted, and its children stay", () => {
    const ms = [man(D("a"), 30, { children: [D("b")], present: false }), man(D("b"), 30)];
    expect(planManifests(p7, ms, [], NOW)).toEqual([]);
  });

  it("cycles through subject links terminate", () => {
    const ms = [man(D("a"), 30, { subject: D("b") }), man(D("b"), 30, { subject: D("a") })];
    expect(planManifests(p7, ms, [], NOW)).toEqual([D("a"), D("b")]);
    expect(planManifests(p7, ms, [tag("t", D("a"), 1)], NOW)).toEqual([]);
  });
});

describe("planRetention: tags first, then manifests as if those tags were gone", () => {
  it("a manifest whose only tag is deleted is deleted when old; one still tagged elsewhere stays", () => {
    const p = policy({ untaggedDays: 7, keepTags: [{ match: "pr-*", newest: 1 }], protectTags: ["v*"] });
    const ms = [man(D("1"), 30), man(D("2"), 20), man(D("3"), 1), man(D("4"), 30)];
    const tags = [tag("pr-1", D("1"), 30), tag("pr-2", D("2"), 20), tag("pr-3", D("3"), 1), tag("v1", D("2"), 20), tag("pr-old-recent-image", D("3"), 25)];
    expect(planRetention(p, ms, tags, NOW)).toEqual({ tags: ["pr-1", "pr-2", "pr-old-recent-image"], manifests: [D("1"), D("4")] });
  });

  it("an empty repository plans nothing", () => {
    expect(planRetention(policy({ untaggedDays: 1, keepTags: [{ match: "*", newest: 1 }] }), [], [], NOW)).toEqual({ tags: [], manifests: [] });
  });
});

describe("neededManifests", () => {
  it("includes digests outside the list (a missing child) without failing", () => {
    const needed = neededManifests([man(D("a"), 1, { children: [D("z")] })], [D("a")]);
    expect([...needed].sort()).toEqual([D("a"), D("z")]);
  });
});
