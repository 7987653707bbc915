/**
 * The merged export of a CSM + LoRA model (saveMergedTts): on the transformers-made tiny
 * CSM checkpoint (test/fixtures/csm: Mimi inside as codec_model.*, tokenizer beside it), a
 * trained-looking adapter (seeded nonzero A and B) is merged, the folder is loaded back
 * with loadTtsModel as a plain model, and its loss on a batch equals the LoRA model's
 * (F32 to float rounding, BF16 to its 8-bit mantissa); the codec is copied bit for bit.
 * And a Llama-based family (tiny-random-orpheus): the merged Llama's logits equal the LoRA model's.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../src/runtime';
import { Checkpoint } from '../../src/weights/checkpoint';
import { loadTtsModel, type NotebookTtsModel } from '../../src/models/registry';
import { saveMergedTts } from '../../src/models/csm/trainable';
import type { CsmLoraTrainable } from '../../src/models/csm/trainable';
import type { CodedClip } from '../../src/models/types';
import { CSM_DIR } from '../models/csm/csm_fixtures';
import { LlamaForCausalLM } from '../../src/models/llama';

const tmp = mkdtempSync(join(tmpdir(), 'ttslab-merge-csm-'));
const TOKENIZER_DIR = join(CSM_DIR, 'tokenizer');

before(async () => {
  await initRuntime({ backend: 'cpu' });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function clips(nc: number): CodedClip[] {
  const clip = (i: number, frames: number, text: string): CodedClip => ({
    codes: Array.from({ length: frames }, (_, t) => Array.from({ length: nc }, (_, k) => 1 + ((i * 7 + k * 3 + (t % 4)) % 60))), text, source: 0,
  });
  return [clip(0, 9, 'Hello there.'), clip(1, 6, 'A second one.')];
}

/** Eval-mode loss (fixed -101 draw) of a batch of the clips. */
async function lossOf(tts: NotebookTtsModel, trainable: CsmLoraTrainable | null): Promise<number> {
  const examples = tts.buildTrainingExamples(clips(tts.codec.numCodebooks)) as Parameters<CsmLoraTrainable['collate']>[0];
  // A merged model has no adapter: a throwaway r-1 trainable only collates and computes the loss (its B is zero).
  const t = trainable ?? (tts.trainable({ loraR: 1, loraAlpha: 1 }) as CsmLoraTrainable);
  const batch = t.collate(examples);
  const loss = t.loss(batch, { training: false });
  const v = (await loss.data())[0]!;
  loss.dispose();
  return v;
}

test('saveMergedTts: a merged CSM folder loads alone and gives the LoRA model\'s loss (F32 and BF16); the codec is copied exactly', async () => {
  const tts = await loadTtsModel(CSM_DIR, { tokenizerDir: TOKENIZER_DIR });
  try {
    const t = tts.trainable({ loraR: 4, loraAlpha: 8, seed: 3 }) as CsmLoraTrainable;
    t.trainableVariables().forEach((p, i) => {
      const v = tf.randomNormal(p.variable.shape, 0, 0.05, 'float32', 11 + i);
      p.variable.assign(v);
      v.dispose();
    });
    const withLora = await lossOf(tts, t);
    const base = await (async () => {
      // The adapter changes the loss (else the comparison below proves nothing).
      const saved = t.trainableVariables().map((p) => p.variable.clone());
      for (const p of t.trainableVariables()) p.variable.assign(tf.zerosLike(p.variable));
      const v = await lossOf(tts, t);
      t.trainableVariables().forEach((p, i) => { p.variable.assign(saved[i]!); saved[i]!.dispose(); });
      return v;
    })();
    assert.ok(Math.abs(withLora - base) > 1e-3, `the adapter moves the loss (${base} -> ${withLora})`);

    const tensorsBefore = tf.memory().numTensors;
    const f32 = await saveMergedTts(tts, join(tmp, 'merged-f32'), { dtype: 'F32' });
    const bf16 = await saveMergedTts(tts, join(tmp, 'merged-bf16'), { dtype: 'BF16' });
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaked by the export');
    assert.equal(f32.note, null, 'a checkpoint-based model exports a complete folder');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(f32.dir, f)), f);
    const cfg = JSON.parse(readFileSync(join(bf16.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.torch_dtype, 'bfloat16');
    assert.equal(cfg.dtype, 'bfloat16');
    assert.equal(cfg.model_type, 'csm');
    assert.ok(typeof cfg.codec_config === 'object');

    // Codec: every codec_model.* tensor of the base, same dtype, same bits.
    const src = await Checkpoint.open(CSM_DIR);
    const out = await Checkpoint.open(bf16.dir);
    const codecKeys = src.keys().filter((k) => k.startsWith('codec_model.'));
    assert.ok(codecKeys.length > 100);
    for (const k of codecKeys) {
      assert.ok(out.has(k), k);
      assert.equal(out.info(k).dtype, src.info(k).dtype, k);
      assert.deepEqual((await out.getF32(k)).data, (await src.getF32(k)).data, k);
    }
    // CSM weights in the asked dtype, LoRA keys absent.
    assert.equal(out.info('backbone_model.layers.0.self_attn.q_proj.weight').dtype, 'BF16');
    assert.ok(!out.keys().some((k) => k.includes('lora_')));

    for (const [res, tol] of [[f32, 1e-4], [bf16, 3e-2]] as const) {
      const merged = await loadTtsModel(res.dir);
      try {
        const v = await lossOf(merged, null);
        assert.ok(Math.abs(v - withLora) <= tol * Math.abs(withLora), `${res.dir}: merged loss ${v}, LoRA model ${withLora}`);
        assert.ok(Math.abs(v - base) > Math.abs(v - withLora), 'the merged model is the adapted one, not the base');
      } finally {
        merged.dispose();
      }
    }
  } finally {
    tts.dispose();
  }
});

