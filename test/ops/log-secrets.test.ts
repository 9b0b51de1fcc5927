// The end-to-end run's "no secret in any log line" check (test/support/log-secrets.ts, log-capture-global.ts):
// it must find what it is there to find, in files laid out as scripts/lib/log-capture.ts writes them.
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { findSecrets } from "../support/log-secrets";
import { checkCapturedLogs } from "../support/log-capture-global";
import { secretsOfVars, SECRETS_DIR } from "../../scripts/lib/log-capture";

const JWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.MEUCIQDx0yq3ZYcSgfQb5aTzw";

describe("findSecrets", () => {
  it("finds each kind of credential, and a configured secret also in its JSON-escaped spelling", () => {
    const cases: [string, string][] = [
      [`{"message":"token ${JWT}"}`, "JWT"],
      ["GET https://s3/b/k?X-Amz-Signature=deadbeef", "X-Amz-Signature"],
      ["Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "Bearer credentials"],
      [`Authorization: Basic ${btoa("alice:pw-1234")}`, "Basic credentials"],
      ["grant_type=password&password=hunter22", "password or token parameter"],
      ['{"m":"pw is s3cr\\"et-value"}', "configured secret #1"],
    ];
    for (const [line, what] of cases) expect(findSecrets(line, ['s3cr"et-value']).map((f) => f.what), line).toContain(what);
  });

  it("leaves ordinary log lines alone (no false alarms on Skiff's or wrangler's own lines)", () => {
    const clean = [
      '{"level":"info","message":"GET /v2/:name/blobs/:digest 307","requestId":"8f00aa11bb22cc33-FRA","user":"alice","digest":"sha256:' + "a".repeat(64) + '"}',
      "[wrangler:info] GET /token 200 OK (12ms)",
      '{"level":"warn","message":"Basic authentication is required","client":"x Bearer [credentials removed]"}',
      'WWW-Authenticate: Bearer realm="https://r/token",service="r"',
    ].join("\n");
    expect(findSecrets(clean, ["hunter22"])).toEqual([]);
  });

  it("masks what it reports", () => {
    const [f] = findSecrets("the password is s3cret-value here", ["s3cret-value"]);
    expect(f).toMatchObject({ line: 1, what: "configured secret #1" });
    expect(f.excerpt).not.toContain("s3cret-value");
  });
});

describe("the end-to-end check over a capture directory", () => {
  it("passes a clean capture and fails one with a planted secret, naming the file and line", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "skiff-logscan-"));
    try {
      mkdirSync(path.join(dir, SECRETS_DIR));
      const vars = { AUTH_SIGNING_KEY: JSON.stringify({ kty: "EC", d: "private-d-member-value", x: "pub" }), AUTH_USERS: "bob:$pbkdf2-sha256$i=1000$salt$hashvalue", AUTH_RULES: "{}" };
      writeFileSync(path.join(dir, SECRETS_DIR, "1.txt"), [...secretsOfVars(vars), "bob-password"].map((s) => JSON.stringify(s)).join("\n") + "\n");
      writeFileSync(path.join(dir, "wrangler-1-1.log"), '{"level":"info","message":"GET /v2/ 200","user":"bob"}\n');
      expect(checkCapturedLogs(dir)).toBeNull();
      for (const planted of ["bob-password", "private-d-member-value", "$pbkdf2-sha256$i=1000$salt$hashvalue", JWT]) {
        writeFileSync(path.join(dir, "wrangler-1-2.log"), `ok\n{"message":"oops ${planted}"}\n`);
        expect(checkCapturedLogs(dir), planted).toMatch(/wrangler-1-2\.log:2: /);
        expect(checkCapturedLogs(dir)).not.toContain(planted);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("secretsOfVars lists secret settings, user hashes and private key members, not public settings", () => {
    const got = secretsOfVars({ AUTH_SIGNING_KEY: JSON.stringify({ kty: "RSA", d: "dd-member", p: "pp-member", n: "public-modulus" }), S3_SECRET_ACCESS_KEY: "s3-secret", AUTH_SERVICE: "registry.example", AUTH_USERS: "a:hash-a\nb:hash-b" });
    expect(got).toEqual(expect.arrayContaining(["dd-member", "pp-member", "s3-secret", "hash-a", "hash-b"]));
    expect(got).not.toContain("public-modulus");
    expect(got).not.toContain("registry.example");
  });
});
