// `npm run start:s3`: Skiff under `wrangler dev`, started exactly as `npm start` starts it, but on the S3 backend
// (STORAGE_BACKEND=s3) instead of the local R2 bucket.
//
//   npm run start:s3                       starts a local S3 server (Ceph RGW, infra/ceph-s3/) on free ports with a
//                                          bucket "skiff", and stops it (data discarded) when Skiff stops
//   S3_ENDPOINT=https://... S3_BUCKET=... S3_ACCESS_KEY_ID=... S3_SECRET_ACCESS_KEY=... npm run start:s3
//                                          any S3 endpoint: AWS (or only S3_REGION), R2's S3 API, MinIO, RGW...
//
// Every S3_* and BLOB_* variable in the environment is passed to the worker (wrangler prints them "(hidden)").
// They can also live in .dev.vars, which wrangler reads itself. Blob GETs redirect to presigned URLs by default;
// BLOB_REDIRECT=false streams them through the worker.
import { banner, DEFAULT_PORT, s3SettingsFromEnv, serveUntilStopped, startLocalS3, startSkiff, type SkiffHandle } from "./lib/dev-server";

async function main() {
  const fromEnv = s3SettingsFromEnv();
  const external = Boolean(fromEnv.S3_ENDPOINT || fromEnv.S3_REGION);
  const local = external ? null : await startLocalS3({ log: (s) => process.stdout.write(s) });
  const vars: Record<string, string> = { STORAGE_BACKEND: "s3", ...(local?.vars ?? {}), ...fromEnv };
  let skiff: SkiffHandle;
  try {
    skiff = await startSkiff({
      port: Number(process.env.PORT) || DEFAULT_PORT,
      auth: process.env.SKIFF_AUTH === "open" ? "open" : "dev",
      vars,
      onOutput: (s) => process.stdout.write(s),
    });
  } catch (err) {
    await local?.stop();
    throw err;
  }
  // The endpoint's origin only: a URL given by hand may carry credentials (the worker refuses those anyway).
  const endpoint = vars.S3_ENDPOINT ? (URL.canParse(vars.S3_ENDPOINT) ? new URL(vars.S3_ENDPOINT).origin : "(an invalid S3_ENDPOINT)") : `AWS ${vars.S3_REGION}`;
  const where = `S3 at ${endpoint}, bucket ${vars.S3_BUCKET}${local ? " (local Ceph RGW, discarded on exit)" : ""}`;
  process.stdout.write(banner(skiff, { backend: "s3", where }));
  await serveUntilStopped(skiff, async () => {
    await local?.stop();
  });
}

main().catch((err) => {
  console.error(err?.message ?? err);
  process.exit(1);
});
