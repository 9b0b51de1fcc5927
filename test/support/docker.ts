// A private Docker engine for the e2e tests: vfs storage, no networking of its own, its own data-root, exec-root,
// socket and client config, so it never touches a system docker. It starts its own containerd, which ctr drives.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { removeDir, run, startDaemon, tempDir, waitFor, type Daemon, type RunOptions, type RunResult } from "./proc";

/** The distribution's docker CLI; /usr/local/bin/docker on this machine is a different CLI. */
export const DOCKER_CLI = "/usr/bin/docker";

export interface DockerEngine {
  dir: string;
  socket: string;
  containerdSocket: string;
  daemon: Daemon;
  docker(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** ctr against dockerd's containerd, namespace "e2e". */
  ctr(args: string[], opts?: RunOptions): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startDockerd(): Promise<DockerEngine> {
  const dir = await tempDir("docker");
  const socket = path.join(dir, "docker.sock");
  const execRoot = path.join(dir, "de");
  const configDir = path.join(dir, "dockercfg");
  await mkdir(configDir);
  const daemon = startDaemon("dockerd", [
    "--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false",
    "--data-root", path.join(dir, "docker"), "--exec-root", execRoot, "--pidfile", path.join(dir, "dockerd.pid"),
    "--host", `unix://${socket}`,
  ]);
  const env = { DOCKER_CONFIG: configDir, DOCKER_HOST: undefined };
  const docker = (args: string[], opts: RunOptions = {}) => run(DOCKER_CLI, ["-H", `unix://${socket}`, ...args], { ...opts, env: { ...env, ...opts.env } });
  const containerdSocket = path.join(execRoot, "containerd", "containerd.sock");
  const engine: DockerEngine = {
    dir,
    socket,
    containerdSocket,
    daemon,
    docker,
    ctr: (args, opts = {}) => run("ctr", ["-a", containerdSocket, "-n", "e2e", ...args], opts),
    async stop() {
      await daemon.stop(10_000);
      await removeDir(dir);
    },
  };
  try {
    await waitFor(
      async () => {
        if (!daemon.isRunning()) throw new Error(`dockerd exited:\n${daemon.output().slice(-3000)}`);
        return (await docker(["version"], { allowFail: true, timeoutMs: 5000 })).code === 0;
      },
      "dockerd to answer",
      30_000,
      daemon.output,
    );
    await waitFor(async () => (await engine.ctr(["version"], { allowFail: true, timeoutMs: 5000 })).code === 0, "dockerd's containerd", 15_000);
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}
