// vitest globalSetup for the projects that run on the S3 backend: starts RGW for the run, provides its endpoint
// and credentials to the tests (and to the worker's bindings), and a small control endpoint through which tests
// inside workerd can stop and restart the gateway. For the "s3-faults" project the worker reaches RGW through a
// fault-injecting proxy, so that tests can make the S3 server answer errors. Everything stops after the run.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { startRgw, type RgwInfo } from "./rgw";

declare module "vitest" {
  export interface ProvidedContext {
    rgw: RgwInfo;
    /** POST <rgwControl>/gateway/stop, /gateway/start, /faults (JSON Fault), /faults/clear (answers the hit count). */
    rgwControl: string;
  }
}

/** Requests that the proxy answers itself with an S3 error instead of forwarding them. */
export interface Fault {
  method: string;
  /** A substring of the request's path and query, e.g. "partNumber=" for UploadPart. */
  match: string;
  status: number;
  code: string;
  /** How many matching requests fail (then the fault is used up); omitted: all until cleared. */
  count?: number;
}

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Forwards to RGW unchanged (the Host header too: it is part of the SigV4 signature), unless a fault matches. */
function faultProxy(target: string, faults: Fault[], hits: { count: number }) {
  const to = new URL(target);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const i = faults.findIndex((f) => f.method === req.method && (req.url ?? "").includes(f.match));
    if (i >= 0) {
      const f = faults[i];
      hits.count++;
      if (f.count !== undefined && --f.count <= 0) faults.splice(i, 1);
      req.resume();
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${f.code}</Code><Message>injected by the test proxy</Message></Error>`;
      res.writeHead(f.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(xml) }).end(xml);
      return;
    }
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy()); // RGW stopped: the client sees the connection drop, as without proxy
    req.pipe(upstream);
  });
}

export default async function setup(project: TestProject) {
  const rgw = await startRgw();
  const faults: Fault[] = [];
  const hits = { count: 0 };
  const proxy = project.name === "s3-faults" ? faultProxy(rgw.endpoint, faults, hits) : null;
  const endpoint = proxy ? await listen(proxy) : rgw.endpoint;

  const control = createServer((req, res) => {
    const done = (status: number, text: string) => res.writeHead(status, { "content-type": "text/plain" }).end(text);
    const fail = (e: unknown) => done(500, String(e));
    if (req.method !== "POST") return done(405, "POST only");
    if (req.url === "/gateway/stop") return void rgw.stopGateway().then(() => done(200, "stopped"), fail);
    if (req.url === "/gateway/start") return void rgw.startGateway().then(() => done(200, "started"), fail);
    // Clearing answers how many requests the faults hit since the last clear, so tests know they were exercised.
    if (req.url === "/faults/clear") {
      faults.length = 0;
      const n = hits.count;
      hits.count = 0;
      return done(200, String(n));
    }
    if (req.url === "/faults") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        faults.push(JSON.parse(body) as Fault);
        done(200, "armed");
      });
      return;
    }
    done(404, "unknown control action");
  });
  const controlUrl = await listen(control);

  const { region, accessKeyId, secretAccessKey, bucket } = rgw;
  project.provide("rgw", { endpoint, region, accessKeyId, secretAccessKey, bucket });
  project.provide("rgwControl", controlUrl);
  return async () => {
    await new Promise((ok) => control.close(ok));
    if (proxy) {
      proxy.closeAllConnections();
      await new Promise((ok) => proxy.close(ok));
    }
    await rgw.stop();
  };
}
