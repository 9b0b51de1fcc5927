// The real container clients: which are installed, how each is called against a given registry, and the rule for
// a missing one: on a developer machine the test is skipped with a clear message; in CI (SKIFF_E2E_REQUIRED=1,
// set by .ci/run) the test FAILS, so a broken install can never turn into a green run.
import { accessSync, constants } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { it } from "vitest";
import { run, type RunOptions, type RunResult } from "./proc";
import type { RegistryUnderTest } from "./registries";

/** Each client and the executables it needs. docker: /usr/bin/docker, not /usr/local/bin/docker (another CLI). */
const TOOLS = {
  docker: ["/usr/bin/docker", "dockerd", "containerd"],
  ctr: ["ctr", "/usr/bin/docker", "dockerd", "containerd"], // ctr drives the containerd that dockerd starts
  skopeo: ["skopeo"],
  podman: ["podman"],
  buildah: ["buildah"],
  distribution: ["docker-registry"],
  ceph: ["ceph-mon", "ceph-osd", "radosgw", "ceph"], // a local Ceph RGW (infra/ceph-s3)
} as const;
export type Tool = keyof typeof TOOLS;

/** Tools whose daemons or storage need root here. */
const NEEDS_ROOT: Tool[] = ["docker", "ctr", "podman", "buildah"];

export const E2E_REQUIRED = process.env.SKIFF_E2E_REQUIRED === "1";

function onPath(exe: string): boolean {
  const candidates = exe.includes("/") ? [exe] : (process.env.PATH ?? "").split(":").filter(Boolean).map((d) => path.join(d, exe));
  return candidates.some((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why `tool` cannot run here, or null when it can. */
export function unavailable(tool: Tool): string | null {
  const missing = TOOLS[tool].filter((exe) => !onPath(exe));
  const apt = tool === "ceph" ? "ceph-mon ceph-osd radosgw ceph-common" : "docker.io skopeo podman buildah docker-registry";
  if (missing.length) return `${tool}: ${missing.join(", ")} not installed (apt-get install ${apt})`;
  if (NEEDS_ROOT.includes(tool) && process.getuid?.() !== 0) return `${tool}: needs root here (dockerd, vfs storage)`;
  return null;
}

export function missingTools(tools: Tool[]): string[] {
  return tools.map(unavailable).filter((r): r is string => r !== null);
}

const warned = new Set<string>();

/**
 * `it(name, fn)` for a test that needs real clients. Missing clients: skip with the reason, or fail in CI.
 */
export function itWith(tools: Tool[], name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  const missing = missingTools(tools);
  if (!missing.length) return void it(name, fn, timeoutMs);
  if (E2E_REQUIRED) {
    return void it(name, () => {
      throw new Error(`SKIFF_E2E_REQUIRED=1 but ${missing.join("; ")}`);
    });
  }
  for (const m of missing) {
    if (!warned.has(m)) console.warn(`[e2e] skipping tests that need ${m}`);
    warned.add(m);
  }
  it.skip(`${name} [skipped: ${missing.join("; ")}]`, fn);
}

/** skopeo, podman and buildah, each with its own storage and auth file under `dir` (nothing touches ~ or /var). */
export class ContainerTools {
  readonly authFile: string;
  constructor(readonly dir: string) {
    this.authFile = path.join(dir, "auth.json");
  }

  async init(): Promise<this> {
    await mkdir(this.dir, { recursive: true });
    // podman fails every command if REGISTRY_AUTH_FILE names a missing file.
    await writeFile(this.authFile, '{"auths":{}}\n');
    return this;
  }

  private env(): Record<string, string> {
    return { REGISTRY_AUTH_FILE: this.authFile };
  }

  skopeo(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run("skopeo", args, { ...opts, env: { ...this.env(), ...opts.env } });
  }

  podman(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const base = ["--root", path.join(this.dir, "podman/root"), "--runroot", path.join(this.dir, "podman/run"), "--storage-driver", "vfs",
      "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", path.join(this.dir, "podman/tmp")];
    return run("podman", [...base, ...args], { ...opts, env: { ...this.env(), ...opts.env } });
  }

  buildah(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const base = ["--root", path.join(this.dir, "buildah/root"), "--runroot", path.join(this.dir, "buildah/run"), "--storage-driver", "vfs"];
    return run("buildah", [...base, ...args], { ...opts, env: { ...this.env(), ...opts.env } });
  }
}

/**
 * ctr flags that reach `reg`. containerd 1.6 talks plain http to 127.0.0.1 by default: fine for distribution,
 * while Skiff's local https needs a hosts.toml that names the https endpoint and skips certificate checks.
 */
export async function ctrRegistryArgs(reg: RegistryUnderTest, dir: string): Promise<string[]> {
  if (reg.scheme === "http") return ["--plain-http"];
  const hostsDir = path.join(dir, "certs.d");
  await mkdir(path.join(hostsDir, reg.host), { recursive: true });
  await writeFile(
    path.join(hostsDir, reg.host, "hosts.toml"),
    `server = "${reg.url}"\n\n[host."${reg.url}"]\n  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true\n`,
  );
  return ["--hosts-dir", hostsDir];
}
