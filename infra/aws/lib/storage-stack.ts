// Skiff's storage on AWS: one private S3 bucket and one IAM user that can do exactly what the Worker does in it.
// The Worker authenticates to S3 with an access key (Workers cannot assume an IAM role), whose secret goes to
// Secrets Manager, never into the template or an output.
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type LifecycleRule } from "aws-cdk-lib/aws-s3";
import { AccessKey, Effect, PolicyStatement, User } from "aws-cdk-lib/aws-iam";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Construct } from "constructs";
import { DEFAULT_LIFECYCLE, GC_RUNS_PREFIX, UPLOADS_PREFIX, lifecycleProblems, normalizePrefix, type LifecycleDays } from "../../layout";
import { BUCKET_LEVEL_ACTIONS, OBJECT_ACTIONS } from "./s3-actions";

export interface SkiffStorageProps extends StackProps, Partial<LifecycleDays> {
  /** A fixed bucket name (globally unique); by default CloudFormation picks one (see the S3Bucket output). */
  bucketName?: string;
  /** Skiff's S3_PREFIX: the Worker may touch only keys under it ("" = the whole bucket). */
  prefix?: string;
  /** Create the access key and its secret (default). false: only the user; make a key by hand (infra/README.md). */
  createAccessKey?: boolean;
  /** Keep the bucket and its images when the stack is deleted (default true). */
  retainBucket?: boolean;
}

/** Names of the stack's outputs: the Worker's settings they fill in (deploy guide: README "Deploy on AWS S3"). */
export const OUTPUTS = {
  bucket: "S3Bucket",
  region: "S3Region",
  prefix: "S3Prefix",
  accessKeyId: "S3AccessKeyId",
  secretArn: "S3SecretAccessKeySecretArn",
  userName: "WorkerUserName",
} as const;

export class SkiffStorageStack extends Stack {
  readonly bucket: Bucket;
  readonly user: User;

  constructor(scope: Construct, id: string, props: SkiffStorageProps = {}) {
    super(scope, id, props);
    const days: LifecycleDays = {
      abortMultipartDays: props.abortMultipartDays ?? DEFAULT_LIFECYCLE.abortMultipartDays,
      uploadExpiryDays: props.uploadExpiryDays ?? DEFAULT_LIFECYCLE.uploadExpiryDays,
      gcRunsExpiryDays: props.gcRunsExpiryDays ?? DEFAULT_LIFECYCLE.gcRunsExpiryDays,
    };
    const problems = lifecycleProblems(days);
    if (problems.length) throw new Error(`SkiffStorageStack: ${problems.join("; ")}`);
    const prefix = normalizePrefix(props.prefix ?? "");

    const lifecycleRules: LifecycleRule[] = [
      // Multipart uploads nobody names any more (a crash between create and publish, a failed abort) are invisible
      // to Skiff's garbage collector: only S3 can drop them (docs/gc.md §7).
      { id: "abort-incomplete-multipart-uploads", prefix: prefix || undefined, abortIncompleteMultipartUploadAfter: Duration.days(days.abortMultipartDays) },
      { id: "expire-upload-leftovers", prefix: prefix + UPLOADS_PREFIX, expiration: Duration.days(days.uploadExpiryDays) },
    ];
    if (days.gcRunsExpiryDays > 0) {
      lifecycleRules.push({ id: "expire-gc-runs", prefix: prefix + GC_RUNS_PREFIX, expiration: Duration.days(days.gcRunsExpiryDays) });
    }

    this.bucket = new Bucket(this, "Registry", {
      bucketName: props.bucketName,
      // SSE-S3: encrypted at rest with no KMS key to grant, so presigned GETs and UploadParts need nothing more.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Off: every blob is written once at a fresh key, and GC must really free the bytes it deletes.
      versioned: false,
      // No CORS: docker, podman, containerd and skiff push are not browsers, and they follow presigned URLs as is.
      lifecycleRules,
      removalPolicy: props.retainBucket === false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });

    this.user = new User(this, "Worker");
    this.user.addToPolicy(
      new PolicyStatement({
        sid: "SkiffObjects",
        effect: Effect.ALLOW,
        actions: OBJECT_ACTIONS,
        resources: [this.bucket.arnForObjects(`${prefix}*`)],
      }),
    );
    // On the bucket with no s3:prefix condition: S3 answers a HEAD or GET of a missing key with 404 only to a caller
    // allowed s3:ListBucket (403 otherwise, which Skiff must treat as a failure, not as "absent"). It lets the
    // Worker list key names outside its prefix, nothing more.
    this.user.addToPolicy(
      new PolicyStatement({ sid: "SkiffList", effect: Effect.ALLOW, actions: BUCKET_LEVEL_ACTIONS, resources: [this.bucket.bucketArn] }),
    );

    new CfnOutput(this, OUTPUTS.bucket, { value: this.bucket.bucketName, description: "S3_BUCKET" });
    new CfnOutput(this, OUTPUTS.region, { value: this.region, description: "S3_REGION" });
    // CloudFormation outputs cannot be empty: no prefix, no output (and no S3_PREFIX setting).
    if (prefix) new CfnOutput(this, OUTPUTS.prefix, { value: prefix, description: "S3_PREFIX" });
    new CfnOutput(this, OUTPUTS.userName, { value: this.user.userName, description: "IAM user the Worker signs as" });
    if (props.createAccessKey !== false) {
      const key = new AccessKey(this, "WorkerKey", { user: this.user });
      const secret = new Secret(this, "WorkerSecretAccessKey", {
        description: "S3_SECRET_ACCESS_KEY of Skiff's Worker (the secret of the S3AccessKeyId output)",
        secretStringValue: key.secretAccessKey,
      });
      new CfnOutput(this, OUTPUTS.accessKeyId, { value: key.accessKeyId, description: "S3_ACCESS_KEY_ID" });
      new CfnOutput(this, OUTPUTS.secretArn, { value: secret.secretArn, description: "Secrets Manager secret holding S3_SECRET_ACCESS_KEY" });
    }
  }
}
