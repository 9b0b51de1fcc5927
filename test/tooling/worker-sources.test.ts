// src/ is Worker code. `npm run typecheck` refuses Node APIs there (src/tsconfig.json has the Workers types only),
// but a triple-slash reference to Node's types in a src file would switch them back on for the whole project:
// this closes that gap.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = fileURLToPath(new URL("../../src", import.meta.url));
const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => path.join(src, f));

describe("Worker sources", () => {
  it("exist (the scan sees them)", () => {
    expect(files.length).toBeGreaterThan(30);
  });

  it("bring in no Node types or modules", () => {
    const offending = files.flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${path.relative(src, f)}:${i + 1}` }))
        .filter(({ line }) => /^\s*\/\/\/\s*<reference\s+types\s*=\s*["']node["']/.test(line) || /\bfrom\s+["']node:/.test(line) || /\brequire\(/.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    expect(offending).toEqual([]);
  });
});
