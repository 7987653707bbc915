import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Checkpoint, MemoryWeights, SafetensorsError, SafetensorsFile, bf16BitsToNumber, f16BitsToNumber, numberToBf16Bits,
  numberToF16Bits, readHeader, writeCheckpoint, writeSafetensors,
} from '../../src/weights';
import type { AnyTypedArray, Dtype, TensorToWrite } from '../../src/weights';
import { rawSafetensors, rng, tempDir, writeRaw } from './helpers';

/** One small tensor per dtype, with the float32 values getF32 must return. */
function everyDtype(): { tensors: Record<string, TensorToWrite>; expected: Record<string, number[]> } {
  const f16 = [1, -2, 0.5, 65504].map(numberToF16Bits);
  const bf16 = [1, -2, 0.5, 3.140625].map(numberToBf16Bits);
  const tensors: Record<string, TensorToWrite> = {
    f32: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1.5, -2.25, 3, 1e-20]) },
    f16: { dtype: 'F16', shape: [4], data: new Uint16Array(f16) },
    bf16: { dtype: 'BF16', shape: [2, 2], data: new Uint16Array(bf16) },
    f64: { dtype: 'F64', shape: [3], data: new Float64Array([0.1, -1e10, 2]) },
    i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-1n, 2n ** 40n, 7n]) },
    u64: { dtype: 'U64', shape: [2], data: new BigUint64Array([0n, 2n ** 50n]) },
    i32: { dtype: 'I32', shape: [3], data: new Int32Array([-5, 0, 2147483647]) },
    u32: { dtype: 'U32', shape: [2], data: new Uint32Array([4294967295, 3]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 12]) },
    u16: { dtype: 'U16', shape: [2], data: new Uint16Array([65535, 1]) },
    i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    u8: { dtype: 'U8', shape: [2], data: new Uint8Array([255, 3]) },
    bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    e4m3: { dtype: 'F8_E4M3', shape: [4], data: new Uint8Array([0x38, 0xc0, 0x7e, 0x01]) },
    e5m2: { dtype: 'F8_E5M2', shape: [3], data: new Uint8Array([0x3c, 0xc0, 0x7b]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
  };
  const expected: Record<string, number[]> = {
    f32: [1.5, -2.25, 3, Math.fround(1e-20)],
    f16: [1, -2, 0.5, 65504],
    bf16: [1, -2, 0.5, 3.140625],
    f64: [Math.fround(0.1), Math.fround(-1e10), 2],
    i64: [-1, 2 ** 40, 7],
    u64: [0, 2 ** 50],
    i32: [-5, 0, Math.fround(2147483647)],
    u32: [Math.fround(4294967295), 3],
    i16: [-32768, 12],
    u16: [65535, 1],
    i8: [-128, 0, 127],
    u8: [255, 3],
    bool: [1, 0, 1],
    // E4M3: 0x38 = 1.0, 0xc0 = -2, 0x7e = 448 (largest finite), 0x01 = 2^-9 (smallest subnormal)
    e4m3: [1, -2, 448, 2 ** -9],
    // E5M2: 0x3c = 1.0, 0xc0 = -2, 0x7b = 57344 (largest finite)
    e5m2: [1, -2, 57344],
    empty: [],
    scalar: [42],
  };
  return { tensors, expected };
}

test('round-trips every dtype: raw bytes unchanged, getF32 converts', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { tensors, expected } = everyDtype();
    const file = join(dir, 'all.safetensors');
    await writeSafetensors(file, tensors, { metadata: { format: 'pt', note: 'ünïcode' } });
    const f = await SafetensorsFile.open(file);
    assert.deepEqual(f.keys(), Object.keys(tensors).sort());
    assert.deepEqual(f.metadata, { format: 'pt', note: 'ünïcode' });
    for (const [name, t] of Object.entries(tensors)) {
      const info = f.info(name);
      assert.equal(info.dtype, t.dtype, name);
      assert.deepEqual(info.shape, t.shape, name);
      const raw = await f.read(name);
      assert.deepEqual([...(raw.data as Iterable<number | bigint>)], [...(t.data as AnyTypedArray)], `${name} raw`);
      const { shape, data } = await f.getF32(name);
      assert.deepEqual(shape, t.shape);
      assert.deepEqual([...data], expected[name], `${name} f32`);
    }
  } finally {
    cleanup();
  }
});

