// `skiff push SOURCE ...`: SOURCE's transport prefix picks the reader.
import type { ImageSource } from "../types";
import { openDockerArchive } from "./docker-archive";
import { openDockerDaemon } from "./docker-daemon";
import { openOciLayout } from "./oci-layout";
import { SourceError } from "./oci";

export { SourceError } from "./oci";

const TRANSPORTS = ["oci", "docker-archive", "docker-daemon"] as const;

/** Splits "PATH[:REF]" at the first ":" (a path with ":" in it cannot be named; as in skopeo). */
function pathAndRef(rest: string): [string, string | undefined] {
  const colon = rest.indexOf(":");
  return colon < 0 ? [rest, undefined] : [rest.slice(0, colon), rest.slice(colon + 1) || undefined];
}

/**
 * "oci:DIR[:TAG]", "docker-archive:PATH[:REF]", "docker-daemon:NAME[:TAG]", or a bare "NAME[:TAG]" (an image in
 * the local Docker engine).
 */
export async function openSource(spec: string, env: NodeJS.ProcessEnv = process.env): Promise<ImageSource> {
  const m = /^([a-z][a-z0-9-]*):(.*)$/.exec(spec);
  const transport = m && (TRANSPORTS as readonly string[]).includes(m[1]) ? m[1] : null;
  if (!transport) {
    // Anything else with a prefix like "docker://x" or "dir:x" is a transport we do not read, not an image name.
    if (m && /^(docker|dir|containers-storage|oci-archive|ostree|sif|tarball)$/.test(m[1])) {
      throw new SourceError(`unsupported source transport "${m[1]}:" (supported: oci:DIR[:TAG], docker-archive:PATH[:REF], docker-daemon:NAME[:TAG], or NAME[:TAG])`);
    }
    if (!spec) throw new SourceError("no source given");
    return openDockerDaemon(spec, env);
  }
  const rest = m![2];
  if (!rest) throw new SourceError(`${spec}: a path or name is missing after "${transport}:"`);
  if (transport === "oci") {
    const [dir, tag] = pathAndRef(rest);
    return openOciLayout(dir, tag);
  }
  if (transport === "docker-archive") {
    const [file, ref] = pathAndRef(rest);
    return openDockerArchive(file, ref);
  }
  return openDockerDaemon(rest, env);
}
