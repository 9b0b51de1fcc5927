// Secrets for `npm run deploy`: read from files, stdin or a prompt that does not echo. Nothing here ever puts a
// value into a message: errors name the source and the line, never its text.
import { readFileSync } from "node:fs";

export type Secrets = Map<string, string>;

const NAME = /^[A-Z][A-Z0-9_]*$/;

/**
 * A secrets text: a JSON object of strings (what `wrangler secret bulk` takes) or dotenv lines `NAME=VALUE`
 * (`export`, `#` comments, blank lines, values in '' or "" allowed). `source` names it in problems.
 */
export function parseSecretsText(text: string, source: string, problems: string[]): Secrets {
  const out: Secrets = new Map();
  if (text.trimStart().startsWith("{")) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      // Not V8's message: it quotes the input.
      problems.push(`${source} is not valid JSON (expected {"NAME": "value", ...})`);
      return out;
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      problems.push(`${source} must be a JSON object {"NAME": "value", ...}`);
      return out;
    }
    for (const [name, value] of Object.entries(raw)) {
      if (!NAME.test(name)) problems.push(`${source}: a key is not a setting name (capital letters, digits, _)`);
      else if (typeof value !== "string") problems.push(`${source}: ${name} must be a JSON string`);
      else out.set(name, value);
    }
    return out;
  }
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(t);
    if (!m || !NAME.test(m[1])) return void problems.push(`${source} line ${i + 1} is not NAME=VALUE`);
    let value = m[2].trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    if (out.has(m[1])) problems.push(`${source} line ${i + 1}: ${m[1]} is set twice`);
    out.set(m[1], value);
  });
  return out;
}

/** A whole file as one secret's value (a key from `npm run keygen`, user lines from `npm run user`). */
export function readSecretFile(path: string, name: string, problems: string[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    problems.push(`cannot read the ${name} file ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
  const value = text.trim();
  if (!value) problems.push(`the ${name} file ${path} is empty`);
  // `npm run keygen > key.json` without --silent puts npm's "> skiff@... keygen" banner into the file.
  else if (/^> \S+@\S+ \w+/m.test(value)) problems.push(`the ${name} file ${path} holds npm's "> skiff@..." banner lines → fix: make it again with npm run --silent ...`);
  return value || undefined;
}

export function readSecretsFile(path: string, problems: string[]): Secrets {
  try {
    return parseSecretsText(readFileSync(path, "utf8"), `secrets file ${path}`, problems);
  } catch (e) {
    problems.push(`cannot read the secrets file ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    return new Map();
  }
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk;
  return text;
}

