// The users, passwords and rules the api-auth project runs with (bindings.ts hashes the passwords for the
// Worker's AUTH_USERS; tests log in with the plain ones). Test-only values.
export const PASSWORDS = {
  alice: "alice-admin-pw", // admin, PBKDF2
  bob: "bob-dev-pw", // group devs: team/*, bcrypt (htpasswd -B)
  carol: "carol-reader-pw", // pull only on team/*, PBKDF2
  robot: "robot-ci-pw", // push-only robot for ci/*, PBKDF2
  dave: "dave-pw", // signed-in user with no rules: only what anyone may do
} as const;

export type TestUser = keyof typeof PASSWORDS;

export const RULES = {
  admins: ["alice"],
  groups: { devs: ["bob"] },
  public: ["library/*"],
  rules: [
    { repos: ["team/*"], who: ["@devs"], actions: ["pull", "push", "delete"] },
    { repos: ["team/*"], who: ["carol"], actions: ["pull"] },
    { repos: ["ci/*"], who: ["robot"], actions: ["push"] },
  ],
};

export const SERVICE = "registry.test";
/** AUTH_REALM: the token endpoint clients are sent to (from the configuration, never from the Host header). */
export const REALM = `https://${SERVICE}/token`;
export const ISSUER = "skiff-test";
