/**
 * pushFolderToHub against a local HTTP server that speaks the Hub's upload API (repo
 * create, preupload, LFS batch + PUT, NDJSON commit) and checks every request: the bearer
 * token on each API call, the files' bytes (inline ones base64, LFS ones by sha256), the
 * commit title; and that the token never shows in what the function returns, logs or throws.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushFolderToHub } from '../../src/hub/upload';

const TOKEN = `hf_${'t3st'.repeat(8)}`;
const tmp = mkdtempSync(join(tmpdir(), 'ttslab-upload-'));
const folder = join(tmp, 'adapter');

interface Seen { method: string; url: string; auth: string | undefined; body: Buffer }

let server: Server;
let endpoint = '';
const seen: Seen[] = [];
/** Repos that exist on the fake Hub. */
const repos = new Set<string>(['me/existing']);
/** LFS objects PUT so far: sha256 -> bytes. */
const lfs = new Map<string, Buffer>();
/** Commits received: repo -> parsed NDJSON lines. */
const commits = new Map<string, { key: string; value: Record<string, unknown> }[]>();
let refuseCommit = false;

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((res) => {
    const parts: Buffer[] = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => res(Buffer.concat(parts)));
  });
}

before(async () => {
  mkdirSync(join(folder, 'sub'), { recursive: true });
  writeFileSync(join(folder, 'adapter_config.json'), JSON.stringify({ r: 4, peft_type: 'LORA' }));
  writeFileSync(join(folder, 'adapter_model.safetensors'), randomBytes(70_000));
  writeFileSync(join(folder, 'sub', 'README.md'), '# a voice\n');
  mkdirSync(join(folder, 'checkpoint-1'));
  writeFileSync(join(folder, 'checkpoint-1', 'optimizer.bin'), 'x');

  server = createServer(async (req, res) => {
    const b = await body(req);
    const url = req.url ?? '';
    seen.push({ method: req.method ?? '', url, auth: req.headers.authorization, body: b });
    const json = (status: number, o: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    const api = url.startsWith('/api/');
    if (api && req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { error: `Invalid credentials in Authorization header (got ${req.headers.authorization})` });
    let m: RegExpMatchArray | null;
    if (req.method === 'POST' && url === '/api/repos/create') {
      const o = JSON.parse(b.toString()) as { name: string; organization: string; type: string; visibility?: string; private?: boolean };
      const id = `${o.organization}/${o.name}`;
      if (repos.has(id)) return json(409, { error: 'You already created this model repo' });
      repos.add(id);
      return json(200, { url: `${endpoint}/${id}`, name: id, visibility: o.visibility });
    }
    if (req.method === 'POST' && (m = url.match(/^\/api\/models\/([^/]+\/[^/]+)\/preupload\/main$/))) {
      const o = JSON.parse(b.toString()) as { files: { path: string; size: number; sample: string }[] };
      return json(200, { files: o.files.map((f) => ({ path: f.path, uploadMode: f.path.endsWith('.safetensors') ? 'lfs' : 'regular', shouldIgnore: false })) });
    }
    if (req.method === 'POST' && (m = url.match(/^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/))) {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { message: 'no token' });
      const o = JSON.parse(b.toString()) as { operation: string; objects: { oid: string; size: number }[] };
      assert.equal(o.operation, 'upload');
      return json(200, { transfer: 'basic', objects: o.objects.map((x) => ({ ...x, actions: { upload: { href: `${endpoint}/lfs-upload/${x.oid}` } } })) });
    }
    if (req.method === 'PUT' && (m = url.match(/^\/lfs-upload\/([0-9a-f]{64})$/))) {
      if (createHash('sha256').update(b).digest('hex') !== m[1]) return json(400, { error: 'sha256 mismatch' });
      lfs.set(m[1]!, b);
      res.writeHead(200);
      return res.end();
    }
    if (req.method === 'POST' && (m = url.match(/^\/api\/models\/([^/]+\/[^/]+)\/commit\/main$/))) {
      if (!repos.has(m[1]!)) return json(404, { error: 'Repository not found' });
      if (refuseCommit) return json(403, { error: `You don't have the rights to create a commit (token ${TOKEN})` });
      commits.set(m[1]!, b.toString().trim().split('\n').map((l) => JSON.parse(l)));
      return json(200, { commitOid: 'a'.repeat(40), commitUrl: `${endpoint}/${m[1]}/commit/${'a'.repeat(40)}` });
    }
    json(404, { error: `no route ${req.method} ${url}` });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs `fn` with HF_TOKEN set and console output captured. */
async function withToken<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: Error; printed: string }> {
  const saved = { token: process.env.HF_TOKEN, offline: process.env.HF_HUB_OFFLINE };
  process.env.HF_TOKEN = TOKEN;
  delete process.env.HF_HUB_OFFLINE;
  const printed: string[] = [];
  const orig = { log: console.log, warn: console.warn, error: console.error };
  console.log = console.warn = console.error = (...a: unknown[]) => { printed.push(a.join(' ')); };
  try {
    return { value: await fn(), printed: printed.join('\n') };
  } catch (e) {
    return { error: e as Error, printed: printed.join('\n') };
  } finally {
    Object.assign(console, orig);
    if (saved.token === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved.token;
    if (saved.offline !== undefined) process.env.HF_HUB_OFFLINE = saved.offline;
  }
}

test('pushFolderToHub creates a private repo and commits every file (inline and LFS) with the token from HF_TOKEN', async () => {
  seen.length = 0;
  const r = await withToken(() => pushFolderToHub(folder, 'me/voice', { endpoint, exclude: ['checkpoint-1'], commitMessage: 'my voice' }));
  assert.equal(r.error, undefined, String(r.error));
  const out = r.value!;
  assert.deepEqual(out.files, ['adapter_config.json', 'adapter_model.safetensors', 'sub/README.md']);
  assert.equal(out.created, true);
  assert.equal(out.commitOid, 'a'.repeat(40));
  assert.equal(out.url, `${endpoint}/me/voice`);

  const create = seen.find((s) => s.url === '/api/repos/create')!;
  assert.deepEqual(JSON.parse(create.body.toString()), { name: 'voice', organization: 'me', type: 'model', visibility: 'private' });
  for (const s of seen.filter((x) => x.url.startsWith('/api/') || x.url.includes('.git/'))) assert.equal(s.auth, `Bearer ${TOKEN}`, `${s.method} ${s.url}`);
  // The token goes to the Hub's API only, not to the storage URL the LFS batch hands out.
  for (const s of seen.filter((x) => x.url.startsWith('/lfs-upload/'))) assert.equal(s.auth, undefined);

  const lines = commits.get('me/voice')!;
  assert.equal(lines[0]!.key, 'header');
  assert.equal(lines[0]!.value.summary, 'my voice');
  const byPath = new Map(lines.slice(1).map((l) => [l.value.path as string, l]));
  assert.deepEqual([...byPath.keys()].sort(), out.files);
  const cfg = byPath.get('adapter_config.json')!;
  assert.equal(cfg.key, 'file');
  assert.equal(Buffer.from(cfg.value.content as string, 'base64').toString(), readFileSync(join(folder, 'adapter_config.json'), 'utf8'));
  const weights = byPath.get('adapter_model.safetensors')!;
  assert.equal(weights.key, 'lfsFile');
  const bytes = readFileSync(join(folder, 'adapter_model.safetensors'));
  assert.equal(weights.value.oid, createHash('sha256').update(bytes).digest('hex'));
  assert.ok(lfs.get(weights.value.oid as string)!.equals(bytes), 'the LFS PUT carried the file');
  assert.ok(!r.printed.includes(TOKEN) && !JSON.stringify(out).includes(TOKEN), 'the token is never printed or returned');
});

test('pushFolderToHub: an existing repo is committed to; refusals, no token and offline are errors without the token', async () => {
  const ok = await withToken(() => pushFolderToHub(folder, 'me/existing', { endpoint, exclude: ['checkpoint-1'] }));
  assert.equal(ok.error, undefined, String(ok.error));
  assert.equal(ok.value!.created, false);
  assert.ok(commits.has('me/existing'));

  refuseCommit = true;
  try {
    const refused = await withToken(() => pushFolderToHub(folder, 'me/existing', { endpoint }));
    assert.ok(refused.error, 'a 403 from the Hub rejects');
    assert.match(refused.error!.message, /cannot upload .* to me\/existing/);
    assert.ok(!refused.error!.message.includes(TOKEN), `the token is redacted: ${refused.error!.message}`);
    assert.ok(!String(refused.error!.stack).includes(TOKEN));
  } finally {
    refuseCommit = false;
  }

  const bad = await withToken(() => pushFolderToHub(folder, 'me/voice', { endpoint, token: 'hf_wrongwrongwrongwrongwrong' }));
  assert.ok(bad.error && !bad.error.message.includes('hf_wrongwrongwrongwrongwrong'), String(bad.error?.message));

  const saved = { token: process.env.HF_TOKEN, hub: process.env.HUGGING_FACE_HUB_TOKEN, path: process.env.HF_TOKEN_PATH };
  delete process.env.HF_TOKEN;
  delete process.env.HUGGING_FACE_HUB_TOKEN;
  process.env.HF_TOKEN_PATH = join(tmp, 'no-token-file');
  try {
    await assert.rejects(pushFolderToHub(folder, 'me/voice', { endpoint }), /no Hub token \(set HF_TOKEN/);
  } finally {
    if (saved.token !== undefined) process.env.HF_TOKEN = saved.token;
    if (saved.hub !== undefined) process.env.HUGGING_FACE_HUB_TOKEN = saved.hub;
    if (saved.path !== undefined) process.env.HF_TOKEN_PATH = saved.path;
    else delete process.env.HF_TOKEN_PATH;
  }
  process.env.HF_HUB_OFFLINE = '1';
  try {
    await assert.rejects(pushFolderToHub(folder, 'me/voice', { endpoint, token: TOKEN }), /HF_HUB_OFFLINE is set/);
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  await assert.rejects(pushFolderToHub(folder, 'not a repo', { endpoint, token: TOKEN }), /valid Hub repo id/);
  await assert.rejects(pushFolderToHub(join(tmp, 'missing'), 'me/voice', { endpoint, token: TOKEN }), /is not a folder to upload/);
});
