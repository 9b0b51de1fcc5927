// Setting-value checks whose problems quote nothing of the value (src/config/values.ts).
import { describe, it, expect } from "vitest";
import { checkHttpUrl, isLoopbackHost, parseJsonSetting } from "../../src/config/values";

describe("setting values", () => {
  it("JSON parse errors give the position, never V8's message (which quotes the input)", () => {
    expect(() => JSON.parse("hunter2")).toThrow(/hunter2/); // why the wrapper exists
    const bad = parseJsonSetting('{"d": "hunter2"');
    expect(bad.problem).toMatch(/^is not valid JSON/);
    expect(parseJsonSetting("hunter2").problem).not.toContain("hunter2");
    expect(bad.problem).not.toContain("hunter2");
    expect(parseJsonSetting('{"a":[1]}')).toEqual({ value: { a: [1] } });
  });

  it("URLs: says which part is wrong without quoting any of it", () => {
    const cases: [string, boolean, RegExp | null][] = [
      ["https://s3.example.com", false, null],
      ["https://s3.example.com/", false, null],
      ["https://s3.example.com/bucket", false, /has a path/],
      ["https://cdn.example.com/base/", true, null],
      ["https://AKID:hunter2@s3.example.com", false, /credentials/],
      ["https://hunter2@s3.example.com", true, /credentials/],
      ["https://s3.example.com/?sig=hunter2", true, /query/],
      ["https://s3.example.com/#hunter2", true, /fragment/],
      ["ftp://hunter2@s3.example.com", true, /scheme/],
      ["hunter2", true, /not an absolute URL/],
      ["https://u:hunter2@bad host", true, /not an absolute URL/],
    ];
    for (const [value, path, re] of cases) {
      const r = checkHttpUrl(value, { path });
      if (re === null) expect(r.url, value).toBeInstanceOf(URL);
      else {
        expect(r.problem, value).toMatch(re);
        expect(r.problem).not.toContain("hunter2");
      }
    }
  });

  it("loopback hosts", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "[::1]"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["127.0.0.1.evil.example", "10.0.0.1", "example.com", "[::2]"]) expect(isLoopbackHost(h), h).toBe(false);
  });
});
