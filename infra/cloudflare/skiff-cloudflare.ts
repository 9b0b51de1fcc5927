// Skiff's Cloudflare side, as a Pulumi program: the R2 bucket, its lifecycle rules, the R2 S3-API token the Worker
// presigns with (blob redirects, direct uploads), and optionally the Worker's custom domain. The Worker itself is
// deployed by wrangler (`npm run deploy`); this program never uploads code.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as cloudflare from "@pulumi/cloudflare";
import { DEFAULT_LIFECYCLE, GC_RUNS_PREFIX, UPLOADS_PREFIX, lifecycleProblems, type LifecycleDays } from "../layout";

/** The Worker `npm run deploy` deploys: wrangler names an environment's Worker `<name>-<env>`. */
export const DEFAULT_WORKER_NAME = "skiff-production";

export interface SkiffCloudflareConfig extends Partial<LifecycleDays> {
  /** 32 hex digits (dashboard: Workers & Pages, right column). */
  accountId: string;
  /** wrangler.toml's `bucket_name` (default skiff-registry). */
  bucketName?: string;
  /** Location hint for a new bucket (wnam, enam, weur, eeur, apac, oc); Cloudflare picks one when unset. */
  location?: string;
  /** The Worker's name (wrangler.toml `name`, default skiff): the custom domain routes to it. */
  workerName?: string;
  /** The registry's host name, e.g. registry.example.com: a Workers custom domain (DNS record and certificate). */
  hostname?: string;
  /** The zone that holds `hostname`. */
  zoneId?: string;
}

/** The permission groups behind the dashboard's "Object Read & Write" R2 token, scoped to one bucket. */
export const R2_OBJECT_PERMISSION_GROUPS = ["Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write"] as const;

const DAY_SECONDS = 86_400;
const LOCATIONS = ["wnam", "enam", "weur", "eeur", "apac", "oc"];

/** The token-policy resource that names one R2 bucket (jurisdiction "default": the one Skiff's presigner reaches). */
export function r2BucketResource(accountId: string, bucketName: string): string {
  return `com.cloudflare.edge.r2.bucket.${accountId}_default_${bucketName}`;
}

/** R2's S3 API takes the token's id as access key id and the SHA-256 (hex) of its value as secret access key. */
export function r2SecretFromTokenValue(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** Every problem with the configuration, each naming the `pulumi config set` that fixes it. */
export function configProblems(c: SkiffCloudflareConfig): string[] {
  const problems: string[] = [];
  if (!/^[0-9a-f]{32}$/.test(c.accountId ?? "")) problems.push("accountId must be the 32 hex digits of your Cloudflare account id: pulumi config set accountId <id>");
  const bucket = c.bucketName ?? "skiff-registry";
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) problems.push("bucketName must be 3 to 63 lower-case letters, digits and hyphens: pulumi config set bucketName <name>");
  if (c.location !== undefined && !LOCATIONS.includes(c.location)) problems.push(`location must be one of ${LOCATIONS.join(", ")}, or unset`);
  if (c.workerName !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(c.workerName)) problems.push("workerName must be the Worker's name from wrangler.toml");
  if (c.hostname !== undefined) {
    if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(c.hostname)) problems.push("hostname must be a lower-case host name such as registry.example.com");
    if (!/^[0-9a-f]{32}$/.test(c.zoneId ?? "")) problems.push("a hostname needs zoneId, the 32 hex digits of the zone that holds it: pulumi config set zoneId <id>");
  } else if (c.zoneId !== undefined) {
    problems.push("zoneId is set but hostname is not: pulumi config set hostname registry.example.com");
  }
  problems.push(
    ...lifecycleProblems({
      abortMultipartDays: c.abortMultipartDays ?? DEFAULT_LIFECYCLE.abortMultipartDays,
      uploadExpiryDays: c.uploadExpiryDays ?? DEFAULT_LIFECYCLE.uploadExpiryDays,
      gcRunsExpiryDays: c.gcRunsExpiryDays ?? DEFAULT_LIFECYCLE.gcRunsExpiryDays,
    }),
  );
  return problems;
}

export interface SkiffCloudflareOutputs {
  /** R2_ACCOUNT_ID */
  accountId: string;
  /** R2_BUCKET_NAME and wrangler.toml's bucket_name */
  bucketName: pulumi.Output<string>;
  /** R2_ACCESS_KEY_ID */
  r2AccessKeyId: pulumi.Output<string>;
  /** R2_SECRET_ACCESS_KEY (a Pulumi secret: `pulumi stack output r2SecretAccessKey --show-secrets`) */
  r2SecretAccessKey: pulumi.Output<string>;
  /** The S3 endpoint the presigned URLs point at. */
  r2Endpoint: string;
  /** https://<hostname>, when a custom domain is configured. */
  registryUrl?: pulumi.Output<string>;
  /** Every resource made, for tests to wait on. */
  resources: pulumi.CustomResource[];
}

