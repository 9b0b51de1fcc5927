// A minimal push for the cli tests (the real one is cli/push/): every blob held in memory and uploaded with one
// POST + PUT ?digest=, then the manifests in order. Small test images only; it exercises the sources and the
// registry client against real registries.
import { createHash } from "node:crypto";
import type { RegistryClient } from "../../cli/registry/client";
import { errorFromResponse } from "../../cli/registry/client";
import type { ImageSource } from "../../cli/types";

export async function miniPush(source: ImageSource, client: RegistryClient, repo: string, tag: string): Promise<string> {
  const scopes = [{ repo, actions: ["pull", "push"] }];
  for await (const blob of source.blobs()) {
    const parts: Buffer[] = [];
    for await (const c of blob.open(0)) parts.push(c as Buffer);
    const bytes = Buffer.concat(parts);
    const digest = blob.digest ?? `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (!blob.digest) blob.digested?.(digest);
    const post = await client.request(`/v2/${repo}/blobs/uploads/`, { method: "POST", scopes });
    if (post.status !== 202) throw await errorFromResponse(post, "POST upload");
    const location = new URL(post.headers.get("location")!, client.origin);
    location.searchParams.set("digest", digest);
    const put = await client.request(location.href, { method: "PUT", scopes, headers: { "Content-Type": "application/octet-stream" }, body: () => bytes });
    if (put.status !== 201) throw await errorFromResponse(put, `PUT blob ${digest}`);
  }
  let top = "";
  for (const m of await source.manifests()) {
    const ref = m.top ? tag : m.digest;
    const res = await client.request(`/v2/${repo}/manifests/${ref}`, { method: "PUT", scopes, headers: { "Content-Type": m.mediaType }, body: () => m.bytes });
    if (res.status !== 201) throw await errorFromResponse(res, `PUT manifest ${ref}`);
    if (m.top) top = m.digest;
  }
  return top;
}
