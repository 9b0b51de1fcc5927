// Concurrent pushes of the same content and of the same tag must never corrupt anything.
import { describe, it, expect } from "vitest";
import { registry, uniqueRepo, startUpload, withQuery, digestOf, pseudoRandomBytes, pushImage, putManifest, manifestBytes, imageManifest, expectError } from "./helpers";

const MiB = 1024 * 1024;

async function readBlob(repo: string, digest: string) {
  const res = await registry(`/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

describe("concurrent pushes", () => {
  it("the same multipart blob uploaded 4 times at once, in one repository: every push succeeds, one consistent blob", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(8 * MiB + 4321, 101);
    const digest = await digestOf(data);
    const results = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const location = await startUpload(repo);
        if (i % 2 === 0) return registry(withQuery(location, { digest }), { method: "PUT", body: data }); // monolithic
        const split = 3 * MiB + i;
        const a = await registry(location, { method: "PATCH", body: data.subarray(0, split), headers: { "Content-Range": `0-${split - 1}` } });
        expect(a.status).toBe(202);
        return registry(withQuery(a.headers.get("location")!, { digest }), { method: "PUT", body: data.subarray(split) });
      }),
    );
    for (const r of results) {
      expect(r.status, await r.clone().text()).toBe(201);
      expect(r.headers.get("docker-content-digest")).toBe(digest);
    }
    const got = await readBlob(repo, digest);
    expect(await digestOf(got)).toBe(digest);
    expect(got.byteLength).toBe(data.byteLength);
  });

  it("the same blob pushed at once to several repositories is readable in each", async () => {
    const repos = [uniqueRepo(), uniqueRepo(), uniqueRepo()];
    const data = pseudoRandomBytes(100_000, 102);
    const digest = await digestOf(data);
    const results = await Promise.all(repos.map((r) => registry(`/v2/${r}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data })));
    for (const r of results) expect(r.status).toBe(201);
    for (const r of repos) expect(await digestOf(await readBlob(r, digest))).toBe(digest);
  });

  it("a wrong-digest upload racing a correct one does not damage the correct blob", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(8 * MiB + 1, 103);
    const digest = await digestOf(data);
    const bad = pseudoRandomBytes(8 * MiB + 1, 104);
    const [good, wrong] = await Promise.all([
      registry(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data }),
      registry(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bad }),
    ]);
    expect(good.status).toBe(201);
    await expectError(wrong, 400, "DIGEST_INVALID");
    expect(await digestOf(await readBlob(repo, digest))).toBe(digest);
  });

  it("the same tag pushed with different manifests at once ends as exactly one of them, consistent with its digest", async () => {
    const repo = uniqueRepo();
    const base = await pushImage(repo, "seed");
    const variants = [0, 1, 2, 3, 4].map((i) => imageManifest(base.manifest.config, base.manifest.layers, { annotations: { variant: String(i) } }));
    const results = await Promise.all(variants.map((m) => putManifest(repo, "race", m)));
    for (const r of results) expect(r.status).toBe(201);
    const get = await registry(`/v2/${repo}/manifests/race`);
    expect(get.status).toBe(200);
    const body = new Uint8Array(await get.arrayBuffer());
    expect(get.headers.get("docker-content-digest")).toBe(await digestOf(body));
    const candidates = await Promise.all(variants.map((m) => digestOf(manifestBytes(m))));
    expect(candidates).toContain(await digestOf(body));
    // every variant is stored by digest
    for (const d of candidates) expect((await registry(`/v2/${repo}/manifests/${d}`, { method: "HEAD" })).status).toBe(200);
    const tags = (await (await registry(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["race", "seed"]);
  });

  it("the same manifest pushed under many tags at once", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const tags = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const results = await Promise.all(tags.map((t) => putManifest(repo, t, img.manifest)));
    for (const r of results) expect(r.status).toBe(201);
    const list = (await (await registry(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    expect(list.tags).toEqual([...tags, "seed"].sort());
    for (const t of tags) expect((await registry(`/v2/${repo}/manifests/${t}`, { method: "HEAD" })).headers.get("docker-content-digest")).toBe(img.digest);
  });

  it("two PATCHes racing on one session: one wins, and completing commits exactly the winner's bytes", async () => {
    // Repeated: the interleaving differs between rounds.
    for (let round = 0; round < 8; round++) {
      const repo = uniqueRepo();
      const location = await startUpload(repo);
      const bodies = [pseudoRandomBytes(1000, 200 + round * 2), pseudoRandomBytes(1000, 201 + round * 2)];
      const results = await Promise.all(bodies.map((body) => registry(location, { method: "PATCH", body, headers: { "Content-Range": "0-999" } })));
      const winners = results.map((r, i) => (r.status === 202 ? i : -1)).filter((i) => i >= 0);
      expect(winners, `round ${round}: statuses ${results.map((r) => r.status)}`).toHaveLength(1);
      const loser = results[1 - winners[0]];
      expect(loser.status).toBeGreaterThanOrEqual(400);
      expect(loser.status).toBeLessThan(500);
      const st = await registry(location);
      expect(st.headers.get("range")).toBe("0-999");
      const digest = await digestOf(bodies[winners[0]]);
      const done = await registry(withQuery(location, { digest }), { method: "PUT" });
      expect(done.status, `round ${round}: ${await done.clone().text()}`).toBe(201);
      expect(await digestOf(await readBlob(repo, digest)), `round ${round}: blob content`).toBe(digest);
    }
  });

  it("two multipart PATCHes racing on one session never commit the loser's parts under the winner's digest", async () => {
    for (let round = 0; round < 3; round++) {
      const repo = uniqueRepo();
      const location = await startUpload(repo);
      const size = 8 * MiB + 1000;
      const bodies = [pseudoRandomBytes(size, 300 + round * 2), pseudoRandomBytes(size, 301 + round * 2)];
      const results = await Promise.all(bodies.map((body) => registry(location, { method: "PATCH", body, headers: { "Content-Range": `0-${size - 1}` } })));
      const winners = results.map((r, i) => (r.status === 202 ? i : -1)).filter((i) => i >= 0);
      expect(winners, `round ${round}: statuses ${results.map((r) => r.status)}`).toHaveLength(1);
      const digest = await digestOf(bodies[winners[0]]);
      const done = await registry(withQuery(location, { digest }), { method: "PUT" });
      // The loser may have replaced a part the winner's state names: completing must then fail cleanly, never
      // commit other bytes under this digest.
      expect(done.status, `round ${round}: ${await done.clone().text()}`).toBeLessThan(500);
      if (done.status === 201) expect(await digestOf(await readBlob(repo, digest)), `round ${round}: blob content`).toBe(digest);
      else {
        await expectError(done, 400, "BLOB_UPLOAD_INVALID");
        await expectError(await registry(`/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
      }
    }
  });

  it("a losing PATCH that re-uploads a part the winner already stored never gets committed under the winner's digest", async () => {
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    const size = 8 * MiB + 1000;
    const winner = pseudoRandomBytes(size, 400);
    const loser = pseudoRandomBytes(size, 401);
    // The loser loads the session at once but sends its body only after the winner finished, so its part 1
    // replaces the winner's part 1 in the multipart upload; then it loses the state compare-and-swap.
    let release!: () => void;
    const winnerDone = new Promise<void>((r) => (release = r));
    let sent = false;
    const slowBody = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent) return c.close();
        await winnerDone;
        sent = true;
        c.enqueue(loser);
      },
    });
    const loserRes = registry(location, { method: "PATCH", body: slowBody, headers: { "Content-Range": `0-${size - 1}` } });
    await new Promise((r) => setTimeout(r, 50));
    const winnerRes = await registry(location, { method: "PATCH", body: winner, headers: { "Content-Range": `0-${size - 1}` } });
    expect(winnerRes.status).toBe(202);
    release();
    const lost = await loserRes;
    expect(lost.status, await lost.clone().text()).toBeGreaterThanOrEqual(400);
    expect(lost.status).toBeLessThan(500);
    const digest = await digestOf(winner);
    const done = await registry(withQuery(location, { digest }), { method: "PUT" });
    expect(done.status, await done.clone().text()).toBeLessThan(500);
    if (done.status === 201) expect(await digestOf(await readBlob(repo, digest))).toBe(digest);
    else await expectError(await registry(`/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  });
});
