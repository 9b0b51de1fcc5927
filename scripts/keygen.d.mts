// Types for scripts/keygen.mjs (imported by tests and scripts/dev.mjs).
export const ALGS: string[];
export function generateSigningKey(alg?: "ES256" | "EdDSA" | "RS256"): Promise<{ privateJwk: Record<string, string>; publicJwk: Record<string, string> }>;
export function generateSigningKeySync(): { privateJwk: Record<string, string>; publicJwk: Record<string, string> };
