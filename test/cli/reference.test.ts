// parseDestination: docker's reading of image references, and the grammar it enforces.
import { describe, expect, it } from "vitest";
import { parseDestination } from "../../cli/registry/reference";
import { isLocalHost, scopeStrings } from "../../cli/registry/client";

const D = `sha256:${"a".repeat(64)}`;

describe("parseDestination", () => {
  it.each([
    ["alpine", { host: "docker.io", repo: "library/alpine" }],
    ["alpine:3.19", { host: "docker.io", repo: "library/alpine", tag: "3.19" }],
    ["team/app:v1", { host: "docker.io", repo: "team/app", tag: "v1" }],
    ["ghcr.io/o/p/q:x_y", { host: "ghcr.io", repo: "o/p/q", tag: "x_y" }],
    ["localhost/app", { host: "localhost", repo: "app" }],
    ["localhost:5000/a/b:1", { host: "localhost:5000", repo: "a/b", tag: "1" }],
    ["127.0.0.1:8787/team/app", { host: "127.0.0.1:8787", repo: "team/app" }],
    ["[::1]:5000/app:v", { host: "[::1]:5000", repo: "app", tag: "v" }],
    [`r.example/app@${D}`, { host: "r.example", repo: "app", digest: D }],
    [`r.example/app:v1@${D}`, { host: "r.example", repo: "app", tag: "v1", digest: D }],
  ])("%s", (ref, want) => {
    expect(parseDestination(ref)).toEqual(want);
  });

  it.each([
    ["", /invalid image reference/],
    ["Team/app", /invalid repository name "Team\/app"/],
    ["r.example/app:-bad", /invalid tag "-bad"/],
    [`r.example/app:${"t".repeat(129)}`, /invalid tag/],
    ["r.example/app@sha256:abc", /invalid digest/],
    ["r.example/a//b", /invalid repository name/],
    ["r.example/", /invalid repository name ""/],
    ["bad_host.example/app", /invalid registry host/],
  ])("refuses %s", (ref, msg) => {
    expect(() => parseDestination(ref)).toThrow(msg);
  });
});

describe("client helpers", () => {
  it("localhost, 127.0.0.1 and [::1] on any port are local (plain http first)", () => {
    for (const h of ["localhost", "localhost:5000", "127.0.0.1:8787", "[::1]", "[::1]:5000"]) expect(isLocalHost(h)).toBe(true);
    for (const h of ["127.0.0.2:5000", "localhost.example", "r.example:5000"]) expect(isLocalHost(h)).toBe(false);
  });

  it("merges scopes per repository", () => {
    expect(scopeStrings([{ repo: "b", actions: ["push", "pull"] }, { repo: "a", actions: ["pull"] }, { repo: "b", actions: ["pull"] }])).toEqual([
      "repository:a:pull",
      "repository:b:pull,push",
    ]);
  });
});
