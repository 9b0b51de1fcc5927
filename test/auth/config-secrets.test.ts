// No setting's value reaches a client or a log line when the configuration is broken (issue 8, section 5).
// Every setting the parser reads (SETTINGS in src/config/settings.ts: the readers take no other name) is fed values holding a
// marker secret: in URL userinfo, query and fragment for URL settings, inside JSON (and in JSON that does not
// parse: V8's JSON.parse messages quote the input) for JSON settings, as plain text otherwise. Then GET /v2/,
// GET /token and GET /.well-known/jwks.json, anonymously and with Basic credentials; the marker must be in no
// response (status, headers, body) and in no console output.
import { describe, it, expect, vi } from "vitest";
import { env } from "cloudflare:workers";
import app from "../../src/index";
import { SETTINGS, type SettingName } from "../../src/config/settings";
import { ISSUER, PASSWORDS, SERVICE } from "./fixtures";
import { SIGNING_JWK, OLD_JWK, basic } from "./helpers";

const e = env as unknown as Record<string, unknown>;
/** Alphanumeric, so no escaping (JSON, URL encoding) changes it; compared case-insensitively. */
const M = "sekrit" + Math.random().toString(36).slice(2, 10);

const AUTH = {
  SKIFF_AUTH: "token",
  AUTH_USERS: e.AUTH_USERS,
  AUTH_RULES: e.AUTH_RULES,
  AUTH_SIGNING_KEY: e.AUTH_SIGNING_KEY,
  AUTH_VERIFY_KEYS: e.AUTH_VERIFY_KEYS,
  AUTH_SERVICE: SERVICE,
  AUTH_ISSUER: ISSUER,
  AUTH_REALM: e.AUTH_REALM,
  LOGIN_LIMIT_USER: e.LOGIN_LIMIT_USER,
  LOGIN_LIMIT_ADDRESS: e.LOGIN_LIMIT_ADDRESS,
};
/** Working configurations, one per storage mode, each setting is broken in turn on top of each. */
const BASES: Record<string, Record<string, unknown>> = {
  r2: { BUCKET: e.BUCKET, ...AUTH },
  "r2+presign": {
    BUCKET: e.BUCKET,
    R2_ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
    R2_ACCESS_KEY_ID: "r2-key",
    R2_SECRET_ACCESS_KEY: "r2-secret",
    R2_BUCKET_NAME: "skiff-registry",
    ...AUTH,
  },
  s3: { STORAGE_BACKEND: "s3", S3_ENDPOINT: "https://s3.example.com", S3_BUCKET: "registry", S3_ACCESS_KEY_ID: "AKID", S3_SECRET_ACCESS_KEY: "s3-secret", ...AUTH },
  // No endpoint: the region alone names an AWS endpoint (S3_REGION is checked differently then).
  "s3 on AWS": { STORAGE_BACKEND: "s3", S3_REGION: "eu-west-1", S3_BUCKET: "registry", S3_ACCESS_KEY_ID: "AKID", S3_SECRET_ACCESS_KEY: "s3-secret", ...AUTH },
};

const priv = SIGNING_JWK as Record<string, unknown>;
const pub = OLD_JWK as Record<string, unknown>;
const { d: _d, ...oldPublic } = pub;

/** Values holding the marker, by kind of setting. `invalid`: one the parser refuses (the only kind a public setting gets). */
function variants(name: SettingName): { label: string; value: string; invalid?: boolean }[] {
  const spec: { kind: string; public?: boolean } = SETTINGS[name];
  switch (spec.kind) {
    case "url":
      return [
        { label: "password in userinfo", value: `https://user:${M}@s3.example.com`, invalid: true },
        { label: "user in userinfo", value: `https://${M}@s3.example.com/`, invalid: true },
        { label: "query", value: `https://s3.example.com/token?X-Amz-Signature=${M}`, invalid: true },
        { label: "fragment", value: `https://s3.example.com/#${M}`, invalid: true },
        { label: "not a URL", value: `${M} s3.example.com`, invalid: true },
        { label: "unparseable with userinfo", value: `https://u:${M}@s3 example.com:99999/`, invalid: true },
        { label: "other scheme with userinfo", value: `ftp://u:${M}@s3.example.com`, invalid: true },
        ...(spec.public ? [] : [{ label: "path", value: `https://s3.example.com/${M}/` }]),
      ];
    case "json":
      return [
        { label: "truncated JSON", value: `{"admins": ["${M}"`, invalid: true },
        { label: "bare word", value: `${M}`, invalid: true },
        { label: "not an object", value: `["${M}"]`, invalid: true },
        { label: "unknown key", value: `{"${M}": 1}`, invalid: true },
        {
          label: "every position",
          value: JSON.stringify({
            admins: [`${M}!`, `@${M}`],
            groups: { [`${M}!`]: [`${M}!`], ok: `${M}` },
            public: [`${M}!/x`],
            rules: [{ repos: [`${M}!`], who: [`@${M}`, `${M}!`], actions: [`${M}`], [M]: 1 }, `${M}`],
          }),
          invalid: true,
        },
      ];
    case "jwk": {
      const list = name === "AUTH_VERIFY_KEYS" ? (k: unknown) => JSON.stringify([k]) : (k: unknown) => JSON.stringify(k);
      const base = name === "AUTH_VERIFY_KEYS" ? oldPublic : priv;
      return [
        { label: "truncated JSON", value: `{"kty":"EC","d":"${M}"`, invalid: true },
        { label: "bare word", value: `${M}`, invalid: true },
        { label: "alg", value: list({ ...base, alg: `${M}` }), invalid: true },
        { label: "kid", value: list({ ...base, kid: `${M}!` }), invalid: true },
        { label: "use", value: list({ ...base, use: `${M}` }), invalid: true },
        { label: "key material", value: list({ ...base, x: M, y: M, ...(name === "AUTH_SIGNING_KEY" ? { d: M } : {}) }) },
        { label: "private member in a public key / extra member", value: name === "AUTH_VERIFY_KEYS" ? list({ ...oldPublic, kid: "old2", d: M }) : list({ ...priv, note: M }) },
      ];
    }
    case "users":
      return [
        { label: "bare word", value: `${M}`, invalid: true },
        { label: "hash", value: `alice:${M}`, invalid: true },
        { label: "name", value: `${M}!:$2y$10$${"a".repeat(53)}`, invalid: true },
        { label: "pbkdf2 salt", value: `alice:$pbkdf2-sha256$i=1000$${M}$${M}`, invalid: true },
        { label: "bcrypt-like", value: `alice:$2y$99$${M}`, invalid: true },
        { label: "crypt", value: `alice:$apr1$${M}$x`, invalid: true },
      ];
    default:
      // A public setting's valid value is published by design (AUTH_SERVICE in challenges, AUTH_ISSUER in
      // tokens): only a value it refuses is fed to it.
      return [
        { label: "plain", value: M },
        { label: "quoted with spaces", value: `"${M}" !`, invalid: true },
        { label: "number-like", value: `-1${M}` },
      ].filter((v) => !spec.public || v.invalid);
  }
}

