// The challenge's realm and service come from AUTH_REALM and AUTH_SERVICE, never from the request: a forged Host
// header must not choose where clients send their passwords, nor the audience of the tokens they get.
import { describe, it, expect, vi } from "vitest";
import { env } from "cloudflare:workers";
import app from "../../src/index";
import { parseConfig, ConfigError } from "../../src/config";
import { PASSWORDS, REALM, SERVICE } from "./fixtures";
import { basic, bearer, decodePayload, parseChallenge } from "./helpers";

const vars = env as unknown as Record<string, unknown>;
const EVIL = "https://evil.example";

function fetchAs(url: string, init: RequestInit = {}, patch: Record<string, unknown> = {}): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(url, init), { ...vars, ...patch }));
}

/** The problems parseConfig reports for the test bindings changed by `patch` (none: []). */
function problems(patch: Record<string, unknown>): string[] {
  try {
    parseConfig({ ...vars, ...patch });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}

describe("realm and service come from the configuration", () => {
  it("a request sent to another host, or with a forged Host header, is challenged with the configured realm and service", async () => {
    for (const [url, headers] of [
      [`${EVIL}/v2/team/app/tags/list`, {}],
      [`https://${SERVICE}/v2/team/app/tags/list`, { Host: "evil.example" }],
      [`http://127.0.0.1:8787/v2/team/app/tags/list`, { Host: "evil.example:443", "X-Forwarded-Host": "evil.example" }],
    ] as const) {
      const res = await fetchAs(url, { headers });
      expect(res.status).toBe(401);
      expect(parseChallenge(res.headers.get("WWW-Authenticate"))).toEqual({ realm: REALM, service: SERVICE, scope: "repository:team/app:pull" });
    }
  });

  it("tokens fetched through another host are for the configured service; asking for that host's service is refused", async () => {
    const res = await fetchAs(`${EVIL}/token?scope=repository:team/app:pull`, { headers: { Authorization: basic("carol", PASSWORDS.carol) } });
    expect(res.status).toBe(200);
    const { token } = await res.json<{ token: string }>();
    expect(decodePayload(token).aud).toBe(SERVICE);
    // ...and such a token works whatever host the registry is reached by.
    expect((await fetchAs(`${EVIL}/v2/team/app/tags/list`, { headers: bearer(token) })).status).not.toBe(401);
    const other = await fetchAs(`${EVIL}/token?service=evil.example`, { headers: { Authorization: basic("carol", PASSWORDS.carol) } });
    expect(other.status).toBe(400);
  });

  it("with token auth, a missing AUTH_REALM or AUTH_SERVICE stops the registry (503, logged by name) instead of trusting the Host header", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const name of ["AUTH_REALM", "AUTH_SERVICE"]) {
        errors.mockClear();
        const res = await fetchAs(`${EVIL}/v2/`, {}, { [name]: undefined });
        expect(res.status, `${name} unset`).toBe(503);
        expect(res.headers.get("WWW-Authenticate")).toBeNull();
        expect((await res.json<{ errors: unknown[] }>()).errors).toEqual([{ code: "UNAVAILABLE", message: "registry misconfigured, see the logs" }]);
        expect(errors.mock.calls.map((a) => a.join(" ")).join("\n")).toMatch(new RegExp(`${name} is required with token auth`));
        const tok = await fetchAs(`${EVIL}/token`, { headers: { Authorization: basic("carol", PASSWORDS.carol) } }, { [name]: undefined });
        expect(tok.status).toBe(503);
      }
    } finally {
      errors.mockRestore();
    }
    // Open mode issues no challenge: nothing is needed there.
    expect(problems({ SKIFF_AUTH: "open", AUTH_REALM: undefined, AUTH_SERVICE: undefined })).toEqual([]);
  });

  it("AUTH_REALM: an absolute https URL, or http on a loopback host only; no credentials, query or fragment", () => {
    for (const ok of ["https://registry.example.com/token", "https://registry.example.com:8443/auth/token", "http://127.0.0.1:8787/token", "http://localhost:8787/token", "http://[::1]:8787/token"]) {
      expect(problems({ AUTH_REALM: ok }), ok).toEqual([]);
    }
    const bad: [string, RegExp][] = [
      ["http://registry.example.com/token", /AUTH_REALM must be an https URL/],
      ["http://127.0.0.1.evil.example/token", /AUTH_REALM must be an https URL/],
      ["https://user:pw@registry.example.com/token", /AUTH_REALM .*credentials/],
      ["https://registry.example.com/token?x=1", /AUTH_REALM .*query/],
      ["https://registry.example.com/token#x", /AUTH_REALM .*fragment/],
      ["/token", /AUTH_REALM .*not an absolute URL/],
      ["javascript:alert(1)", /AUTH_REALM .*scheme/],
    ];
    for (const [value, re] of bad) expect(problems({ AUTH_REALM: value }).join("\n"), value).toMatch(re);
    // Quotes cannot reach the challenge's quoted parameter: the URL is kept in its serialised (escaped) form.
    expect(parseConfig({ ...vars, AUTH_REALM: 'https://registry.example.com/t"o ken' }).auth).toMatchObject({ realm: "https://registry.example.com/t%22o%20ken" });
  });
});
