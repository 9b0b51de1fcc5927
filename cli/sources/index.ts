// PLACEHOLDER (engine branch): the real sources (oci layouts, archives, the docker daemon) come from the
// sources/auth branch and replace this file at merge. The engine only needs `openSource(spec)`.
import type { ImageSource } from "../types";

export async function openSource(spec: string): Promise<ImageSource> {
  throw new Error(`image sources are not built on this branch yet (asked for ${JSON.stringify(spec)})`);
}
