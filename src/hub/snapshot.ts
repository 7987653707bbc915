/**
 * Downloads from the Hugging Face Hub into the cache layout Python's huggingface_hub
 * uses (huggingface_hub/file_download.py), so a model downloaded by either is found
 * by the other:
 *
 *   <cache>/models--owner--name/
 *     blobs/<etag>                      file contents, named by the Hub's etag
 *     blobs/<etag>.incomplete           a download in progress (resumed with HTTP Range)
 *     snapshots/<commit>/<path>         symlink -> ../../blobs/<etag>
 *     refs/<revision>                   the commit a branch or tag pointed to
 *
 * Repo metadata comes from @huggingface/hub (`modelInfo` / `datasetInfo`); file
 * downloads are done here because resuming needs control of the Range request and
 * of the `.incomplete` file.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, readFile, readdir, realpath, rename, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { finished } from 'node:stream/promises';
import { datasetInfo, getRepoFolderName, listFiles, modelInfo } from '@huggingface/hub';
import { hubCacheDir, hubEndpoint, isOffline, redact, resolveToken } from './env';
import { terminalProgressBar } from './progress';
import type { DownloadProgress } from './progress';

export type RepoType = 'model' | 'dataset';

export interface SnapshotOptions {
  /** Branch, tag or commit hash. Default "main". */
  revision?: string;
  /** Default "model". */
  repoType?: RepoType;
  /** Only files matching one of these fnmatch patterns (`*` also matches `/`; `dir/` means everything under it). */
  allowPatterns?: string | string[];
  /** Skip files matching these patterns. */
  ignorePatterns?: string | string[];
  /** Access token; default from `HF_TOKEN` or the token file. `false` sends none. */
  token?: string | false;
  /** Cache root; default `HF_HUB_CACHE` / `$HF_HOME/hub` / `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Hub URL; default `HF_ENDPOINT` or https://huggingface.co. */
  endpoint?: string;
  /** Serve from the cache only; default from `HF_HUB_OFFLINE`. */
  offline?: boolean;
  /** Called as bytes arrive. */
  onProgress?: (p: DownloadProgress) => void;
  /** Draw a progress bar on stderr; default: when stderr is a terminal. */
  progressBar?: boolean;
  /** Attempts per file when the connection drops (each resumes where the last stopped). Default 5. */
  maxAttempts?: number;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

/** An error from the Hub or the cache. Its message never contains an access token. */
export class HubError extends Error {
  override name = 'HubError';
  constructor(message: string, readonly status?: number) {
    super(redact(message));
  }
}

/** Errors from elsewhere (fetch, @huggingface/hub, fs) become HubErrors with redacted text and no attached cause. */
function asHubError(e: unknown, context: string): HubError {
  if (e instanceof HubError) return e;
  const err = e as { message?: string; statusCode?: number; cause?: { code?: string; message?: string } };
  const detail = [err?.message ?? String(e), err?.cause?.code ?? err?.cause?.message].filter(Boolean).join(': ');
  return new HubError(`${context}: ${detail}`, err?.statusCode);
}

