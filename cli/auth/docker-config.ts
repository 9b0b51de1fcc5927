// Credentials as docker (and podman) store them: config.json's auths, credsStore and credHelpers, podman's auth.json.
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Credentials } from "./credentials";
import { runCredentialHelper } from "./credential-helper";

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

const HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
/** The key docker writes for Docker Hub, in config.json and to credential helpers. */
export const HUB_SERVER = "https://index.docker.io/v1/";

/** "https://host:port/v1/" or "host:port" → "host:port"; Docker Hub's names → "docker.io". */
export function normalizeHost(key: string): string {
  const host = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
  return HUB_HOSTS.has(host) ? "docker.io" : host;
}

/** The name docker hands a credential helper for this host. */
function helperServer(host: string): string {
  return normalizeHost(host) === "docker.io" ? HUB_SERVER : host;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(os.homedir(), ".docker"), "config.json");
}

/** podman/skopeo/buildah: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json. */
export function podmanAuthPath(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  return env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, "containers", "auth.json") : null;
}

async function readConfig(file: string): Promise<ConfigFile | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
    return parsed as ConfigFile;
  } catch (err) {
    // The message of a JSON parse error can quote the file's text, which holds secrets: say only where.
    throw new Error(`${file} is not valid JSON${err instanceof SyntaxError ? "" : `: ${(err as Error).message}`}`);
  }
}

/** The auths entry for `host`: keys are written many ways ("host", "https://host", "https://host/v1/"). */
function findEntry(auths: Record<string, AuthEntry> | undefined, host: string): AuthEntry | undefined {
  if (!auths || typeof auths !== "object") return undefined;
  const want = normalizeHost(host);
  if (auths[host]) return auths[host];
  for (const [key, entry] of Object.entries(auths)) if (normalizeHost(key) === want) return entry;
  return undefined;
}

function fromEntry(entry: AuthEntry, file: string): Credentials | null {
  if (!entry || typeof entry !== "object") return null;
  let username = typeof entry.username === "string" ? entry.username : "";
  let password = typeof entry.password === "string" ? entry.password : "";
  if (typeof entry.auth === "string" && entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new Error(`${file}: an "auth" entry is not base64 of user:password`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken) {
    return { kind: "identity-token", username, token: entry.identitytoken, from: file };
  }
  if (typeof entry.registrytoken === "string" && entry.registrytoken) return { kind: "registry-token", token: entry.registrytoken, from: file };
  if (username || password) return { kind: "basic", username, password, from: file };
  return null;
}

/**
 * What docker would send to `host` ("127.0.0.1:5000", "docker.io"): credHelpers[host], else credsStore, else
 * auths[host] of docker's config.json; then podman's auth.json. null: anonymous.
 */
export async function credentialsFromConfig(host: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | null> {
  const file = dockerConfigPath(env);
  const config = await readConfig(file);
  if (config) {
    const helpers = config.credHelpers && typeof config.credHelpers === "object" ? config.credHelpers : {};
    const helper = Object.entries(helpers).find(([key]) => normalizeHost(key) === normalizeHost(host))?.[1] ?? config.credsStore;
    if (typeof helper === "string" && helper) {
      const found = await runCredentialHelper(helper, helperServer(host), env);
      if (found) return found;
    } else {
      const entry = findEntry(config.auths, host);
      const creds = entry && fromEntry(entry, file);
      if (creds) return creds;
    }
  }
  const podman = podmanAuthPath(env);
  if (podman) {
    const auth = await readConfig(podman);
    const entry = auth && findEntry(auth.auths, host);
    const creds = entry && fromEntry(entry, podman);
    if (creds) return creds;
  }
  return null;
}
