// Types for scripts/dev.mjs (imported by the e2e harness in test/support).
import type { ChildProcess } from "node:child_process";

export const PROJECT_ROOT: string;
export const DEFAULT_PORT: number;
export const DEFAULT_PERSIST_DIR: string;
export const LOCAL_AUTH: { vars: Record<string, string>; bannerLines: string[] };

export interface StartSkiffOptions {
  port?: number;
  host?: string;
  persistTo?: string;
  inspectorPort?: number;
  protocol?: "https" | "http";
  /** "dev": token auth with the development user (npm start); "open" (default): SKIFF_AUTH=open. */
  auth?: "dev" | "open";
  vars?: Record<string, string>;
  onOutput?: (chunk: string) => void;
  readyTimeoutMs?: number;
}

export interface SkiffHandle {
  url: string;
  host: string;
  port: number;
  protocol: "https" | "http";
  /** "127.0.0.1:port", as image references spell it. */
  registry: string;
  persistTo: string;
  inspectorPort: number;
  /** pid of the wrangler process (leader of its own process group). */
  pid: number;
  child: ChildProcess;
  exited: Promise<number | string>;
  output(): string;
  auth: { vars: Record<string, string>; bannerLines: string[]; credentials: { user: string; password: string } | null };
  stop(graceMs?: number): Promise<void>;
}

export function freePort(host?: string): Promise<number>;
export function startSkiff(opts?: StartSkiffOptions): Promise<SkiffHandle>;
export function banner(s: SkiffHandle): string;
