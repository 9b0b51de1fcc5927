// Issue 8, section 1: races on one upload session must never make a digest serve other bytes.
//
// The attack: with push rights on one repository, open a session and send it two overlapping requests, a slow one
// carrying EVIL's bytes whose body trickles in, and a fast one carrying GOOD's bytes. If both write the session's
// bytes to the same place, GOOD's digest ends up naming EVIL's bytes, in this repository and, through the
// registry-wide blob record, in every repository where the genuine GOOD is pushed later.
//
// Black box, through the HTTP API only. Each race is deterministic: the slow request gets the first piece of its
// body, the test waits until the server has read it (so the request has loaded the session and is in flight), runs
// the fast requests to completion, and only then sends the rest of the slow body. Nothing assumes which request
// wins: every request may answer any 2xx or 4xx (never 5xx); what must hold afterwards is the invariant checked by
// `expectServedBlobsMatchDigests`: every blob served, in every repository, hashes to its digest.
import { describe, it, expect } from "vitest";
import { registry, uniqueRepo, withQuery, digestOf, pseudoRandomBytes, pushBlob, pushBlobMonolithic, streamDigest, type Algorithm } from "./helpers";

const KiB = 1024;
/** The session's part size (OCI-Chunk-Min-Length): a body bigger than this uses the multipart code paths. */
let partSize = 0;

/** Opens the race's session; the first one also reads the part size. */
async function openSession(repo: string): Promise<string> {
  const res = await registry(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(res.status).toBe(202);
  partSize ||= Number(res.headers.get("oci-chunk-min-length"));
  expect(partSize).toBeGreaterThan(0);
  return res.headers.get("location")!;
}

/** "length": bodies carry Content-Length (skopeo, podman, containerd); "chunked": none (docker). */
type Framing = "length" | "chunked";
type Size = "small" | "multipart";

interface Content {
  bytes: Uint8Array;
  digest: string;
}

interface RaceContext {
  repo: string;
  location: string;
  good: Content;
  evil: Content;
  framing: Framing;
  size: Size;
}

let seedCounter = Math.floor(Math.random() * 2 ** 30);

/** GOOD and EVIL: fresh contents of the same length (so that a swapped body is not betrayed by its size). */
async function makeBlobs(size: Size, algorithm: Algorithm): Promise<{ good: Content; evil: Content }> {
  const length = size === "small" ? 64 * KiB + 7 : partSize + 64 * KiB + 7;
  const good = pseudoRandomBytes(length, ++seedCounter);
  const evil = pseudoRandomBytes(length, ++seedCounter);
  return { good: { bytes: good, digest: await digestOf(good, algorithm) }, evil: { bytes: evil, digest: await digestOf(evil, algorithm) } };
}

/** Request init for `bytes` framed as `framing` (workerd adds no Content-Length to an in-process request itself). */
function send(method: string, bytes: Uint8Array | null, framing: Framing): RequestInit {
  if (!bytes || bytes.byteLength === 0) return { method };
  return { method, body: bytes, headers: framing === "length" ? { "Content-Length": String(bytes.byteLength) } : {} };
}

/**
 * A body the test holds back: the first `head` bytes are offered at once, the rest only after release().
 * `headTaken` resolves when the server has consumed the first piece and asks for more, which it does only after
 * loading the session (the routes load it before reading the body).
 */
function heldBody(bytes: Uint8Array, head: number) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let taken!: () => void;
  const headTaken = new Promise<void>((r) => (taken = r));
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pulls++;
        if (pulls === 1) return controller.enqueue(bytes.slice(0, head));
        taken();
        await released;
        try {
          controller.enqueue(bytes.slice(head));
          controller.close();
        } catch {
          // The server answered without reading the rest (the stream was cancelled): nothing to send.
        }
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, headTaken, release };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every response must be a 2xx or 4xx; a 5xx is reported with its body. Reads the body; returns the status. */
async function expectNo5xx(label: string, res: Response): Promise<number> {
  const text = await res.text();
  if (res.status >= 500) expect.fail(`${label} answered ${res.status}: ${text.slice(0, 300)}`);
  return res.status;
}

