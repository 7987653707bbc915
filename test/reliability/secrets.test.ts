/**
 * A Hub token in the environment never reaches logs, errors, saved configs, checkpoints,
 * metrics or notebook outputs. A child (children/secrets_child.ts) runs with a fake token
 * and HF_ENDPOINT at a local server that answers every request with an error whose body
 * echoes the request's headers (the token among them, as a misbehaving proxy or mirror
 * would); the child makes Hub requests that fail, a push, a download with the token by
 * hand, shows the environment check and trains with checkpoints. Everything it printed and
 * wrote is searched for the token.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, recordFigures, runTs } from './helpers/common';

let server: Server;
let endpoint: string;
const seen: string[] = [];
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ttslab-rel-secret-'));
  server = createServer((req, res) => {
    seen.push(String(req.headers.authorization ?? ''));
    // Repo info succeeds, so snapshot goes on to fetch the file, which fails with the echo.
    const path = (req.url ?? '').split('?')[0]!;
    if (/^\/api\/models\/.+\/revision\/main$/.test(path) && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ _id: 'x', id: 'someone/private-voice', sha: 'a'.repeat(40), private: true, gated: false, downloads: 0, likes: 0, lastModified: '2026-11-22T00:00:00.000Z', siblings: [{ rfilename: 'config.json' }] }));
      return;
    }
    const echo = JSON.stringify({ error: `denied; your request headers were ${JSON.stringify(req.headers)}`, method: req.method, url: req.url, headers: req.headers });
    res.writeHead(req.url?.includes('resolve') ? 500 : 403, { 'content-type': 'application/json', 'x-echo-authorization': String(req.headers.authorization ?? '') });
    res.end(echo);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every file under `d` with its text. */
function allFiles(d: string): [string, string][] {
  const out: [string, string][] = [];
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) out.push(...allFiles(p));
    else out.push([p, readFileSync(p).toString('latin1')]);
  }
  return out;
}

for (const variable of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) {
  test(`${variable}: the token is sent to the Hub and appears nowhere the user or a file can see`, { timeout: 300_000 }, async () => {
    const token = `hf_${randomBytes(17).toString('hex')}`;
    const out = join(dir, variable);
    seen.length = 0;
    const env: Record<string, string> = { HF_ENDPOINT: endpoint, HF_HOME: join(dir, 'hf-home'), HF_TOKEN: '', HUGGING_FACE_HUB_TOKEN: '', [variable]: token };
    const r = await runTs('test/reliability/children/secrets_child.ts', [out, variable === 'HF_TOKEN' ? 'full' : 'hub'], env, { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    // The token really went out (so the echo could have leaked it), and the requests failed.
    assert.ok(seen.some((a) => a === `Bearer ${token}`), `the server never saw the token: ${seen.join(', ')}`);
    assert.match(r.stdout, /"what":"snapshot"/);
    assert.match(r.stdout, /"what":"push"/);
    assert.match(r.stdout, /"what":"download"/);
    // The echoed headers reached the messages (redacted): the leak path was exercised.
    assert.match(r.stdout + r.stderr, /authorization/i, 'no error message carried the echoed headers');
    const places: [string, string][] = [['stdout', r.stdout], ['stderr', r.stderr], ...allFiles(out)];
    if (variable === 'HF_TOKEN') {
      const names = places.map(([p]) => p);
      for (const want of ['trainer_state.json', 'metrics.jsonl', 'adapter_model.safetensors', 'optimizer.safetensors', 'adapter_config.json', 'outputs.json']) {
        assert.ok(names.some((n) => n.endsWith(want)), `no ${want} was written to search`);
      }
      assert.match(readFileSync(join(out, 'outputs.json'), 'utf8'), /Hugging Face token/, 'the environment check output was not captured');
    }
    const secret = token.slice(3); // the part after hf_
    const leaks = places.filter(([, text]) => text.includes(secret) || text.includes(Buffer.from(token).toString('base64')));
    assert.deepEqual(leaks.map(([p, t]) => `${p}: ...${t.slice(Math.max(0, t.indexOf(secret) - 80), t.indexOf(secret) + 40)}...`), []);
    recordFigures(`secrets-${variable}`, [{ name: `token leaks found (${variable})`, value: leaks.length, detail: `${places.length} places searched: stdout, stderr and ${places.length - 2} files (${variable === 'HF_TOKEN' ? 'checkpoints, trainer_state.json, metrics.jsonl, display outputs, Hub cache; ' : 'Hub requests and display outputs only, no training; '}${seen.filter((a) => a.includes(token)).length} of ${seen.length} requests to the echoing server carried the token)` }]);
  });
}

test('committed notebooks and docs hold no Hugging Face token', () => {
  const files = [...allFiles(join(ROOT, 'notebooks')), ...allFiles(join(ROOT, 'docs'))].filter(([p]) => /\.(ipynb|md|json)$/.test(p));
  assert.ok(files.some(([p]) => p.endsWith('.ipynb')), 'no notebooks found');
  const hits = files.filter(([, t]) => /hf_[A-Za-z0-9]{30,}/.test(t)).map(([p]) => p);
  assert.deepEqual(hits, []);
});
