import { describe, it, expect } from "vitest";
import { parsePageRequest, nextLink, MAX_PAGE_SIZE } from "../../src/protocol/pagination";
import { RegistryError } from "../../src/protocol/errors";

describe("parsePageRequest", () => {
  it("leaves n and last unset when absent or empty", () => {
    expect(parsePageRequest(undefined, undefined)).toEqual({});
    expect(parsePageRequest("", "")).toEqual({});
  });
  it.each([
    ["0", 0],
    ["1", 1],
    ["50", 50],
    ["007", 7],
    ["999999999", 999999999],
  ])("reads n=%s", (n, expected) => expect(parsePageRequest(n, undefined).n).toBe(expected));
  it("passes last through verbatim", () => {
    expect(parsePageRequest(undefined, "v1.0")).toEqual({ last: "v1.0" });
    expect(parsePageRequest("3", "a/b")).toEqual({ n: 3, last: "a/b" });
  });
  it.each(["-1", "1.5", "abc", " 5", "5 ", "1e3", "+3", "1000000000", "0x10"])("rejects n=%j with PAGINATION_NUMBER_INVALID 400", (n) => {
    try {
      parsePageRequest(n, undefined);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code).toBe("PAGINATION_NUMBER_INVALID");
      expect((err as RegistryError).status).toBe(400);
    }
  });
  it("caps pages at a documented size", () => expect(MAX_PAGE_SIZE).toBe(1000));
});

describe("nextLink", () => {
  it("builds a RFC 8288 link with n and an escaped last", () => {
    const link = nextLink("/v2/team/app/tags/list", 2, "a/b c&d");
    expect(link).toMatch(/^<\/v2\/team\/app\/tags\/list\?[^>]+>; rel="next"$/);
    const url = new URL(link.slice(1, link.indexOf(">")), "http://x");
    expect(url.pathname).toBe("/v2/team/app/tags/list");
    expect(url.searchParams.get("n")).toBe("2");
    expect(url.searchParams.get("last")).toBe("a/b c&d");
  });
});
