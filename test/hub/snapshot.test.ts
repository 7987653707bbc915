import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { HubError, filterFiles, hubCacheDir, hubFile, redact, repoCacheDir, resolveToken, snapshot } from '../../src/hub';
import type { DownloadProgress } from '../../src/hub';
import { FakeHub, gitSha1, sha256 } from './fake-hub';

const REPO = 'ttslab-test/tiny-llama';
const COMMIT = 'a'.repeat(39) + 'b';
const BIG = new Uint8Array(randomBytes(3 * 1024 * 1024 + 123));
const FILES: Record<string, Uint8Array> = {
  'config.json': new TextEncoder().encode('{"model_type": "llama"}\n'),
  'tokenizer.json': new TextEncoder().encode('{"model": {}}\n'),
  'model.safetensors': BIG,
  'sub/dir/extra.json': new TextEncoder().encode('{"nested": true}\n'),
  'README.md': new TextEncoder().encode('# tiny\n'),
};

const ENV_KEYS = ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_ENDPOINT', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN',
  'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'XDG_CACHE_HOME'];
let savedEnv: Record<string, string | undefined> = {};
let hub: FakeHub;
let home: string;
let cacheDir: string;

beforeEach(async () => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  // An empty HF_HOME per test: no token file or cache from the machine leaks in.
  home = mkdtempSync(join(tmpdir(), 'ttslab-hfhome-'));
  process.env.HF_HOME = home;
  cacheDir = join(home, 'hub');
  hub = await new FakeHub([{ id: REPO, commit: COMMIT, files: FILES, lfs: ['model.safetensors'] }]).start();
});

afterEach(async () => {
  await hub.stop();
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  rmSync(home, { recursive: true, force: true });
});

const opts = () => ({ endpoint: hub.url, cacheDir, progressBar: false });
const resolveGets = () => hub.count((r) => r.method === 'GET' && r.path.includes('/resolve/'));

test('snapshot writes the huggingface_hub cache layout (blobs, snapshot symlinks, refs)', async () => {
  const folder = await snapshot(REPO, opts());
  const storage = join(cacheDir, 'models--ttslab-test--tiny-llama');
  assert.equal(folder, join(storage, 'snapshots', COMMIT));
  assert.equal(readFileSync(join(storage, 'refs', 'main'), 'utf8'), COMMIT);
  for (const [name, data] of Object.entries(FILES)) {
    const pointer = join(folder, ...name.split('/'));
    assert.ok(lstatSync(pointer).isSymbolicLink(), `${name} is a symlink`);
    // LFS files are named by sha256 (X-Linked-Etag), others by git blob sha1 (ETag, weak prefix dropped).
    const etag = name === 'model.safetensors' ? sha256(data) : gitSha1(data);
    const depth = name.split('/').length - 1;
    assert.equal(readlinkSync(pointer), `${'../'.repeat(depth + 2)}blobs/${etag}`);
    assert.deepEqual(new Uint8Array(readFileSync(pointer)), data);
  }
  assert.deepEqual(readdirSync(join(storage, 'blobs')).filter((f) => f.endsWith('.incomplete')), []);
  assert.equal(repoCacheDir(REPO, 'model', cacheDir), storage);

  // A second call finds everything in the cache: repo info only, no file requests.
  const before = hub.requests.length;
  assert.equal(await snapshot(REPO, opts()), folder);
  assert.deepEqual(hub.requests.slice(before).map((r) => r.path), [`/api/models/${REPO}/revision/main`]);
});

test('allowPatterns / ignorePatterns filter like huggingface_hub (fnmatch, "dir/" prefix)', async () => {
  const folder = await snapshot(REPO, { ...opts(), allowPatterns: ['*.json'], ignorePatterns: 'sub/' });
  assert.ok(existsSync(join(folder, 'config.json')));
  assert.ok(existsSync(join(folder, 'tokenizer.json')));
  assert.ok(!existsSync(join(folder, 'sub')));
  assert.ok(!existsSync(join(folder, 'model.safetensors')));
  const files = Object.keys(FILES);
  assert.deepEqual(filterFiles(files, 'sub/'), ['sub/dir/extra.json']);
  assert.deepEqual(filterFiles(files, '*.json'), ['config.json', 'tokenizer.json', 'sub/dir/extra.json']);
  assert.deepEqual(filterFiles(files, ['model.safetensors', 'READ?E.md']), ['model.safetensors', 'README.md']);
  assert.deepEqual(filterFiles(files, undefined, ['*.md', '*.safetensors']), ['config.json', 'tokenizer.json', 'sub/dir/extra.json']);
  assert.deepEqual(filterFiles(['a[1].bin', 'a1.bin'], 'a[[]1].bin'), ['a[1].bin']);
});