/**
 * Runs the race: `slow` (method, path, bytes) is sent with a held body; once the server has read its first piece,
 * `fast` runs to completion; then the rest of the slow body is released and its answer awaited.  If the server answers the slow request before reading its body, or makes the fast requests
 * wait, the race still ends (the body is released after the fast requests or after 10 s).
 */
async function race(ctx: RaceContext, slow: { method: string; path: string; bytes: Uint8Array }, fast: () => Promise<void>): Promise<void> {
  // Multipart: the first piece fills a whole part, so the slow request has stored a part while the fast one runs.
  const head = ctx.size === "multipart" ? partSize + 1 : slow.bytes.byteLength >> 1;
  const held = heldBody(slow.bytes, head);
  const headers: Record<string, string> = ctx.framing === "length" ? { "Content-Length": String(slow.bytes.byteLength) } : {};
  let slowSettled = false;
  const slowRes = registry(slow.path, { method: slow.method, body: held.stream, headers, duplex: "half" } as RequestInit).finally(() => (slowSettled = true));
  await Promise.race([held.headTaken, slowRes]);
  const fastDone = fast();
  await Promise.race([fastDone, sleep(10_000)]);
  // Answered before the rest of its body was sent: only a refusal is possible (it never had EVIL's bytes).
  if (slowSettled) expect((await slowRes).status, `slow ${slow.method} answered before its body was sent`).toBeGreaterThanOrEqual(400);
  held.release();
  await fastDone;
  await expectNo5xx(`slow ${slow.method}`, await slowRes);
}

/** A request in the race or after it: any 2xx or 4xx. */
async function step(label: string, path: string, init: RequestInit): Promise<number> {
  return expectNo5xx(label, await registry(path, init));
}

const putDigest = (ctx: RaceContext, blob: Content) => withQuery(ctx.location, { digest: blob.digest });

