// Writes package.json's version into src/version.ts (run by `npm version` through package.json's "version" script,
// which then stages the file, so the version commit carries both). test/tooling/version.test.ts checks they agree.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const version: string = JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")).version;
if (!/^[0-9A-Za-z.+-]+$/.test(version)) throw new Error(`package.json's version is not a plain version: ${version}`);
const file = path.join(PROJECT_ROOT, "src", "version.ts");
const text = readFileSync(file, "utf8");
const next = text.replace(/export const SKIFF_VERSION = "[^"]*";/, `export const SKIFF_VERSION = "${version}";`);
if (!next.includes(`"${version}"`)) throw new Error(`${file}: no SKIFF_VERSION constant to update`);
writeFileSync(file, next);
console.log(`src/version.ts: SKIFF_VERSION = "${version}"`);
