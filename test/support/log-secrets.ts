// The "no secret in a log line" check: pure (no Node, no Workers API), so the workerd tests, the end-to-end run's
// teardown (log-capture-global.ts) and its own unit test (test/ops/log-secrets.test.ts) share it.

export interface SecretFinding {
  /** 1-based line number in the text scanned. */
  line: number;
  /** What was found: a pattern's name, or "configured secret #n" (never the secret itself). */
  what: string;
  /** The line with the match masked, cut to 300 characters, for the failure message. */
  excerpt: string;
}

/** Shapes of credentials that must never be logged, whatever their value. */
export const SECRET_PATTERNS: { name: string; re: RegExp; check?: (match: string) => boolean }[] = [
  // A JWS: base64url JSON header and payload ({"... is eyJ), and a signature.
  { name: "JWT", re: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/ },
  { name: "X-Amz-Signature", re: /X-Amz-(?:Signature|Credential)/i },
  { name: "Bearer credentials", re: /\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*/ },
  // Only base64 of "user:password" counts, so that prose ("Basic authentication") does not.
  { name: "Basic credentials", re: /\bBasic\s+[A-Za-z0-9+/]{8,}=*/, check: (m) => decodesToPair(m.replace(/^Basic\s+/, "")) },
  { name: "password or token parameter", re: /\b(?:password|refresh_token|access_token)=[^\s&"'\]\\]{4,}/i },
];

/** Every line of `text` holding a credential's shape or one of `secrets` (values shorter than 6 are ignored). */
export function findSecrets(text: string, secrets: readonly string[] = []): SecretFinding[] {
  const known = [...new Set(secrets.filter((s) => s.length >= 6))];
  const out: SecretFinding[] = [];
  text.split("\n").forEach((line, i) => {
    const hits: string[] = [];
    let masked = line;
    for (const p of SECRET_PATTERNS) {
      const all = [...line.matchAll(new RegExp(p.re.source, p.re.flags + "g"))].map((m) => m[0]);
      if (all.some((m) => !p.check || p.check(m))) {
        hits.push(p.name);
        masked = masked.replace(new RegExp(p.re.source, p.re.flags.includes("g") ? p.re.flags : p.re.flags + "g"), `[${p.name}]`);
      }
    }
    known.forEach((s, n) => {
      // JSON.stringify escapes some characters: look for both spellings.
      const escaped = JSON.stringify(s).slice(1, -1);
      if (line.includes(s) || line.includes(escaped)) {
        hits.push(`configured secret #${n + 1}`);
        masked = masked.split(s).join("[secret]").split(escaped).join("[secret]");
      }
    });
    for (const what of hits) out.push({ line: i + 1, what, excerpt: masked.slice(0, 300) });
  });
  return out;
}

/** A failure message listing findings (masked), or null when there are none. */
export function describeFindings(source: string, findings: SecretFinding[]): string | null {
  if (!findings.length) return null;
  const shown = findings.slice(0, 20).map((f) => `  ${source}:${f.line}: ${f.what}: ${f.excerpt}`);
  return `${findings.length} secret(s) in log lines:\n${shown.join("\n")}${findings.length > 20 ? "\n  ..." : ""}`;
}

function decodesToPair(b64: string): boolean {
  try {
    return atob(b64).includes(":");
  } catch {
    return false;
  }
}