/** The scenarios: each runs a race on ctx's session; none assumes which request wins. */
const scenarios: { name: string; run: (ctx: RaceContext) => Promise<void>; algorithms?: Algorithm[] }[] = [
  {
    name: "(a) slow PUT ?digest=EVIL racing a fast PUT ?digest=GOOD",
    run: async (ctx) => {
      await race(ctx, { method: "PUT", path: putDigest(ctx, ctx.evil), bytes: ctx.evil.bytes }, async () => {
        await step("fast PUT GOOD", putDigest(ctx, ctx.good), send("PUT", ctx.good.bytes, ctx.framing));
      });
    },
  },
  {
    name: "(b) slow PATCH EVIL racing a fast PATCH GOOD + PUT ?digest=GOOD; then PUT ?digest=EVIL",
    run: async (ctx) => {
      await race(ctx, { method: "PATCH", path: ctx.location, bytes: ctx.evil.bytes }, async () => {
        await step("fast PATCH GOOD", ctx.location, send("PATCH", ctx.good.bytes, ctx.framing));
        await step("fast PUT GOOD", putDigest(ctx, ctx.good), { method: "PUT" });
      });
      await step("PUT EVIL", putDigest(ctx, ctx.evil), { method: "PUT" });
    },
  },
  {
    name: "(b) slow PATCH EVIL racing a fast PATCH GOOD; then PUT ?digest=GOOD and PUT ?digest=EVIL",
    run: async (ctx) => {
      await race(ctx, { method: "PATCH", path: ctx.location, bytes: ctx.evil.bytes }, async () => {
        await step("fast PATCH GOOD", ctx.location, send("PATCH", ctx.good.bytes, ctx.framing));
      });
      await step("PUT GOOD", putDigest(ctx, ctx.good), { method: "PUT" });
      await step("PUT EVIL", putDigest(ctx, ctx.evil), { method: "PUT" });
    },
  },
  {
    name: "(c) slow PATCH EVIL racing a fast PUT ?digest=GOOD; then PUT ?digest=EVIL",
    run: async (ctx) => {
      await race(ctx, { method: "PATCH", path: ctx.location, bytes: ctx.evil.bytes }, async () => {
        await step("fast PUT GOOD", putDigest(ctx, ctx.good), send("PUT", ctx.good.bytes, ctx.framing));
      });
      await step("PUT EVIL", putDigest(ctx, ctx.evil), { method: "PUT" });
    },
  },
  {
    name: "(c) slow PUT ?digest=EVIL racing a fast PATCH GOOD + PUT ?digest=GOOD",
    run: async (ctx) => {
      await race(ctx, { method: "PUT", path: putDigest(ctx, ctx.evil), bytes: ctx.evil.bytes }, async () => {
        await step("fast PATCH GOOD", ctx.location, send("PATCH", ctx.good.bytes, ctx.framing));
        await step("fast PUT GOOD", putDigest(ctx, ctx.good), { method: "PUT" });
      });
    },
  },
  {
    name: "(d) slow PUT ?digest=GOOD racing a cancel (DELETE)",
    algorithms: ["sha256"], // no digest is claimed by an attacker here: one algorithm is enough
    run: async (ctx) => {
      await race(ctx, { method: "PUT", path: putDigest(ctx, ctx.good), bytes: ctx.good.bytes }, async () => {
        await step("fast DELETE", ctx.location, { method: "DELETE" });
      });
    },
  },
  {
    name: "(d) a first PATCH of GOOD, then a slow PUT ?digest=GOOD with the rest racing a cancel (DELETE)",
    algorithms: ["sha256"],
    run: async (ctx) => {
      // The first chunk leaves stored state behind (parts and a tail, or one whole object) for the cancel to free.
      const split = ctx.size === "multipart" ? partSize + 3 * KiB : 32 * KiB;
      await step("first PATCH", ctx.location, send("PATCH", ctx.good.bytes.subarray(0, split), ctx.framing));
      const rest = ctx.good.bytes.subarray(split);
      // The rest is small: the slow PUT gets half of it at once (race() cuts small bodies in half).
      await race({ ...ctx, size: "small" }, { method: "PUT", path: putDigest(ctx, ctx.good), bytes: rest }, async () => {
        await step("fast DELETE", ctx.location, { method: "DELETE" });
      });
    },
  },
];

/** Follows a redirect to storage (a presigned URL), as clients do. */
async function getBlob(repo: string, digest: string): Promise<Response> {
  const res = await registry(`/v2/${repo}/blobs/${digest}`);
  if (res.status !== 307) return res;
  return fetch(res.headers.get("location")!);
}

/**
 * The invariant: for every digest in every repository, a GET answers 404 or bytes that hash to that digest (and
 * match the announced length). `mustServe` lists repository/digest pairs that a genuine push answered 201 for:
 * those must be served (200), not only be right. Failures are collected, so one run names every broken pair.
 */
