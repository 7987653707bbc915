// Downloads against a server on 127.0.0.1: resume after a dropped connection, resume
// across calls, servers that ignore Range, checksums, HTTP errors, and yt-dlp.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadFile, ytDlpDownload } from '../../src/data';
import { decodeAudioFile, encodeWav } from '../../src/audio';

const BODY = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff));
const SHA = createHash('sha256').update(BODY).digest('hex');
let server: Server;
let base = '';
let dir = '';
const log: { path: string; range?: string }[] = [];
/** Per path: how many more requests to cut off after sending half of what was asked. */
const cutsLeft = new Map<string, number>();

function handler(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  log.push({ path, range: req.headers.range });
  if (path === '/missing') return void res.writeHead(404).end('no');
  if (path === '/flaky503' && log.filter((l) => l.path === path).length < 3) return void res.writeHead(503).end();
  const body = path === '/media.wav' ? media : BODY;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  // /norange ignores Range, as some servers do.
  const from = m && path !== '/norange' ? Number(m[1]) : 0;
  const headers: Record<string, string | number> = { 'Content-Type': path === '/media.wav' ? 'audio/wav' : 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Content-Length': body.length - from };
  if (from > 0) headers['Content-Range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
  res.writeHead(from > 0 ? 206 : 200, headers);
  const cut = cutsLeft.get(path) ?? 0;
  if (cut > 0) {
    cutsLeft.set(path, cut - 1);
    const half = from + Math.floor((body.length - from) / 2);
    res.write(body.subarray(from, half), () => res.destroy());
    return;
  }
  res.end(body.subarray(from));
}

let media: Buffer = Buffer.alloc(0);
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ttslab-dl-'));
  media = Buffer.from(encodeWav({ sampleRate: 16_000, channels: [Float32Array.from({ length: 8_000 }, (_, i) => 0.3 * Math.sin(i / 5))] }).bytes);
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const fast = { backoffSeconds: 0.01, progress: false, idleTimeoutSeconds: 10 } as const;

test('a connection dropped half way resumes with Range from the bytes received', async () => {
  log.length = 0;
  cutsLeft.set('/file', 1);
  const dest = join(dir, 'a', 'file.bin');
  const r = await downloadFile(`${base}/file`, dest, { ...fast, sha256: SHA });
  assert.ok(readFileSync(dest).equals(BODY));
  // The server wrote half and closed; the client resumes from what actually arrived.
  assert.equal(log.length, 2);
  assert.equal(log[0]!.range, undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(log[1]!.range ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= 150_000, `resumed at ${log[1]!.range}`);
  assert.equal(r.requests, 2);
  assert.equal(r.receivedBytes, BODY.length, 'no byte fetched twice');
  assert.deepEqual(readdirSync(join(dir, 'a')), ['file.bin'], 'the .part was renamed');
  const again = await downloadFile(`${base}/file`, dest, { ...fast, sha256: SHA });
  assert.equal(again.existed, true);
  assert.equal(again.requests, 0);
});

test('a download that gave up keeps its .part, and the next call resumes it', async () => {
  log.length = 0;
  cutsLeft.set('/file', 1);
  const dest = join(dir, 'b', 'file.bin');
  await assert.rejects(downloadFile(`${base}/file`, dest, { ...fast, maxAttempts: 1 }), /gave up after 1 attempts \(.+\); \d+ bytes are kept in .*file\.bin\.part and the next call resumes/);
  assert.equal(existsSync(dest), false);
  const kept = readFileSync(`${dest}.part`).length;
  assert.ok(kept > 0 && kept <= 150_000);
  assert.ok(readFileSync(`${dest}.part`).equals(BODY.subarray(0, kept)));
  const r = await downloadFile(`${base}/file`, dest, { ...fast });
  assert.equal(r.receivedBytes, BODY.length - kept);
  assert.deepEqual(log.map((l) => l.range), [undefined, `bytes=${kept}-`]);
  assert.equal(r.sha256, SHA);
});

test('a server that ignores Range: the file restarts from zero and still comes out whole', async () => {
  cutsLeft.set('/norange', 1);
  const dest = join(dir, 'c.bin');
  const r = await downloadFile(`${base}/norange`, dest, fast);
  assert.ok(readFileSync(dest).equals(BODY));
  assert.ok(r.receivedBytes > BODY.length, 'the whole file came again after the partial one');
});

test('retries 503 with backoff; 404 fails at once; a sha256 mismatch deletes the file', async () => {
  log.length = 0;
  await downloadFile(`${base}/flaky503`, join(dir, 'd.bin'), fast);
  assert.equal(log.length, 3);
  log.length = 0;
  await assert.rejects(downloadFile(`${base}/missing`, join(dir, 'e.bin'), fast), (e: Error) => e.message === `${base}/missing: HTTP 404 Not Found`);
  assert.equal(log.length, 1);
  const wrong = '0'.repeat(64);
  await assert.rejects(downloadFile(`${base}/file`, join(dir, 'f.bin'), { ...fast, sha256: wrong }), new RegExp(`sha256 mismatch: got ${SHA}, expected ${wrong}; the download was deleted`));
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('f.bin')), []);
});

const ytDlp = spawnSync('yt-dlp', ['--version'], { encoding: 'utf8' });
test('yt-dlp fetches a media file from a loopback server (generic extractor)', { skip: ytDlp.error ? 'yt-dlp is not installed (Debian: apt-get install yt-dlp)' : false, timeout: 60_000 }, async () => {
  const out = join(dir, 'yt');
  const file = await ytDlpDownload(`${base}/media.wav`, out, { extraArgs: ['--no-check-certificate', '--socket-timeout', '10'] });
  assert.ok(file.startsWith(out), file);
  assert.ok(readFileSync(file).equals(media));
  const audio = await decodeAudioFile(file);
  assert.equal(audio.channels[0]!.length, 8_000);
});

test('a missing yt-dlp gives the install instructions', async () => {
  await assert.rejects(ytDlpDownload('https://example.invalid/v', join(dir, 'none'), { ytDlpPath: join(dir, 'no-such-yt-dlp') }), /yt-dlp is not installed \(or not on PATH\)\. Install it: pipx install yt-dlp/);
});
