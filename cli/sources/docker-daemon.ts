// `docker-daemon:NAME[:TAG]`: an image in the local Docker engine, streamed from the Engine API's
// `GET /images/get?names=` (what `docker save` calls) over the engine's unix socket into the docker-archive reader.
import http from "node:http";
import { PassThrough } from "node:stream";
import type { ImageSource } from "../types";
import { dockerArchiveSource } from "./docker-archive";
import { SourceError } from "./oci";

/** The engine's socket: DOCKER_HOST when it is unix://, else /var/run/docker.sock. */
export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (!host) return "/var/run/docker.sock";
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  throw new SourceError(`DOCKER_HOST=${host}: only unix:// sockets are supported for docker-daemon: sources`);
}

/** "alpine" → "alpine:latest" (what docker save would pick); names with a tag or digest stay as they are. */
export function withDefaultTag(name: string): string {
  if (name.includes("@")) return name;
  const slash = name.lastIndexOf("/");
  return name.slice(slash + 1).includes(":") ? name : `${name}:latest`;
}

function engineRequest(socketPath: string, path: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: "GET", headers: { Host: "docker" } }, resolve);
    req.on("error", reject);
    req.end();
  });
}

async function readText(res: http.IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  const text = Buffer.concat(parts).toString("utf8");
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === "string") return m;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 300);
}

export async function openDockerDaemon(name: string, env: NodeJS.ProcessEnv = process.env): Promise<ImageSource> {
  const describe = `docker-daemon:${name}`;
  const socketPath = dockerSocket(env);
  const ref = withDefaultTag(name);
  // Check first that the image exists: /images/get answers an unknown name with an error, but only once streaming.
  let res: http.IncomingMessage;
  try {
    res = await engineRequest(socketPath, `/images/${encodeURIComponent(ref)}/json`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" || code === "ECONNREFUSED" ? "is the Docker engine running?" : code === "EACCES" ? "permission denied (is the user in the docker group?)" : (err as Error).message;
    throw new SourceError(`${describe}: cannot reach the Docker engine at unix://${socketPath}: ${why}`);
  }
  const inspect = res.statusCode === 200 ? ((await readJson(res)) as { Id?: string } | null) : null;
  if (res.statusCode === 404) throw new SourceError(`${describe}: the Docker engine has no image ${ref} (${await readText(res)})`);
  if (res.statusCode !== 200) throw new SourceError(`${describe}: the Docker engine answered ${res.statusCode}: ${await readText(res)}`);

  const saved = await engineRequest(socketPath, `/images/get?names=${encodeURIComponent(ref)}`).catch((err: Error) => {
    throw new SourceError(`${describe}: cannot reach the Docker engine at unix://${socketPath}: ${err.message}`);
  });
  if (saved.statusCode !== 200) throw new SourceError(`${describe}: docker save failed: ${saved.statusCode} ${await readText(saved)}`);
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  saved.on("error", (err) => input.destroy(new SourceError(`${describe}: the Docker engine's stream broke: ${err.message}`)));
  saved.on("aborted", () => input.destroy(new SourceError(`${describe}: the Docker engine closed the stream early`)));
  saved.pipe(input);
  return dockerArchiveSource(input, {
    describe,
    ref,
    resumePrefix: `docker-daemon:${inspect?.Id ?? ref}`,
    stop: () => saved.destroy(),
  });
}

async function readJson(res: http.IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    return null;
  }
}
