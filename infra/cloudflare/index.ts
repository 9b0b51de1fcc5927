// The Pulumi program (Pulumi.yaml `main`): reads the stack's configuration and exports what the Worker's settings
// need. `pulumi stack output` prints them; see infra/README.md.
import * as pulumi from "@pulumi/pulumi";
import { skiffCloudflare } from "./skiff-cloudflare";

const config = new pulumi.Config();
const out = skiffCloudflare({
  accountId: config.require("accountId"),
  bucketName: config.get("bucketName"),
  location: config.get("location"),
  workerName: config.get("workerName"),
  hostname: config.get("hostname"),
  zoneId: config.get("zoneId"),
  abortMultipartDays: config.getNumber("abortMultipartDays"),
  uploadExpiryDays: config.getNumber("uploadExpiryDays"),
  gcRunsExpiryDays: config.getNumber("gcRunsExpiryDays"),
});

export const accountId = out.accountId;
export const bucketName = out.bucketName;
export const r2AccessKeyId = out.r2AccessKeyId;
export const r2SecretAccessKey = out.r2SecretAccessKey;
export const r2Endpoint = out.r2Endpoint;
export const registryUrl = out.registryUrl;
