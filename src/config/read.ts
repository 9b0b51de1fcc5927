// The one way settings are read from the Worker's env: trimmed text (empty is unset), defaults from SETTINGS, and
// every problem collected with the setting's name. A problem never quotes the value: problems are logged, and a
// setting may hold a secret.
import { SETTINGS, type SettingName } from "./settings";

type Spec<N extends SettingName> = (typeof SETTINGS)[N];
/** undefined unless the setting has a default (the reader then always returns a value). */
type Unset<N extends SettingName> = Spec<N> extends { default: unknown } ? never : undefined;

export interface SettingsReader {
  /** Problems found so far (shared with the caller's list). */
  readonly problems: string[];
  problem(message: string): void;
  text<N extends SettingName>(name: N): string | Unset<N>;
  /** An integer from `min` to `max`; `why` explains the range in the problem. */
  int<N extends SettingName>(name: N, range: { min: number; max: number; why?: string }): number | Unset<N>;
  /** true/false, also 1/0, yes/no, on/off, in any case. */
  bool<N extends SettingName>(name: N): boolean | Unset<N>;
  /** One of `values`, exactly (or in any case with `anyCase`); undefined, after a problem, when it is none of them. */
  oneOf<V extends string>(name: SettingName, values: readonly V[], opts?: { anyCase?: boolean }): V | undefined;
}

function defaultOf(name: SettingName): unknown {
  return (SETTINGS[name] as { default?: unknown }).default;
}

function quoteList(values: readonly string[]): string {
  const q = values.map((v) => `"${v}"`);
  return q.length > 1 ? `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}` : q.join("");
}

/** A reader of `env` that adds its problems to `problems`. */
export function settingsReader(env: Record<string, unknown>, problems: string[] = []): SettingsReader {
  const raw = (name: SettingName): string | undefined => {
    const v = env[name];
    return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
  };
  const problem = (message: string) => void problems.push(message);
  return {
    problems,
    problem,
    text(name) {
      return (raw(name) ?? defaultOf(name)) as never;
    },
    int(name, { min, max, why }) {
      const v = raw(name);
      if (v !== undefined) {
        // Decimal digits only: Number() would also take "0x10", "1e3" and " 8 ".
        const n = /^\d{1,15}$/.test(v) ? Number(v) : NaN;
        if (n >= min && n <= max) return n;
        problem(`${name} must be an integer from ${min} to ${max}${why ? ` (${why})` : ""}`);
      }
      return defaultOf(name) as never;
    },
    bool(name) {
      const v = raw(name)?.toLowerCase();
      if (v !== undefined) {
        if (["1", "true", "yes", "on"].includes(v)) return true;
        if (["0", "false", "no", "off"].includes(v)) return false;
        problem(`${name} must be true or false`);
      }
      return defaultOf(name) as never;
    },
    oneOf(name, values, opts) {
      // Exact by default: a mistyped SKIFF_AUTH must be a config error, not a guess.
      const given = raw(name) ?? String(defaultOf(name) ?? "");
      const v = opts?.anyCase ? given.toLowerCase() : given;
      const found = values.find((x) => x === v);
      if (found === undefined) problem(`${name} must be ${quoteList(values)}`);
      return found;
    },
  };
}
