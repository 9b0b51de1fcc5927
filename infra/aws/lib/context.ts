// The app's settings, from CDK context (`npx cdk deploy -c prefix=registry/`, or cdk.json's "context"): strings
// on the command line, JSON values in cdk.json. Every bad value is named with its fix before anything is synthesized.
import type { SkiffStorageProps } from "./storage-stack";

type Lookup = (key: string) => unknown;

export const CONTEXT_KEYS = ["stackName", "bucketName", "prefix", "abortMultipartDays", "uploadExpiryDays", "gcRunsExpiryDays", "createAccessKey", "retainBucket"] as const;

export function propsFromContext(get: Lookup): SkiffStorageProps & { stackName: string } {
  const problems: string[] = [];
  const text = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") problems.push(`context ${key} must be a string`);
    return typeof v === "string" ? v : undefined;
  };
  const int = (key: string): number | undefined => {
    const v = get(key);
    if (v === undefined || v === null || v === "") return undefined;
    const n = typeof v === "number" ? v : /^\d+$/.test(String(v)) ? Number(v) : NaN;
    if (!Number.isInteger(n)) problems.push(`context ${key} must be a whole number of days, e.g. -c ${key}=7`);
    return n;
  };
  const bool = (key: string): boolean | undefined => {
    const v = get(key);
    if (v === undefined || v === null || v === "") return undefined;
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    problems.push(`context ${key} must be true or false`);
    return undefined;
  };
  const stackName = text("stackName") ?? "SkiffStorage";
  const bucketName = text("bucketName");
  if (bucketName !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
    problems.push("context bucketName must be an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens");
  }
  const props = {
    stackName,
    bucketName,
    prefix: text("prefix"),
    abortMultipartDays: int("abortMultipartDays"),
    uploadExpiryDays: int("uploadExpiryDays"),
    gcRunsExpiryDays: int("gcRunsExpiryDays"),
    createAccessKey: bool("createAccessKey"),
    retainBucket: bool("retainBucket"),
  };
  if (problems.length) throw new Error(`infra/aws: ${problems.join("; ")}`);
  return props;
}
