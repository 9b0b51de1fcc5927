// infra/aws (AWS CDK) synthesized offline and its CloudFormation template checked: no AWS account, no network.
// The IAM policy is checked both ways against src/storage: every S3 command the Worker sends has its permission,
// and no permission is granted that no command needs.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { OUTPUTS, SkiffStorageStack, type SkiffStorageProps } from "../../infra/aws/lib/storage-stack";
import { S3_COMMAND_ACTIONS } from "../../infra/aws/lib/s3-actions";
import { propsFromContext } from "../../infra/aws/lib/context";
import { MAX_UPLOAD_TTL_HOURS, MIN_DAYS } from "../../infra/layout";

const root = fileURLToPath(new URL("../..", import.meta.url));

// Every synthesis writes a cloud assembly: under one directory of this file's, removed at the end.
const assemblies = mkdtempSync(join(tmpdir(), "skiff-cdk-"));
afterAll(() => rmSync(assemblies, { recursive: true, force: true }));

function synth(props: SkiffStorageProps = {}, mutate?: (stack: SkiffStorageStack) => void): Template {
  const app = new App({ analyticsReporting: false, outdir: mkdtempSync(join(assemblies, "app-")) });
  const stack = new SkiffStorageStack(app, "SkiffStorage", props);
  mutate?.(stack);
  return Template.fromStack(stack);
}

type Json = any; // CloudFormation JSON as synthesized

const bucketLogicalId = (t: Template) => Object.keys(t.findResources("AWS::S3::Bucket"))[0];
const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Every statement of every identity policy in the template. */
function identityStatements(t: Template): Json[] {
  const policies = { ...t.findResources("AWS::IAM::Policy"), ...t.findResources("AWS::IAM::ManagedPolicy") };
  const inline = Object.values(t.findResources("AWS::IAM::User")).flatMap((u: Json) => u.Properties?.Policies ?? []);
  return [...Object.values(policies).map((p: Json) => p.Properties.PolicyDocument), ...inline.map((p: Json) => p.PolicyDocument)].flatMap((d: Json) => asList(d.Statement));
}

/** What is wrong with the identity policies: any wildcard action, any resource other than the bucket or its objects. */
function policyProblems(t: Template, objectSuffix: string): string[] {
  const bucket = bucketLogicalId(t);
  const bucketArn = { "Fn::GetAtt": [bucket, "Arn"] };
  const objectsArn = { "Fn::Join": ["", [bucketArn, objectSuffix]] };
  const problems: string[] = [];
  for (const s of identityStatements(t)) {
    if (s.Effect !== "Allow") problems.push(`statement ${s.Sid}: effect ${s.Effect}`);
    if (s.NotAction || s.NotResource) problems.push(`statement ${s.Sid}: NotAction/NotResource`);
    for (const a of asList(s.Action ?? [])) if (typeof a !== "string" || a.includes("*")) problems.push(`wildcard action ${JSON.stringify(a)}`);
    for (const r of asList(s.Resource ?? [])) {
      const ok = JSON.stringify(r) === JSON.stringify(bucketArn) || JSON.stringify(r) === JSON.stringify(objectsArn);
      if (!ok) problems.push(`resource ${JSON.stringify(r)}`);
    }
  }
  return problems;
}

function grantedActions(t: Template): string[] {
  return [...new Set(identityStatements(t).flatMap((s: Json) => asList(s.Action)))].sort() as string[];
}

/** The S3 commands the Worker's code constructs (`new XCommand(`) or imports from the SDK, across src/. */
function commandsInSource(): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) {
        const text = readFileSync(p, "utf8");
        for (const m of text.matchAll(/\bnew\s+([A-Z][A-Za-z0-9]*Command)\s*\(/g)) found.add(m[1]);
        for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"@aws-sdk\/client-s3"/g)) {
          for (const name of m[1].split(",").map((n) => n.replace(/^\s*type\s+/, "").trim().split(/\s+as\s+/)[0])) {
            if (name.endsWith("Command")) found.add(name);
          }
        }
      }
    }
  };
  walk(join(root, "src"));
  return found;
}

