/**
 * XCodec2 encoder against transformers' Xcodec2Model.encode on a tiny random model with the
 * real frame layout (test/fixtures/xcodec2/xcodec2_tiny_encoder.safetensors, make_xcodec2_fixtures.py):
 * a 3 s speech clip through the w2v-BERT front end, the semantic model and adapter, the acoustic
 * encoder, fc_encoder and FSQ; codes identical, the decoded audio of those codes within 1e-4.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../../src/weights/checkpoint';
import {
  Xcodec2Codec, Xcodec2Encoder, kaiserSincFilter, xcodec2ConfigFromHf, xcodec2EncoderWeightShapes,
} from '../../../src/models/xcodec2';
import type { Xcodec2Config, Xcodec2EncodeTrace } from '../../../src/models/xcodec2';
import { MemoryWeights } from '../../../src/weights/checkpoint';

const DIR = join(__dirname, '..', '..', 'fixtures', 'xcodec2');

let config: Xcodec2Config;
let encFixture: Checkpoint;
let decFixture: Checkpoint;
let codec: Xcodec2Codec;
let trace: Xcodec2EncodeTrace;

/** max |a - b| / max |b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}


before(async () => {
  await tf.setBackend('cpu');
  config = xcodec2ConfigFromHf(JSON.parse(await readFile(join(DIR, 'xcodec2_tiny_config.json'), 'utf8')), 'xcodec2_tiny_config.json');
  encFixture = await Checkpoint.open(join(DIR, 'xcodec2_tiny_encoder.safetensors'));
  decFixture = await Checkpoint.open(join(DIR, 'xcodec2_tiny.safetensors'));
  // The encoder fixture holds the encoder side; project_in (the quantizer) is in the decoder fixture.
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const src of [encFixture, decFixture]) {
    for (const k of src.keys()) {
      if (/^(case|quant\.|enc\.)/.test(k)) continue;
      tensors.set(k, await src.getF32(k));
    }
  }
  codec = await Xcodec2Codec.fromWeights(new MemoryWeights(tensors, 'xcodec2-tiny'), config);
  const { data: audio } = await encFixture.getF32('enc.audio');
  trace = await codec.encoder.trace(audio);
});

describe('XCodec2 encoder config', () => {
  test('the tiny fixture: acoustic widths 2..64, a 1-layer w2v-BERT of width 64 (transformers\' semantic_model_config)', () => {
    assert.equal(config.encoderHiddenSize, 2);
    assert.equal(config.semanticModel.hiddenSize, 64);
    assert.equal(config.semanticModel.numHiddenLayers, 1);
    // no semantic_model_config: transformers' default wav2vec2-bert cut to 16 layers
    assert.equal(xcodec2ConfigFromHf({}, 'c.json').semanticModel.numHiddenLayers, 16);
    assert.throws(() => xcodec2ConfigFromHf({ semantic_model_config: { hidden_size: 64, position_embeddings_type: 'rotary' } }, 'c.json'),
      /semantic_model_config: position_embeddings_type "rotary" is not supported/);
  });

  test('weight shapes are the fixture\'s encoder key set', () => {
    const shapes = xcodec2EncoderWeightShapes(config);
    const keys = encFixture.keys().filter((k) => !k.startsWith('enc.') && k !== 'semantic_encoder.masked_spec_embed');
    assert.deepEqual([...shapes.keys()].filter((k) => !k.startsWith('quantizer.')).sort(), keys.sort());
    for (const k of keys) assert.deepEqual(shapes.get(k), encFixture.info(k).shape, k);
  });

  test('the anti-aliasing filter: 12 symmetric taps summing to 1', () => {
    const f = kaiserSincFilter(0.25, 0.3, 12);
    assert.ok(Math.abs(f.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(f[i]! - f[11 - i]!) < 1e-15);
  });
});

describe('XCodec2 encoder parity', () => {
  test('padding and frame count: 48160 samples -> 48320 -> 151 frames', async () => {
    assert.equal(trace.paddedLength, 48320);
    assert.equal(trace.codes.length, 151);
    const { data } = await encFixture.read('enc.codes');
    assert.equal(data.length, 151);
  });

  for (const [name, key] of [['w2v-BERT features', 'enc.features'], ['semantic model', 'enc.semantic'], ['semantic adapter', 'enc.adapter'],
    ['acoustic encoder', 'enc.acoustic'], ['fc_encoder', 'enc.fc']] as const) {
    test(`${name} output equals transformers' within 1e-4 relative error`, async () => {
      const t = { 'enc.features': trace.features, 'enc.semantic': trace.semantic, 'enc.adapter': trace.adapter, 'enc.acoustic': trace.acoustic, 'enc.fc': trace.fc }[key];
      const { shape, data: expected } = await encFixture.getF32(key);
      assert.deepEqual(t.shape, shape);
      const err = relErr((await t.data()) as Float32Array, expected);
      assert.ok(err < 1e-4, `${key}: relative error ${err}`);
      console.log(`# ${key} [${shape}]: rel err ${err.toExponential(2)}`);
    });
  }

  test('codes are identical to transformers\' encode (no FSQ bin flips)', async () => {
    const { data } = await encFixture.read('enc.codes');
    const expected = Array.from(data as Int32Array, Number);
    const got = Array.from(trace.codes);
    const flips = got.map((c, i) => (c === expected[i] ? -1 : i)).filter((i) => i >= 0);
    // The reference's closest bounded value is 0.00186 from a rounding edge; float32 differences are ~1e-6.
    const { data: projected } = await encFixture.getF32('enc.projected');
    const err = relErr(trace.projected, projected);
    console.log(`# enc.projected rel err ${err.toExponential(2)}; ${flips.length} of ${got.length} codes differ; ${new Set(expected).size} distinct codes`);
    assert.deepEqual(flips, [], `codes differ at frames ${flips.join(', ')}`);
    assert.ok(new Set(expected).size > 20, 'the clip reaches many codes: a wrong stage would show');
  });

  test('the encoded codes decode to transformers\' audio within 1e-4 relative error', async () => {
    const audio = await codec.decode(trace.codes);
    const { data: expected } = await encFixture.getF32('enc.decoded');
    const err = relErr(audio, expected);
    assert.ok(err < 1e-4, `relative error ${err}`);
    console.log(`# enc.decoded [${expected.length}]: rel err ${err.toExponential(2)}`);
  });
});

describe('XCodec2 codec', () => {
  test('AudioCodec view: ceil(N / 320) frames of one code; decode gives frames * 320 samples; no tensor leaks', async () => {
    const ac = codec.asAudioCodec('tiny-fixture');
    assert.deepEqual([ac.sampleRate, ac.frameSamples, ac.numCodebooks], [16000, 320, 1]);
    const before = tf.memory().numTensors;
    const { data: audio } = await encFixture.getF32('enc.audio');
    const codes = await ac.encode(audio.subarray(0, 6400)); // a multiple of 320: the reference's extra padding frame is dropped
    assert.equal(codes.length, 20);
    const odd = await ac.encode(audio.subarray(0, 6401));
    assert.equal(odd.length, 21);
    assert.deepEqual(odd.slice(0, 20).map((f) => f.length), new Array(20).fill(1));
    const samples = await ac.decode(codes);
    assert.equal(samples.length, 20 * 320);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(ac.decode([[1, 2]]), /frame 0 has 2 codes, expected 1/);
    await assert.rejects(codec.encode(new Float32Array(0)), /non-empty Float32Array/);
  });

  test('the original package\'s layout (HKUSTAudio/xcodec2: CodecEnc, generator, weight norm, fused c_attn) loads to the same codec', async () => {
    const orig = new Map<string, { shape: number[]; data: Float32Array }>();
    const put = (k: string, t: { shape: number[]; data: Float32Array }) => { assert.ok(!orig.has(k), k); orig.set(k, t); };
    // weight norm, decomposed: v = 1.7 w, g = |w| per output channel (so g v / |v| = w)
    const weightNorm = (base: string, t: { shape: number[]; data: Float32Array }, parametrized: boolean) => {
      const out = t.shape[0]!;
      const per = t.data.length / out;
      const g = new Float32Array(out);
      for (let o = 0; o < out; o++) g[o] = Math.hypot(...t.data.subarray(o * per, (o + 1) * per));
      const v = t.data.map((x) => 1.7 * x);
      put(parametrized ? `${base}.parametrizations.weight.original0` : `${base}.weight_g`, { shape: [out, 1, 1], data: g });
      put(parametrized ? `${base}.parametrizations.weight.original1` : `${base}.weight_v`, { shape: t.shape, data: v });
    };
    const qkv = new Map<string, Float32Array[]>();
    const unit = ['snake1', 'conv1', 'snake2', 'conv2'];
    for (const src of [encFixture, decFixture]) {
      for (const k of src.keys()) {
        if (/^(case|quant\.|enc\.)/.test(k)) continue;
        const t = await src.getF32(k);
        let m: RegExpExecArray | null;
        if (k.startsWith('semantic_encoder.')) put(`semantic_model.${k.slice(17)}`, t);
        else if ((m = /^semantic_adapter\.conv(\d)\.(.+)$/.exec(k))) put(`SemanticEncoder_module.${['initial_conv', 'residual_blocks.1', 'residual_blocks.3', 'final_conv'][Number(m[1]) - 1]}.${m[2]}`, t);
        else if ((m = /^acoustic_encoder\.(conv1|conv2|snake1)\.(.+)$/.exec(k))) {
          const base = m[1] === 'conv1' ? 'CodecEnc.conv_blocks.0' : m[1] === 'conv2' ? 'CodecEnc.conv_final_block.1' : 'CodecEnc.conv_final_block.0';
          if (m[2] === 'weight') weightNorm(base, t, m[1] === 'conv2'); else put(`${base}.${m[2]}`, t);
        } else if ((m = /^acoustic_encoder\.block\.(\d)\.(?:res_unit(\d)\.(\w+)|(snake1|conv1))\.(.+)$/.exec(k))) {
          const b = `CodecEnc.conv_blocks.${Number(m[1]) + 1}.block`;
          const base = m[2] ? `${b}.${Number(m[2]) - 1}.block.${unit.indexOf(m[3]!)}` : `${b}.${m[4] === 'snake1' ? 3 : 4}`;
          if (m[5] === 'weight') weightNorm(base, t, false); else put(`${base}.${m[5]}`, t);
        } else if (k.startsWith('fc_encoder.')) put(`fc_prior.${k.slice(11)}`, t);
        else if (k.startsWith('acoustic_decoder.fc.')) put(`fc_post_a.${k.slice(20)}`, t);
        else if (k.startsWith('quantizer.')) put(`generator.${k}`, t);
        else if ((m = /^acoustic_decoder\.(embed|prior_net\.\d|post_net\.\d)\.(.+)$/.exec(k))) put(`generator.backbone.${m[1]}.${m[2]}`, t);
        else if (k.startsWith('acoustic_decoder.norm.')) put(`generator.backbone.final_layer_norm.${k.slice(22)}`, t);
        else if (k.startsWith('acoustic_decoder.head.linear.')) put(`generator.head.out.${k.slice(29)}`, t);
        else if ((m = /^acoustic_decoder\.layers\.(\d)\.(.+)$/.exec(k))) {
          const p = `generator.backbone.transformers.${m[1]}`;
          const q = /^self_attn\.([qkv])_proj\.weight$/.exec(m[2]!);
          if (q) { const l = qkv.get(p) ?? []; l['qkv'.indexOf(q[1]!)] = t.data; qkv.set(p, l); continue; }
          const to: Record<string, string> = { 'input_layernorm.weight': 'att_norm.weight', 'post_attention_layernorm.weight': 'ffn_norm.weight', 'self_attn.o_proj.weight': 'att.c_proj.weight', 'mlp.fc1.weight': 'mlp.fc1.weight', 'mlp.fc2.weight': 'mlp.fc2.weight' };
          put(`${p}.${to[m[2]!]}`, t);
        } else assert.fail(`unmapped fixture key ${k}`);
      }
    }
    const H = config.hiddenSize;
    for (const [p, [q, k, v]] of qkv) put(`${p}.att.c_attn.weight`, { shape: [3 * H, H], data: Float32Array.from([...q!, ...k!, ...v!]) });
    // buffers the original saves, and w2v-BERT layers XCodec2 does not read (the original keeps 24)
    put('CodecEnc.conv_blocks.1.block.0.block.0.upsample.filter', { shape: [1, 1, 12], data: new Float32Array(12) });
    put('CodecEnc.conv_blocks.1.block.0.block.0.downsample.lowpass.filter', { shape: [1, 1, 12], data: new Float32Array(12) });
    put('generator.head.istft.window', { shape: [1280], data: new Float32Array(1280) });
    put('generator.quantizer.layers.0._levels', { shape: [8], data: new Float32Array(8) });
    put('semantic_model.encoder.layers.7.ffn1.intermediate_dense.weight', { shape: [1], data: new Float32Array(1) });

    const n = tf.memory().numTensors;
    const fromOriginal = await Xcodec2Codec.fromWeights(new MemoryWeights(orig, 'original-layout'), config);
    const { data: audio } = await encFixture.getF32('enc.audio');
    const clip = audio.subarray(0, 9600);
    assert.deepEqual(Array.from(await fromOriginal.encode(clip)), Array.from(await codec.encode(clip)));
    const codes = Array.from(trace.codes.subarray(0, 10));
    const err = relErr(await fromOriginal.decode(codes), await codec.decode(codes));
    assert.ok(err < 1e-5, `decode rel err ${err}`);
    fromOriginal.dispose();
    assert.equal(tf.memory().numTensors, n);
    orig.set('generator.backbone.mystery.weight', { shape: [1], data: new Float32Array(1) });
    await assert.rejects(Xcodec2Codec.fromWeights(new MemoryWeights(orig, 'original-layout'), config), /keys this port cannot place: generator\.backbone\.mystery\.weight/);
    orig.delete('generator.backbone.mystery.weight');
    orig.delete('CodecEnc.conv_blocks.0.weight_g');
    await assert.rejects(Xcodec2Codec.fromWeights(new MemoryWeights(orig, 'original-layout'), config), /CodecEnc\.conv_blocks\.0\.weight_v has no matching CodecEnc\.conv_blocks\.0\.weight_g/);
    assert.equal(tf.memory().numTensors, n, 'failed loads free what they read');
  });

  test('transformers main-branch decoder names (decoder.prior_resnet_block1, final_layer_norm, ...) load to the same codec', async () => {
    const renamed = new Map<string, { shape: number[]; data: Float32Array }>();
    const back: [RegExp, string][] = [
      [/^acoustic_decoder\.prior_net\.(\d)\./, 'decoder.prior_resnet_block$1.'], [/^acoustic_decoder\.post_net\.(\d)\./, 'decoder.post_resnet_block$1.'],
      [/^acoustic_decoder\.norm\./, 'decoder.final_layer_norm.'], [/^acoustic_decoder\./, 'decoder.'],
    ];
    for (const k of decFixture.keys()) {
      if (/^(case|quant\.)/.test(k)) continue;
      const rule = back.find(([re]) => re.test(k));
      // main's ModuleList blocks count from 1: prior_net.0 -> prior_resnet_block1
      const name = rule ? k.replace(rule[0], (...m) => rule[1].replace('$1', String(Number(m[1] ?? 0) + 1))) : k;
      renamed.set(name, await decFixture.getF32(k));
    }
    for (const k of encFixture.keys()) if (!k.startsWith('enc.')) renamed.set(k, await encFixture.getF32(k));
    assert.ok(renamed.has('decoder.prior_resnet_block2.conv1.weight') && renamed.has('decoder.final_layer_norm.bias') && renamed.has('decoder.layers.0.mlp.fc1.weight'));
    const main = await Xcodec2Codec.fromWeights(new MemoryWeights(renamed, 'main-layout'), config);
    const codes = Array.from(trace.codes.subarray(0, 10));
    assert.deepEqual(Array.from(await main.decode(codes)), Array.from(await codec.decode(codes)));
    main.dispose();
  });

  test('random encoder + decoder run end to end and free what they own', async () => {
    const n = tf.memory().numTensors;
    const tiny = await Xcodec2Codec.random({ ...config, quantizationLevels: [4, 4, 4, 4, 4] }, 5);
    assert.equal(tiny.codebookSize, 1024);
    const codes = await tiny.encode(new Float32Array(1000).map((_, i) => 0.3 * Math.sin(i / 5)));
    assert.equal(codes.length, 4);
    assert.ok(Array.from(codes).every((c) => c >= 0 && c < 1024));
    assert.equal((await tiny.decode(codes)).length, 4 * 320);
    tiny.dispose();
    assert.equal(tf.memory().numTensors, n);
  });
});
