/**
 * Mimi parity with transformers 5.17 on the fixtures of test/fixtures/mimi (a tiny random
 * MimiModel with the real frame logic: 24 kHz, strides [8, 6, 5, 4] and 2, 1920 samples
 * per frame; sliding window 12 encoder steps, shorter than the speech clip):
 * codes identical on a flite speech clip, on noise and on two edge lengths, for several
 * numbers of codebooks; decoded audio within 1e-4 relative error; the stages in between;
 * streamed (chunked) encode and decode equal to one pass; weight-import checks; input
 * validation; no tensor leaks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint, MemoryWeights } from '../../../src/weights/checkpoint';
import type { MemoryTensor } from '../../../src/weights/checkpoint';
import {
  MimiModel, disposeEncodeState, framesForSamples, frameSamples, mimiConfigFromHf, slidingWindowMask,
} from '../../../src/models/mimi';
import type { MimiCodes, MimiConfig } from '../../../src/models/mimi';
import { resampledLength } from '../../../src/audio/resample';
import type { AudioCodec } from '../../../src/models/csm/types';
import { FIXTURE_DIR, f32, i32, loadMeta, loadModel, openExpected, relError } from './mimi_fixtures';
import type { MimiMeta } from './mimi_fixtures';

/** Decoded audio: the acceptance tolerance. */
const AUDIO_TOL = 1e-4;
/** Activations between the stages (f32 noise is ~1e-6). */
const STAGE_TOL = 1e-5;
const CLIPS = ['speech', 'noise', 'short', 'exact'];

let model: MimiModel;
let ck: Checkpoint;
let meta: MimiMeta;
let hfConfig: Record<string, unknown>;

