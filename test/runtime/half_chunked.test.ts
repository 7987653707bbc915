/**
 * f16 tensors larger than one storage binding (issue 12, Llasa-8B's [193800, 4096] embedding and
 * lm_head): the chunked f32 <-> f16 conversions (toHalf, fromHalf, halfFromValues with a binding
 * limit lowered to 512 B, so 128-element chunks bound at 256-byte offsets on lavapipe) and the
 * f16 embedding gather (gatherHalf) against float32 CPU references.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { RuntimeError, gpuContext } from '../../src/runtime';
import { HalfTensor, fromHalf, halfChunkElements, halfFromValues, toHalf } from '../../src/runtime/kernels/half';
import { gatherHalf } from '../../src/runtime/kernels/half_gather';
import { uniform, use, take, f16Round } from './helpers';

/** The packed words of an f16 tensor, as u32 bits. */
async function bits(h: HalfTensor): Promise<Uint32Array> {
  const words = (await h.packed.data()) as Float32Array;
  return new Uint32Array(Float32Array.from(words).buffer);
}

function assertSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
  }
}

const SMALL = { maxBindingBytes: 512 };

test('chunk size: the binding limit in f32 elements, aligned to the device offset alignment; bad limits refused', async () => {
  await use('webgpu');
  const ctx = gpuContext();
  const align = ctx.device.limits.minStorageBufferOffsetAlignment;
  const unit = align / 2;
  assert.equal(halfChunkElements(ctx, SMALL), Math.floor(512 / 4 / unit) * unit);
  assert.equal(halfChunkElements(ctx, { maxBindingBytes: 4096 + 4 }), Math.floor(1025 / unit) * unit);
  // Default: the device's own limit (lavapipe 128 MiB -> 32 Mi elements).
  const limit = ctx.device.limits.maxStorageBufferBindingSize;
  assert.equal(halfChunkElements(ctx), Math.floor(limit / 4 / unit) * unit);
  for (const bad of [511, 1000.5, limit + 4]) {
    assert.throws(() => halfChunkElements(ctx, { maxBindingBytes: bad, name: 'w' }), (e: unknown) => e instanceof RuntimeError && /w: maxBindingBytes must be an integer in \[512, \d+\].*got/.test(e.message));
  }
});

test('toHalf, halfFromValues and fromHalf in 128-element chunks equal one pass and the CPU f16 rounding, odd sizes included', async () => {
  await use('webgpu');
  const ctx = gpuContext();
  const chunk = halfChunkElements(ctx, SMALL);
  const before = tf.memory().numTensors;
  for (const size of [chunk - 1, chunk, 3 * chunk + 1, 1001, 4099]) {
    const values = uniform(size, size, -70000, 70000).map((v, i) => (i % 3 === 0 ? v / 1e5 : v));
    // halfFromValues refuses what f16 cannot hold; keep its input finite in f16.
    const finite = values.map((v) => Math.max(-65504, Math.min(65504, v)));
    const x = tf.tensor(values);
    const one = toHalf(x);
    const chunked = toHalf(x, SMALL);
    x.dispose();
    const uploaded = halfFromValues(finite, [size], SMALL);
    const oneBits = await bits(one);
    assertSame(await bits(chunked), oneBits, `toHalf chunked vs one pass, size ${size}`);
    const want = Float32Array.from(values, f16Round);
    assertSame(await take(fromHalf(chunked, SMALL)), want, `fromHalf(chunked) vs CPU rounding, size ${size}`);
    assertSame(await take(fromHalf(one)), want, `fromHalf(one pass) vs CPU rounding, size ${size}`);
    assertSame(await take(fromHalf(uploaded, SMALL)), Float32Array.from(finite, f16Round), `halfFromValues vs CPU rounding, size ${size}`);
    tf.dispose([one.packed, chunked.packed, uploaded.packed]);
  }
  assert.equal(tf.memory().numTensors, before, 'the conversions leak tensors');
});