test('header is 8-byte aligned, padded with spaces, with __metadata__ first', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
      const file = join(dir, `${name}.safetensors`);
      await writeSafetensors(file, { [name]: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } }, { metadata: { k: 'v' } });
      const bytes = readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      assert.equal(n % 8, 0);
      const text = bytes.subarray(8, 8 + n).toString('utf8');
      assert.match(text, /^\{"__metadata__":\{"k":"v"\}/);
      assert.match(text, /\} *$/);
      assert.equal(bytes.length, 8 + n + 1);
    }
  } finally {
    cleanup();
  }
});

test('float32 -> F16 / BF16 rounds to nearest even', () => {
  const cases16: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
    [1 + 2 ** -11, 0x3c00], // tie -> even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400],
    [Infinity, 0x7c00], [-Infinity, 0xfc00], [-0, 0x8000],
  ];
  for (const [x, bits] of cases16) assert.equal(numberToF16Bits(x), bits, `f16(${x})`);
  assert.ok(Number.isNaN(f16BitsToNumber(numberToF16Bits(NaN))));
  // Every F16 value survives f16 -> f32 -> f16.
  for (let h = 0; h < 65536; h++) {
    const x = f16BitsToNumber(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16BitsToNumber(numberToF16Bits(x))));
    else assert.equal(numberToF16Bits(x), h, `f16 pattern ${h.toString(16)}`);
  }
  const cases: [number, number][] = [
    [1, 0x3f80], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [-2, 0xc000], [3.4e38, 0x7f80], [Infinity, 0x7f80],
  ];
  for (const [x, bits] of cases) assert.equal(numberToBf16Bits(x), bits, `bf16(${x})`);
  assert.ok(Number.isNaN(bf16BitsToNumber(numberToBf16Bits(NaN))));
});

test('float32 data is converted when writing F16 / BF16 / F64', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const values = new Float32Array([1, 1 + 2 ** -11, 0.1, -3.5]);
    const file = join(dir, 'conv.safetensors');
    await writeSafetensors(file, {
      h: { dtype: 'F16', shape: [4], data: values },
      b: { dtype: 'BF16', shape: [4], data: values },
      d: { dtype: 'F64', shape: [4], data: values },
    });
    const f = await SafetensorsFile.open(file);
    assert.deepEqual([...(await f.read('h')).data as Uint16Array], [...values].map(numberToF16Bits));
    assert.deepEqual([...(await f.read('b')).data as Uint16Array], [...values].map(numberToBf16Bits));
    assert.deepEqual([...(await f.getF32('d')).data], [...values]);
  } finally {
    cleanup();
  }
});

test('large tensors are read in chunks and converted correctly', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // 10M BF16 elements = 20 MB, more than one 16 MB read chunk.
    const n = 10_000_000;
    const src = new Float32Array(n);
    const r = rng(1);
    for (let i = 0; i < n; i++) src[i] = (r() - 0.5) * 100;
    const file = join(dir, 'big.safetensors');
    await writeSafetensors(file, { w: { dtype: 'BF16', shape: [n / 1000, 1000], data: src } });
    const { data } = await (await SafetensorsFile.open(file)).getF32('w');
    for (const i of [0, 1, 4_194_303, 4_194_304, 8_388_608, n - 1]) {
      assert.equal(data[i], bf16BitsToNumber(numberToBf16Bits(src[i])), `element ${i}`);
    }
  } finally {
    cleanup();
  }
});

test('writes are atomic: a failing write leaves the old file and no temp file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'model.safetensors');
    await writeSafetensors(file, { a: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
    const before = readFileSync(file);
    await assert.rejects(
      writeSafetensors(file, {
        a: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
        b: { dtype: 'F32', shape: [2], data: () => { throw new Error('producer failed'); } },
      }),
      /producer failed/,
    );
    assert.deepEqual(readFileSync(file), before);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    await assert.rejects(
      writeSafetensors(file, { a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }),
      (e: unknown) => e instanceof SafetensorsError && /needs 12/.test(e.message) && e.tensor === 'a',
    );
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
  } finally {
    cleanup();
  }
});

