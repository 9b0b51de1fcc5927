// Test projects (npm test runs them all):
//   unit     pure protocol modules, and the ObjectStore contract (test/storage) on MemoryStore and on the R2 adapter
//            over the simulated R2 bucket, inside workerd; garbage collection and retention (test/gc) on both
//   api-r2   every endpoint, inside workerd (vitest-pool-workers) on the simulated R2 bucket, auth open
//   api-s3   the same test/api suite on the S3 backend against a real S3 server (Ceph RGW, started by
//            test/s3/global-setup.ts), blob redirects off so that blob GETs stream as on R2
//   s3       the S3 adapter (with the ObjectStore contract), presigned redirects, configuration, against RGW (test/s3/*.test.ts)
//   s3-faults  RGW stopped or answering errors mid-upload (own RGW, reached through a fault-injecting proxy)
//   api-auth token auth inside workerd: token endpoint, token checks, access rules, attacks (test/auth)
//   ops      deploy --dry-run, infrastructure code (infra/) and log lines, offline, in Node (test/ops)
//   cli      the `skiff` command-line client (cli/) in Node: sources, auth, push against registries it starts
//   e2e      real clients (docker, podman, skopeo, ctr, buildah) against `wrangler dev`, in Node; and test/tooling
//            (the stall watchdog and npm test's rerun, on a fixture that spins on purpose)
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { authTestBindings, authTestRateLimits } from "./test/auth/bindings";

// In every project: a failed test's result leaves the test process before the next test can stall (see the file).
const setupFiles = ["./test/support/report-failures-promptly.ts"];

const workers = (name: string, include: string[], vars: Record<string, string>, miniflare: Record<string, unknown> = {}) => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: vars, ...miniflare },
    }),
  ],
  test: { name, include, setupFiles, testTimeout: 120_000 },
});

// A workers project whose worker uses STORAGE_BACKEND=s3 on the RGW that the project's globalSetup starts.
const s3Workers = (name: string, include: string[], vars: Record<string, string>) => ({
  plugins: [
    cloudflareTest(({ inject }) => {
      const rgw = inject("rgw");
      return {
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            STORAGE_BACKEND: "s3",
            S3_ENDPOINT: rgw.endpoint,
            S3_REGION: rgw.region,
            S3_BUCKET: rgw.bucket,
            S3_PREFIX: "registry/",
            S3_ACCESS_KEY_ID: rgw.accessKeyId,
            S3_SECRET_ACCESS_KEY: rgw.secretAccessKey,
            ...vars,
          },
        },
      };
    }),
  ],
  // As wrangler.toml's [alias]: the AWS SDK's XML parser that works in Workers (see src/storage/sdk-xml.ts).
  resolve: { alias: [{ find: /^@aws-sdk\/xml-builder$/, replacement: fileURLToPath(new URL("./src/storage/sdk-xml.ts", import.meta.url)) }] },
  test: { name, include, setupFiles, testTimeout: 120_000, hookTimeout: 120_000, globalSetup: ["./test/s3/global-setup.ts"] },
});

// The request body limit of a Cloudflare Enterprise zone (up to 5 GB): the API suites send 1 GiB in one request
// (test/api/large-upload.test.ts). The limit itself is tested with a small one (test/api/request-limit.test.ts).
const ENTERPRISE_BODY_LIMIT = { MAX_REQUEST_BODY_MB: "5000" };
// The API suites change storage behind the registry's back (a record tombstoned by hand) and expect the next read to
// see it at once: no edge cache there. test/api/edge-cache.test.ts and storage-calls.test.ts turn it on themselves.
const NO_EDGE_CACHE = { EDGE_CACHE_SECONDS: "0" };
// One JSON line per request would put hundreds of thousands of lines into the test output: the suites that check the
// lines (test/api/request-log, test/auth/request-log, the e2e run's secret scan) have logging on; these have it off.
const QUIET = { LOG_REQUESTS: "false" };

const projects = [
  workers("unit", ["test/unit/**/*.test.ts", "test/storage/**/*.test.ts", "test/gc/**/*.test.ts"], { SKIFF_AUTH: "open", ...QUIET }),
  workers("api-r2", ["test/api/**/*.test.ts"], { SKIFF_AUTH: "open", ...ENTERPRISE_BODY_LIMIT, ...NO_EDGE_CACHE, ...QUIET }),
  workers("api-auth", ["test/auth/**/*.test.ts"], await authTestBindings(), { ratelimits: authTestRateLimits() }),
  s3Workers("api-s3", ["test/api/**/*.test.ts"], { SKIFF_AUTH: "open", BLOB_REDIRECT: "false", ...ENTERPRISE_BODY_LIMIT, ...NO_EDGE_CACHE, ...QUIET }),
  s3Workers("s3", ["test/s3/*.test.ts"], { SKIFF_AUTH: "open", ...QUIET }),
  s3Workers("s3-faults", ["test/s3/faults/**/*.test.ts"], { SKIFF_AUTH: "open", ...QUIET }),
  {
    // The test/api suite in Node on a MemoryStore, through the real app and composition root (test/memory/).
    // and the SHA-256 binary that wrangler and the workers pool import as a compiled module (test/memory/sha256-wasm.ts).
    resolve: {
      alias: [
        { find: /^cloudflare:workers$/, replacement: fileURLToPath(new URL("./test/memory/cloudflare-workers.ts", import.meta.url)) },
        { find: /^\.\/vendor\/sha256\.wasm$/, replacement: fileURLToPath(new URL("./test/memory/sha256-wasm.ts", import.meta.url)) },
      ],
    },
    test: {
      name: "api-memory",
      include: ["test/api/**/*.test.ts"],
      // A 1 GiB blob held in memory proves nothing about streaming; it runs on R2 and S3.
      exclude: ["test/api/large-upload.test.ts"],
      environment: "node",
      setupFiles: [...setupFiles, "./test/memory/setup.ts"],
      testTimeout: 120_000,
    },
  },
  {
    // Operations tooling, offline: `npm run deploy -- --dry-run`, the infrastructure code (infra/) synthesized and
    // its templates checked, log lines. Node only; no account, no cloud.
    test: { name: "ops", include: ["test/ops/**/*.test.ts"], environment: "node", setupFiles, testTimeout: 300_000, hookTimeout: 300_000 },
  },
  {
    // The `skiff` command-line client (cli/) in Node: its parts, and pushes to registries it starts itself (a
    // Skiff under wrangler dev, distribution 2.8.2, Ceph RGW), but no docker engine.
    test: {
      name: "cli",
      include: ["test/cli/**/*.test.ts"],
      environment: "node",
      setupFiles,
      testTimeout: 300_000,
      hookTimeout: 300_000,
      fileParallelism: false,
    },
  },
  {
    test: {
      name: "e2e",
      include: ["test/e2e/**/*.test.ts", "test/tooling/*.test.ts"],
      environment: "node",
      setupFiles,
      // Captures every wrangler dev's output; fails the run if a log line holds a secret (see the file).
      globalSetup: ["./test/support/log-capture-global.ts"],
      testTimeout: 600_000,
      hookTimeout: 300_000,
      fileParallelism: false,
    },
  },
];

export default defineConfig({
  test: {
    // stall-watchdog ends a run that hangs where a test's own timeout cannot fire (see the file).
    reporters: ["default", "./test/support/stall-watchdog.ts"],
    projects,
  },
});
