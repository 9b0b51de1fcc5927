import { describe, it, expect } from "vitest";
import { ERROR_CODES, RegistryError, errorBody, type ErrorCode } from "../../src/protocol/errors";

describe("error codes", () => {
  it("map the spec's codes to the spec's statuses", () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      BLOB_UNKNOWN: 404,
      BLOB_UPLOAD_INVALID: 400,
      BLOB_UPLOAD_UNKNOWN: 404,
      DIGEST_INVALID: 400,
      MANIFEST_BLOB_UNKNOWN: 404,
      MANIFEST_INVALID: 400,
      MANIFEST_UNKNOWN: 404,
      NAME_INVALID: 400,
      NAME_UNKNOWN: 404,
      SIZE_INVALID: 400,
      UNAUTHORIZED: 401,
      DENIED: 403,
      UNSUPPORTED: 405,
      TOOMANYREQUESTS: 429,
      RANGE_INVALID: 416,
      UNAVAILABLE: 503,
    };
    for (const [code, status] of Object.entries(expected)) expect(ERROR_CODES[code as ErrorCode].status, code).toBe(status);
    for (const { message } of Object.values(ERROR_CODES)) expect(message.length).toBeGreaterThan(0);
  });
});

describe("RegistryError", () => {
  it("takes its status and default message from the code", () => {
    const err = new RegistryError("BLOB_UNKNOWN");
    expect(err).toBeInstanceOf(Error);
    expect(err.status).toBe(404);
    expect(err.message).toBe(ERROR_CODES.BLOB_UNKNOWN.message);
    expect(err.headers).toEqual({});
  });
  it("accepts a status and headers override", () => {
    const err = new RegistryError("SIZE_INVALID", "too big", { limit: 1 }, { status: 413, headers: { "Retry-After": "1" } });
    expect(err.status).toBe(413);
    expect(err.headers).toEqual({ "Retry-After": "1" });
    expect(err.detail).toEqual({ limit: 1 });
  });
});

describe("errorBody", () => {
  it("is the spec's {errors:[{code,message}]} without detail when there is none", () => {
    expect(JSON.parse(errorBody(new RegistryError("NAME_UNKNOWN", "no such repo")))).toEqual({ errors: [{ code: "NAME_UNKNOWN", message: "no such repo" }] });
  });
  it("includes detail when given", () => {
    expect(JSON.parse(errorBody(new RegistryError("DIGEST_INVALID", "bad", { expected: "x" })))).toEqual({
      errors: [{ code: "DIGEST_INVALID", message: "bad", detail: { expected: "x" } }],
    });
  });
});
