// The vitest projects, in the order `npm test` runs them (scripts/test.mjs). vitest.config.ts defines each one and
// checks that its names match these.
//
// `eachFile`: npm test runs that project one test file per vitest process, so each file gets a fresh workerd (see
// scripts/test.mjs for why the simulated R2 bucket needs it).
export const PROJECTS = [
  { name: "unit" },
  { name: "api-r2", eachFile: "test/api" },
  { name: "api-auth" },
  { name: "api-s3" },
  { name: "s3" },
  { name: "s3-faults" },
  { name: "e2e" },
];