async function expectServedBlobsMatchDigests(repos: Record<string, string>, blobs: Record<string, string>, mustServe: [string, string][] = []): Promise<void> {
  const known = new Map(Object.entries(blobs).map(([label, digest]) => [digest, label]));
  const problems: string[] = [];
  for (const [repoLabel, repo] of Object.entries(repos)) {
    for (const [label, digest] of Object.entries(blobs)) {
      const res = await getBlob(repo, digest);
      const required = mustServe.some(([r, d]) => r === repo && d === digest);
      if (res.status === 404 && !required) {
        await res.body?.cancel();
        continue;
      }
      if (res.status !== 200) {
        problems.push(`${repoLabel}: GET ${label} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        continue;
      }
      const algorithm = digest.split(":")[0] as Algorithm;
      const got = await streamDigest(res.body, algorithm);
      const announced = res.headers.get("content-length");
      if (got.digest !== digest) problems.push(`${repoLabel}: GET ${label} served bytes of ${known.get(got.digest) ?? got.digest} (${got.size} bytes)`);
      else if (announced !== null && Number(announced) !== got.size) problems.push(`${repoLabel}: GET ${label} announced ${announced} bytes, sent ${got.size}`);
    }
  }
  expect(problems).toEqual([]);
}

/** After the race, the genuine GOOD is pushed to two other repositories (a session PUT and a monolithic POST). */
async function pushGenuineElsewhere(ctx: RaceContext, algorithm: Algorithm): Promise<{ viaSession: string; viaPost: string }> {
  const viaSession = uniqueRepo("race");
  const viaPost = uniqueRepo("race");
  await pushBlob(viaSession, ctx.good.bytes, algorithm); // expects 201 and the digest
  const res = await pushBlobMonolithic(viaPost, ctx.good.bytes, ctx.good.digest);
  expect(res.status, await res.clone().text()).toBe(201);
  return { viaSession, viaPost };
}

/** Every scenario runs for both algorithms, a small body and one bigger than a part, with and without Content-Length. */
const matrix: { label: string; algorithm: Algorithm; size: Size; framing: Framing }[] = [];
for (const algorithm of ["sha256", "sha512"] as const)
  for (const size of ["small", "multipart"] as const)
    for (const framing of ["length", "chunked"] as const)
      matrix.push({ label: `${algorithm}, ${size} body, ${framing === "length" ? "with" : "without"} Content-Length`, algorithm, size, framing });

describe("racing requests on one upload session never make a digest serve other bytes", () => {
  for (const scenario of scenarios) {
    describe(scenario.name, () => {
      for (const { label, algorithm, size, framing } of matrix) {
        if (scenario.algorithms && !scenario.algorithms.includes(algorithm)) continue;
        it(label, async () => {
          // The interleaving is forced by the held body, so one round of each is the whole race.
          {
            const repo = uniqueRepo("race");
            const ctx: RaceContext = { repo, location: await openSession(repo), framing, size, ...(await makeBlobs(size, algorithm)) };
            await scenario.run(ctx);
            const { viaSession, viaPost } = await pushGenuineElsewhere(ctx, algorithm);
            await expectServedBlobsMatchDigests(
              { "race repository": repo, "repository pushed by session": viaSession, "repository pushed by POST": viaPost },
              { GOOD: ctx.good.digest, EVIL: ctx.evil.digest },
              [
                [viaSession, ctx.good.digest],
                [viaPost, ctx.good.digest],
              ],
            );
          }
        });
      }
    });
  }
});

describe("the registry-wide blob record after a race", () => {
  it.each(["sha256", "sha512"] as const)("a genuine push of GOOD to a brand-new repository serves GOOD (HEAD and GET), %s", async (algorithm) => {
    const repo = uniqueRepo("race");
    const ctx: RaceContext = { repo, location: await openSession(repo), framing: "length", size: "small", ...(await makeBlobs("small", algorithm)) };
    await scenarios[0].run(ctx);
    const fresh = uniqueRepo("race");
    await pushBlob(fresh, ctx.good.bytes, algorithm);
    const head = await registry(`/v2/${fresh}/blobs/${ctx.good.digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("docker-content-digest")).toBe(ctx.good.digest);
    expect(head.headers.get("content-length")).toBe(String(ctx.good.bytes.byteLength));
    const get = await getBlob(fresh, ctx.good.digest);
    expect(get.status).toBe(200);
    const got = await streamDigest(get.body, algorithm);
    expect(got.digest === ctx.evil.digest ? "EVIL's bytes" : got.digest, "content served for GOOD").toBe(ctx.good.digest);
    expect(got.size).toBe(ctx.good.bytes.byteLength);
  });
});
