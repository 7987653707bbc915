/**
 * CSM parity with transformers 5.17 on the tiny random model of test/fixtures/csm (made by
 * test/fixtures/make_csm_fixtures.py): backbone and depth-decoder logits (rel. error
 * <= 1e-4), the loss with a fixed -101 mask (within 1e-5), PEFT adapters both ways.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../../src/weights/checkpoint';
import { CsmForConditionalGeneration } from '../../../src/models/csm';
import { applyLora, loadPeftAdapter, loraValueAndGrads } from '../../../src/lora';
import { maskedRelError, relError, tensorsLeaked } from '../llama_fixtures';
import { CSM_DIR, loadExpected, rowCodes } from './csm_fixtures';
import type { CsmExpected, LossRecord } from './csm_fixtures';

const LOGITS_TOL = 1e-4;
const LOSS_TOL = 1e-5;

before(async () => {
  await tf.setBackend('cpu');
});

describe('csm parity', () => {
  let model: CsmForConditionalGeneration;
  let exp: CsmExpected;
  let arrays: Checkpoint;
  before(async () => {
    exp = loadExpected();
    arrays = await Checkpoint.open(join(CSM_DIR, 'expected.safetensors'));
    model = await CsmForConditionalGeneration.fromPretrained(CSM_DIR);
  });
  after(() => model.dispose());

  const input = () => ({
    inputIds: exp.train.input_ids, attentionMask: exp.train.attention_mask, audioCodes: rowCodes(exp.train.turns, exp.train.codes),
  });

  async function check(tag: string, prefix = '', loss?: LossRecord | number) {
    const labels = tag === 'full' ? exp.train.labels_processor : exp.train.labels_fixed;
    const out = model.lossWithOutputs({ ...input(), labels });
    const want = await arrays.getF32(`${prefix}logits.${tag}`);
    assert.deepEqual(out.logits.shape, want.shape);
    const e1 = maskedRelError(await out.logits.data() as Float32Array, want.data, exp.train.attention_mask, model.config.audioVocabSize);
    const wantD = await arrays.getF32(`${prefix}depth_logits.${tag}`);
    assert.deepEqual(out.depthDecoderLogits.shape, wantD.shape);
    const e2 = relError(await out.depthDecoderLogits.data(), wantD.data);
    const [l, lb, ld] = [await out.loss.data(), await out.backboneLoss.data(), await out.depthDecoderLoss.data()].map((d) => d[0]);
    tf.dispose(out as unknown as tf.TensorContainer);
    assert.ok(e1 <= LOGITS_TOL, `backbone logits rel err ${e1}`);
    assert.ok(e2 <= LOGITS_TOL, `depth-decoder logits rel err ${e2}`);
    if (typeof loss === 'number') assert.ok(Math.abs(l - loss) <= LOSS_TOL, `loss ${l} vs ${loss}`);
    else if (loss) {
      assert.ok(Math.abs(l - loss.loss) <= LOSS_TOL, `loss ${l} vs ${loss.loss}`);
      assert.ok(Math.abs(lb - loss.backbone_loss) <= LOSS_TOL, `backbone loss ${lb} vs ${loss.backbone_loss}`);
      assert.ok(Math.abs(ld - loss.depth_decoder_loss) <= LOSS_TOL, `depth loss ${ld} vs ${loss.depth_decoder_loss}`);
    }
  }

  test('backbone + depth-decoder logits and loss, processor labels (every frame trains the depth decoder)', async () => {
    await check('full', '', exp.loss_full);
  });

  test('the same with a fixed -101 mask (3 frames backbone-only)', async () => {
    assert.equal(exp.train.fixed_101.length, 3);
    await check('fixed', '', exp.loss_fixed);
  });

  test('forward and loss leak no tensors', async () => {
    const n = await tensorsLeaked(async () => {
      const l = model.loss({ ...input(), labels: exp.train.labels_fixed });
      l.dispose();
      model.forward(input()).dispose();
    });
    assert.equal(n, 0);
  });

  test('PEFT adapter (Python) loads with PEFT\'s key names and gives PEFT\'s logits and loss', async () => {
    const adapter = await loadPeftAdapter(model, join(CSM_DIR, 'adapter'));
    try {
      const keys = [...adapter.peftKeyOf().values()].sort();
      assert.deepEqual(keys, [...exp.adapter_keys].sort());
      assert.ok(keys.includes('base_model.model.depth_decoder.model.layers.0.self_attn.q_proj.lora_A.weight'));
      await check('fixed', 'lora_', exp.lora_loss_fixed);
    } finally {
      adapter.unload();
    }
  });

  test('ttslab-saved adapter: PEFT computed the same logits and loss with it', async () => {
    const adapter = await loadPeftAdapter(model, join(CSM_DIR, 'ttslab_adapter'));
    try {
      assert.equal(adapter.modules.size, 14);
      assert.ok(adapter.modules.has('lm_head') && adapter.modules.has('depth_decoder.model.inputs_embeds_projector'));
      await check('fixed', 'ttslab_adapter_', exp.ttslab_adapter_loss_fixed);
    } finally {
      adapter.unload();
    }
  });

  test('LoRA training step: gradients reach backbone and depth-decoder adapters, nothing leaks', async () => {
    const adapter = applyLora(model, { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'], useRslora: false, seed: 1 });
    try {
      const leaked = await tensorsLeaked(async () => {
        const { value, grads } = loraValueAndGrads(adapter, () => model.loss({ ...input(), labels: exp.train.labels_fixed }));
        assert.ok(Math.abs((await value.data())[0] - exp.loss_fixed.loss) <= LOSS_TOL); // B = 0: the base loss
        const norm = async (k: string) => {
          const t = tf.tidy(() => grads.get(k)!.abs().sum());
          const v = (await t.data())[0];
          t.dispose();
          return v;
        };
        assert.ok(await norm('base_model.model.backbone_model.layers.0.self_attn.q_proj.lora_B.weight') > 0);
        assert.ok(await norm('base_model.model.depth_decoder.model.layers.1.mlp.down_proj.lora_B.weight') > 0);
        value.dispose();
        for (const g of grads.values()) g.dispose();
      });
      assert.equal(leaked, 0);
    } finally {
      adapter.unload();
    }
  });

  test('loss rejects labels that would not mean what they say', () => {
    const labels = exp.train.labels_fixed.map((r) => [...r]);
    const audioPos = exp.train.input_ids[0].indexOf(563);
    labels[0][audioPos] = -100;
    assert.throws(() => model.loss({ ...input(), labels }), /label -100 at audio position \[0\]\[26\]/);
    const labels2 = exp.train.labels_fixed.map((r) => [...r]);
    labels2[0][20] = 5;
    assert.throws(() => model.loss({ ...input(), labels: labels2 }), /label 5 at text position \[0\]\[20\]/);
  });

  test('wrong number of codebooks or out-of-range codes are rejected with the value', () => {
    const codes = rowCodes(exp.train.turns, exp.train.codes);
    const short = codes.map((r) => r.map((f) => [...f]));
    short[1][0] = short[1][0].slice(0, 7);
    assert.throws(() => model.forward({ ...input(), audioCodes: short }), /frame 0 has 7 codebooks, the model needs 8/);
    const bad = codes.map((r) => r.map((f) => [...f]));
    bad[0][2][5] = 67;
    assert.throws(() => model.forward({ ...input(), audioCodes: bad }), /code 67 at frame 2, codebook 5 is outside \[0, 67\)/);
    assert.throws(() => model.forward({ ...input(), audioCodes: [codes[0], codes[1].slice(1)] }), /row 1 has 4 <\|AUDIO\|> positions but 3 frames/);
  });
});