describe("infra/aws: the bucket", () => {
  const t = synth();

  it("is private, encrypted, owner-enforced, unversioned, without CORS, and kept when the stack goes", () => {
    t.resourceCountIs("AWS::S3::Bucket", 1);
    t.hasResource("AWS::S3::Bucket", {
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
        VersioningConfiguration: Match.absent(),
        CorsConfiguration: Match.absent(),
        WebsiteConfiguration: Match.absent(),
      },
    });
  });

  it("refuses every request that does not come over TLS, and its policy allows nothing", () => {
    const bucket = { "Fn::GetAtt": [bucketLogicalId(t), "Arn"] };
    const policies = Object.values(t.findResources("AWS::S3::BucketPolicy")) as Json[];
    expect(policies).toHaveLength(1);
    const statements = asList(policies[0].Properties.PolicyDocument.Statement) as Json[];
    expect(statements.filter((s) => s.Effect === "Allow")).toEqual([]);
    expect(statements).toContainEqual({
      Effect: "Deny",
      Principal: { AWS: "*" },
      Action: "s3:*",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
      Resource: [bucket, { "Fn::Join": ["", [bucket, "/*"]] }],
    });
  });

  it("aborts stale multipart uploads and expires upload sessions and old GC runs (docs/gc.md §7)", () => {
    const [bucket] = Object.values(t.findResources("AWS::S3::Bucket")) as Json[];
    expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
      { Id: "abort-incomplete-multipart-uploads", Status: "Enabled", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
      { Id: "expire-upload-leftovers", Status: "Enabled", Prefix: "uploads/", ExpirationInDays: 7 },
      { Id: "expire-gc-runs", Status: "Enabled", Prefix: "gc/runs/", ExpirationInDays: 90 },
    ]);
  });

  it("scopes the rules to S3_PREFIX, and takes other retention days; gcRunsExpiryDays 0 keeps GC reports", () => {
    const p = synth({ prefix: "registry", abortMultipartDays: 8, uploadExpiryDays: 9, gcRunsExpiryDays: 0 });
    const [bucket] = Object.values(p.findResources("AWS::S3::Bucket")) as Json[];
    expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
      { Id: "abort-incomplete-multipart-uploads", Status: "Enabled", Prefix: "registry/", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 8 } },
      { Id: "expire-upload-leftovers", Status: "Enabled", Prefix: "registry/uploads/", ExpirationInDays: 9 },
    ]);
  });

  it("knows the largest upload TTL the Worker accepts (the minimum age of upload leftovers follows from it)", () => {
    const config = readFileSync(join(root, "src/config/index.ts"), "utf8");
    const max = /read\.int\("UPLOAD_TTL_HOURS",\s*\{[^}]*\bmax:\s*(\d+)/.exec(config);
    expect(max, "UPLOAD_TTL_HOURS's bounds in src/config/index.ts").not.toBeNull();
    expect(Number(max![1])).toBe(MAX_UPLOAD_TTL_HOURS);
    expect(MIN_DAYS.uploadExpiryDays * 24).toBeGreaterThan(MAX_UPLOAD_TTL_HOURS);
    expect(MIN_DAYS.abortMultipartDays * 24).toBeGreaterThan(MAX_UPLOAD_TTL_HOURS);
  });

  it("refuses retention days shorter than what Skiff still uses, naming each", () => {
    expect(() => synth({ uploadExpiryDays: 6 })).toThrow(/uploadExpiryDays must be a whole number of days from 7/);
    expect(() => synth({ abortMultipartDays: 0 })).toThrow(/abortMultipartDays/);
    expect(() => synth({ gcRunsExpiryDays: 7 })).toThrow(/gcRunsExpiryDays .* from 32/);
    expect(() => synth({ prefix: "/registry" })).toThrow(/prefix must not start with "\/"/);
  });
});

