// What a push shows on stderr: cli-progress bars on a terminal (one per blob in flight and a total), plain lines
// otherwise (logs, CI), nothing but errors with --quiet.
import cliProgress from "cli-progress";
import type { BlobResult } from "./blob";

export interface BlobProgress {
  /** More bytes of this blob reached the registry (or storage). */
  sent(bytes: number): void;
  /** Bytes the registry already had (a resumed upload): counted as done, not as sent. */
  resumed(bytes: number): void;
  finish(result: BlobResult): void;
  /** The blob stopped without finishing (error or interrupt). */
  abandon(): void;
}

export interface Progress {
  blob(label: string, size: number): BlobProgress;
  info(message: string): void;
  stop(): void;
}

export function shortDigest(digest: string): string {
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest;
  return hex.slice(0, 12);
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function formatRate(bytes: number, seconds: number): string {
  return seconds > 0 ? `${formatBytes(Math.round(bytes / seconds))}/s` : "-";
}

/** The one line a finished blob gets in plain output. */
export function resultLine(label: string, r: BlobResult): string {
  switch (r.how) {
    case "skipped":
      return `${label}: skipped (exists)`;
    case "mounted":
      return `${label}: mounted from ${r.mountedFrom}`;
    default: {
      const resumed = r.bytesSent < r.size ? `, ${formatBytes(r.size - r.bytesSent)} already there` : "";
      return `${label}: pushed ${formatBytes(r.bytesSent)} in ${r.seconds.toFixed(1)} s (${formatRate(r.bytesSent, r.seconds)}) [${r.how}${resumed}]`;
    }
  }
}

export const quietProgress: Progress = {
  blob: () => ({ sent() {}, resumed() {}, finish() {}, abandon() {} }),
  info() {},
  stop() {},
};

/** Plain lines (logs, CI): a line per blob when it ends, and one at every tenth of a big blob on its way. */
export function lineProgress(write: (line: string) => void): Progress {
  return {
    blob(label, size) {
      let done = 0;
      let shown = 0;
      const add = (n: number) => {
        done += n;
        const tenth = Math.floor((done * 10) / Math.max(1, size));
        if (size >= 10_000_000 && tenth > shown && done < size) {
          shown = tenth;
          write(`${label}: ${formatBytes(done)} / ${formatBytes(size)} (${tenth * 10}%)`);
        }
      };
      return {
        sent: add,
        resumed: add,
        finish: (r) => write(resultLine(label, r)),
        abandon() {},
      };
    },
    info: write,
    stop() {},
  };
}

/** Bars on a terminal stream (stderr). */
export function barProgress(stream: NodeJS.WriteStream): Progress {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: "{name} {bar} {percentage}% | {done}/{all} | {speed} | ETA {eta_formatted}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      gracefulExit: false,
      etaBuffer: 50,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let totalSize = 0;
  let totalDone = 0;
  let totalSent = 0;
  const total = multi.create(1, 0, { name: "total       ", done: "0 B", all: "0 B", speed: "-" });
  const showTotal = () => {
    total.setTotal(Math.max(1, totalSize));
    total.update(totalDone, { done: formatBytes(totalDone), all: formatBytes(totalSize), speed: formatRate(totalSent, (Date.now() - started) / 1000) });
  };
  return {
    blob(label, size) {
      totalSize += size;
      showTotal();
      const t0 = Date.now();
      let done = 0;
      let sent = 0;
      const bar = multi.create(Math.max(1, size), 0, { name: label.padEnd(12).slice(0, 12), done: "0 B", all: formatBytes(size), speed: "-" });
      const show = () => bar.update(done, { done: formatBytes(done), all: formatBytes(size), speed: formatRate(sent, (Date.now() - t0) / 1000) });
      const add = (n: number, counted: boolean) => {
        done += n;
        totalDone += n;
        if (counted) {
          sent += n;
          totalSent += n;
        }
        show();
        showTotal();
      };
      return {
        sent: (n) => add(n, true),
        resumed: (n) => add(n, false),
        finish(r) {
          if (done < size) add(size - done, false);
          multi.remove(bar);
          multi.log(resultLine(label, r) + "\n");
        },
        abandon() {
          multi.remove(bar);
        },
      };
    },
    info: (message) => multi.log(message + "\n"),
    stop: () => multi.stop(),
  };
}
