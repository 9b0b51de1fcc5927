// `npx cdk synth` / `npx cdk deploy` in infra/aws run this (cdk.json "app"). Account and region come from the AWS
// CLI profile in use (CDK_DEFAULT_*); nothing here needs them to synthesize.
import { App } from "aws-cdk-lib";
import { propsFromContext } from "../lib/context";
import { SkiffStorageStack } from "../lib/storage-stack";

// No CDKMetadata resource: the template says what it creates and nothing else.
const app = new App({ analyticsReporting: false });
const { stackName, ...props } = propsFromContext((key) => app.node.tryGetContext(key));
new SkiffStorageStack(app, stackName, {
  ...props,
  env: process.env.CDK_DEFAULT_ACCOUNT ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } : undefined,
  description: "Skiff container registry: private S3 bucket and the Worker's least-privilege IAM user",
});
app.synth();
