/**
 * Downloads: HTTP(S) with resume, and any site yt-dlp supports.
 *
 * HTTP: bytes go to `<dest>.part`; after a dropped connection the next attempt asks for
 * the rest with a `Range` header (a server that ignores it is detected by its 200 and the
 * file restarts); attempts back off exponentially; the finished file is checked against
 * `sha256` when given and only then renamed to `dest`. A `.part` left by a failed run is
 * resumed by the next call with the same `dest`.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { INSTALL_HINTS } from '../env/tools';
import { ProgressBar } from '../notebook/progress';

export interface DownloadOptions {
  /** Expected SHA-256 (hex) of the whole file; a mismatch deletes it and throws. */
  sha256?: string;
  /** Attempts in all, counting the first (default 5). */
  maxAttempts?: number;
  /** Wait before the second attempt (seconds, default 1); doubles each time, at most 30. */
  backoffSeconds?: number;
  /** Give up on a request that sends nothing for this long (seconds, default 60). */
  idleTimeoutSeconds?: number;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Show a progress bar (default true; it is silent in logs anyway). */
  progress?: boolean;
  /** Download again even when `dest` exists (default false: an existing file is kept, and checked when `sha256` is given). */
  overwrite?: boolean;
  /** The fetch to use (tests; default the global one). */
  fetch?: typeof fetch;
}

export interface DownloadResult {
  file: string;
  bytes: number;
  sha256: string;
  /** Requests made (0 when the file was already there). */
  requests: number;
  /** Bytes received over the network in this call. */
  receivedBytes: number;
  /** True when `dest` already existed and was kept. */
  existed: boolean;
}

export class DownloadError extends Error {
  constructor(readonly url: string, readonly reason: string) {
    super(`${url}: ${reason}`);
    this.name = 'DownloadError';
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sizeOf = async (file: string) => (await stat(file).catch(() => undefined))?.size ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Status codes worth another attempt: timeouts, rate limits and server errors. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/** Downloads `url` to `dest` (see the module comment for resume, retries and checks). */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const maxAttempts = options.maxAttempts ?? 5;
  const doFetch = options.fetch ?? fetch;
  const expected = options.sha256?.toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw new DownloadError(url, `sha256 must be 64 hex digits, got ${JSON.stringify(options.sha256)}`);

  if (!options.overwrite && (await stat(dest).catch(() => undefined))?.isFile()) {
    const digest = await sha256File(dest);
    if (expected && digest !== expected) throw new DownloadError(url, `${dest} exists but its sha256 is ${digest}, expected ${expected} (delete it or pass overwrite: true)`);
    return { file: dest, bytes: await sizeOf(dest), sha256: digest, requests: 0, receivedBytes: 0, existed: true };
  }
  await mkdir(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  let totalBytes: number | undefined;
  let requests = 0;
  let receivedBytes = 0;
  // Made at the first response, when the total size is known.
  let bar: ProgressBar | undefined;
  let lastError = '';

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (attempt > 1) await sleep(Math.min(30, (options.backoffSeconds ?? 1) * 2 ** (attempt - 2)) * 1000);
    const have = await sizeOf(part);
    if (totalBytes !== undefined && have === totalBytes) break;
    const headers: Record<string, string> = { ...options.headers };
    if (have > 0) headers.Range = `bytes=${have}-`;
    const controller = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), (options.idleTimeoutSeconds ?? 60) * 1000);
    };
    requests++;
    try {
      arm();
      const res = await doFetch(url, { headers, signal: controller.signal, redirect: 'follow' });
      let append = false;
      if (res.status === 206 && have > 0) {
        const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
        if (!m || Number(m[1]) !== have) throw new DownloadError(url, `asked for bytes from ${have}, server sent Content-Range ${JSON.stringify(res.headers.get('content-range'))}`);
        if (m[2] !== '*') totalBytes = Number(m[2]);
        append = true;
      } else if (res.status === 416 && have > 0) {
        // Nothing left to send: the .part is complete when its size is the total.
        const m = /^bytes \*\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
        await res.body?.cancel();
        if (m && Number(m[1]) === have) {
          totalBytes = have;
          break;
        }
        await unlink(part);
        lastError = 'server refused the resume range; restarting';
        continue;
      } else if (res.status === 200) {
        // A full response: to a Range request, the server ignores ranges; start over.
        const len = res.headers.get('content-length');
        totalBytes = len !== null ? Number(len) : undefined;
      } else {
        await res.body?.cancel();
        const reason = `HTTP ${res.status} ${res.statusText}`.trim();
        if (!retryable(res.status)) throw new DownloadError(url, reason);
        lastError = reason;
        continue;
      }
      if (options.progress !== false) bar ??= new ProgressBar({ label: `downloading ${basename(dest)}`, unit: 'bytes', total: totalBytes });
      const fh = await open(part, append ? 'a' : 'w');
      try {
        if (!res.body) throw new DownloadError(url, 'response has no body');
        const reader = res.body.getReader();
        let written = append ? have : 0;
        for (;;) {
          arm();
          const { done, value } = await reader.read();
          if (done) break;
          await fh.write(value);
          written += value.length;
          receivedBytes += value.length;
          bar?.update(written);
        }
      } finally {
        await fh.close();
      }
      clearTimeout(idle);
      const size = await sizeOf(part);
      if (totalBytes !== undefined && size < totalBytes) {
        lastError = `connection closed at ${size} of ${totalBytes} bytes`;
        continue;
      }
      if (totalBytes !== undefined && size > totalBytes) {
        await unlink(part);
        throw new DownloadError(url, `received ${size} bytes, more than the ${totalBytes} announced`);
      }
      totalBytes = size;
      break;
    } catch (e) {
      clearTimeout(idle);
      if (e instanceof DownloadError) {
        bar?.finish(`failed: ${e.reason}`);
        throw e;
      }
      lastError = controller.signal.aborted ? `no data for ${options.idleTimeoutSeconds ?? 60} s` : ((e as Error).cause as Error)?.message ?? (e as Error).message;
    }
  }
  const size = await sizeOf(part);
  if (totalBytes === undefined || size !== totalBytes) {
    bar?.finish(`failed: ${lastError}`);
    throw new DownloadError(url, `gave up after ${maxAttempts} attempts (${lastError}); ${size} bytes are kept in ${part} and the next call resumes from there`);
  }
  const digest = await sha256File(part);
  if (expected && digest !== expected) {
    await unlink(part);
    bar?.finish('sha256 mismatch');
    throw new DownloadError(url, `sha256 mismatch: got ${digest}, expected ${expected}; the download was deleted`);
  }
  await rename(part, dest);
  bar?.finish();
  return { file: dest, bytes: size, sha256: digest, requests, receivedBytes, existed: false };
}