test('an interrupted download resumes with an HTTP Range request', async () => {
  hub.behaviour.dropAfter = { 'model.safetensors': 1024 * 1024 };
  const events: DownloadProgress[] = [];
  const folder = await snapshot(REPO, { ...opts(), allowPatterns: 'model.safetensors', onProgress: (p) => events.push(p) });
  assert.deepEqual(new Uint8Array(readFileSync(join(folder, 'model.safetensors'))), BIG);
  const gets = hub.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/model.safetensors'));
  assert.equal(gets.length, 2);
  assert.equal(gets[0].range, undefined);
  const resumedFrom = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
  assert.ok(resumedFrom > 0 && resumedFrom <= 1024 * 1024, `resumed from ${gets[1].range}`);
  // Progress reaches the full size exactly once.
  const last = events.at(-1)!;
  assert.equal(last.done, true);
  assert.equal(last.downloadedBytes, BIG.length);
  assert.equal(last.totalBytes, BIG.length);
  assert.equal(events.filter((e) => e.done).length, 1);
});

test('a partial .incomplete blob left by an earlier process is resumed, not restarted', async () => {
  const blobs = join(repoCacheDir(REPO, 'model', cacheDir), 'blobs');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, `${sha256(BIG)}.incomplete`), BIG.subarray(0, 777_777));
  const folder = await snapshot(REPO, { ...opts(), allowPatterns: 'model.safetensors' });
  assert.deepEqual(new Uint8Array(readFileSync(join(folder, 'model.safetensors'))), BIG);
  const gets = hub.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/model.safetensors'));
  assert.deepEqual(gets.map((g) => g.range), ['bytes=777777-']);
});

test('a server that ignores Range gets a clean restart', async () => {
  hub.behaviour.dropAfter = { 'model.safetensors': 500_000 };
  hub.behaviour.ignoreRange = true;
  const folder = await snapshot(REPO, { ...opts(), allowPatterns: 'model.safetensors' });
  assert.deepEqual(new Uint8Array(readFileSync(join(folder, 'model.safetensors'))), BIG);
});

test('a size mismatch fails after retries and never becomes a blob', async () => {
  hub.behaviour.wrongSize = { 'model.safetensors': BIG.length + 10 };
  hub.behaviour.ignoreRange = true;
  await assert.rejects(snapshot(REPO, { ...opts(), allowPatterns: 'model.safetensors', maxAttempts: 2 }),
    (e: unknown) => e instanceof HubError && /got \d+ of \d+ bytes/.test(e.message) && /after 2 attempts/.test(e.message));
  const blobs = readdirSync(join(repoCacheDir(REPO, 'model', cacheDir), 'blobs'));
  assert.ok(blobs.every((b) => b.endsWith('.incomplete')), blobs.join(', '));
});

test('LFS files redirect to a CDN origin, which never receives the token', async () => {
  const token = 'hf_CdnMustNotSeeThis0123456789abcd';
  hub.behaviour.useCdn = true;
  hub.behaviour.requireToken = token;
  const folder = await snapshot(REPO, { ...opts(), token, allowPatterns: ['model.safetensors', 'config.json'] });
  assert.deepEqual(new Uint8Array(readFileSync(join(folder, 'model.safetensors'))), BIG);
  const cdn = hub.requests.filter((r) => r.origin === 'cdn');
  assert.ok(cdn.length >= 1);
  assert.ok(cdn.every((r) => r.authorization === undefined), 'no Authorization header to the CDN');
  assert.ok(hub.requests.filter((r) => r.origin === 'hub').every((r) => r.authorization === `Bearer ${token}`));
});

