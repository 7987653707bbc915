/** Shared blocks against values derived by hand. */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { KVCache, Linear, MASK_VALUE, RMSNorm, causalMask, positionIdsFromMask, ropeInvFreq, rotaryCosSin, applyRotary } from '../../src/models/common';

before(async () => {
  await tf.setBackend('cpu');
});

describe('rotary', () => {
  test('default inverse frequencies: theta^(-2i/d)', () => {
    // d = 4, theta = 10000: 10000^0 = 1, 10000^(-1/2) = 0.01
    assert.deepEqual([...ropeInvFreq(4, 10000)].map((x) => +x.toPrecision(6)), [1, 0.01]);
  });

  test('llama3 scaling keeps, smooths and divides by band', () => {
    // d = 4, theta 10000 -> inv [1, 0.01], wavelengths 2*pi = 6.283 and 628.3.
    // orig 8, low 1, high 2: keep below 8/2 = 4, divide above 8/1 = 8, smooth in between.
    // 6.283 is in [4, 8]: s = (8 / 6.283 - 1) / (2 - 1) = 0.27324, inv' = (1 - s) * 1/2 + s * 1 = 0.63662.
    // 628.3 > 8: 0.01 / 2 = 0.005.
    const inv = ropeInvFreq(4, 10000, { ropeType: 'llama3', factor: 2, lowFreqFactor: 1, highFreqFactor: 2, originalMaxPositionEmbeddings: 8 });
    assert.ok(Math.abs(inv[0] - 0.63662) < 1e-5, `${inv[0]}`);
    assert.ok(Math.abs(inv[1] - 0.005) < 1e-9, `${inv[1]}`);
    // high 1.2: keep below 8 / 1.2 = 6.667, so wavelength 6.283 keeps its frequency 1.
    const kept = ropeInvFreq(4, 10000, { ropeType: 'llama3', factor: 2, lowFreqFactor: 1, highFreqFactor: 1.2, originalMaxPositionEmbeddings: 8 });
    assert.equal(kept[0], 1);
    assert.ok(Math.abs(kept[1] - 0.005) < 1e-9);
  });

  test('rotation of a unit vector by position 1 at frequency 1 is a rotation by 1 radian', () => {
    // headDim 2: x = (1, 0) -> (cos 1, sin 1) by x*cos + rotate_half(x)*sin = (1*cos1 - 0, 0 + 1*sin1).
    const { cos, sin } = rotaryCosSin(new Float32Array([1]), [[1]]);
    const x = tf.tensor4d([1, 0], [1, 1, 1, 2]);
    const y = applyRotary(x, cos, sin).dataSync();
    assert.ok(Math.abs(y[0] - Math.cos(1)) < 1e-6 && Math.abs(y[1] - Math.sin(1)) < 1e-6);
    tf.dispose([cos, sin, x]);
  });
});

describe('masks and positions', () => {
  test('causal mask with left padding and a past', () => {
    // batch 1, past 1, 2 new tokens, key 0 is padding: query 0 (abs 1) sees key 1; query 1 sees keys 1, 2.
    const m = causalMask(1, 2, 1, [[0, 1, 1]]);
    const M = MASK_VALUE;
    assert.deepEqual([...m.dataSync()], [M, 0, M, M, 0, 0]);
    m.dispose();
  });

  test('position ids from a left-padded mask count real tokens from 0', () => {
    assert.deepEqual(positionIdsFromMask([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], 5), [[1, 1, 0, 1, 2], [0, 1, 2, 3, 4]]);
    assert.deepEqual(positionIdsFromMask([[0, 1, 1]], 1), [[1]]);
    assert.throws(() => positionIdsFromMask([[0, 2]], 1), /must be 0 or 1, got 2/);
  });
});

describe('layers', () => {
  test('RMSNorm: x / rms(x) * weight', () => {
    // x = (3, 4): mean square 12.5, rms 3.5355; eps 0 -> (0.8485, 1.1314) * (1, 2)
    const n = new RMSNorm(tf.tensor1d([1, 2]), 0);
    const y = n.apply(tf.tensor2d([[3, 4]])).dataSync();
    assert.ok(Math.abs(y[0] - 3 / Math.sqrt(12.5)) < 1e-6 && Math.abs(y[1] - 8 / Math.sqrt(12.5)) < 1e-6);
    n.dispose();
  });

  test('Linear computes x W^T + b with W as [out, in]', () => {
    const l = new Linear(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([1, 0, -1]));
    const x = tf.tensor3d([[[1, 1]]]);
    assert.deepEqual([...l.apply(x).dataSync()], [4, 7, 10]);
    assert.deepEqual(l.apply(x).shape, [1, 1, 3]);
    l.dispose();
    x.dispose();
  });

  test('KV cache appends along the sequence and frees what it replaces', () => {
    const cache = new KVCache(1);
    const before = tf.memory().numTensors;
    const k1 = tf.ones([1, 2, 3, 4]) as tf.Tensor4D;
    cache.update(0, k1, k1);
    const k2 = tf.zeros([1, 2, 1, 4]) as tf.Tensor4D;
    const { k } = cache.update(0, k2, k2);
    assert.deepEqual(k.shape, [1, 2, 4, 4]);
    assert.equal(cache.seqLength, 4);
    tf.dispose([k1, k2]);
    assert.equal(tf.memory().numTensors, before + 2); // the cache's current k and v only
    assert.throws(() => cache.update(0, tf.zeros([2, 2, 1, 4]) as tf.Tensor4D, tf.zeros([2, 2, 1, 4]) as tf.Tensor4D), /cannot append/);
    cache.dispose();
    assert.equal(cache.seqLength, 0);
  });
});
