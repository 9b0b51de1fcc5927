// The request log and metrics middleware: gathers one request's facts after it was answered, and hands them to the
// pure shaping (src/observability/request-log.ts) for one log line and one Analytics Engine data point.
import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import type { Context } from "hono";
import { requestDataPoint, requestId, requestLogLine, type RequestFacts } from "../observability/request-log";
import { writeLine } from "../observability/log";
import { errorCodeOf } from "./responses";
import { AccessDenied } from "../auth/token-authorizer";
import type { AppEnv } from "./context";

export const observeRequests = createMiddleware<AppEnv>(async (c, next) => {
  const started = Date.now();
  c.set("note", {});
  await next();
  // Logging and counting are best effort: nothing here may change an answer that was already made.
  try {
    const facts = requestFacts(c, Date.now() - started);
    // With no runtime (a bad configuration) the line is written: that is when it is most wanted.
    if (c.var.runtime?.config.logRequests ?? true) writeLine(requestLogLine(facts, requestId(facts.ray, () => crypto.randomUUID())));
    c.env?.METRICS?.writeDataPoint(requestDataPoint(facts));
  } catch {
    // A metrics binding that is not one, or a failed write: the request was answered.
  }
});

function requestFacts(c: Context<AppEnv>, durationMs: number): RequestFacts {
  const req = c.req.raw;
  const res = c.res;
  const note = c.var.note;
  // The route of the last handler that ran: the one that answered, or the middleware that refused ("/*" when
  // nothing matched). Not the last matched one: a later "*" middleware may match without running.
  const pattern = routePath(c);
  const param = (n: string) => (pattern.includes(`:${n}`) ? (c.req.param(n) ?? null) : null);
  return {
    ray: req.headers.get("cf-ray"),
    method: req.method,
    route: pattern,
    repository: c.var.name ?? null,
    status: res.status,
    code: res.status >= 400 ? (errorCodeOf(c.error) ?? note.code ?? null) : null,
    bytesIn: lengthOf(req.headers) ?? note.bytesIn ?? (req.body ? null : 0),
    bytesOut: req.method === "HEAD" || !res.body ? 0 : lengthOf(res.headers),
    durationMs,
    user: c.var.principal?.subject ?? note.user ?? (c.error instanceof AccessDenied ? c.error.subject : null),
    userAgent: req.headers.get("user-agent"),
    credentials: req.headers.has("authorization"),
    upload: res.headers.get("docker-upload-uuid") ?? param("id"),
    digest: res.headers.get("docker-content-digest") ?? param("digest") ?? param("reference") ?? c.req.query("digest") ?? null,
  };
}

function lengthOf(headers: Headers): number | null {
  const v = headers.get("content-length");
  return v !== null && /^\d{1,15}$/.test(v) ? Number(v) : null;
}
