// Which manifests a push sends, in which order, and which blobs they need: children before the index that lists
// them, subjects before their referrers. Pure: the caller looks manifests up.
import type { SourceManifest } from "../types";
import { isForeignLayer, SourceError, type Descriptor, type ParsedManifest } from "./oci";

export interface ManifestLookup {
  /** The manifest stored under `digest` (checked against the descriptor), or undefined when the source lacks it. */
  get(d: Descriptor, where: string): ParsedManifest | undefined;
  /** Every other manifest the source holds that could be a referrer (has a subject). */
  candidates(): Iterable<ParsedManifest>;
}

export interface PushPlan {
  manifests: SourceManifest[];
  /** Blobs every pushed manifest needs, each once, in the order first needed. */
  blobs: Descriptor[];
}

export function planPush(top: ParsedManifest, lookup: ManifestLookup, describe: string): PushPlan {
  const manifests: SourceManifest[] = [];
  const pushed = new Set<string>();
  const blobs = new Map<string, Descriptor>();
  const visiting = new Set<string>();

  const visit = (m: ParsedManifest, isTop: boolean) => {
    if (pushed.has(m.digest)) return;
    if (visiting.has(m.digest)) throw new SourceError(`${describe}: manifest ${m.digest} lists itself (a cycle)`);
    visiting.add(m.digest);
    for (const child of m.children) {
      const found = lookup.get(child, `${describe}: manifest ${child.digest} (listed by index ${m.digest})`);
      if (!found) {
        throw new SourceError(
          `${describe}: index ${m.digest} lists manifest ${child.digest}${platform(child)}, which the source does not hold` +
            " (docker save of a multi-platform image keeps only the platforms pulled locally)",
        );
      }
      visit(found, false);
    }
    for (const b of m.blobs) if (!blobs.has(b.digest) && !isForeignLayer(b)) blobs.set(b.digest, b);
    visiting.delete(m.digest);
    pushed.add(m.digest);
    manifests.push({ digest: m.digest, mediaType: m.mediaType, bytes: m.bytes, tags: [], top: isTop });
  };

  visit(top, true);
  // Referrers (signatures, SBOMs, attestations) of anything pushed, and theirs in turn, after their subject.
  const candidates = [...lookup.candidates()].filter((c) => c.subject);
  for (let added = true; added; ) {
    added = false;
    for (const c of candidates) {
      if (!pushed.has(c.digest) && pushed.has(c.subject!.digest)) {
        visit(c, false);
        added = true;
      }
    }
  }
  return { manifests, blobs: [...blobs.values()] };
}

function platform(d: Descriptor): string {
  const p = d.platform;
  return p?.os ? ` (${p.os}/${p.architecture ?? "?"}${p.variant ? `/${p.variant}` : ""})` : "";
}
