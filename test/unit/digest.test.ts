import { describe, it, expect } from "vitest";
import { parseDigest, requireDigest, formatDigest, toHex, digestBytes, DIGEST_ALGORITHMS } from "../../src/protocol/digest";
import { RegistryError } from "../../src/protocol/errors";

const hex64 = "a".repeat(64);
const hex128 = "0123456789abcdef".repeat(8);

describe("parseDigest", () => {
  it("accepts sha256 with 64 lowercase hex digits", () => {
    expect(parseDigest(`sha256:${hex64}`)).toEqual({ algorithm: "sha256", hex: hex64 });
  });
  it("accepts sha512 with 128 lowercase hex digits", () => {
    expect(parseDigest(`sha512:${hex128}`)).toEqual({ algorithm: "sha512", hex: hex128 });
  });
  it.each([
    ["uppercase hex", `sha256:${"A".repeat(64)}`],
    ["mixed-case hex", `sha256:${"a".repeat(63)}F`],
    ["63 hex digits", `sha256:${"a".repeat(63)}`],
    ["65 hex digits", `sha256:${"a".repeat(65)}`],
    ["sha256 with a sha512 length", `sha256:${hex128}`],
    ["sha512 with a sha256 length", `sha512:${hex64}`],
    ["non-hex characters", `sha256:${"g".repeat(64)}`],
    ["uppercase algorithm", `SHA256:${hex64}`],
    ["unknown algorithm sha384", `sha384:${"a".repeat(96)}`],
    ["unknown algorithm md5", `md5:${"a".repeat(32)}`],
    ["algorithm with a separator", `sha256+b64u:${hex64}`],
    ["no colon", hex64],
    ["empty", ""],
    ["empty algorithm", `:${hex64}`],
    ["empty encoded part", "sha256:"],
    ["two colons", `sha256:${hex64}:x`],
    ["leading space", ` sha256:${hex64}`],
    ["trailing newline", `sha256:${hex64}\n`],
    ["over 256 characters", `sha256:${"a".repeat(300)}`],
  ])("rejects %s", (_what, value) => {
    expect(parseDigest(value)).toBeNull();
  });
});

describe("requireDigest", () => {
  it("returns the parsed digest", () => {
    expect(requireDigest(`sha256:${hex64}`)).toEqual({ algorithm: "sha256", hex: hex64 });
  });
  it.each([null, undefined, "", "sha256:xyz"])("throws DIGEST_INVALID (400) for %j", (value) => {
    let caught: unknown;
    try {
      requireDigest(value as string | null | undefined);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RegistryError);
    expect((caught as RegistryError).code).toBe("DIGEST_INVALID");
    expect((caught as RegistryError).status).toBe(400);
  });
  it("says 'missing' when there is no value and names what was expected", () => {
    expect(() => requireDigest(null, "mount digest")).toThrow(/invalid mount digest: missing/);
  });
  it("truncates a huge value in its message", () => {
    try {
      requireDigest("x".repeat(10_000));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(400);
    }
  });
});

describe("formatDigest / toHex / digestBytes", () => {
  it("formats back to the parsed text", () => {
    for (const text of [`sha256:${hex64}`, `sha512:${hex128}`]) expect(formatDigest(parseDigest(text)!)).toBe(text);
  });
  it("hex-encodes bytes with leading zeros", () => {
    expect(toHex(new Uint8Array([0, 1, 15, 16, 255]))).toBe("00010f10ff");
    expect(toHex(new Uint8Array([0xab, 0xcd]).buffer)).toBe("abcd");
    expect(toHex(new Uint8Array(0))).toBe("");
  });
  it("hex-encodes a subarray view, not its whole buffer", () => {
    const buf = new Uint8Array([1, 2, 3, 4, 5]);
    expect(toHex(buf.subarray(1, 3))).toBe("0203");
  });
  it("computes known SHA-256 and SHA-512 vectors", async () => {
    const abc = new TextEncoder().encode("abc");
    expect(formatDigest(await digestBytes(new Uint8Array(0)))).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(formatDigest(await digestBytes(abc))).toBe("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(formatDigest(await digestBytes(abc, "sha512"))).toBe(
      "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
  });
  it("declares the hex length of each algorithm", () => {
    expect(DIGEST_ALGORITHMS.sha256.hexLength).toBe(64);
    expect(DIGEST_ALGORITHMS.sha512.hexLength).toBe(128);
  });
});