export function skiffCloudflare(c: SkiffCloudflareConfig): SkiffCloudflareOutputs {
  const problems = configProblems(c);
  if (problems.length) throw new Error(`infra/cloudflare: ${problems.join("; ")}`);
  const accountId = c.accountId;
  const days: LifecycleDays = { ...DEFAULT_LIFECYCLE, ...definedOnly(c) };

  const bucket = new cloudflare.R2Bucket(
    "registry",
    { accountId, name: c.bucketName ?? "skiff-registry", location: c.location },
    // Holds every image: a stack destroyed by mistake must not take it along.
    { protect: true },
  );

  // The rules replace the bucket's whole lifecycle, R2's default 7-day multipart abort included: so it is restated.
  const rules: cloudflare.types.input.R2BucketLifecycleRule[] = [
    {
      id: "abort-incomplete-multipart-uploads",
      enabled: true,
      conditions: { prefix: "" },
      abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: days.abortMultipartDays * DAY_SECONDS } },
    },
    {
      id: "expire-upload-leftovers",
      enabled: true,
      conditions: { prefix: UPLOADS_PREFIX },
      deleteObjectsTransition: { condition: { type: "Age", maxAge: days.uploadExpiryDays * DAY_SECONDS } },
    },
  ];
  if (days.gcRunsExpiryDays > 0) {
    rules.push({
      id: "expire-gc-runs",
      enabled: true,
      conditions: { prefix: GC_RUNS_PREFIX },
      deleteObjectsTransition: { condition: { type: "Age", maxAge: days.gcRunsExpiryDays * DAY_SECONDS } },
    });
  }
  const lifecycle = new cloudflare.R2BucketLifecycle("registry-lifecycle", { accountId, bucketName: bucket.name, rules });

  // Looked up by name: Cloudflare identifies permission groups by ids that differ from what the dashboard shows.
  const groupIds = R2_OBJECT_PERMISSION_GROUPS.map((name) =>
    cloudflare.getAccountApiTokenPermissionGroupsListOutput({ accountId, name: encodeURIComponent(name) }).results.apply((results) => {
      const group = results.find((g) => g.name === name);
      if (!group) throw new Error(`infra/cloudflare: no API token permission group named "${name}" in the account`);
      return group.id;
    }),
  );
  const token = new cloudflare.AccountToken(
    "registry-r2-token",
    {
      accountId,
      name: pulumi.interpolate`skiff ${bucket.name} (R2 object read & write)`,
      policies: [
        {
          effect: "allow",
          permissionGroups: groupIds.map((id) => ({ id })),
          resources: bucket.name.apply((name) => JSON.stringify({ [r2BucketResource(accountId, name)]: "*" })),
        },
      ],
    },
    { additionalSecretOutputs: ["value"] },
  );

  const resources: pulumi.CustomResource[] = [bucket, lifecycle, token];
  let registryUrl: pulumi.Output<string> | undefined;
  if (c.hostname) {
    // A Workers custom domain creates the proxied DNS record and the certificate itself. The Worker must exist
    // (deploy it once first); wrangler.toml must not also declare this host as a route.
    const domain = new cloudflare.WorkersCustomDomain("registry-domain", {
      accountId,
      hostname: c.hostname,
      service: c.workerName ?? DEFAULT_WORKER_NAME,
      zoneId: c.zoneId,
    });
    registryUrl = pulumi.interpolate`https://${domain.hostname}`;
    resources.push(domain);
  }

  return {
    accountId,
    bucketName: bucket.name,
    r2AccessKeyId: token.id,
    r2SecretAccessKey: pulumi.secret(token.value.apply(r2SecretFromTokenValue)),
    r2Endpoint: `https://${accountId}.r2.cloudflarestorage.com`,
    registryUrl,
    resources,
  };
}

function definedOnly(c: SkiffCloudflareConfig): Partial<LifecycleDays> {
  const out: Partial<LifecycleDays> = {};
  for (const k of ["abortMultipartDays", "uploadExpiryDays", "gcRunsExpiryDays"] as const) if (c[k] !== undefined) out[k] = c[k];
  return out;
}
