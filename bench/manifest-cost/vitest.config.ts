// The api-r2 pool (workerd, simulated R2 bucket, auth open) running only the hostile-manifest measurement.
// Run through run.mjs, which also samples workerd's memory: `npx tsx bench/manifest-cost/run.mjs`.
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { SKIFF_AUTH: "open", MEASURE_DIRECT: process.env.MEASURE_DIRECT ?? "" } } })],
  test: { name: "manifest-cost", include: [process.env.MEASURE_FILE ?? "bench/manifest-cost/manifests.measure.ts"], testTimeout: 600_000 },
});
