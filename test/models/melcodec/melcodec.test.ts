/**
 * The mini codec's TypeScript port against its reference (scripts/mini/melcodec.py), on the
 * fixture of test/fixtures/make_melcodec_fixtures.py: codes identical, decoder log-mel and
 * Griffin-Lim audio equal within 1e-9 (both Float64), frame arithmetic, config and input
 * validation.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint } from '../../../src/weights/checkpoint';
import { MelRvqCodec, melCodecConfigFromHf } from '../../../src/models/melcodec';

const DIR = join(__dirname, '..', '..', 'fixtures', 'melcodec');
let codec: MelRvqCodec;
let fx: Checkpoint;
let hf: Record<string, unknown>;

async function f64(name: string): Promise<Float64Array> {
  const t = await fx.read(name);
  return Float64Array.from(t.data as ArrayLike<number>);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

before(async () => {
  hf = JSON.parse(await readFile(join(DIR, 'config.json'), 'utf8'));
  codec = await MelRvqCodec.fromWeights(melCodecConfigFromHf(hf, 'config.json'), await Checkpoint.open(DIR));
  fx = await Checkpoint.openFile(join(DIR, 'fixtures.safetensors'));
});

describe('mini codec parity with scripts/mini/melcodec.py', () => {
  test('codes are identical', async () => {
    const audio = Float32Array.from(await f64('audio'));
    const t = await fx.read('codes');
    const [frames, q] = t.shape as [number, number];
    const codes = codec.encode(audio);
    assert.equal(codes.length, frames);
    assert.equal(frames, Math.ceil(audio.length / 1920));
    const flat = codes.flat();
    assert.equal(flat.length, frames * q);
    assert.deepEqual(flat, Array.from(t.data as ArrayLike<number>));
  });

  test('decoder log-mel and Griffin-Lim audio match within 1e-9', async () => {
    const t = await fx.read('codes');
    const [frames, q] = t.shape as [number, number];
    const data = Array.from(t.data as ArrayLike<number>);
    const codes = Array.from({ length: frames }, (_, f) => data.slice(f * q, (f + 1) * q));
    assert.ok(maxAbsDiff(codec.logMel(codes), await f64('log_mel')) < 1e-9);
    const y = codec.decode(codes);
    assert.equal(y.length, frames * codec.frameSamples);
    const ref = await f64('decoded');
    // The output is Float32: compare at its precision (values are ~0.1).
    assert.ok(maxAbsDiff(y, ref) < 1e-6, `decoded differs by ${maxAbsDiff(y, ref)}`);
    const y2 = codec.decode(codes.map((c) => c.slice(0, 2)));
    assert.ok(maxAbsDiff(y2, await f64('decoded_q2')) < 1e-6);
    assert.ok(maxAbsDiff(y, y2) > 1e-3, 'dropping codebooks must change the audio');
  });

  test('AudioCodec view: frame size, rate, id and codebook count', async () => {
    const ac = codec.asAudioCodec('melcodec:fixture', 2);
    assert.equal(ac.sampleRate, 24000);
    assert.equal(ac.frameSamples, 1920);
    assert.equal(ac.numCodebooks, 2);
    assert.equal(ac.id, 'melcodec:fixture:2');
    const codes = await ac.encode(new Float32Array(1921).fill(0.01));
    assert.equal(codes.length, 2);
    assert.equal(codes[0]!.length, 2);
    assert.equal((await ac.decode(codes)).length, 2 * 1920);
    assert.throws(() => codec.asAudioCodec('x', 5), /numCodebooks must be 1..4, got 5/);
  });
});

describe('mini codec validation', () => {
  test('config errors name the field and value', () => {
    assert.throws(() => melCodecConfigFromHf({ ...hf, n_mels: 0 }, 'c.json'), /c\.json: nMels must be > 0, got 0/);
    assert.throws(() => melCodecConfigFromHf({ ...hf, hop_length: '240' }, 'c.json'), /c\.json: hop_length must be an integer, got "240"/);
    assert.throws(() => melCodecConfigFromHf({ ...hf, model_type: 'mimi' }, 'c.json'), /codec model_type "mimi"/);
    assert.throws(() => melCodecConfigFromHf({ ...hf, f_max: 20000 }, 'c.json'), /f_max <= sampling_rate \/ 2/);
  });

  test('bad codes and samples are refused with their position', () => {
    assert.throws(() => codec.decode([[1, 2, 3, 4], [1, 2, 64, 0]]), /frame 1 codebook 2: code 64 is outside 0\.\.63/);
    assert.throws(() => codec.decode([[1, 2, 3, 4, 5]]), /frame 0 must have 1\.\.4 codes, got 5/);
    const x = new Float32Array(3000);
    x[17] = NaN;
    assert.throws(() => codec.encode(x), /sample 17 is NaN/);
  });

  test('a weight of the wrong shape is refused naming the tensor', async () => {
    const c = melCodecConfigFromHf({ ...hf, dim: 8 }, 'c.json');
    await assert.rejects(MelRvqCodec.fromWeights(c, await Checkpoint.open(DIR), { where: 'fixture' }), /fixture: components has shape \[16,640\], the config needs \[8,640\]/);
  });
});