test('saveMergedTts: a model built in code says what its folder lacks; no adapter or a bad dtype is refused', async () => {
  const tiny = await loadTtsModel('tiny-random-csm');
  try {
    await assert.rejects(saveMergedTts(tiny, join(tmp, 'none')), /no LoRA adapter attached/);
    tiny.trainable({ loraR: 2, loraAlpha: 2 });
    await assert.rejects(saveMergedTts(tiny, join(tmp, 'x'), { dtype: 'F8' as 'F16' }), /dtype must be F16, BF16 or F32, got "F8"/);
    const r = await saveMergedTts(tiny, join(tmp, 'tiny'), { dtype: 'F16' });
    assert.match(r.note ?? '', /built in code: its codec and tokenizer are not in/);
    assert.equal((await Checkpoint.open(r.dir)).info('lm_head.weight').dtype, 'F16');
  } finally {
    tiny.dispose();
  }
});

test('saveMergedTts on a Llama-based family (tiny-random-orpheus): the merged Llama gives the LoRA model\'s logits', async () => {
  const tts = await loadTtsModel('tiny-random-orpheus');
  const llama = (tts as unknown as { model: LlamaForCausalLM }).model;
  assert.ok(llama instanceof LlamaForCausalLM);
  try {
    const t = tts.trainable({ loraR: 4, loraAlpha: 8 });
    t.trainableVariables().forEach((p, i) => {
      const v = tf.randomNormal(p.variable.shape, 0, 0.05, 'float32', 31 + i);
      p.variable.assign(v);
      v.dispose();
    });
    const ids = [[1, 5, 9, 17, 33, 60, 2, 7]];
    const logitsOf = async (m: LlamaForCausalLM) => {
      const y = m.forward({ inputIds: ids });
      const d = (await y.data()) as Float32Array;
      y.dispose();
      return d;
    };
    const adapted = await logitsOf(llama);
    const r = await saveMergedTts(tts, join(tmp, 'orpheus-f32'), { dtype: 'F32' });
    assert.match(r.note ?? '', /built in code: its tokenizer is not in/);
    const merged = await LlamaForCausalLM.fromPretrained(r.dir);
    try {
      const got = await logitsOf(merged);
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < got.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[i]! - adapted[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(adapted[i]!));
      }
      assert.ok(maxDiff <= 1e-4 * maxAbs, `merged logits differ by ${maxDiff} (max |logit| ${maxAbs})`);
    } finally {
      merged.dispose();
    }
    // Without its adapter the model gives other logits: the merge carried the update.
    tts.unloadAdapter();
    const base = await logitsOf(llama);
    assert.ok(base.some((v, i) => Math.abs(v - adapted[i]!) > 1e-3), 'the adapter changed the logits');
  } finally {
    tts.dispose();
  }
});