const GENERIC = `{"errors":[{"code":"UNAVAILABLE","message":"registry misconfigured, see the logs"}]}`;

const REQUESTS: [string, Record<string, string>][] = [];
for (const path of ["/v2/", `/token?service=${SERVICE}&scope=repository:team/app:pull`, "/.well-known/jwks.json"]) {
  REQUESTS.push([path, {}], [path, { Authorization: basic("alice", PASSWORDS.alice) }]);
}

/** Every console call made while `fn` runs, as text (Error objects with their stacks). */
async function capturingLogs<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const methods = ["log", "info", "warn", "error", "debug", "trace"] as const;
  const spies = methods.map((m) =>
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : typeof a === "string" ? a : JSON.stringify(a) ?? String(a))).join(" "));
    }),
  );
  try {
    return { result: await fn(), lines };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe("configuration errors leak no setting's value", () => {
  it("covers every setting the parser reads", () => {
    expect(Object.keys(SETTINGS).length).toBeGreaterThanOrEqual(27);
    for (const name of Object.keys(SETTINGS) as SettingName[]) expect(variants(name).length, name).toBeGreaterThan(0);
  });

  it("the base configurations work (so each broken setting is what the test measures)", async () => {
    for (const [base, vars] of Object.entries(BASES)) {
      const { result, lines } = await capturingLogs(async () => {
        const v2 = await app.fetch(new Request(`http://${SERVICE}/v2/`), { ...vars });
        const tok = await app.fetch(new Request(`http://${SERVICE}/token?service=${SERVICE}`, { headers: { Authorization: basic("alice", PASSWORDS.alice) } }), { ...vars });
        return [v2.status, tok.status];
      });
      expect(result, `${base}: ${lines.join("\n")}`).toEqual([401, 200]);
    }
  });

  it("no marker in any response or log line, for every setting, value and storage mode", async () => {
    /** "SETTING [variant]: in answers / in logs", once each whatever the storage mode and route. */
    const leaks = new Set<string>();
    const named = new Set<string>();
    const notGeneric: string[] = [];
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      for (const v of variants(name)) {
        for (const [base, vars] of Object.entries(BASES)) {
          const { result: responses, lines } = await capturingLogs(async () => {
            const out: { what: string; status: number; text: string }[] = [];
            for (const [path, headers] of REQUESTS) {
              // A fresh env object: the config is parsed (and its failure logged) again, as in a new isolate.
              const res = await app.fetch(new Request(`http://${SERVICE}${path}`, { headers }), { ...vars, [name]: v.value });
              const head = [...res.headers].map(([k, h]) => `${k}: ${h}`).join("\n");
              out.push({ what: `GET ${path.split("?")[0]}${headers.Authorization ? " (Basic)" : ""}`, status: res.status, text: `${res.status}\n${head}\n${await res.text()}` });
            }
            return out;
          });
          const where = `${name} ${v.label} on ${base}`;
          const leaked = responses.filter((r) => r.text.toLowerCase().includes(M)).map((r) => r.what);
          if (leaked.length) leaks.add(`${name} [${v.label}] in answers (${leaked.join(", ")})`);
          const logged = lines.find((l) => l.toLowerCase().includes(M));
          if (logged) leaks.add(`${name} [${v.label}] in logs`);
          if (lines.some((l) => l.includes(name))) named.add(name);
          // A refused configuration is the same generic 503 for clients on every route (token routes included).
          if (lines.some((l) => l.includes("configuration is invalid"))) {
            for (const r of responses) if (!r.text.includes(GENERIC)) notGeneric.push(`${where}: ${r.what}`);
          }
        }
      }
    }
    expect([...leaks]).toEqual([]);
    expect(notGeneric).toEqual([]);
    // Each setting was refused somewhere, and logged under its name (so the test did exercise it).
    const unnamed = (Object.keys(SETTINGS) as SettingName[]).filter((n) => !named.has(n));
    expect(unnamed).toEqual([]);
  });
});
