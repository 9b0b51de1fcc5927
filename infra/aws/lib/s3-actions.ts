// The IAM actions behind each S3 API command Skiff sends (src/storage/s3.ts, including the presigned GetObject and
// UploadPart URLs, which are checked against the same identity). The Worker's policy is built from this table
// only; test/ops/infra-aws.test.ts fails when the source sends a command that is not listed here.
export const S3_COMMAND_ACTIONS = {
  HeadObjectCommand: ["s3:GetObject"],
  GetObjectCommand: ["s3:GetObject"],
  // Conditional writes (If-None-Match: *, If-Match) need no action of their own.
  PutObjectCommand: ["s3:PutObject"],
  DeleteObjectCommand: ["s3:DeleteObject"],
  DeleteObjectsCommand: ["s3:DeleteObject"],
  ListObjectsV2Command: ["s3:ListBucket"],
  CreateMultipartUploadCommand: ["s3:PutObject"],
  UploadPartCommand: ["s3:PutObject"],
  CompleteMultipartUploadCommand: ["s3:PutObject"],
  AbortMultipartUploadCommand: ["s3:AbortMultipartUpload"],
  ListPartsCommand: ["s3:ListMultipartUploadParts"],
} as const satisfies Record<string, readonly string[]>;

export type S3CommandName = keyof typeof S3_COMMAND_ACTIONS;

/** Actions granted on the bucket itself; all others are granted on its objects. */
export const BUCKET_ACTIONS: ReadonlySet<string> = new Set(["s3:ListBucket"]);

const all = [...new Set(Object.values(S3_COMMAND_ACTIONS).flat())].sort();
export const OBJECT_ACTIONS: string[] = all.filter((a) => !BUCKET_ACTIONS.has(a));
export const BUCKET_LEVEL_ACTIONS: string[] = all.filter((a) => BUCKET_ACTIONS.has(a));
