#!/usr/bin/env node
// The `skiff` command (package.json "bin"): runs the TypeScript CLI in cli/ through tsx, in this Node process.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
// exit, not exitCode: after Ctrl-C a request still on the wire must not keep the process alive.
process.exit(await main(process.argv.slice(2)));
