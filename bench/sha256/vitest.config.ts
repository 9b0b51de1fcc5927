// The unit pool (workerd) running only the SHA-256 measurement: `npx vitest run --config bench/sha256/vitest.config.ts`.
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
  test: { name: "sha256-cost", include: ["bench/sha256/sha256.measure.ts"], testTimeout: 600_000 },
});
