// The mark (docs/gc.md §3): one lexical pass over `repos/`. Every manifest present is a root; a tag whose manifest
// is missing (a crash between the two writes) is a root of its own. Each step saves the digests it marked under
// `gc/runs/<run>/<m1|m2>/<step>`; tombstone and resolve load their union.
import { RegistryError } from "../protocol/errors";
import { formatDigest, parseDigest } from "../protocol/digest";
import { manifestReferences } from "../protocol/references";
import { keys } from "../registry/paths";
import { digestOfPath, repoKey, type PhaseResult, type StepContext } from "./context";

class Unparseable extends Error {
  constructor(readonly key: string, message: string) {
    super(message);
  }
}

export async function markStep(ctx: StepContext, which: "m1" | "m2"): Promise<PhaseResult> {
  const { store } = ctx;
  const counting = which === "m1"; // the report's `marked` describes the first mark
  const marked = new Set<string>();
  /** Manifests seen by this step, `<repo>@<digest>`: a tag on one of them needs no read. */
  const present = new Set<string>();
  let gets = 0;

  const markFrom = async (key: string, contentType: string | undefined, body: ReadableStream<Uint8Array>) => {
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    try {
      for (const d of manifestReferences(contentType ?? null, bytes).blobs) marked.add(formatDigest(d));
    } catch (err) {
      // Reading it as referencing nothing would free its blobs: stop the run instead (docs/gc.md §3).
      if (err instanceof RegistryError) throw new Unparseable(key, `stored manifest ${key} does not parse: ${err.message}`);
      throw err;
    }
  };

  let result;
  try {
    result = await ctx.walk(
      keys.reposPrefix,
      ctx.state.cursor,
      async (o) => {
        const k = repoKey(o.key);
        if (!k) return;
        if (counting && k.name !== ctx.state.lastRepo) ctx.report.marked.repositories++;
        ctx.state.lastRepo = k.name;
        if (k.section === "_manifests") {
          const d = digestOfPath(k.rest);
          if (!d) return;
          gets++;
          const obj = await store.get(o.key);
          if (!obj) return; // deleted since the listing: no longer a root
          await markFrom(o.key, obj.contentType, obj.body);
          present.add(`${k.name}@${formatDigest(d)}`);
          if (counting) ctx.report.marked.manifests++;
        } else if (k.section === "_tags") {
          const tag = await store.head(o.key);
          if (!tag) return;
          const d = parseDigest(tag.metadata.digest ?? "");
          if (d) {
            if (present.has(`${k.name}@${formatDigest(d)}`)) return;
            if (await store.head(keys.manifest(k.name, d))) return;
          }
          gets++;
          const obj = await store.get(o.key);
          if (!obj) return;
          await markFrom(o.key, obj.contentType, obj.body);
          if (counting) ctx.report.marked.tagsAsRoots++;
        }
      },
      { more: () => gets < ctx.budget.manifestGets },
    );
  } catch (err) {
    if (err instanceof Unparseable) return { done: true, fail: { message: err.message, key: err.key } };
    throw err;
  }
  await ctx.saveLines(which, marked);
  return result;
}
