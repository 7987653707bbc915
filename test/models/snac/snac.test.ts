/**
 * SNAC parity with the reference `snac` 1.2.1 package on the fixtures of test/fixtures/snac
 * (make_snac_fixtures.py: tiny random models with the 24 kHz structure, hop 512,
 * vq_strides [4, 2, 1], 4096 codes; `tiny24` without attention as the real model,
 * `tinyattn` with LocalMHA windows of 8 and legacy weight_g/weight_v names):
 * codes identical on a flite speech clip and a short noise clip, decoded audio within
 * 1e-4 relative error with the noise blocks off and with the reference's recorded noise,
 * config/padding rules, weight-import checks, no tensor leaks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint, MemoryWeights } from '../../../src/weights/checkpoint';
import type { MemoryTensor } from '../../../src/weights/checkpoint';
import { SNAC_24KHZ, SnacModel, padMultiple, paddedLength, snacConfigFromJson } from '../../../src/models/snac';
import type { SnacCodes } from '../../../src/models/snac';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'snac');
/** Decoded audio: the acceptance tolerance (measured ~1e-6). */
const AUDIO_TOL = 1e-4;
const LATENT_TOL = 1e-5;

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

interface Meta {
  clips: Record<string, { samples: number; padded: number; frames: number[]; distinct_codes: number[] }>;
  state_dict_keys: string[];
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('snac config', () => {
  test('snac_24khz: hop 512, pads to 2048 samples (512 * lcm(4, 1)), 3 levels', () => {
    assert.equal(padMultiple(SNAC_24KHZ), 2048);
    assert.equal(paddedLength(SNAC_24KHZ, 44040), 45056);
    assert.equal(paddedLength(SNAC_24KHZ, 2048), 2048);
    assert.equal(SNAC_24KHZ.latentDim, 768);
  });

  test('attention windows enter the padding: 512 * lcm(4, 8); 44 kHz defaults 441 * lcm(8, 32)', async () => {
    const c = snacConfigFromJson(JSON.parse(await readFile(join(FIXTURES, 'tinyattn', 'config.json'), 'utf8')) as Record<string, unknown>);
    assert.equal(padMultiple(c), 4096);
    assert.equal(padMultiple(snacConfigFromJson({})), 3 * 3 * 7 * 7 * 32);
  });

  test('bad values are rejected with key and value', () => {
    assert.throws(() => snacConfigFromJson({ encoder_rates: [2, 0] }), /encoder_rates must be a list of positive integers, got \[2,0\]/);
    assert.throws(() => snacConfigFromJson({ decoder_rates: [8, 8, 4, 4], encoder_rates: [2, 4, 8, 8], attn_window_size: null }), /upsample by 1024, encoder_rates hop is 512/);
    assert.throws(() => snacConfigFromJson({ attn_window_size: 'x' }), /attn_window_size must be null or a positive integer, got "x"/);
  });
});

for (const name of ['tiny24', 'tinyattn']) {
  describe(`snac parity: ${name}`, () => {
    const dir = join(FIXTURES, name);
    let model: SnacModel;
    let ck: Checkpoint;
    let meta: Meta;
    before(async () => {
      model = await SnacModel.fromPretrained(dir);
      ck = await Checkpoint.open(join(dir, 'fixtures.safetensors'));
      meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
    });
    after(() => model?.dispose());

    for (const clip of ['speech', 'noise']) {
      test(`${clip}: codes identical, latents and decoded audio within tolerance, no leaks`, async () => {
        const before = tf.memory().numTensors;
        const x = (await ck.getF32(`${clip}.input`)).data;
        const codes = await model.encode(x);
        const info = meta.clips[clip];
        assert.deepEqual(codes.map((c) => c.length), info.frames);
        for (let k = 0; k < 3; k++) {
          const want = (await ck.read(`${clip}.codes.${k}`)).data as Int32Array;
          assert.deepEqual(Array.from(codes[k]), Array.from(want), `level ${k}`);
        }
        if (clip === 'speech') assert.ok(info.distinct_codes.every((n) => n >= 15), 'codes vary over the clip');

        const zq = model.quantizedLatents(codes); // [1, T, latent]; reference [latent, T]
        const zqRef = await ck.getF32(`${clip}.z_q`);
        const zqT = tf.tidy(() => zq.squeeze([0]).transpose());
        assert.ok(relError(await zqT.data(), zqRef.data) < LATENT_TOL);
        tf.dispose([zq, zqT]);
        const z = model.latents(x);
        const zT = tf.tidy(() => z.squeeze([0]).transpose());
        assert.ok(relError(await zT.data(), (await ck.getF32(`${clip}.z`)).data) < LATENT_TOL);
        tf.dispose([z, zT]);

        const off = await model.decode(codes, { noise: 'off' });
        assert.equal(off.length, info.padded);
        const errOff = relError(off, (await ck.getF32(`${clip}.decoded_nonoise`)).data);
        assert.ok(errOff < AUDIO_TOL, `noise off: rel err ${errOff}`);

        const noises: Float32Array[] = [];
        for (let i = 0; i < 4; i++) noises.push((await ck.getF32(`${clip}.noise.${i}`)).data);
        const withNoise = await model.decode(codes, { noise: ({ block, offset }) => noises[block].subarray(offset) });
        const want = (await ck.getF32(`${clip}.decoded_noise`)).data;
        const errNoise = relError(withNoise, want);
        assert.ok(errNoise < AUDIO_TOL, `recorded noise: rel err ${errNoise}`);
        // The noise matters: decoding without it is far from the noisy reference.
        assert.ok(relError(off, want) > 100 * AUDIO_TOL);
        assert.equal(tf.memory().numTensors, before);
      });
    }

    test('the checkpoint holds exactly the reference state_dict keys (all used at load)', async () => {
      const src = await Checkpoint.open(join(dir, 'model.safetensors'));
      assert.deepEqual(src.keys(), [...meta.state_dict_keys].sort());
      assert.ok(src.keys().some((k) => k.endsWith(name === 'tinyattn' ? '.weight_v' : '.parametrizations.weight.original1')));
    });
  });
}

describe('snac weights and inputs', () => {
  async function memory(edit: (m: Map<string, MemoryTensor>) => void): Promise<MemoryWeights> {
    const src = await Checkpoint.open(join(FIXTURES, 'tiny24', 'model.safetensors'));
    const m = new Map<string, MemoryTensor>();
    for (const k of src.keys()) {
      const r = await src.getF32(k);
      m.set(k, { shape: r.shape, data: r.data });
    }
    edit(m);
    return new MemoryWeights(m);
  }
  let config: ReturnType<typeof snacConfigFromJson>;
  before(async () => {
    config = snacConfigFromJson(JSON.parse(await readFile(join(FIXTURES, 'tiny24', 'config.json'), 'utf8')) as Record<string, unknown>);
  });

  test('a missing tensor, a wrong shape and an unused tensor are named; nothing leaks', async () => {
    const n0 = tf.memory().numTensors;
    const key = 'decoder.model.3.block.2.linear.parametrizations.weight.original1';
    await assert.rejects(SnacModel.fromWeights(await memory((m) => m.delete(key)), config), new RegExp(`no tensor decoder.model.3.block.2.linear.weight`));
    await assert.rejects(
      SnacModel.fromWeights(await memory((m) => m.set('encoder.block.1.block.3.alpha', { shape: [1, 3, 1], data: new Float32Array(3) })), config),
      /encoder.block.1.block.3.alpha has shape \[1,3,1\], expected \[1,4,1\]/);
    await assert.rejects(
      SnacModel.fromWeights(await memory((m) => m.set('quantizer.extra', { shape: [1], data: new Float32Array(1) })), config),
      /1 tensor\(s\) no module uses: quantizer.extra/);
    assert.equal(tf.memory().numTensors, n0);
  });

  test('folded weights (plain .weight = g * v / ||v||) load to the same codes', async () => {
    const m = await SnacModel.fromPretrained(join(FIXTURES, 'tiny24'));
    const ck = await Checkpoint.open(join(FIXTURES, 'tiny24', 'fixtures.safetensors'));
    const x = (await ck.getF32('noise.input')).data;
    const codes = await m.encode(x);
    m.dispose();
    const folded = await memory((mm) => {
      for (const k of [...mm.keys()].filter((k) => k.endsWith('.original1'))) {
        const base = k.slice(0, -'.parametrizations.weight.original1'.length);
        const v = mm.get(k)!;
        const g = mm.get(`${base}.parametrizations.weight.original0`)!;
        const per = v.data.length / v.shape[0];
        const w = new Float32Array(v.data.length);
        for (let o = 0; o < v.shape[0]; o++) {
          let ss = 0;
          for (let i = 0; i < per; i++) ss += Number(v.data[o * per + i]) ** 2;
          for (let i = 0; i < per; i++) w[o * per + i] = (Number(g.data[o]) * Number(v.data[o * per + i])) / Math.sqrt(ss);
        }
        mm.delete(k);
        mm.delete(`${base}.parametrizations.weight.original0`);
        mm.set(`${base}.weight`, { shape: v.shape, data: w });
      }
    });
    const m2 = await SnacModel.fromWeights(folded, config);
    assert.deepEqual((await m2.encode(x)).map((c) => Array.from(c)), codes.map((c) => Array.from(c)));
    m2.dispose();
  });

  test('decode rejects codes of the wrong level lengths or range, naming level, index and value', async () => {
    const m = await SnacModel.fromPretrained(join(FIXTURES, 'tiny24'));
    const n0 = tf.memory().numTensors;
    const good: SnacCodes = [new Int32Array(2), new Int32Array(4), new Int32Array(8)];
    await assert.rejects(m.decode([good[0], good[1], new Int32Array(7)]), /level 2 has 7 codes, expected 8/);
    await assert.rejects(m.decode([good[0], Int32Array.from([0, 1, 4096, 0]), good[2]]), /level 1 code 2 is 4096, outside \[0, 4096\)/);
    await assert.rejects(m.decode(good, { noise: { seed: 1.5 } }), /noise must be/);
    await assert.rejects(m.encode(new Float32Array(0)), /empty audio/);
    assert.equal(tf.memory().numTensors, n0);
    m.dispose();
  });
});