before(async () => {
  await tf.setBackend('cpu');
  model = await loadModel();
  ck = await openExpected();
  meta = await loadMeta();
  hfConfig = JSON.parse(await readFile(join(FIXTURE_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
});
after(() => model?.dispose());

async function input(clip: string): Promise<Float32Array> {
  return (await f32(ck, `${clip}.input`)).data;
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

describe('mimi config', () => {
  test('fromHfConfig reads the fixture (transformers 5 keys: rope_parameters)', () => {
    const c = mimiConfigFromHf(hfConfig);
    assert.equal(c.hiddenSize, 32);
    assert.equal(c.numFilters, 4);
    assert.deepEqual(c.upsamplingRatios, [8, 6, 5, 4]);
    assert.equal(c.numQuantizers, 8);
    assert.equal(c.codebookSize, 64);
    assert.equal(c.slidingWindow, 12);
    assert.equal(c.ropeTheta, 10000);
    assert.equal(c.headDim, 8);
    assert.equal(frameSamples(c), 1920);
  });

  test('a transformers 4.x config (rope_theta at the top, frame_rate) is read; unknown keys ignored', () => {
    const old: Record<string, unknown> = { ...hfConfig, rope_theta: 5000, frame_rate: 12.5, some_future_key: [1, 2] };
    delete old.rope_parameters;
    assert.equal(mimiConfigFromHf(old).ropeTheta, 5000);
  });

  test('kyutai/mimi defaults: 32 codebooks of 2048, 1920-sample frames', () => {
    const c = mimiConfigFromHf({ model_type: 'mimi' });
    assert.equal(c.numQuantizers, 32);
    assert.equal(c.codebookSize, 2048);
    assert.equal(c.hiddenSize, 512);
    assert.equal(c.upsampleGroups, 512);
    assert.equal(frameSamples(c), 1920);
  });

  test('unsupported settings are rejected with the key and value', () => {
    assert.throws(() => mimiConfigFromHf({ ...hfConfig, use_causal_conv: false }), /use_causal_conv = false/);
    assert.throws(() => mimiConfigFromHf({ ...hfConfig, trim_right_ratio: 0.5 }), /trim_right_ratio = 0.5/);
    assert.throws(() => mimiConfigFromHf({ ...hfConfig, hidden_act: 'relu' }), /hidden_act = "relu"/);
    assert.throws(() => mimiConfigFromHf({ ...hfConfig, num_semantic_quantizers: 8 }), /numSemanticQuantizers \(8\)/);
    assert.throws(() => mimiConfigFromHf({ ...hfConfig, frame_rate: 25 }), /frame_rate 25/);
    assert.throws(() => mimiConfigFromHf({ ...hfConfig, hidden_size: 'big' }), /hidden_size must be a number, got "big"/);
  });

  test('frames = ceil(samples / 1920), as transformers get_encoded_length', () => {
    const c = mimiConfigFromHf(hfConfig);
    for (const [n, frames] of Object.entries(meta.encoded_lengths)) {
      assert.equal(framesForSamples(c, Number(n)), frames, `${n} samples`);
    }
  });
});

describe('mimi weights', () => {
  async function memoryCopy(edit: (m: Map<string, MemoryTensor>) => void, prefix = ''): Promise<MemoryWeights> {
    const src = await Checkpoint.open(join(FIXTURE_DIR, 'model.safetensors'));
    const m = new Map<string, MemoryTensor>();
    for (const k of src.keys()) {
      const r = await src.read(k);
      m.set(prefix + k, { shape: r.shape, data: r.data, dtype: r.dtype });
    }
    edit(m);
    return new MemoryWeights(m);
  }
  let config: MimiConfig;
  before(() => {
    config = mimiConfigFromHf(hfConfig);
  });

  test('the checkpoint holds exactly the state_dict keys of the reference model', async () => {
    const src = await Checkpoint.open(join(FIXTURE_DIR, 'model.safetensors'));
    assert.deepEqual(src.keys(), [...meta.state_dict_keys].sort());
  });

  test('a tensor no module uses is rejected by name; codebook.initialized is the listed exception', async () => {
    const w = await memoryCopy((m) => m.set('encoder.layers.99.conv.weight', { shape: [1], data: new Float32Array(1) }));
    await assert.rejects(MimiModel.fromWeights(w, config), /1 tensor\(s\) no module uses: encoder\.layers\.99\.conv\.weight/);
    const ok = await memoryCopy((m) => {
      for (const k of [...m.keys()]) if (k.endsWith('.codebook.initialized')) m.delete(k);
    });
    const before = tf.memory().numTensors;
    (await MimiModel.fromWeights(ok, config)).dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  test('a missing tensor and a wrong shape are rejected by name, freeing what was loaded', async () => {
    const before = tf.memory().numTensors;
    const missing = await memoryCopy((m) => m.delete('decoder_transformer.layers.1.mlp.fc2.weight'));
    await assert.rejects(MimiModel.fromWeights(missing, config), /no tensor decoder_transformer\.layers\.1\.mlp\.fc2\.weight/);
    const bad = await memoryCopy((m) => m.set('upsample.conv.weight', { shape: [32, 2, 4], data: new Float32Array(256) }));
    await assert.rejects(MimiModel.fromWeights(bad, config), /upsample\.conv\.weight has shape \[32,2,4\], expected \[32,1,4\]/);
    assert.equal(tf.memory().numTensors, before);
  });

  test('random weights (benchmarks): seeded, the shapes of the config, usable', async () => {
    const c = mimiConfigFromHf(hfConfig);
    const [a, b] = [await MimiModel.random(c, 3), await MimiModel.random(c, 3)];
    const x = await input('exact');
    const [ca, cb] = [await a.encode(x), await b.encode(x)];
    assert.deepEqual(ca.shape, [8, 2]);
    assert.deepEqual(ca.data, cb.data);
    assert.equal((await a.decode(ca)).length, 3840);
    a.dispose();
    b.dispose();
  });

  test('the codec inside a larger checkpoint loads by prefix (CSM: "codec_model.")', async () => {
    const w = await memoryCopy((m) => m.set('backbone.norm.weight', { shape: [2], data: new Float32Array(2) }), 'codec_model.');
    const m = await MimiModel.fromWeights(w, config, { prefix: 'codec_model.' });
    const codes = await m.encode(await input('exact'), { numCodebooks: 8 });
    m.dispose();
    assert.deepEqual([...codes.data], [...(await i32(ck, 'exact.codes_q8')).data]);
  });
});

describe('mimi parity with transformers', () => {
  test('sliding window: transformers applies it (fixture probe), mask is q - window < k <= q', () => {
    assert.equal(meta.sliding_window_applied, true);
    // queries at positions 10..13; 2 cached keys (8, 9) then the 4 new ones (10..13); window 3
    const m = slidingWindowMask(4, 2, 10, 3);
    const visible = Array.from(m.dataSync()).map((v) => (v === 0 ? 1 : 0));
    m.dispose();
    assert.deepEqual(visible, [
      1, 1, 1, 0, 0, 0, // q10 sees 8, 9, 10
      0, 1, 1, 1, 0, 0, // q11 sees 9, 10, 11
      0, 0, 1, 1, 1, 0,
      0, 0, 0, 1, 1, 1,
    ]);
  });

  test('encoder stages on speech: SEANet, transformer, downsample', async () => {
    const x = await input('speech');
    const state = model.newEncodeState();
    const outs = tf.tidy(() => {
      const o = model.embedChunk(tf.tensor2d(x, [x.length, 1]), state, true);
      return [o.encoderOut, o.transformerOut, o.embeddings].map((t) => tf.keep(t));
    });
    disposeEncodeState(state);
    const names = ['encoder_out', 'encoder_transformer_out', 'downsample_out'];
    for (let i = 0; i < names.length; i++) {
      const e = await f32(ck, `speech.${names[i]}`);
      assert.deepEqual(outs[i].shape, e.shape, names[i]);
      const err = relError(await outs[i].data(), e.data);
      assert.ok(err <= STAGE_TOL, `${names[i]} relative error ${err}`);
    }
    tf.dispose(outs);
  });

  test('decoder stages on speech: quantizer decode, upsample, transformer', async () => {
    const codes = await i32(ck, 'speech.codes_q8');
    const outs = tf.tidy(() => {
      const q = model.quantizer.decode(tf.tensor2d(codes.data, codes.shape as [number, number], 'int32'));
      const up = model.upsample.apply(q);
      const tr = model.decoder_transformer.apply(up);
      return [q, up, tr];
    });
    const names = ['quantized_q8', 'upsample_out', 'decoder_transformer_out'];
    for (let i = 0; i < names.length; i++) {
      const e = await f32(ck, `speech.${names[i]}`);
      assert.deepEqual(outs[i].shape, e.shape, names[i]);
      const err = relError(await outs[i].data(), e.data);
      assert.ok(err <= STAGE_TOL, `${names[i]} relative error ${err}`);
    }
    tf.dispose(outs);
  });

  for (const clip of CLIPS) {
    test(`${clip}: codes identical for every number of codebooks`, async () => {
      const x = await input(clip);
      for (const n of meta.clips[clip].encode_num_quantizers) {
        const exp = await i32(ck, `${clip}.codes_q${n}`);
        const codes = await model.encode(x, { numCodebooks: n });
        assert.deepEqual(codes.shape, exp.shape, `${clip} q${n} shape`);
        assert.deepEqual(codes.shape, [n, framesForSamples(model.config, x.length)]);
        assert.ok(codes.data.every((v, i) => v === exp.data[i]), `${clip} q${n}: first difference at ${firstDiff(codes.data, exp.data)}`);
      }
    });

    test(`${clip}: decoded audio within ${AUDIO_TOL} relative error`, async () => {
      for (const n of meta.clips[clip].decode_num_quantizers) {
        const full = await i32(ck, `${clip}.codes_q8`);
        const frames = full.shape[1];
        const codes: MimiCodes = { data: full.data.slice(0, n * frames), shape: [n, frames] };
        const audio = await model.decode(codes);
        const exp = await f32(ck, `${clip}.decoded_q${n}`);
        assert.equal(audio.length, frames * 1920);
        assert.equal(audio.length, exp.data.length);
        const err = relError(audio, exp.data);
        assert.ok(err <= AUDIO_TOL, `${clip} q${n}: relative error ${err}`);
      }
    });
  }

  test('the fixture codes are not trivial (many distinct codes per codebook)', async () => {
    const exp = await i32(ck, 'speech.codes_q8');
    const [n, frames] = exp.shape;
    for (let k = 0; k < n; k++) {
      const distinct = new Set(exp.data.subarray(k * frames, (k + 1) * frames)).size;
      assert.ok(distinct >= 10, `codebook ${k} uses only ${distinct} codes`);
    }
  });
});

describe('mimi as the codec of CSM', () => {
  test('fromPretrained on a CSM checkpoint: codec_config and "codec_model." weights', async () => {
    const csm = await MimiModel.fromPretrained(join(FIXTURE_DIR, '..', 'csm'), { prefix: 'codec_model.' });
    try {
      assert.equal(csm.config.numQuantizers, 8);
      const codes = await csm.encode(await input('exact'));
      assert.deepEqual(codes.shape, [8, 2]);
      assert.ok(codes.data.every((v) => v >= 0 && v < 64));
    } finally {
      csm.dispose();
    }
  });

  test('asAudioCodec: frame-major codes, the same values as encode/decode', async () => {
    const codec: AudioCodec = model.asAudioCodec(5);
    assert.equal(codec.sampleRate, 24000);
    assert.equal(codec.frameSamples, 1920);
    assert.equal(codec.numCodebooks, 5);
    const x = await input('noise');
    const frames = await codec.encode(x);
    const exp = await i32(ck, 'noise.codes_q8'); // the first 5 rows are the 5-codebook codes
    const T = exp.shape[1];
    assert.equal(frames.length, T);
    frames.forEach((f, t) => assert.deepEqual(f, [0, 1, 2, 3, 4].map((k) => exp.data[k * T + t]), `frame ${t}`));
    const audio = await codec.decode(frames);
    assert.deepEqual(audio, await model.decode({ data: exp.data.slice(0, 5 * T), shape: [5, T] }));
    assert.throws(() => model.asAudioCodec(9), /from 1 to 8, got 9/);
    await assert.rejects(codec.decode([[1, 2, 3, 4, 5], [1, 2]]), /frame 1 has 2 codebooks/);
  });
});

describe('mimi long audio: streamed in chunks, same as one pass', () => {
  test('chunked encode equals the single pass (speech, noise) for several chunk sizes', async () => {
    for (const clip of ['speech', 'noise']) {
      const x = await input(clip);
      const exp = await i32(ck, `${clip}.codes_q8`);
      for (const chunkFrames of [1, 3, 7]) {
        const codes = await model.encode(x, { numCodebooks: 8, chunkFrames, progress: false });
        assert.ok(codes.data.every((v, i) => v === exp.data[i]), `${clip} chunkFrames ${chunkFrames}: ${firstDiff(codes.data, exp.data)}`);
      }
    }
  });

  test('a long clip (speech x 4 = 12.9 s, 27x the 0.48 s attention window) encodes the same in one chunk or 10-frame chunks', async () => {
    const s = await input('speech');
    const long = new Float32Array(s.length * 4);
    for (let i = 0; i < 4; i++) long.set(s, i * s.length);
    const one = await model.encode(long, { chunkFrames: 1000 });
    const chunked = await model.encode(long, { chunkFrames: 10, progress: true });
    assert.deepEqual(one.shape, [8, framesForSamples(model.config, long.length)]);
    assert.ok(one.data.every((v, i) => v === chunked.data[i]), firstDiff(one.data, chunked.data));
    // The first clip's frames do not depend on what follows (causal): they equal the fixture.
    const exp = await i32(ck, 'speech.codes_q8');
    const frames = exp.shape[1] - 1; // the last frame of the clip saw end padding
    for (let k = 0; k < 8; k++) {
      for (let t = 0; t < frames; t++) assert.equal(one.data[k * one.shape[1] + t], exp.data[k * exp.shape[1] + t], `codebook ${k} frame ${t}`);
    }
  });

  test('chunked decode matches the single pass and the fixture', async () => {
    const codes = await i32(ck, 'speech.codes_q8');
    const c: MimiCodes = { data: codes.data, shape: codes.shape as [number, number] };
    const one = await model.decode(c);
    const exp = await f32(ck, 'speech.decoded_q8');
    for (const chunkFrames of [1, 4, 9]) {
      const chunked = await model.decode(c, { chunkFrames, progress: false });
      const err = relError(chunked, one);
      assert.ok(err <= 1e-6, `chunkFrames ${chunkFrames}: relative error to one pass ${err}`);
      assert.ok(relError(chunked, exp.data) <= AUDIO_TOL);
    }
  });

  test('encode and decode leak no tensors (also chunked)', async () => {
    const x = await input('noise');
    const before = tf.memory().numTensors;
    const codes = await model.encode(x, { chunkFrames: 4 });
    await model.decode(codes, { chunkFrames: 5 });
    await model.encode(x);
    await assert.rejects(model.decode({ data: new Int32Array([99]), shape: [1, 1] }));
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('mimi input validation', () => {
  test('numCodebooks outside 1..numQuantizers is rejected naming the value', async () => {
    const x = await input('short');
    for (const n of [0, 9, 2.5]) {
      await assert.rejects(model.encode(x, { numCodebooks: n }), new RegExp(`from 1 to 8, got ${n}`));
    }
  });

  test('codes with too many codebooks, out-of-range or non-integer values are rejected naming them', async () => {
    await assert.rejects(model.decode({ data: new Int32Array(9 * 2), shape: [9, 2] }), /codes have 9 codebooks; this Mimi takes 1 to 8/);
    await assert.rejects(model.decode([[1, 2, 3], [4, 64, 5]]), /value 64 at codebook 1, frame 1 is outside \[0, 64\)/);
    await assert.rejects(model.decode([[1, -1]]), /value -1 at codebook 0, frame 1 is outside/);
    await assert.rejects(model.decode([[1, 2.5]]), /value 2\.5 at codebook 0, frame 1 is not an integer/);
    await assert.rejects(model.decode([[1, 2], [3]]), /codebook 1 has 1 frames, codebook 0 has 2/);
    await assert.rejects(model.decode({ data: new Int32Array(5), shape: [2, 3] }), /data has 5 values, shape \[2,3\] needs 6/);
    await assert.rejects(model.decode([[]]), /no frames/);
  });

  test('number[][] codes decode like MimiCodes', async () => {
    const codes = await i32(ck, 'exact.codes_q8');
    const rows = [0, 1, 2].map((k) => Array.from(codes.data.subarray(k * 2, k * 2 + 2)));
    const a = await model.decode(rows);
    const b = await model.decode({ data: codes.data.slice(0, 6), shape: [3, 2] });
    assert.deepEqual(a, b);
  });

  test('empty audio, non-finite samples and stereo are rejected', async () => {
    await assert.rejects(model.encode(new Float32Array(0)), /audio is empty/);
    const bad = new Float32Array(100);
    bad[42] = NaN;
    await assert.rejects(model.encode(bad), /sample 42 is NaN/);
    await assert.rejects(model.encode({ channels: [bad, bad], sampleRate: 24000 }), /mono audio; got 2 channels/);
  });

  test('audio not at 24 kHz: rejected when resampling is off, else resampled with a notice', async () => {
    const x = (await input('speech')).slice(0, 16000);
    await assert.rejects(model.encode(x, { sampleRate: 16000, resample: false }), /audio is at 16000 Hz, the codec needs 24000 Hz/);
    const notices: string[] = [];
    const codes = await model.encode({ samples: x, sampleRate: 16000 }, { onNotice: (m) => notices.push(m) });
    assert.equal(notices.length, 1);
    assert.match(notices[0], /resampling 16000 samples from 16000 Hz to 24000 Hz/);
    assert.equal(codes.shape[1], framesForSamples(model.config, resampledLength(16000, 16000, 24000)));
    const silent: string[] = [];
    await model.encode(x, { onNotice: (m) => silent.push(m) }); // a bare array is taken as 24 kHz
    assert.equal(silent.length, 0);
  });
});
