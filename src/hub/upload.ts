/**
 * Uploading a folder (an adapter, a merged checkpoint) to a Hugging Face Hub model repo,
 * through the Hub's HTTP API as @huggingface/hub speaks it: `POST /api/repos/create`
 * (a repo that exists is kept), then one commit: `POST /api/models/<repo>/preupload/<branch>`
 * says which files go through LFS (weights) and which inline; LFS files are offered to
 * `<repo>.git/info/lfs/objects/batch` by sha256 and PUT where it says (or sent through Xet
 * when the Hub answers with it); `POST /api/models/<repo>/commit/<branch>` (NDJSON) makes
 * the commit.
 *
 * The token comes from the environment as for downloads (`HF_TOKEN`,
 * `HUGGING_FACE_HUB_TOKEN`, the `hf auth login` file); it is sent only as the
 * Authorization header and never printed: every message and error is passed through
 * `redact`.
 */
import { openAsBlob } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { commit, createRepo } from '@huggingface/hub';
import { hubEndpoint, isOffline, redact, resolveToken } from './env';
import { HubError, validateRepoId } from './snapshot';

export interface PushOptions {
  /** Access token with write permission; default from the environment (see the file comment). */
  token?: string;
  /** Hub URL; default `HF_ENDPOINT` or https://huggingface.co. */
  endpoint?: string;
  /** Visibility of a repo this call creates (default private: a voice is personal). An existing repo keeps its own. */
  private?: boolean;
  /** Branch to commit to (default "main"). */
  branch?: string;
  /** Commit title (default "Upload <folder name> with ttslab"). */
  commitMessage?: string;
  /** Files to leave out, as paths relative to the folder (checkpoint folders, say), matched by prefix. */
  exclude?: string[];
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

export interface PushResult {
  /** https://huggingface.co/<repo> (or the endpoint's equivalent). */
  url: string;
  /** The commit the Hub made, when it says. */
  commitOid: string | null;
  /** Paths uploaded, relative to the folder, `/`-separated. */
  files: string[];
  /** Whether this call created the repo. */
  created: boolean;
}

/** Every file under `dir` (no symlink following), `/`-separated relative paths, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

function hubError(e: unknown, context: string): HubError {
  if (e instanceof HubError) return e;
  const err = e as { message?: string; statusCode?: number };
  return new HubError(`${context}: ${err?.message ?? String(e)}`, err?.statusCode);
}

/**
 * Uploads every file of `folder` to the model repo `repoId` ("owner/name") in one commit,
 * creating the repo (private by default) when it does not exist. Throws a HubError (no
 * token in its text) when there is no token, the Hub is offline (`HF_HUB_OFFLINE`), or the
 * Hub refuses.
 */
export async function pushFolderToHub(folder: string, repoId: string, options: PushOptions = {}): Promise<PushResult> {
  validateRepoId(repoId);
  if (!repoId.includes('/')) throw new HubError(`repo id must be "owner/name" to upload, got ${JSON.stringify(repoId)}`);
  const s = await stat(folder).catch(() => null);
  if (!s?.isDirectory()) throw new HubError(`${folder} is not a folder to upload`);
  if (isOffline()) throw new HubError(`cannot upload ${folder} to ${repoId}: HF_HUB_OFFLINE is set`);
  const token = resolveToken(options.token);
  if (!token) throw new HubError(`cannot upload to ${repoId}: no Hub token (set HF_TOKEN, or run \`hf auth login\`, with a token that has write access)`);
  const endpoint = (options.endpoint ?? hubEndpoint()).replace(/\/+$/, '');
  const exclude = options.exclude ?? [];
  const files = (await listFiles(folder)).filter((f) => !exclude.some((x) => f === x || f.startsWith(x.replace(/\/?$/, '/'))));
  if (files.length === 0) throw new HubError(`${folder} has no files to upload`);

  let created = false;
  try {
    await createRepo({ repo: { type: 'model', name: repoId }, accessToken: token, hubUrl: endpoint, private: options.private ?? true, fetch: options.fetch });
    created = true;
  } catch (e) {
    // 409: the repo exists (ours, or one we may write to); the commit below finds out.
    if ((e as { statusCode?: number }).statusCode !== 409) throw hubError(e, `cannot create ${repoId} on ${endpoint}`);
  }
  const operations = await Promise.all(files.map(async (path) => ({
    operation: 'addOrUpdate' as const, path, content: await openAsBlob(join(folder, ...path.split('/'))),
  })));
  let out;
  try {
    out = await commit({
      repo: { type: 'model', name: repoId }, accessToken: token, hubUrl: endpoint, branch: options.branch ?? 'main',
      title: options.commitMessage ?? `Upload ${folder.split(/[\\/]/).filter(Boolean).pop()} with ttslab`, operations, fetch: options.fetch,
    });
  } catch (e) {
    throw hubError(e, `cannot upload ${folder} to ${repoId}`);
  }
  return { url: redact(`${endpoint}/${repoId}`), commitOid: out?.commit?.oid ?? null, files, created };
}
