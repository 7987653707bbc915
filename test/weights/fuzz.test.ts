/**
 * Fuzz test (issue 4, acceptance 4): random bytes, mutated valid files, random
 * headers and truncations thrown at the reader. The only acceptable outcomes are a
 * successful read or a SafetensorsError: no other exception type, no crash, no hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from '../../src/weights';
import { rawSafetensors, rng, tempDir } from './helpers';

const SEED = 20241122;
const CASES = 3000;
const DTYPE_POOL = ['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F64', 'I8', 'F8_E4M3', 'U64', 'X', '', 'f32', 7, null];

test(`fuzz: ${CASES} seeded malformed inputs give SafetensorsError or a valid read`, { timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir('ttslab-fuzz-');
  const r = rng(SEED);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  try {
    // A valid base file to mutate.
    const base = join(dir, 'base.safetensors');
    await writeSafetensors(base, {
      'model.embed_tokens.weight': { dtype: 'BF16', shape: [4, 3], data: new Float32Array(12).fill(0.5) },
      'model.norm.weight': { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) },
      ids: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n]) },
    }, { metadata: { format: 'pt' } });
    const baseBytes = readFileSync(base);
    const headerEnd = 8 + Number(baseBytes.readBigUInt64LE(0));

    const randomNumber = () => pick([0, 1, 2, 3, 4, 8, 12, 24, -1, 1.5, 2 ** 53, 2 ** 60, 1e308, NaN, '4', null, int(64)]);
    const randomHeader = (): unknown => {
      const h: Record<string, unknown> = {};
      const n = int(5);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const shape = Array.from({ length: int(4) }, () => (r() < 0.8 ? int(5) : randomNumber()));
        const len = int(32);
        const begin = r() < 0.7 ? off : randomNumber();
        const end = r() < 0.7 ? off + len : randomNumber();
        off += len;
        h[pick(['a', 'b', 'c', '__metadata__', '__proto__', 'constructor', ''])] = r() < 0.9
          ? { dtype: pick(DTYPE_POOL), shape: r() < 0.9 ? shape : 'x', data_offsets: r() < 0.9 ? [begin, end] : [begin] }
          : pick([1, 'x', [], null, { k: 'v' }, { k: 1 }]);
      }
      return h;
    };

    const kinds = new Map<string, number>();
    let reads = 0;
    let errors = 0;
    for (let c = 0; c < CASES; c++) {
      let bytes: Uint8Array;
      const kind = pick(['random', 'mutate', 'mutate-header', 'header', 'truncate', 'length']);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      switch (kind) {
        case 'random':
          bytes = new Uint8Array(int(200));
          for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
          // Sometimes give it a plausible length field so the JSON parser sees the noise.
          if (bytes.length >= 8 && r() < 0.5) new DataView(bytes.buffer).setBigUint64(0, BigInt(int(bytes.length - 7)), true);
          break;
        case 'mutate':
        case 'mutate-header': {
          bytes = new Uint8Array(baseBytes);
          const hi = kind === 'mutate' ? bytes.length : headerEnd;
          for (let k = 1 + int(4); k > 0; k--) bytes[int(hi)] = int(256);
          break;
        }
        case 'header': {
          const data = new Uint8Array(int(64));
          bytes = r() < 0.5 ? rawSafetensors(randomHeader(), data) : concat(buildAligned(randomHeader()), data);
          break;
        }
        case 'truncate':
          bytes = baseBytes.subarray(0, int(baseBytes.length));
          break;
        default: {
          bytes = new Uint8Array(baseBytes);
          new DataView(bytes.buffer).setBigUint64(0, pick([0n, 1n, 7n, 2n ** 64n - 1n, 2n ** 32n, BigInt(int(bytes.length * 2))]), true);
        }
      }
      const file = join(dir, `case${c % 8}.safetensors`);
      writeFileSync(file, bytes);
      try {
        const f = await SafetensorsFile.open(file);
        for (const k of f.keys()) {
          await f.getF32(k);
          await f.read(k);
        }
        reads++;
      } catch (e) {
        errors++;
        if (!(e instanceof SafetensorsError)) {
          assert.fail(`case ${c} (${kind}) threw ${(e as Error)?.name}: ${(e as Error)?.message}\nbytes: ${Buffer.from(bytes).toString('hex').slice(0, 400)}`);
        }
        // Every error names the file it is about.
        assert.ok(e.message.startsWith(file), e.message);
      }
    }
    console.log(`fuzz: ${reads} read fine, ${errors} SafetensorsErrors; cases by kind ${JSON.stringify(Object.fromEntries(kinds))}`);
    // Both outcomes must occur, or the generator is not exercising the reader.
    assert.ok(reads > 50 && errors > 1000, `reads ${reads}, errors ${errors}`);
  } finally {
    cleanup();
  }
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A header in the writer's padded layout (spaces after the JSON), with arbitrary content. */
function buildAligned(header: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}
