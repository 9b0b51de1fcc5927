// WWW-Authenticate challenges (RFC 7235) as registries send them. Pure, no I/O.

export interface Challenge {
  /** lower case: "bearer", "basic" */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses every challenge of one or more WWW-Authenticate values, e.g.
 * `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull,push"` or `Basic realm="x"`.
 */
export function parseChallenges(headers: string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const header of headers) {
    let i = 0;
    const s = header;
    let current: Challenge | null = null;
    while (i < s.length) {
      while (i < s.length && (s[i] === " " || s[i] === "," || s[i] === "\t")) i++;
      const tokenStart = i;
      while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i])) i++;
      const token = s.slice(tokenStart, i);
      if (!token) {
        i++;
        continue;
      }
      let j = i;
      while (j < s.length && s[j] === " ") j++;
      if (s[j] === "=" && current) {
        // auth-param: token = ( token / quoted-string )
        j++;
        while (j < s.length && s[j] === " ") j++;
        let value = "";
        if (s[j] === '"') {
          j++;
          while (j < s.length && s[j] !== '"') {
            if (s[j] === "\\" && j + 1 < s.length) j++;
            value += s[j++];
          }
          j++;
        } else {
          const start = j;
          while (j < s.length && s[j] !== "," && s[j] !== " ") j++;
          value = s.slice(start, j);
        }
        current.params[token.toLowerCase()] = value;
        i = j;
      } else {
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}
