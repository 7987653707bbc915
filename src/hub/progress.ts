/** Download progress: the event type and a terminal progress bar on stderr. */

export interface DownloadProgress {
  /** Path of the file in the repo. */
  file: string;
  /** 0-based index of this file among those being downloaded, and their count. */
  fileIndex: number;
  fileCount: number;
  /** Bytes of this file on disk so far (a resumed download starts above 0). */
  downloadedBytes: number;
  /** Size of the file, when the server said. */
  totalBytes?: number;
  /** True on the last event for this file. */
  done: boolean;
}

const BAR_WIDTH = 30;
/** Redraw at most this often: a fast download would otherwise spend its time printing. */
const REDRAW_MS = 100;

function human(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/**
 * A one-line progress bar redrawn in place with `\r`. Only file names and sizes are
 * printed, never URLs or headers, so nothing secret can reach the terminal.
 */
export function terminalProgressBar(stream: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  let last = 0;
  let startedAt = Date.now();
  let startBytes = 0;
  let current = '';
  return (p) => {
    const now = Date.now();
    if (p.file !== current) {
      current = p.file;
      startedAt = now;
      startBytes = p.downloadedBytes;
    }
    if (!p.done && now - last < REDRAW_MS) return;
    last = now;
    const frac = p.totalBytes ? Math.min(1, p.downloadedBytes / p.totalBytes) : 0;
    const filled = Math.round(frac * BAR_WIDTH);
    const rate = (p.downloadedBytes - startBytes) / Math.max(0.001, (now - startedAt) / 1000);
    const sizes = p.totalBytes !== undefined ? `${human(p.downloadedBytes)}/${human(p.totalBytes)}` : human(p.downloadedBytes);
    const line = `[${p.fileIndex + 1}/${p.fileCount}] ${p.file} [${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ` +
      `${(frac * 100).toFixed(0).padStart(3)}% ${sizes} ${human(rate)}/s`;
    stream.write(`\r${line}\x1b[K${p.done ? '\n' : ''}`);
  };
}
