// Helpers for the tests that run inside workerd against the RGW started by test/s3/global-setup.ts.
import { inject } from "vitest";
import type { S3Settings } from "../../src/storage/s3";

/** Settings for the test RGW, under a key prefix no other test uses (tests share one bucket). */
export function rgwSettings(overrides: Partial<S3Settings> = {}): S3Settings {
  const rgw = inject("rgw");
  return {
    endpoint: rgw.endpoint,
    region: rgw.region,
    bucket: rgw.bucket,
    prefix: `t-${crypto.randomUUID().slice(0, 8)}/`,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    forcePathStyle: true,
    ...overrides,
  };
}

/** Worker variables for the S3 backend on the test RGW (as the vitest project sets them). */
export function rgwVars(extra: Record<string, string> = {}): Record<string, string> {
  const rgw = inject("rgw");
  return {
    STORAGE_BACKEND: "s3",
    S3_ENDPOINT: rgw.endpoint,
    S3_REGION: rgw.region,
    S3_BUCKET: rgw.bucket,
    S3_PREFIX: `t-${crypto.randomUUID().slice(0, 8)}/`,
    S3_ACCESS_KEY_ID: rgw.accessKeyId,
    S3_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    SKIFF_AUTH: "open",
    ...extra,
  };
}

/** Stops or restarts the RGW gateway (the data stays) through the global setup's control endpoint. */
export async function gateway(action: "stop" | "start"): Promise<void> {
  const res = await fetch(`${inject("rgwControl")}/gateway/${action}`, { method: "POST" });
  if (res.status !== 200) throw new Error(`gateway ${action} failed: ${await res.text()}`);
}

export async function sha256Hex(data: Uint8Array | ReadableStream<Uint8Array>): Promise<string> {
  if (data instanceof Uint8Array) return toHex(await crypto.subtle.digest("SHA-256", data));
  const ds = new crypto.DigestStream("SHA-256");
  await data.pipeTo(ds);
  return toHex(await ds.digest);
}

function toHex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}


/** A stream that yields `bytes` in chunks of `chunk` bytes. */
export function streamOf(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

/** Makes the fault proxy (project "s3-faults") answer matching S3 requests with an error instead of RGW. */
export async function injectFault(fault: { method: string; match: string; status: number; code: string; count?: number }): Promise<void> {
  const res = await fetch(`${inject("rgwControl")}/faults`, { method: "POST", body: JSON.stringify(fault) });
  if (res.status !== 200) throw new Error(`arming the fault failed: ${await res.text()}`);
}

/** Disarms all faults; returns how many S3 requests they answered since the last clear. */
export async function clearFaults(): Promise<number> {
  const res = await fetch(`${inject("rgwControl")}/faults/clear`, { method: "POST" });
  return Number(await res.text());
}
