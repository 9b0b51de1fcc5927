// An independent SigV4 query-signature check (AWS Signature Version 4, presigned URL form), written from the
// published algorithm for the tests: it confirms that a presigned URL is signed for a given secret without any
// server. Cross-checked against RGW in redirect.test.ts (a URL RGW accepts must verify here too).
const enc = new TextEncoder();

async function hmac(key: ArrayBuffer | Uint8Array, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, enc.encode(data));
}

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept, everything else %XX). */
function uriEncode(s: string, keepSlash: boolean): string {
  return [...enc.encode(s)]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) return c;
      return `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

/** The signature that `url` should carry if it was presigned with `secret` (host-only signed headers). */
export async function expectedSignature(url: string, secret: string): Promise<string> {
  const u = new URL(url);
  const q = u.searchParams;
  const [, date, region, service] = q.get("X-Amz-Credential")!.split("/");
  const amzDate = q.get("X-Amz-Date")!;
  const params = [...q.entries()].filter(([k]) => k !== "X-Amz-Signature");
  const canonicalQuery = params
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const path = uriEncode(decodeURIComponent(u.pathname), true);
  const canonicalRequest = ["GET", path, canonicalQuery, `host:${u.host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(await crypto.subtle.digest("SHA-256", enc.encode(canonicalRequest)))].join("\n");
  let key: ArrayBuffer = await hmac(enc.encode(`AWS4${secret}`), date);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  return hex(await hmac(key, toSign));
}
