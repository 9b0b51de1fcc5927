import { describe, it, expect } from "vitest";
import { isValidName, requireName, isValidTag, requireTag, parseReference, parseLookupReference, MAX_NAME_LENGTH } from "../../src/protocol/names";
import { RegistryError } from "../../src/protocol/errors";

function thrown(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error("expected a RegistryError");
}

describe("repository names", () => {
  it.each([
    "a",
    "0",
    "library/ubuntu",
    "a/b/c/d/e",
    "a.b",
    "a_b",
    "a__b",
    "a-b",
    "a--b",
    "a----b",
    "a.b-c_d__e",
    "my-org/my.app_v2",
    "123/456",
  ])("accepts %j", (name) => expect(isValidName(name)).toBe(true));

  it.each([
    ["empty", ""],
    ["uppercase", "Ubuntu"],
    ["uppercase in a later component", "library/Ubuntu"],
    ["double dot", "a..b"],
    ["triple underscore", "a___b"],
    ["dot then underscore", "a._b"],
    ["dash then dot", "a-.b"],
    ["leading dot", ".a"],
    ["trailing dot", "a."],
    ["leading dash", "-a"],
    ["trailing dash", "a-"],
    ["leading underscore", "_a"],
    ["trailing underscore", "a_"],
    ["leading slash", "/a"],
    ["trailing slash", "a/"],
    ["empty component", "a//b"],
    ["space", "a b"],
    ["colon", "a:b"],
    ["at sign", "a@b"],
    ["non-ASCII", "caf\u00e9"],
    ["component starting with a separator", "a/_b"],
    ["a dot-only component", "a/./b"],
    ["a dot-dot component", "a/../b"],
  ])("rejects %s (%j)", (_what, name) => expect(isValidName(name)).toBe(false));

  it("counts the whole name, slashes included, against the 255 character limit", () => {
    expect(MAX_NAME_LENGTH).toBe(255);
    const at255 = `${"a".repeat(127)}/${"b".repeat(127)}`;
    expect(at255.length).toBe(255);
    expect(isValidName(at255)).toBe(true);
    expect(isValidName("a".repeat(255))).toBe(true);
    expect(isValidName(`${at255}c`)).toBe(false);
    expect(isValidName("a".repeat(256))).toBe(false);
  });

  it("requireName throws NAME_INVALID (400) with the rule", () => {
    const err = thrown(() => requireName("Bad/Name"));
    expect(err.code).toBe("NAME_INVALID");
    expect(err.status).toBe(400);
    expect(err.detail).toMatchObject({ rule: expect.any(String) });
    expect(requireName("good/name")).toBe("good/name");
  });
});

describe("tags", () => {
  it.each(["latest", "v1.0.0", "_private", "A", "1", "a-b_c.d", "UPPER_lower-1.2", "x".repeat(128)])("accepts %j", (tag) =>
    expect(isValidTag(tag)).toBe(true),
  );
  it.each([
    ["empty", ""],
    ["129 characters", "x".repeat(129)],
    ["leading dot", ".hidden"],
    ["leading dash", "-x"],
    ["colon", "a:b"],
    ["slash", "a/b"],
    ["plus", "1.0+build"],
    ["at sign", "a@b"],
    ["space", "a b"],
    ["non-ASCII", "t\u00e9"],
  ])("rejects %s", (_what, tag) => expect(isValidTag(tag)).toBe(false));

  it("requireTag throws a 400 error naming the rule", () => {
    const err = thrown(() => requireTag("-bad"));
    expect(err.status).toBe(400);
    expect(err.message).toContain("-bad");
    expect(requireTag("good")).toBe("good");
  });
});

describe("parseReference", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  it("reads a tag", () => expect(parseReference("v1")).toEqual({ kind: "tag", tag: "v1" }));
  it("reads a digest", () => expect(parseReference(digest)).toEqual({ kind: "digest", digest: { algorithm: "sha256", hex: "b".repeat(64) } }));
  it("treats anything with ':' as a digest and rejects a bad one with DIGEST_INVALID", () => {
    expect(thrown(() => parseReference("sha256:abc")).code).toBe("DIGEST_INVALID");
    expect(thrown(() => parseReference("a:b")).code).toBe("DIGEST_INVALID");
  });
  it("rejects a bad tag with a 400", () => {
    expect(thrown(() => parseReference("x".repeat(129))).status).toBe(400);
    expect(thrown(() => parseReference(".x")).status).toBe(400);
  });
});

describe("parseLookupReference (GET and HEAD)", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  it("reads tags and digests as parseReference does", () => {
    expect(parseLookupReference("v1")).toEqual({ kind: "tag", tag: "v1" });
    expect(parseLookupReference("x".repeat(128))).toEqual({ kind: "tag", tag: "x".repeat(128) });
    expect(parseLookupReference(digest)).toEqual(parseReference(digest));
  });
  it.each(["-bad-", ".x", "", "x".repeat(129), "v1:tag:with:colons", "sha256:abc", `sha256:${"B".repeat(64)}`, "a b", "é"])(
    "answers 404 MANIFEST_UNKNOWN for %j: no manifest has that name",
    (ref) => {
      const err = thrown(() => parseLookupReference(ref));
      expect(err.code).toBe("MANIFEST_UNKNOWN");
      expect(err.status).toBe(404);
    },
  );
  it("quotes at most 200 characters of a long reference", () => {
    expect(thrown(() => parseLookupReference("y".repeat(5000))).message.length).toBeLessThan(300);
  });
});