test('offline mode serves from the cache without requests, and says clearly when it cannot', async () => {
  await snapshot(REPO, { ...opts(), allowPatterns: '*.json' });
  const n = hub.requests.length;
  process.env.HF_HUB_OFFLINE = '1';
  const folder = await snapshot(REPO, opts());
  assert.equal(folder, join(repoCacheDir(REPO, 'model', cacheDir), 'snapshots', COMMIT));
  assert.equal(await snapshot(REPO, { ...opts(), revision: COMMIT }), folder);
  assert.equal(hub.requests.length, n, 'no network in offline mode');
  await assert.rejects(snapshot('ttslab-test/not-downloaded', opts()),
    (e: unknown) => e instanceof HubError && /not in the cache/.test(e.message) && e.message.includes(cacheDir) && /HF_HUB_OFFLINE/.test(e.message));
  await assert.rejects(snapshot(REPO, { ...opts(), revision: 'v2' }), /revision "v2" is not in the cache/);
  await assert.rejects(snapshot(REPO, { ...opts(), allowPatterns: '*.safetensors' }), /no files matching "\*\.safetensors"/);
  delete process.env.HF_HUB_OFFLINE;
  // An unreachable Hub falls back to the cache too (as huggingface_hub does).
  await hub.stop();
  assert.equal(await snapshot(REPO, { ...opts(), maxAttempts: 1 }), folder);
  await assert.rejects(snapshot('ttslab-test/other', opts()), /cannot be reached/);
  hub = await new FakeHub([]).start(); // afterEach stops it
});

test('local directories pass through; bad repo ids are refused with the value', async () => {
  const local = mkdtempSync(join(tmpdir(), 'ttslab-local-'));
  try {
    writeFileSync(join(local, 'config.json'), '{}');
    assert.equal(await snapshot(local, opts()), local);
    assert.equal(await hubFile(local, 'config.json'), join(local, 'config.json'));
    await assert.rejects(hubFile(local, 'missing.json'), /no such file/);
    await assert.rejects(hubFile(local, '../escape'), /must be relative/);
    await assert.rejects(snapshot('../no-such-dir', opts()), /"..\/no-such-dir" is neither a local directory nor a valid Hub repo id/);
    await assert.rejects(snapshot('a--b/c', opts()), /valid Hub repo id/);
    assert.equal(hub.requests.length, 0);
  } finally {
    rmSync(local, { recursive: true, force: true });
  }
});

test('hubFile downloads one file; HF_ENDPOINT and HF_HOME/hub come from the environment', async () => {
  process.env.HF_ENDPOINT = hub.url;
  assert.equal(hubCacheDir(), join(home, 'hub'));
  const p = await hubFile(REPO, 'sub/dir/extra.json', { progressBar: false });
  assert.equal(p, join(home, 'hub', 'models--ttslab-test--tiny-llama', 'snapshots', COMMIT, 'sub', 'dir', 'extra.json'));
  assert.equal(resolveGets(), 1);
  process.env.HF_HUB_CACHE = join(home, 'elsewhere');
  assert.equal(hubCacheDir(), join(home, 'elsewhere'));
  await assert.rejects(hubFile(REPO, 'nope.json', { progressBar: false }), /no file "nope.json"/);
});

test('token from HF_TOKEN, HUGGING_FACE_HUB_TOKEN, or $HF_HOME/token; false sends none', async () => {
  writeFileSync(join(home, 'token'), 'hf_FromTheTokenFile000000000000000\n');
  assert.equal(resolveToken(), 'hf_FromTheTokenFile000000000000000');
  process.env.HUGGING_FACE_HUB_TOKEN = 'hf_OldEnvName0000000000000000000000';
  assert.equal(resolveToken(), 'hf_OldEnvName0000000000000000000000');
  process.env.HF_TOKEN = 'hf_NewEnvName0000000000000000000000';
  assert.equal(resolveToken(), 'hf_NewEnvName0000000000000000000000');
  assert.equal(resolveToken('hf_Explicit000000000000000000000000'), 'hf_Explicit000000000000000000000000');
  assert.equal(resolveToken(false), undefined);
  hub.behaviour.requireToken = 'hf_NewEnvName0000000000000000000000';
  await snapshot(REPO, { ...opts(), allowPatterns: 'config.json' });
  await assert.rejects(snapshot(REPO, { ...opts(), token: false }), (e: unknown) => e instanceof HubError && e.status === 401);
});

