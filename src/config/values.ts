// Checks of setting values whose problems are reported WITHOUT quoting the value: a problem message goes to the
// Worker's log, and a setting may hold a secret (keys, passwords, credentials in a URL's userinfo, a signed
// query). Messages name the setting and say what is wrong; the operator has the value.

/** An http(s) URL checked part by part; `problem` says what is wrong without quoting any of the value. */
export function checkHttpUrl(value: string, opts: { path: boolean }): { url: URL; problem?: undefined } | { url?: undefined; problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: "it is not an absolute URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { problem: "its scheme is not http or https" };
  if (url.username || url.password) return { problem: "it holds credentials (user:password@); credentials have their own settings" };
  if (url.search || url.hash || value.includes("?") || value.includes("#")) return { problem: "it has a query or fragment" };
  if (!opts.path && url.pathname !== "/") return { problem: "it has a path" };
  return { url };
}

/** Loopback hosts, where plain http is acceptable (local development). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * JSON.parse that reports a failure with the position only: V8's messages quote the input
 * (`Unexpected token 's', "secret..." is not valid JSON`).
 */
export function parseJsonSetting(text: string): { value: unknown; problem?: undefined } | { value?: undefined; problem: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message ?? "");
    return { problem: at ? `is not valid JSON (error at character ${at[1]})` : "is not valid JSON" };
  }
}
