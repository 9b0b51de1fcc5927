// Skiff's version, for the Worker (the S3 User-Agent). package.json is the one source of truth: `npm version`
// rewrites this file from it (scripts/sync-version.ts, package.json's "version" script), and
// test/tooling/version.test.ts fails when the two differ. A constant, because src/ cannot import package.json
// (outside the Worker's TypeScript project) and the bundle needs no more of it than this.
export const SKIFF_VERSION = "0.1.0";
