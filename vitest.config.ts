// Test projects (npm test runs them all):
//   unit     pure protocol modules, inside workerd
//   api-r2   every endpoint, inside workerd (vitest-pool-workers) on the simulated R2 bucket, auth open
//   e2e      real clients (docker, podman, skopeo, ctr, buildah) against `wrangler dev`, in Node
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

const workers = (name: string, include: string[], vars: Record<string, string>) => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: vars },
    }),
  ],
  test: { name, include, testTimeout: 120_000 },
});

export default defineConfig({
  test: {
    projects: [
      workers("unit", ["test/unit/**/*.test.ts"], { SKIFF_AUTH: "open" }),
      workers("api-r2", ["test/api/**/*.test.ts"], { SKIFF_AUTH: "open" }),
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 600_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