// ---- yt-dlp ---------------------------------------------------------------------------

export interface YtDlpOptions {
  /** The yt-dlp program (default `$TTSLAB_YTDLP`, else `yt-dlp` on PATH). */
  ytDlpPath?: string;
  /** yt-dlp format selector (default `bestaudio/best`: the best audio-only stream, else the best file). */
  format?: string;
  /** More arguments, passed as they are (no shell). */
  extraArgs?: string[];
  /** Give up after this long (seconds, default 3600). */
  timeoutSeconds?: number;
}

export const YTDLP_MISSING = `yt-dlp is not installed (or not on PATH). Install it: ${INSTALL_HINTS['yt-dlp']}; or set TTSLAB_YTDLP to its path.`;

/**
 * Downloads the media at `url` (YouTube or any site yt-dlp supports, or a direct media
 * URL through yt-dlp's generic extractor) into `outDir` as `<id>.<ext>`; returns the file.
 * yt-dlp runs without a shell, so nothing in `url` is interpreted.
 */
export function ytDlpDownload(url: string, outDir: string, options: YtDlpOptions = {}): Promise<string> {
  const program = options.ytDlpPath ?? process.env.TTSLAB_YTDLP ?? 'yt-dlp';
  const args = [
    '--no-playlist', '--no-progress', '--no-mtime', '--restrict-filenames',
    '-f', options.format ?? 'bestaudio/best',
    '-P', outDir, '-o', '%(id)s.%(ext)s',
    // The final path, printed after any post-processing moved the file.
    '--print', 'after_move:filepath',
    ...(options.extraArgs ?? []),
    '--', url,
  ];
  return mkdir(outDir, { recursive: true }).then(
    () =>
      new Promise<string>((resolve, reject) => {
        execFile(program, args, { timeout: (options.timeoutSeconds ?? 3600) * 1000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
          if (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reject(new DownloadError(url, YTDLP_MISSING));
            const msg = String(stderr).trim().split('\n').filter((l) => /ERROR/.test(l)).pop() ?? String(stderr).trim().split('\n').pop() ?? error.message;
            return reject(new DownloadError(url, `yt-dlp failed: ${msg}`));
          }
          const file = String(stdout).trim().split('\n').pop();
          if (!file) return reject(new DownloadError(url, `yt-dlp printed no file path (stderr: ${String(stderr).trim().slice(0, 300)})`));
          resolve(file);
        });
      }),
  );
}
