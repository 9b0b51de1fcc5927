// The pure shaping of request log lines and metrics data points (src/observability/request-log.ts).
import { describe, expect, it } from "vitest";
import { classify, eventLogLine, requestDataPoint, requestId, requestLogLine, routeTemplate, scrub, type RequestFacts } from "../../src/observability/request-log";

const D = `sha256:${"a".repeat(64)}`;
const JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl";

const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  ray: null, method: "GET", route: "/v2/:name{.+}/blobs/:digest", repository: "team/app", status: 200, code: null,
  bytesIn: 0, bytesOut: 10, durationMs: 3.4, user: "alice", userAgent: "containerd/2.0", upload: null, digest: D, ...over,
});

describe("request log line", () => {
  it("has the fields, route as a template, absent ones left out", () => {
    expect(requestLogLine(facts(), "id-1")).toEqual({
      level: "info", message: "GET /v2/:name/blobs/:digest 200", event: "pull", requestId: "id-1", method: "GET",
      route: "/v2/:name/blobs/:digest", repository: "team/app", status: 200, bytesIn: 0, bytesOut: 10, durationMs: 3,
      user: "alice", client: "containerd/2.0", digest: D,
    });
  });

  it("levels by status; an OCI code on errors", () => {
    expect(requestLogLine(facts({ status: 404, code: "BLOB_UNKNOWN" }), "x")).toMatchObject({ level: "warn", code: "BLOB_UNKNOWN", event: "error" });
    expect(requestLogLine(facts({ status: 503, code: "UNAVAILABLE" }), "x")).toMatchObject({ level: "error" });
  });

  it("drops values that fail their grammar: names, digests, users, upload ids", () => {
    const line = requestLogLine(facts({ repository: "Team/App", digest: JWT, user: `a b ${JWT}`, upload: "../../x", bytesIn: -1, bytesOut: 1.5 }), "x");
    for (const k of ["repository", "digest", "upload", "bytesIn", "bytesOut"]) expect(line).not.toHaveProperty(k);
    expect(line.user).toBe("anonymous");
    expect(JSON.stringify(line)).not.toContain("eyJ");
  });

  it("a client's User-Agent is scrubbed and cut", () => {
    const line = requestLogLine(facts({ userAgent: `x Bearer ${JWT} ${"y".repeat(500)}` }), "x");
    expect(line.client).not.toContain("eyJ");
    expect((line.client as string).length).toBeLessThanOrEqual(200);
  });

  it("takes cf-ray when it looks like one, else a fresh id", () => {
    expect(requestId("8f00aa11bb22cc33-FRA", () => "r")).toBe("8f00aa11bb22cc33-FRA");
    expect(requestId("bad ray\n{", () => "r")).toBe("r");
    expect(requestId(null, () => "r")).toBe("r");
  });

  it("route templates", () => {
    expect(routeTemplate("/v2/:name{.+}/blobs/uploads/:id")).toBe("/v2/:name/blobs/uploads/:id");
    expect(routeTemplate("/*")).toBeNull();
    expect(routeTemplate(null)).toBeNull();
  });
});

describe("events", () => {
  const ev = (method: string, route: string, status: number) => classify({ method, route, status });
  it("names what a request was", () => {
    expect(ev("PUT", "/v2/:name{.+}/blobs/uploads/:id", 201)).toBe("push");
    expect(ev("POST", "/v2/:name{.+}/blobs/uploads/", 201)).toBe("push");
    expect(ev("POST", "/v2/:name{.+}/blobs/uploads/", 202)).toBe("request");
    expect(ev("GET", "/v2/:name{.+}/blobs/:digest", 307)).toBe("pull");
    expect(ev("HEAD", "/v2/:name{.+}/blobs/:digest", 200)).toBe("request");
    expect(ev("PUT", "/v2/:name{.+}/manifests/:reference", 201)).toBe("manifest_put");
    expect(ev("GET", "/v2/:name{.+}/manifests/:reference", 200)).toBe("manifest_pull");
    expect(ev("GET", "/token", 200)).toBe("token_issued");
    expect(ev("POST", "/token", 401)).toBe("token_denied");
    expect(ev("GET", "/token", 429)).toBe("token_denied");
    expect(ev("GET", "/token", 400)).toBe("error");
    expect(ev("GET", "/v2/:name{.+}/blobs/:digest", 404)).toBe("error");
  });
  it("tells docker's anonymous first request (the 401 challenge) from a refused token", () => {
    const line = (credentials: boolean) => requestLogLine(facts({ method: "GET", route: "/v2/", status: 401, code: "UNAUTHORIZED", credentials }), "x");
    expect(line(false)).toMatchObject({ level: "info", event: "challenge" });
    expect(line(true)).toMatchObject({ level: "warn", event: "error" });
    expect(classify({ method: "GET", route: "/v2/", status: 401 })).toBe("error"); // unknown: not called a handshake
    const head = requestLogLine(facts({ method: "HEAD", route: "/v2/:name/blobs/:digest", status: 404, code: "BLOB_UNKNOWN" }), "x");
    expect(head).toMatchObject({ level: "info", event: "request", code: "BLOB_UNKNOWN" }); // "do you have it?" before a push
    expect(requestLogLine(facts({ method: "GET", route: "/v2/:name/blobs/:digest", status: 404, code: "BLOB_UNKNOWN" }), "x")).toMatchObject({ level: "warn", event: "error" });
  });
});

describe("data point", () => {
  it("has the documented positions", () => {
    expect(requestDataPoint(facts({ status: 404, code: "BLOB_UNKNOWN", bytesOut: null }))).toEqual({
      indexes: ["team/app"],
      blobs: ["error", "team/app", "BLOB_UNKNOWN", "GET", "/v2/:name/blobs/:digest", "alice"],
      doubles: [0, 0, 3, 404],
    });
  });
  it("keeps the index within 96 bytes", () => {
    const long = Array.from({ length: 20 }, () => "abcdefghij").join("/");
    expect(requestDataPoint(facts({ repository: long })).indexes[0].length).toBe(96);
  });
});

describe("scrub", () => {
  it("removes URL queries, JWTs, credentials and signature parameters", () => {
    const text = scrub(`GET https://acct.r2.cloudflarestorage.com/b/data/x?X-Amz-Signature=abc&X-Amz-Credential=AK failed; ` +
      `Authorization: Bearer ${JWT}; Basic YWxpY2U6cHc=; body password=hunter2 token=${JWT}`);
    for (const s of ["abc", "AK ", JWT, "YWxpY2U6cHc=", "hunter2", "X-Amz-Signature="]) expect(text).not.toContain(s);
    expect(text).toContain("https://acct.r2.cloudflarestorage.com/b/data/x?[query removed]");
  });
  it("event lines scrub their message and fields", () => {
    expect(JSON.stringify(eventLogLine("error", `failed at https://h/x?sig=1`, { error: `Bearer ${JWT}` }))).not.toMatch(/sig=1|eyJ/);
  });
});