/** A connection-level failure (no HTTP answer), after which the cache may still serve. */
function isConnectionError(e: unknown): boolean {
  return e instanceof TypeError || (e as { code?: string })?.code === 'ECONNREFUSED' ||
    /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket/i.test(String((e as Error)?.message));
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
/** huggingface_hub's validate_repo_id: `name` or `namespace/name`, word characters, `-` and `.`. */
const REPO_ID_RE = /^(?:[\w\-.]+\/)?[\w\-.]+$/;

/** True if `p` is an existing directory: local checkpoints are accepted wherever a repo id is. */
export async function isLocalDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export function validateRepoId(repoId: string): void {
  if (!REPO_ID_RE.test(repoId) || repoId.includes('--') || repoId.includes('..') || repoId.length > 96) {
    throw new HubError(
      `${JSON.stringify(repoId)} is neither a local directory nor a valid Hub repo id ("owner/name": letters, digits, '-', '_', '.'; ` +
        "no '--' or '..'; at most 96 characters)");
  }
}

/** Python fnmatch as a RegExp: `*` matches any run (including `/`), `?` one character, `[...]` a class. */
export function fnmatchToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        let body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        else if (body.startsWith('^')) body = `\\${body}`;
        out += `[${body}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** A pattern that matches exactly `name` (fnmatch metacharacters put in brackets). */
export function escapeFnmatch(name: string): string {
  return name.replace(/([*?[])/g, '[$1]');
}

/** huggingface_hub's filter_repo_objects: allow then ignore; a pattern ending in "/" matches everything under it. */
export function filterFiles(files: string[], allow?: string | string[], ignore?: string | string[]): string[] {
  const compile = (p: string | string[] | undefined) =>
    p === undefined ? undefined : (Array.isArray(p) ? p : [p]).map((s) => fnmatchToRegExp(s.endsWith('/') ? `${s}*` : s));
  const a = compile(allow);
  const i = compile(ignore);
  return files.filter((f) => (!a || a.some((r) => r.test(f))) && !(i && i.some((r) => r.test(f))));
}

/** Where one repo lives in the cache. */
export function repoCacheDir(repoId: string, repoType: RepoType = 'model', cacheDir = hubCacheDir()): string {
  return join(cacheDir, getRepoFolderName({ name: repoId, type: repoType }));
}

/** Refuses repo file paths that would escape the snapshot folder. */
function checkRelativePath(file: string): void {
  if (file === '' || isAbsolute(file) || file.split(/[\\/]/).some((part) => part === '..' || part === '')) {
    throw new HubError(`refusing repo file path ${JSON.stringify(file)}: it must be relative and stay inside the repo`);
  }
}

/** Files under a snapshot folder, relative, with "/" separators. */
async function listSnapshot(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listSnapshot(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Writes a small file atomically (refs are read by Python too; never leave half a hash). */
async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

interface Ctx {
  repoId: string;
  repoType: RepoType;
  revision: string;
  storage: string;
  endpoint: string;
  token?: string;
  fetch: typeof fetch;
  maxAttempts: number;
  progress?: (p: DownloadProgress) => void;
}

function resolveUrl(ctx: Ctx, commit: string, file: string): string {
  const prefix = ctx.repoType === 'dataset' ? 'datasets/' : '';
  return `${ctx.endpoint}/${prefix}${ctx.repoId}/resolve/${encodeURIComponent(commit)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** Headers for a URL: the token only goes to the Hub's own origin, never to a CDN redirect target. */
function headersFor(ctx: Ctx, url: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'Accept-Encoding': 'identity', 'User-Agent': 'ttslab', ...extra };
  if (ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin) h.Authorization = `Bearer ${ctx.token}`;
  return h;
}

/** ETags come quoted and sometimes weak (`W/"..."`); the cache uses the bare value (huggingface_hub `_normalize_etag`). */
function normalizeEtag(etag: string | null): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

interface FileMetadata {
  commit: string;
  etag: string;
  size?: number;
  /** Where to GET the bytes (a CDN URL after a redirect). */
  location: string;
}

/**
 * HEAD on the resolve URL, as huggingface_hub's get_hf_file_metadata: relative
 * redirects (renamed repos) are followed, an absolute one (the CDN) is not; its
 * headers carry X-Repo-Commit, X-Linked-Etag and X-Linked-Size.
 */
async function fileMetadata(ctx: Ctx, commit: string, file: string): Promise<FileMetadata> {
  let url = resolveUrl(ctx, commit, file);
  for (let hops = 0; ; hops++) {
    const res = await ctx.fetch(url, { method: 'HEAD', headers: headersFor(ctx, url), redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location && hops < 10) {
      const next = new URL(location, url);
      if (next.origin === new URL(url).origin && !/^[a-z]+:/i.test(location)) {
        url = next.toString();
        continue;
      }
    }
    if (!(res.ok || (res.status >= 300 && res.status < 400))) throw await httpError(ctx, res, `HEAD ${file}`);
    const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
    const repoCommit = res.headers.get('x-repo-commit') ?? commit;
    const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
    if (!etag) throw new HubError(`${ctx.repoId}: the Hub sent no ETag for ${file}; cannot place it in the cache`);
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
    return { commit: repoCommit, etag, size, location: location ? new URL(location, url).toString() : url };
  }
}

async function httpError(ctx: Ctx, res: Response, what: string): Promise<HubError> {
  let body = '';
  try {
    body = (await res.text()).slice(0, 300);
  } catch {
    // The body is only for the message.
  }
  const hint = res.status === 401 || res.status === 403
    ? ' (gated or private repo: accept its terms on the Hub and set HF_TOKEN, or run `hf auth login`)'
    : res.status === 404 ? ' (no such repo, revision or file, or it is private and needs a token)' : '';
  return new HubError(`${ctx.repoId}: ${what}: HTTP ${res.status}${hint}${body ? `: ${body}` : ''}`, res.status);
}

/**
 * GETs `location` into `incomplete`, resuming from its current size with a Range
 * request; retries dropped connections. Returns when the file is complete.
 */
async function downloadBlob(ctx: Ctx, meta: FileMetadata, incomplete: string, file: string, index: number, count: number): Promise<void> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= ctx.maxAttempts; attempt++) {
    let have = 0;
    try {
      have = (await stat(incomplete)).size;
    } catch {
      have = 0;
    }
    if (meta.size !== undefined && have > meta.size) {
      await truncate(incomplete, 0); // longer than the file: not ours to resume
      have = 0;
    }
    if (meta.size !== undefined && have === meta.size) return;
    const emit = (done: boolean) =>
      ctx.progress?.({ file, fileIndex: index, fileCount: count, downloadedBytes: have, totalBytes: meta.size, done });
    emit(false);
    try {
      const headers = headersFor(ctx, meta.location, have > 0 ? { Range: `bytes=${have}-` } : {});
      const res = await ctx.fetch(meta.location, { headers, redirect: 'follow' });
      if (res.status === 416 && meta.size !== undefined && have === meta.size) return;
      if (!res.ok) {
        const err = await httpError(ctx, res, `GET ${file}`);
        // 4xx other than a bad range will not fix itself by retrying.
        if (res.status >= 400 && res.status < 500 && res.status !== 416 && res.status !== 408 && res.status !== 429) throw err;
        lastError = err;
        if (res.status === 416) await truncate(incomplete, 0);
        continue;
      }
      // 206: the server resumed; 200: it sent the whole file, start over.
      const append = res.status === 206 && have > 0;
      if (!append) have = 0;
      if (!res.body) throw new HubError(`${ctx.repoId}: GET ${file}: empty response body`);
      const out = createWriteStream(incomplete, { flags: append ? 'a' : 'w' });
      try {
        for await (const chunk of Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>)) {
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
          have += (chunk as Uint8Array).length;
          emit(false);
        }
      } finally {
        out.end();
        await finished(out).catch(() => undefined);
      }
      if (meta.size !== undefined && have !== meta.size) {
        lastError = new HubError(`${ctx.repoId}: ${file}: got ${have} of ${meta.size} bytes`);
        if (have > meta.size) await truncate(incomplete, 0);
        continue;
      }
      emit(true);
      return;
    } catch (e) {
      if (e instanceof HubError && e.status !== undefined) throw e;
      lastError = e;
      // Dropped connection: the next attempt resumes from what reached the disk.
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** (attempt - 1))));
    }
  }
  const reason = (lastError as Error)?.message ?? String(lastError);
  throw new HubError(
    `${ctx.repoId}: downloading ${file} failed after ${ctx.maxAttempts} attempts (partial data kept in ${incomplete} ` +
      `for the next try): ${reason}`);
}