describe("infra/aws: the Worker's IAM user", () => {
  const t = synth();

  it("may do exactly what Skiff does, on that bucket and its objects only", () => {
    expect(policyProblems(t, "/*")).toEqual([]);
    expect(grantedActions(t)).toEqual(["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:ListMultipartUploadParts", "s3:PutObject"]);
    const statements = identityStatements(t);
    const list = statements.filter((s) => asList(s.Action).includes("s3:ListBucket"));
    expect(list).toEqual([{ Sid: "SkiffList", Effect: "Allow", Action: "s3:ListBucket", Resource: { "Fn::GetAtt": [bucketLogicalId(t), "Arn"] } }]);
  });

  it("with S3_PREFIX, touches only objects under it", () => {
    const p = synth({ prefix: "registry/" });
    expect(policyProblems(p, "/registry/*")).toEqual([]);
    expect(policyProblems(p, "/*")).not.toEqual([]);
  });

  it("the check catches a wildcard action or resource sneaking in", () => {
    const loose = synth({}, (stack) => {
      stack.user.addToPolicy(new PolicyStatement({ actions: ["s3:Get*"], resources: [stack.bucket.arnForObjects("*")] }));
      stack.user.addToPolicy(new PolicyStatement({ actions: ["s3:GetObject"], resources: ["*"] }));
    });
    expect(policyProblems(loose, "/*")).toEqual(['wildcard action "s3:Get*"', 'resource "*"']);
  });

  it("covers every S3 command src/ sends, and grants nothing no command needs", () => {
    const used = commandsInSource();
    expect(used.size).toBeGreaterThan(5); // the scan found the adapter
    const table = S3_COMMAND_ACTIONS as Record<string, readonly string[]>;
    const unlisted = [...used].filter((c) => !(c in table));
    expect(unlisted, "S3 commands in src/ with no entry in infra/aws/lib/s3-actions.ts").toEqual([]);
    const unused = Object.keys(table).filter((c) => !used.has(c));
    expect(unused, "entries of infra/aws/lib/s3-actions.ts that src/ no longer sends").toEqual([]);
    const needed = [...new Set([...used].flatMap((c) => table[c]))].sort();
    expect(grantedActions(t)).toEqual(needed);
  });

  it("has its access key's secret in Secrets Manager, never in an output", () => {
    t.resourceCountIs("AWS::IAM::User", 1);
    t.resourceCountIs("AWS::IAM::AccessKey", 1);
    const key = Object.keys(t.findResources("AWS::IAM::AccessKey"))[0];
    t.hasResourceProperties("AWS::SecretsManager::Secret", { SecretString: { "Fn::GetAtt": [key, "SecretAccessKey"] } });
    const outputs = t.toJSON().Outputs as Record<string, Json>;
    expect(JSON.stringify(outputs)).not.toContain("SecretAccessKey\"]");
    expect(Object.keys(outputs).sort()).toEqual([OUTPUTS.accessKeyId, OUTPUTS.bucket, OUTPUTS.region, OUTPUTS.secretArn, OUTPUTS.userName].sort());
    expect(outputs[OUTPUTS.accessKeyId].Value).toEqual({ Ref: key });
  });

  it("without createAccessKey: the user only (a key is made by hand), and S3Prefix output when a prefix is set", () => {
    const p = synth({ createAccessKey: false, prefix: "registry/" });
    p.resourceCountIs("AWS::IAM::AccessKey", 0);
    p.resourceCountIs("AWS::SecretsManager::Secret", 0);
    expect(Object.keys(p.toJSON().Outputs).sort()).toEqual([OUTPUTS.bucket, OUTPUTS.prefix, OUTPUTS.region, OUTPUTS.userName].sort());
    p.hasOutput(OUTPUTS.prefix, { Value: "registry/" });
  });
});

describe("infra/aws: the app's context", () => {
  it("reads strings from the command line and JSON from cdk.json, and names every bad value", () => {
    const ctx = (values: Record<string, unknown>) => propsFromContext((k) => values[k]);
    expect(ctx({ prefix: "registry/", uploadExpiryDays: "5", gcRunsExpiryDays: 60, createAccessKey: "false" })).toMatchObject({
      stackName: "SkiffStorage",
      prefix: "registry/",
      uploadExpiryDays: 5,
      gcRunsExpiryDays: 60,
      createAccessKey: false,
    });
    expect(() => ctx({ uploadExpiryDays: "7d", createAccessKey: "no", bucketName: "My_Bucket" })).toThrow(
      /bucketName must be an S3 bucket name.*uploadExpiryDays must be a whole number.*createAccessKey must be true or false/,
    );
  });

  it("`npx cdk synth` runs the app from cdk.json offline, with the same template", async () => {
    const out = mkdtempSync(join(assemblies, "cli-"));
    try {
      const env = { ...process.env, CDK_DISABLE_CLI_TELEMETRY: "true", CDK_DISABLE_VERSION_CHECK: "true", CDK_HOME: assemblies, AWS_EC2_METADATA_DISABLED: "true", CDK_DEFAULT_ACCOUNT: "", CDK_DEFAULT_REGION: "" };
      await promisify(execFile)("npx", ["cdk", "synth", "--no-notices", "--quiet", "--output", out, "-c", "prefix=registry/"], { cwd: join(root, "infra/aws"), env });
      const template = JSON.parse(readFileSync(join(out, "SkiffStorage.template.json"), "utf8"));
      expect(template.Resources).not.toHaveProperty("CDKMetadata");
      expect(policyProblems(Template.fromJSON(template), "/registry/*")).toEqual([]);
      expect(template.Outputs).toHaveProperty(OUTPUTS.prefix);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