test('halfFromValues of a 2-D table in chunks keeps its shape; values beyond f16 and short data are refused by name', async () => {
  await use('webgpu');
  const [rows, cols] = [37, 29]; // 1073 elements: 9 chunks of 128, rows straddle chunk and word boundaries
  const values = uniform(rows * cols, 5, -3, 3);
  const h = halfFromValues(values, [rows, cols], SMALL);
  assert.deepEqual(h.shape, [rows, cols]);
  const back = await take(fromHalf(h));
  h.dispose();
  assertSame(back, Float32Array.from(values, f16Round), 'table');
  const bad = values.slice();
  bad[700] = 70000;
  assert.throws(() => halfFromValues(bad, [rows, cols], { name: 'lm_head.weight' }), /lm_head\.weight: \[37,29\] element 700 is 70000, outside f16's finite range/);
  bad[700] = NaN;
  assert.throws(() => halfFromValues(bad, [rows, cols], { name: 'e' }), /e: \[37,29\] element 700 is NaN/);
  assert.throws(() => halfFromValues(values.subarray(1), [rows, cols], { name: 'e' }), /e: 1072 values do not fill \[37,29\]/);
});

test('gatherHalf: rows of an f16 table widened to float32 equal the CPU gather of the rounded table; bad ids give zero rows', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  for (const [rows, cols] of [[50, 37], [7, 64], [300, 5], [1, 1]]) {
    const values = uniform(rows * cols, rows + cols, -2, 2);
    const table = halfFromValues(values, [rows, cols], SMALL);
    const rounded = Float32Array.from(values, f16Round);
    const idList = [[0, rows - 1, Math.floor(rows / 2), 0], [rows - 1, 1 % rows, 2 % rows, 3 % rows]]; // [2, 4], repeats included
    const ids = tf.tensor2d(idList, undefined, 'int32');
    const got = gatherHalf(table, ids);
    assert.deepEqual(got.shape, [2, 4, cols]);
    const want = new Float32Array(8 * cols);
    idList.flat().forEach((id, r) => want.set(rounded.subarray(id * cols, (id + 1) * cols), r * cols));
    assertSame(await take(got), want, `[${rows}, ${cols}] gather`);
    // Ids outside [0, rows): zero rows, the others untouched.
    const odd = tf.tensor1d([rows, -1, rows - 1], 'int32');
    const o = await take(gatherHalf(table, odd));
    const wantOdd = new Float32Array(3 * cols);
    wantOdd.set(rounded.subarray((rows - 1) * cols, rows * cols), 2 * cols);
    assertSame(o, wantOdd, `[${rows}, ${cols}] out-of-range ids`);
    tf.dispose([ids, odd, table.packed]);
  }
  assert.equal(tf.memory().numTensors, before, 'gatherHalf leaks tensors');
});

test('gatherHalf refuses float ids, a 1-D table and a disposed table; off webgpu it names the fix', async () => {
  await use('webgpu');
  const table = halfFromValues(uniform(12, 1), [4, 3]);
  const fids = tf.tensor1d([1, 2], 'float32');
  assert.throws(() => gatherHalf(table, fids), /gatherHalf takes int32 ids, got float32/);
  assert.throws(() => gatherHalf(table.reshape([12]), tf.tensor1d([1], 'int32')), /gatherHalf needs a table \[rows, cols\], got \[12\]/);
  fids.dispose();
  table.dispose();
  assert.throws(() => gatherHalf(table, tf.tensor1d([1], 'int32')), /the f16 table \[4,3\] was disposed/);
  await use('cpu');
  const ids = tf.tensor1d([0], 'int32');
  const fake = new HalfTensor(tf.zeros([6]), [4, 3]);
  assert.throws(() => gatherHalf(fake, ids), (e: unknown) => e instanceof RuntimeError && /need the 'webgpu' backend, but 'cpu' is active/.test(e.message));
  tf.dispose([ids, fake.packed]);
});