/**
 * Symlink `pointer` -> blob with a relative target, as Python does. Made under a
 * temp name and renamed into place, so concurrent calls never see a half-made link;
 * where symlinks are not allowed (EPERM) the blob is copied instead.
 */
async function linkPointer(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const tmp = `${pointer}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await symlink(relative(dirname(pointer), blob), tmp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    await copyFile(blob, tmp);
  }
  await rename(tmp, pointer);
}

/** Blob downloads in flight in this process, so two calls for one blob share one download. */
const inFlight = new Map<string, Promise<void>>();

/** How long to wait for another process's download of the same blob before giving up. */
const LOCK_WAIT_MS = 30 * 60 * 1000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `f` holding `<blob>.ttslab.lock` (created with O_EXCL, holding our pid), so two
 * ttslab processes never append to one `.incomplete` file. A lock whose pid is dead
 * is stale and taken over. (Python's huggingface_hub locks with flock on
 * `.locks/...`, which Node cannot take; do not download one model from Python and
 * ttslab at the same moment.)
 */
async function withBlobLock(blob: string, f: () => Promise<void>): Promise<void> {
  const lock = `${blob}.ttslab.lock`;
  const started = Date.now();
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (!Number.isInteger(owner) || owner <= 0 || !pidAlive(owner)) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new HubError(`${lock} is held by process ${owner} for over ${LOCK_WAIT_MS / 60000} minutes; delete it if that process is gone`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    await f();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** One file into the cache (huggingface_hub's hf_hub_download with a commit hash). Returns the snapshot path. */
async function fetchFile(ctx: Ctx, commit: string, file: string, index: number, count: number): Promise<string> {
  checkRelativePath(file);
  const pointer = join(ctx.storage, 'snapshots', commit, ...file.split('/'));
  if (await exists(pointer)) return pointer;
  const meta = await fileMetadata(ctx, commit, file);
  if (meta.etag.includes('/') || meta.etag.includes('\\') || meta.etag.startsWith('.')) {
    throw new HubError(`${ctx.repoId}: refusing ETag ${JSON.stringify(meta.etag)} for ${file} as a cache file name`);
  }
  const blob = join(ctx.storage, 'blobs', meta.etag);
  if (!(await exists(blob))) {
    await mkdir(dirname(blob), { recursive: true });
    let job = inFlight.get(blob);
    if (!job) {
      job = withBlobLock(blob, async () => {
        // Another process may have finished it while we waited for the lock.
        if (await exists(blob)) return;
        const incomplete = `${blob}.incomplete`;
        await downloadBlob(ctx, meta, incomplete, file, index, count);
        await rename(incomplete, blob);
      }).finally(() => inFlight.delete(blob));
      inFlight.set(blob, job);
    }
    await job;
  } else {
    const size = (await stat(blob)).size;
    ctx.progress?.({ file, fileIndex: index, fileCount: count, downloadedBytes: size, totalBytes: meta.size ?? size, done: true });
  }
  await linkPointer(blob, pointer);
  return pointer;
}

/** The commit a revision points to in the cache, or undefined. */
async function cachedCommit(storage: string, revision: string): Promise<string | undefined> {
  if (COMMIT_RE.test(revision)) return revision;
  try {
    return (await readFile(join(storage, 'refs', ...revision.split('/')), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Serves a snapshot from the cache alone (offline mode, or the Hub unreachable). */
async function fromCache(ctx: Ctx, options: SnapshotOptions, why: string): Promise<string> {
  const commit = await cachedCommit(ctx.storage, ctx.revision);
  const folder = commit && join(ctx.storage, 'snapshots', commit);
  if (!folder || !(await isLocalDir(folder))) {
    throw new HubError(
      `${ctx.repoId} at revision ${JSON.stringify(ctx.revision)} is not in the cache (${ctx.storage}) and ${why}. ` +
        'Download it once with the Hub reachable and HF_HUB_OFFLINE unset, or pass a local directory instead of a repo id.');
  }
  if (options.allowPatterns !== undefined) {
    const files = filterFiles(await listSnapshot(folder), options.allowPatterns, options.ignorePatterns);
    if (files.length === 0) {
      throw new HubError(
        `${ctx.repoId}: the cached snapshot ${folder} has no files matching ${JSON.stringify(options.allowPatterns)} and ${why}`);
    }
  }
  return folder;
}

/**
 * Downloads a repo (or the files matching `allowPatterns`) into the shared Hugging
 * Face cache and returns the snapshot folder. A local directory is returned as is.
 * Files already in the cache are not downloaded again; interrupted downloads resume.
 */
export async function snapshot(repoIdOrLocalDir: string, options: SnapshotOptions = {}): Promise<string> {
  if (await isLocalDir(repoIdOrLocalDir)) return resolve(repoIdOrLocalDir);
  const repoId = repoIdOrLocalDir;
  validateRepoId(repoId);
  const repoType = options.repoType ?? 'model';
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const token = resolveToken(options.token);
  const bar = (options.progressBar ?? process.stderr.isTTY === true) ? terminalProgressBar() : undefined;
  const ctx: Ctx = {
    repoId,
    repoType,
    revision,
    storage: repoCacheDir(repoId, repoType, cacheDir),
    endpoint: (options.endpoint ?? hubEndpoint()).replace(/\/+$/, ''),
    token,
    fetch: options.fetch ?? fetch,
    maxAttempts: options.maxAttempts ?? 5,
    progress: bar || options.onProgress
      ? (p) => {
        options.onProgress?.(p);
        bar?.(p);
      }
      : undefined,
  };
  if (options.offline ?? isOffline()) return fromCache(ctx, options, 'offline mode is on (HF_HUB_OFFLINE=1)');

  // Repo info through @huggingface/hub; the token goes in through our fetch so the
  // library never holds it (and does not reject tokens without the hf_ prefix).
  const authedFetch: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return ctx.fetch(input, { ...init, headers });
  };
  let info: { sha?: string; filePaths?: string[] };
  try {
    const base = { name: repoId, revision, hubUrl: ctx.endpoint, fetch: authedFetch };
    if (repoType === 'dataset') {
      // datasetInfo has no file list; the tree API gives it at the resolved commit.
      const { sha } = await datasetInfo({ ...base, additionalFields: ['sha'] });
      const filePaths: string[] = [];
      for await (const e of listFiles({ repo: { type: 'dataset', name: repoId }, recursive: true, revision: sha, hubUrl: ctx.endpoint, fetch: authedFetch })) {
        if (e.type === 'file') filePaths.push(e.path);
      }
      info = { sha, filePaths };
    } else {
      info = await modelInfo({ ...base, additionalFields: ['sha', 'filePaths'] });
    }
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === undefined && isConnectionError(e)) {
      // Like huggingface_hub: when the Hub cannot be reached, a cached snapshot still serves.
      return fromCache(ctx, options, `the Hub at ${ctx.endpoint} cannot be reached (${asHubError(e, 'network').message})`);
    }
    const hint = status === 401 || status === 403
      ? ' (gated or private repo: accept its terms on the Hub and set HF_TOKEN, or run `hf auth login`)'
      : status === 404 ? ' (no such repo or revision, or it is private and needs a token)' : '';
    throw asHubError(e, `${repoId}: cannot get repo info at revision ${JSON.stringify(revision)}${hint}`);
  }
  const commit = info.sha;
  if (!commit || !COMMIT_RE.test(commit)) throw new HubError(`${repoId}: the Hub returned no commit hash for revision ${JSON.stringify(revision)}`);
  if (revision !== commit) await writeAtomic(join(ctx.storage, 'refs', ...revision.split('/')), commit);

  const files = filterFiles(info.filePaths ?? [], options.allowPatterns, options.ignorePatterns);
  const folder = join(ctx.storage, 'snapshots', commit);
  await mkdir(folder, { recursive: true });
  for (let i = 0; i < files.length; i++) {
    try {
      await fetchFile(ctx, commit, files[i], i, files.length);
    } catch (e) {
      throw asHubError(e, `${repoId}: ${files[i]}`);
    }
  }
  return folder;
}

/**
 * One file from a repo (or a local directory): its path in the cache snapshot,
 * downloaded if needed. Like huggingface_hub's hf_hub_download.
 */
export async function hubFile(repoIdOrLocalDir: string, file: string, options: SnapshotOptions = {}): Promise<string> {
  checkRelativePath(file);
  if (await isLocalDir(repoIdOrLocalDir)) {
    const p = join(resolve(repoIdOrLocalDir), ...file.split('/'));
    if (!(await exists(p))) throw new HubError(`${p}: no such file in the local directory`);
    return p;
  }
  const folder = await snapshot(repoIdOrLocalDir, { ...options, allowPatterns: [escapeFnmatch(file)], ignorePatterns: undefined });
  const p = join(folder, ...file.split('/'));
  if (!(await exists(p))) throw new HubError(`${repoIdOrLocalDir}: no file ${JSON.stringify(file)} at revision ${JSON.stringify(options.revision ?? 'main')}`);
  return p;
}

/** Resolves symlinks in a snapshot path to the blob (for tools that dislike symlinks). */
export async function blobPath(snapshotPath: string): Promise<string> {
  const s = await lstat(snapshotPath);
  return s.isSymbolicLink() ? realpath(snapshotPath) : snapshotPath;
}
