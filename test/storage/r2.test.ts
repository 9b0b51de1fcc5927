// The R2 adapter on the simulated R2 binding of the unit project (the BUCKET of wrangler.toml).
import { env } from "cloudflare:workers";
import { R2Store } from "../../src/storage/r2";
import { describeObjectStore } from "./contract";

describeObjectStore("R2Store", () => ({ store: new R2Store((env as unknown as { BUCKET: R2Bucket }).BUCKET) }));
