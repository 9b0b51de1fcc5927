// What an on-demand garbage collection run may be started with (POST /_skiff/gc?dry-run=1&grace=S&quarantine=S),
// checked before anything runs: a typo must never turn a dry run into a real one, so unknown parameters are refused.
import { RegistryError } from "../protocol/errors";
import type { GcSettings, GcStartOptions } from "./types";

/** The longest grace or quarantine a request may ask for: 30 days, as GC_GRACE_HOURS allows. */
export const MAX_WINDOW_SECONDS = 30 * 24 * 3600;

const KNOWN = new Set(["dry-run", "grace", "quarantine"]);

function badRequest(message: string, detail?: unknown): RegistryError {
  // OCI has no code for a malformed parameter; UNSUPPORTED is the nearest (clients act on the status).
  return new RegistryError("UNSUPPORTED", message, detail, { status: 400 });
}

function seconds(name: string, text: string): number {
  if (!/^\d{1,8}$/.test(text) || Number(text) > MAX_WINDOW_SECONDS) {
    throw badRequest(`${name} must be a whole number of seconds from 0 to ${MAX_WINDOW_SECONDS}`, { [name]: text.slice(0, 40) });
  }
  return Number(text);
}

/**
 * The start options of an admin's run from the query (each parameter at most once). `grace` below the configured
 * minimum (GC_MIN_GRACE_HOURS) is refused here, where the admin sees why.
 */
export function parseStartOptions(query: URLSearchParams, settings: GcSettings): GcStartOptions {
  for (const name of new Set(query.keys())) {
    if (!KNOWN.has(name)) throw badRequest(`unknown parameter ${JSON.stringify(name.slice(0, 40))}; known: dry-run, grace, quarantine`);
    if (query.getAll(name).length > 1) throw badRequest(`${name} given more than once`);
  }
  const opts: GcStartOptions = { dryRun: false, trigger: "admin" };
  const dry = query.get("dry-run");
  if (dry !== null) {
    if (dry === "1" || dry === "true" || dry === "") opts.dryRun = true;
    else if (dry !== "0" && dry !== "false") throw badRequest("dry-run must be 1, true, 0 or false", { "dry-run": dry.slice(0, 40) });
  }
  const grace = query.get("grace");
  if (grace !== null) {
    opts.graceMs = seconds("grace", grace) * 1000;
    if (opts.graceMs < settings.minGraceMs) {
      throw badRequest(`grace must be at least ${settings.minGraceMs / 1000} seconds (GC_MIN_GRACE_HOURS)`, { grace: Number(grace) });
    }
  }
  const quarantine = query.get("quarantine");
  if (quarantine !== null) opts.quarantineMs = seconds("quarantine", quarantine) * 1000;
  return opts;
}

/** Run ids as the engine makes them (e.g. 2026-11-30T03:00:00Z-7f3a): one path segment, no dots at the start. */
const RUN_ID = /^[0-9A-Za-z][0-9A-Za-z._:-]{0,99}$/;

export function requireRunId(text: string): string {
  if (!RUN_ID.test(text)) throw badRequest("invalid run id", { run: text.slice(0, 100) });
  return text;
}
