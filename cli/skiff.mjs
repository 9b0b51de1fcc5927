#!/usr/bin/env node
// The `skiff` command (package.json "bin"): runs the TypeScript CLI in cli/ through tsx, in this Node process.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