test('the token never appears in errors, stack traces or stdout/stderr', async () => {
  const secret = 'hf_SuperSecretFakeToken0123456789XYZ';
  process.env.HF_TOKEN = secret;
  const captured: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  // stdout is teed, not swallowed: under `node --test` it also carries the runner's
  // own test events. stderr (where the progress bar draws) is swallowed.
  const teeOut = (chunk: unknown, ...rest: unknown[]) => {
    captured.push(String(chunk));
    return (origOut as (...a: unknown[]) => boolean)(chunk, ...rest);
  };
  const grabErr = (chunk: unknown) => {
    captured.push(String(chunk));
    return true;
  };
  const errors: unknown[] = [];
  process.stdout.write = teeOut as typeof process.stdout.write;
  process.stderr.write = grabErr as typeof process.stderr.write;
  try {
    // 1. The server rejects the token and echoes it back in its error body.
    hub.behaviour.requireToken = 'hf_TheRightOneIsDifferent0000000000';
    await snapshot(REPO, { ...opts(), progressBar: true }).catch((e) => errors.push(e));
    // 2. A file-level failure after repo info succeeded (error body echoes the header too).
    hub.behaviour.requireToken = undefined;
    await snapshot('ttslab-test/missing-repo', { ...opts(), progressBar: true }).catch((e) => errors.push(e));
    // 3. A successful download with the progress bar drawing to (captured) stderr.
    hub.behaviour.dropAfter = { 'model.safetensors': 100_000 };
    await snapshot(REPO, { ...opts(), progressBar: true, allowPatterns: 'model.safetensors' });
    // 4. An unreachable endpoint.
    await snapshot('ttslab-test/nowhere', { ...opts(), endpoint: 'http://127.0.0.1:1', progressBar: true }).catch((e) => errors.push(e));
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
  assert.equal(errors.length, 3);
  assert.ok(captured.join('').includes('model.safetensors'), 'the progress bar drew');
  assert.ok(hub.requests.some((r) => r.authorization === `Bearer ${secret}`), 'the token was sent to the Hub');
  for (const e of errors) {
    assert.ok(e instanceof HubError, `${e}`);
    const text = [e.message, e.stack, inspect(e), JSON.stringify(e), String(e)].join('\n');
    assert.ok(!text.includes(secret), `token leaked in: ${text}`);
    assert.ok(!text.includes('SuperSecret'), 'no part of the token');
  }
  assert.match((errors[0] as Error).message, /hf_\*\*\*|Bearer \*\*\*/);
  assert.ok(!captured.join('').includes(secret));
  assert.equal(redact(`Authorization: Bearer ${secret}`), 'Authorization: Bearer ***');
  assert.equal(redact(`token=${secret}`), 'token=hf_***');
});

test('concurrent snapshots of one repo share downloads; a stale lock from a dead process is taken over', async () => {
  const blobs = join(repoCacheDir(REPO, 'model', cacheDir), 'blobs');
  mkdirSync(blobs, { recursive: true });
  // A lock left by a process that no longer exists (pid 2^22 + 1 is above Linux's default pid_max).
  writeFileSync(join(blobs, `${sha256(BIG)}.ttslab.lock`), String(2 ** 22 + 1));
  const [a, b] = await Promise.all([snapshot(REPO, opts()), snapshot(REPO, opts())]);
  assert.equal(a, b);
  assert.deepEqual(new Uint8Array(readFileSync(join(a, 'model.safetensors'))), BIG);
  assert.equal(hub.count((r) => r.method === 'GET' && r.path.endsWith('/model.safetensors')), 1);
  assert.deepEqual(readdirSync(blobs).filter((f) => f.includes('.lock') || f.includes('.incomplete')), []);
});
