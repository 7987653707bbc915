/**
 * Mimi parity on the wasm and WebGPU backends (lavapipe's CPU Vulkan device in CI): the
 * same fixture codes and decoded audio as on the cpu backend, so erf, argMin, dilated
 * conv1d, gather and the transposed-conv overlap-add behave the same everywhere.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../../src/runtime';
import type { MimiModel } from '../../../src/models/mimi';
import { f32, i32, loadModel, openExpected, relError } from './mimi_fixtures';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

for (const backend of ['wasm', 'webgpu'] as const) {
  describe(`mimi on ${backend}`, () => {
    let model: MimiModel | undefined;
    after(() => model?.dispose());

    test('noise: codes identical, decoded audio within 1e-4, chunked encode equal, no leaks', async () => {
      await initRuntime({ backend });
      assert.equal(tf.getBackend(), backend);
      model = await loadModel();
      const ck = await openExpected();
      const x = (await f32(ck, 'noise.input')).data;
      const exp = await i32(ck, 'noise.codes_q8');
      const before = tf.memory().numTensors;
      const codes = await model.encode(x);
      assert.deepEqual(codes.shape, exp.shape);
      assert.deepEqual([...codes.data], [...exp.data]);
      const chunked = await model.encode(x, { chunkFrames: 4 });
      assert.deepEqual([...chunked.data], [...exp.data]);
      const audio = await model.decode(codes, { chunkFrames: 6 });
      const err = relError(audio, (await f32(ck, 'noise.decoded_q8')).data);
      assert.ok(err <= 1e-4, `relative error ${err}`);
      assert.equal(tf.memory().numTensors, before);
    });
  });
}
