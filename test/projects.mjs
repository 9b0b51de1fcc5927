// The vitest projects, in the order `npm test` runs them (scripts/test.mjs). vitest.config.ts defines each one and
// checks that its list matches this one.
export const PROJECTS = ["unit", "api-r2", "api-auth", "api-s3", "s3", "s3-faults", "e2e"];
