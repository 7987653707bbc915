import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint, writeCheckpoint } from '../../src/weights';
import { FakeHub } from './fake-hub';

test('Checkpoint.fromPretrained downloads the index, then only the shards it names', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ttslab-ckpt-hub-'));
  const src = join(work, 'src');
  try {
    await writeCheckpoint(src, {
      'model.embed_tokens.weight': { dtype: 'BF16', shape: [16, 8], data: new Float32Array(128).fill(0.5) },
      'model.norm.weight': { dtype: 'F32', shape: [8], data: new Float32Array(8).fill(2) },
    }, { maxShardBytes: 200 });
    const files: Record<string, Uint8Array> = { 'config.json': new TextEncoder().encode('{}') };
    for (const f of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']) {
      files[f] = new Uint8Array(readFileSync(join(src, f)));
    }
    files['consolidated.safetensors'] = new Uint8Array(64); // must not be fetched
    const hub = await new FakeHub([{ id: 'org/sharded', commit: 'c'.repeat(40), files, lfs: Object.keys(files).filter((f) => f.endsWith('.safetensors')) }]).start();
    try {
      const options = { endpoint: hub.url, cacheDir: join(work, 'cache'), progressBar: false, token: false as const };
      const ckpt = await Checkpoint.fromPretrained('org/sharded', options);
      assert.deepEqual(ckpt.keys(), ['model.embed_tokens.weight', 'model.norm.weight']);
      assert.equal((await ckpt.getF32('model.norm.weight')).data[0], 2);
      assert.equal((await ckpt.getF32('model.embed_tokens.weight')).data[127], 0.5);
      const fetched = hub.requests.filter((r) => r.method === 'GET' && r.path.includes('/resolve/')).map((r) => r.path.split('/').pop());
      assert.deepEqual(fetched.sort(), ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
      // Offline, the same call is served from the cache.
      const again = await Checkpoint.fromPretrained('org/sharded', { ...options, offline: true });
      assert.deepEqual(again.keys(), ckpt.keys());
      // A local directory works in place of the repo id.
      assert.deepEqual((await Checkpoint.fromPretrained(src)).keys(), ckpt.keys());
    } finally {
      await hub.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