test('sharded checkpoints: writeCheckpoint shards, Checkpoint.open reads through the index', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const tensors: Record<string, TensorToWrite> = {};
    for (let i = 0; i < 5; i++) {
      tensors[`model.layers.${i}.mlp.up_proj.weight`] = { dtype: 'BF16', shape: [8, 16], data: new Float32Array(128).fill(i) };
    }
    tensors['lm_head.weight'] = { dtype: 'F32', shape: [4, 16], data: new Float32Array(64).fill(-1) };
    const written = await writeCheckpoint(dir, tensors, { maxShardBytes: 600 });
    assert.ok(written.length > 2, `expected several shards, got ${written.join(', ')}`);
    assert.ok(written.at(-1)!.endsWith('model.safetensors.index.json'));
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(index.metadata.total_size, 5 * 256 + 256);
    const ckpt = await Checkpoint.open(dir);
    assert.deepEqual(ckpt.keys(), Object.keys(tensors).sort());
    assert.ok(ckpt.files.length > 1);
    assert.equal(ckpt.metadata.format, 'pt');
    for (let i = 0; i < 5; i++) {
      const { shape, data } = await ckpt.getF32(`model.layers.${i}.mlp.up_proj.weight`);
      assert.deepEqual(shape, [8, 16]);
      assert.ok(data.every((v) => v === i));
    }
    assert.equal((await ckpt.getF32('lm_head.weight')).data[63], -1);
    assert.equal(ckpt.totalBytes(), 5 * 256 + 256);

    // An index naming the wrong shard is an error that names the tensor.
    const name = 'model.layers.0.mlp.up_proj.weight';
    const wrong = index.weight_map['lm_head.weight'] === index.weight_map[name] ? undefined : index.weight_map['lm_head.weight'];
    assert.ok(wrong);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, [name]: wrong } }));
    await assert.rejects(Checkpoint.open(dir), (e: unknown) => e instanceof SafetensorsError && e.tensor === name);
    // A shard path escaping the directory is refused.
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../evil.safetensors' } }));
    await assert.rejects(Checkpoint.open(dir), /shard file name in this directory/);
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    await assert.rejects(Checkpoint.open(dir), /cannot read sharded index/);
  } finally {
    cleanup();
  }
});

test('Checkpoint.open: single file, directory with model.safetensors, and a clear error otherwise', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'model.safetensors');
    await writeSafetensors(file, { w: { dtype: 'F16', shape: [2], data: new Float32Array([1, 2]) } });
    for (const p of [file, dir]) {
      const c = await Checkpoint.open(p);
      assert.deepEqual(c.keys(), ['w']);
      assert.deepEqual([...(await c.getF32('w')).data], [1, 2]);
      assert.equal(c.info('w').dtype, 'F16');
    }
    await assert.rejects((await Checkpoint.open(file)).getF32('nope'), /no such tensor/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(Checkpoint.open(empty), /expected model.safetensors.index.json/);
    await assert.rejects(Checkpoint.open(join(dir, 'missing')), /cannot open checkpoint/);
  } finally {
    cleanup();
  }
});

test('MemoryWeights is a WeightSource', async () => {
  const w = new MemoryWeights({
    a: { shape: [2], data: new Float32Array([1, 2]) },
    b: { shape: [1], dtype: 'BF16', data: new Uint16Array([numberToBf16Bits(0.5)]) },
  });
  assert.deepEqual(w.keys(), ['a', 'b']);
  assert.deepEqual([...(await w.getF32('b')).data], [0.5]);
  assert.equal(w.info('b').byteLength, 2);
  assert.throws(() => new MemoryWeights({ c: { shape: [3], data: new Float32Array(2) } }), /needs 3/);
});

// ---------------------------------------------------------------------------------
// Malformed files: each gives its own specific error, naming file and tensor.

function expectError(pattern: RegExp, tensor?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
    assert.match(e.message, pattern);
    if (tensor !== undefined) assert.equal(e.tensor, tensor);
    return true;
  };
}

