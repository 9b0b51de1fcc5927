// infra/cloudflare (Pulumi) run offline against Pulumi's mock engine: no Cloudflare account, no Pulumi CLI, no
// provider plugin. This is a mock because nothing of Cloudflare's API can run here; it records what the program
// asks Cloudflare to create, and that is what is checked (the provider's own behaviour is not tested).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";

interface Made {
  type: string;
  name: string;
  inputs: any;
}

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";
const TOKEN_VALUE = "mock-token-value";
// What the permission-group lookup answers: the two R2 object groups and a wider one that must not be picked.
const GROUPS = [
  { id: "id-item-read", name: "Workers R2 Storage Bucket Item Read", scopes: ["com.cloudflare.edge.r2.bucket"] },
  { id: "id-item-write", name: "Workers R2 Storage Bucket Item Write", scopes: ["com.cloudflare.edge.r2.bucket"] },
  { id: "id-admin-write", name: "Workers R2 Storage Write", scopes: ["com.cloudflare.api.account"] },
];

const made: Made[] = [];
const calls: { token: string; inputs: any }[] = [];

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        made.push({ type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "cloudflare:index/accountToken:AccountToken") state.value = TOKEN_VALUE;
        return { id: args.type === "cloudflare:index/accountToken:AccountToken" ? `token-id-${args.name}` : `${args.name}-id`, state };
      },
      call(args) {
        calls.push({ token: args.token, inputs: args.inputs });
        // The real list is filtered by the (URL-encoded) name; answer with every group so the program must pick.
        return { ...args.inputs, results: GROUPS };
      },
    },
    "skiff-cloudflare",
    "test",
    false,
  );
});

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

async function run(config: Parameters<typeof import("../../infra/cloudflare/skiff-cloudflare").skiffCloudflare>[0]) {
  const { skiffCloudflare } = await import("../../infra/cloudflare/skiff-cloudflare");
  const before = made.length;
  const out = skiffCloudflare(config);
  await Promise.all(out.resources.map((r) => value(r.urn)));
  await Promise.all(out.resources.map((r) => value((r as pulumi.CustomResource).id)));
  return { out, made: made.slice(before) };
}

const byType = (list: Made[], type: string) => list.filter((m) => m.type === `cloudflare:index/${type}`);

