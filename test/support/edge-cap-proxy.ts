// A local stand-in for Cloudflare's edge in front of a registry: it forwards every request, except that a request
// body over the zone's cap never reaches the registry. As the edge does (platform-facts.md, "Workers limits"): a
// Content-Length over the cap gets an HTML 413 at once; a body without one (docker's chunked PATCH) is cut off and
// answered with the same HTML 413 once its bytes pass the cap. The real edge is not available here; this proxy
// reproduces only that one rule, which is what the tests of big pushes need.
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

export interface EdgeCapProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port>, as image references spell it. */
  host: string;
  /** Requests refused for their size so far. */
  refused: number;
  /** Request body bytes forwarded to the registry so far. */
  bytesForwarded: number;
  stop(): Promise<void>;
}

const HTML_413 =
  "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

export async function startEdgeCapProxy(upstream: string, capBytes: number): Promise<EdgeCapProxy> {
  const target = new URL(upstream);
  const send = target.protocol === "https:" ? https.request : http.request;
  const state = { refused: 0, bytesForwarded: 0 };

  const refuse = (req: http.IncomingMessage, res: http.ServerResponse) => {
    state.refused++;
    if (!res.headersSent) {
      res.writeHead(413, { "Content-Type": "text/html", "Content-Length": Buffer.byteLength(HTML_413), Connection: "close" });
      res.end(HTML_413);
    }
    // Stop reading: the client sees the answer and a closed connection, as from the edge.
    req.unpipe();
    req.resume();
    setTimeout(() => req.socket.destroy(), 1000).unref();
  };

  const server = http.createServer((req, res) => {
    const declared = req.headers["content-length"] !== undefined ? Number(req.headers["content-length"]) : undefined;
    if (declared !== undefined && declared > capBytes) return refuse(req, res);
    const headers = { ...req.headers, host: target.host };
    const out = send(
      { protocol: target.protocol, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, rejectUnauthorized: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain" });
      res.end();
    });
    let seen = 0;
    req.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > capBytes) {
        out.destroy();
        return refuse(req, res);
      }
      state.bytesForwarded += chunk.length;
      if (!out.write(chunk)) {
        req.pause();
        out.once("drain", () => req.resume());
      }
    });
    req.on("end", () => {
      if (seen <= capBytes) out.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    get refused() {
      return state.refused;
    },
    get bytesForwarded() {
      return state.bytesForwarded;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
