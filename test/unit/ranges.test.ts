import { describe, it, expect } from "vitest";
import { parseRangeHeader } from "../../src/protocol/ranges";

describe("parseRangeHeader", () => {
  it("serves a closed range", () => expect(parseRangeHeader("bytes=2-4", 11)).toEqual({ offset: 2, length: 3 }));
});