describe("infra/cloudflare", () => {
  it("makes the bucket, its lifecycle and a token scoped to it, and no custom domain unless asked", async () => {
    const { out, made } = await run({ accountId: ACCOUNT });
    expect(made.map((m) => m.type).sort()).toEqual([
      "cloudflare:index/accountToken:AccountToken",
      "cloudflare:index/r2Bucket:R2Bucket",
      "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    ]);
    const [bucket] = byType(made, "r2Bucket:R2Bucket");
    expect(bucket.inputs).toEqual({ accountId: ACCOUNT, name: "skiff-registry" });
    expect(await value(out.bucketName)).toBe("skiff-registry");
    expect(out.r2Endpoint).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
    expect(out.registryUrl).toBeUndefined();
  });

  it("aborts stale multipart uploads and expires upload sessions and old GC runs (ages in seconds)", async () => {
    const { made } = await run({ accountId: ACCOUNT, bucketName: "team-images" });
    const [lifecycle] = byType(made, "r2BucketLifecycle:R2BucketLifecycle");
    expect(lifecycle.inputs.accountId).toBe(ACCOUNT);
    expect(lifecycle.inputs.bucketName).toBe("team-images");
    expect(lifecycle.inputs.rules).toEqual([
      { id: "abort-incomplete-multipart-uploads", enabled: true, conditions: { prefix: "" }, abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: 7 * 86400 } } },
      { id: "expire-upload-leftovers", enabled: true, conditions: { prefix: "uploads/" }, deleteObjectsTransition: { condition: { type: "Age", maxAge: 7 * 86400 } } },
      { id: "expire-gc-runs", enabled: true, conditions: { prefix: "gc/runs/" }, deleteObjectsTransition: { condition: { type: "Age", maxAge: 90 * 86400 } } },
    ]);
    const { made: kept } = await run({ accountId: ACCOUNT, uploadExpiryDays: 10, gcRunsExpiryDays: 0 });
    const rules = byType(kept, "r2BucketLifecycle:R2BucketLifecycle")[0].inputs.rules;
    expect(rules.map((r: any) => r.id)).toEqual(["abort-incomplete-multipart-uploads", "expire-upload-leftovers"]);
    expect(rules[1].deleteObjectsTransition.condition.maxAge).toBe(10 * 86400);
  });

  it("gives the Worker an R2 S3-API token for object read & write on that one bucket only", async () => {
    const { out, made } = await run({ accountId: ACCOUNT, bucketName: "team-images" });
    const [token] = byType(made, "accountToken:AccountToken");
    expect(token.inputs.accountId).toBe(ACCOUNT);
    expect(token.inputs.policies).toHaveLength(1);
    const [policy] = token.inputs.policies;
    expect(policy.effect).toBe("allow");
    expect(policy.permissionGroups).toEqual([{ id: "id-item-read" }, { id: "id-item-write" }]);
    expect(JSON.parse(policy.resources)).toEqual({ [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_team-images`]: "*" });
    // The groups were asked for by name, URL-encoded as the API wants.
    const lookups = calls.filter((c) => c.token === "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList");
    expect(lookups.map((c) => c.inputs.name)).toContain("Workers%20R2%20Storage%20Bucket%20Item%20Write");
    // R2's S3 credentials: the token id, and the SHA-256 of its value, kept secret.
    expect(await value(out.r2AccessKeyId)).toBe("token-id-registry-r2-token");
    expect(await value(out.r2SecretAccessKey)).toBe(createHash("sha256").update(TOKEN_VALUE).digest("hex"));
    expect(await pulumi.isSecret(out.r2SecretAccessKey)).toBe(true);
  });

  it("routes the custom domain to the Worker", async () => {
    const { out, made } = await run({ accountId: ACCOUNT, hostname: "registry.example.com", zoneId: ZONE, workerName: "skiff" });
    const [domain] = byType(made, "workersCustomDomain:WorkersCustomDomain");
    expect(domain.inputs).toEqual({ accountId: ACCOUNT, hostname: "registry.example.com", service: "skiff", zoneId: ZONE });
    expect(await value(out.registryUrl!)).toBe("https://registry.example.com");
  });

  it("routes to the Worker `npm run deploy` deploys when no workerName is given", async () => {
    const { DEFAULT_WORKER_NAME } = await import("../../infra/cloudflare/skiff-cloudflare");
    // wrangler names an environment's Worker `<name>-<env>`; the deploy deploys [env.production] (scripts/deploy.ts).
    const name = /^name = "([^"]+)"/m.exec(readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8"))?.[1];
    expect(DEFAULT_WORKER_NAME).toBe(`${name}-production`);
    const { made } = await run({ accountId: ACCOUNT, hostname: "registry.example.com", zoneId: ZONE });
    expect(byType(made, "workersCustomDomain:WorkersCustomDomain").at(-1)!.inputs.service).toBe(DEFAULT_WORKER_NAME);
  });

  it("names every configuration problem with its fix before making anything", async () => {
    const { skiffCloudflare } = await import("../../infra/cloudflare/skiff-cloudflare");
    const before = made.length;
    expect(() => skiffCloudflare({ accountId: "nope", hostname: "registry.example.com", bucketName: "Bad_Name", uploadExpiryDays: 6 })).toThrow(
      /accountId must be .*pulumi config set accountId.*bucketName must be .*a hostname needs zoneId.*uploadExpiryDays must be a whole number of days from 7/,
    );
    expect(() => skiffCloudflare({ accountId: ACCOUNT, zoneId: ZONE })).toThrow(/zoneId is set but hostname is not/);
    expect(made.length).toBe(before);
  });

  it("the Pulumi program (index.ts) reads the stack configuration and exports the Worker's settings", async () => {
    pulumi.runtime.setAllConfig({ "skiff-cloudflare:accountId": ACCOUNT, "skiff-cloudflare:bucketName": "from-config", "skiff-cloudflare:uploadExpiryDays": "8" });
    const before = made.length;
    const program = await import("../../infra/cloudflare/index");
    expect(program.accountId).toBe(ACCOUNT);
    expect(await value(program.bucketName)).toBe("from-config");
    expect(await value(program.r2AccessKeyId)).toMatch(/^token-id-/);
    const lifecycle = byType(made.slice(before), "r2BucketLifecycle:R2BucketLifecycle")[0];
    expect(lifecycle.inputs.rules[1].deleteObjectsTransition.condition.maxAge).toBe(8 * 86400);
  });
});