test('malformed: truncated file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 't.safetensors');
    await writeSafetensors(file, { w: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
    const bytes = readFileSync(file);
    writeRaw(file, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(readHeader(file), expectError(/run past the data section.*truncated/, 'w'));
    writeRaw(file, bytes.subarray(0, 5));
    await assert.rejects(readHeader(file), expectError(/too short for the 8-byte header length/));
    // Truncated after the header was read: the read itself reports it.
    writeRaw(file, bytes);
    const f = await SafetensorsFile.open(file);
    writeRaw(file, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(f.getF32('w'), expectError(/unexpected end of file.*truncated/, 'w'));
  } finally {
    cleanup();
  }
});

test('malformed: header length larger than the file, or above the 100 MB cap', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'h.safetensors');
    writeRaw(file, rawSafetensors({}, new Uint8Array(0), 1000n));
    await assert.rejects(readHeader(file), expectError(/header length 1000 is larger than the file allows \(2 bytes/));
    writeRaw(file, rawSafetensors({}, new Uint8Array(0), 2n ** 63n));
    await assert.rejects(readHeader(file), expectError(/header length 9223372036854775808 exceeds the 100000000-byte limit/));
  } finally {
    cleanup();
  }
});

test('malformed: overlapping offsets', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = writeRaw(join(dir, 'o.safetensors'), rawSafetensors({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, new Uint8Array(12)));
    await assert.rejects(readHeader(file), expectError(/\[4, 12\] overlap tensor "a" at \[0, 8\]/, 'b'));
  } finally {
    cleanup();
  }
});

test('malformed: byte size does not match dtype x shape', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = writeRaw(join(dir, 's.safetensors'), rawSafetensors({
      w: { dtype: 'BF16', shape: [3, 2], data_offsets: [0, 8] },
    }, new Uint8Array(8)));
    await assert.rejects(readHeader(file), expectError(/byte size 8 .* does not match BF16 x shape \[3, 2\] = 12 bytes/, 'w'));
  } finally {
    cleanup();
  }
});

test('malformed: unknown dtype, bad shape, bad JSON, bad metadata, not UTF-8', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'd.safetensors');
    writeRaw(file, rawSafetensors({ w: { dtype: 'F4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)));
    await assert.rejects(readHeader(file), expectError(/unknown dtype "F4"/, 'w'));
    writeRaw(file, rawSafetensors({ w: { dtype: 'U8', shape: [-1], data_offsets: [0, 1] } }, new Uint8Array(1)));
    await assert.rejects(readHeader(file), expectError(/shape must be an array of non-negative integers, got \[-1\]/, 'w'));
    writeRaw(file, rawSafetensors({ w: { dtype: 'U8', shape: [1.5], data_offsets: [0, 1] } }, new Uint8Array(1)));
    await assert.rejects(readHeader(file), expectError(/shape must be/, 'w'));
    writeRaw(file, rawSafetensors({ w: { dtype: 'U8', shape: [1], data_offsets: [1, 0] } }, new Uint8Array(1)));
    await assert.rejects(readHeader(file), expectError(/end 0 is before begin 1/, 'w'));
    writeRaw(file, rawSafetensors('{"w": {"dtype": "U8",'));
    await assert.rejects(readHeader(file), expectError(/header is not valid JSON/));
    writeRaw(file, rawSafetensors('[1, 2]'));
    await assert.rejects(readHeader(file), expectError(/does not start with '\{'/));
    writeRaw(file, rawSafetensors({ __metadata__: { a: 1 } }));
    await assert.rejects(readHeader(file), expectError(/__metadata__.a must be a string, got 1/));
    const bad = rawSafetensors('{"\xff":1}');
    bad[10] = 0xff;
    writeRaw(file, bad);
    await assert.rejects(readHeader(file), expectError(/not valid UTF-8/));
    // A directory is not a file.
    await assert.rejects(readHeader(dir), expectError(/read failed|cannot open/));
  } finally {
    cleanup();
  }
});

test('error messages carry the file path', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = writeRaw(join(dir, 'named.safetensors'), rawSafetensors({ w: { dtype: 'X', shape: [], data_offsets: [0, 0] } }));
    await assert.rejects(readHeader(file), (e: unknown) => (e as Error).message.startsWith(`${file}: tensor "w": unknown dtype`));
  } finally {
    cleanup();
  }
});

/** Exhaustive type check: every Dtype listed is round-trippable (compile-time guard for new dtypes). */
const _allDtypes: Record<Dtype, true> = {
  BOOL: true, U8: true, I8: true, I16: true, U16: true, F16: true, BF16: true, I32: true, U32: true, F32: true,
  F64: true, I64: true, U64: true, F8_E4M3: true, F8_E5M2: true,
};
void _allDtypes;
