// Types for scripts/user.mjs (imported by tests).
export const MAX_ITERATIONS: number;
export function hashPassword(password: string, iterations?: number): string;
export function randomPassword(): string;
export function userLine(name: string, password: string, opts?: { iterations?: number; bcryptCost?: number }): string;
/** The variable names a .dev.vars file sets. */
export function devVarsKeys(file: string): Set<string>;
export function localDevAuth(opts: { persistTo: string; registry: string; projectRoot: string }): {
  vars: Record<string, string>;
  bannerLines: string[];
  credentials: { user: string; password: string } | null;
};
