// Response helpers shared by the routes.
import { ERROR_CODES, RegistryError, errorBody } from "../protocol/errors";
import { StorageError } from "../storage/types";
import { ConfigError } from "../config";
import { logEvent } from "../observability/log";

export const CONFIG_ERROR_MESSAGE = "registry misconfigured, see the logs";

export const API_VERSION_HEADER = { "Docker-Distribution-API-Version": "registry/2.0" };

export function errorResponse(err: RegistryError): Response {
  const headers = new Headers({ "Content-Type": "application/json", ...API_VERSION_HEADER, ...err.headers });
  return new Response(errorBody(err), { status: err.status, headers });
}

/** Maps any thrown value to an OCI error response; never leaks internals of unexpected errors. */
export function toErrorResponse(err: unknown): Response {
  if (err instanceof RegistryError) return errorResponse(err);
  // The problems are in the log (runtimeFor logs them once); a client learns nothing of the configuration.
  if (err instanceof ConfigError) return errorResponse(new RegistryError("UNAVAILABLE", CONFIG_ERROR_MESSAGE));
  if (err instanceof StorageError) {
    logEvent("error", "storage failure", { error: err.message });
    return errorResponse(new RegistryError("UNAVAILABLE", "storage is unavailable; retry later", undefined, { headers: { "Retry-After": "1" } }));
  }
  logEvent("error", "unexpected error", { error: String((err as Error)?.stack ?? err) });
  return errorResponse(new RegistryError("UNKNOWN", ERROR_CODES.UNKNOWN.message));
}

/** The OCI code a thrown value is answered with (see toErrorResponse), or null for none. */
export function errorCodeOf(err: unknown): string | null {
  if (err === undefined || err === null) return null;
  if (err instanceof RegistryError) return err.code;
  if (err instanceof ConfigError || err instanceof StorageError) return "UNAVAILABLE";
  // Errors of their own shape that carry an OCI code (the token endpoint's).
  const code = (err as { ociCode?: unknown }).ociCode;
  if (typeof code === "string" && code in ERROR_CODES) return code;
  return "UNKNOWN";
}
