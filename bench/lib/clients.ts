// The real clients: skopeo (sends blobs as they are: one PATCH with Content-Length) and docker (re-compresses the
// layer and streams it in one chunked PATCH), each timed as a whole command, as a user would see it.
// The Docker engine itself comes from test/support/docker.ts (private dockerd, vfs, no networking).
import { rmSync } from "node:fs";
import type { DockerEngine } from "../../test/support/docker";
import { run as runCommand, type RunOptions } from "../../scripts/lib/processes";

const SKOPEO = "/usr/bin/skopeo";
/** A client command, killed after 15 minutes. */
const run = (cmd: string, args: string[], opts: RunOptions = {}) => runCommand(cmd, args, { timeoutMs: 900_000, ...opts });

export async function skopeoPush(layoutDir: string, tag: string, ref: string): Promise<number> {
  const { ms } = await run(SKOPEO, ["copy", "--quiet", "--dest-tls-verify=false", `oci:${layoutDir}:${tag}`, `docker://${ref}`]);
  return ms;
}

export async function skopeoPull(ref: string, outDir: string): Promise<number> {
  rmSync(outDir, { recursive: true, force: true });
  const { ms } = await run(SKOPEO, ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `dir:${outDir}`]);
  rmSync(outDir, { recursive: true, force: true });
  return ms;
}

/** Loads an OCI layout image into the engine as `name`. */
export async function dockerLoad(engine: DockerEngine, layoutDir: string, tag: string, name: string): Promise<void> {
  await run(SKOPEO, ["copy", "--quiet", "--dest-daemon-host", `unix://${engine.socket}`, `oci:${layoutDir}:${tag}`, `docker-daemon:${name}`]);
}

export async function dockerPush(engine: DockerEngine, ref: string): Promise<number> {
  return (await engine.docker(["push", "--quiet", ref], { timeoutMs: 900_000 })).ms;
}

export async function dockerPull(engine: DockerEngine, ref: string): Promise<number> {
  return (await engine.docker(["pull", "--quiet", ref], { timeoutMs: 900_000 })).ms;
}

/** Removes every tag of the image that `ref` names, so its layers are gone and the next pull downloads them. */
export async function dockerRemoveImage(engine: DockerEngine, ref: string): Promise<void> {
  const id = (await engine.docker(["image", "inspect", "--format", "{{.Id}}", ref])).stdout.trim();
  await engine.docker(["rmi", "--force", id]);
}
