/**
 * Llama parity with transformers on the fixtures of test/fixtures/llama (three tiny
 * random models: llama3 rope scaling, tied embeddings, GQA), each with unpadded,
 * right-padded and left-padded batches: logits (rel. error <= 1e-4, f32), with and
 * without the KV cache, and the causal-LM loss (within 1e-5).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint, MemoryWeights } from '../../src/weights/checkpoint';
import { LlamaForCausalLM, causalLmLoss } from '../../src/models/llama';
import { CASE_NAMES, FIXTURE_NAMES, expectedArray, loadFixture, loadModel, maskedRelError, relError, tensorsLeaked } from './llama_fixtures';
import type { Fixture } from './llama_fixtures';

const LOGITS_TOL = 1e-4;
const LOSS_TOL = 1e-5;

before(async () => {
  await tf.setBackend('cpu');
});

for (const name of FIXTURE_NAMES) {
  describe(`llama parity: ${name}`, () => {
    let f: Fixture;
    let model: LlamaForCausalLM;
    before(async () => {
      f = await loadFixture(name);
      model = await loadModel(f);
    });
    after(() => model.dispose());

    test('rotary inverse frequencies equal transformers\' inv_freq', async () => {
      const inv = await expectedArray(f, 'inv_freq');
      assert.ok(relError(model.model.invFreq, inv.data) <= 1e-6, `inv_freq ${model.model.invFreq} vs ${inv.data}`);
    });

    for (const c of CASE_NAMES) {
      test(`${c}: logits without cache`, async () => {
        const cs = f.expected.cases[c];
        const logits = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
        const exp = await expectedArray(f, `logits.${c}`);
        assert.deepEqual(logits.shape, exp.shape);
        const e = maskedRelError(logits.dataSync() as Float32Array, exp.data, cs.attention_mask, model.config.vocabSize);
        logits.dispose();
        assert.ok(e <= LOGITS_TOL, `relative error ${e}`);
      });

      test(`${c}: logits with KV cache (4 tokens, then one at a time)`, async () => {
        const cs = f.expected.cases[c];
        const cache = model.createCache();
        const seq = cs.input_ids[0].length;
        const parts: tf.Tensor3D[] = [];
        const cut = (rows: number[][], a: number, b: number) => rows.map((r) => r.slice(a, b));
        for (let start = 0; start < seq; start = start === 0 ? 4 : start + 1) {
          const end = start === 0 ? 4 : start + 1;
          parts.push(model.forward({
            inputIds: cut(cs.input_ids, start, end), attentionMask: cut(cs.attention_mask, 0, end), cache,
          }));
        }
        assert.equal(cache.seqLength, seq);
        cache.dispose();
        const logits = tf.concat(parts, 1);
        parts.forEach((p) => p.dispose());
        const exp = await expectedArray(f, `logits.${c}`);
        const e = maskedRelError(logits.dataSync() as Float32Array, exp.data, cs.attention_mask, model.config.vocabSize);
        logits.dispose();
        assert.ok(e <= LOGITS_TOL, `relative error ${e}`);
      });

      test(`${c}: causal-LM loss`, () => {
        const cs = f.expected.cases[c];
        const loss = model.loss({ inputIds: cs.input_ids, attentionMask: cs.attention_mask, labels: cs.labels });
        const v = loss.dataSync()[0];
        loss.dispose();
        assert.ok(Math.abs(v - cs.loss) <= LOSS_TOL, `loss ${v} vs ${cs.loss}`);
      });
    }

    test('explicit position ids from Python give the same logits as positions derived from the mask', async () => {
      const cs = f.expected.cases.left;
      const a = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask, positionIds: cs.position_ids });
      const b = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
      assert.deepEqual(a.dataSync(), b.dataSync());
      tf.dispose([a, b]);
    });

    test('a left-padded row gives the logits of the same tokens unpadded', () => {
      const cs = f.expected.cases.left;
      const row = 1;
      const pads = cs.attention_mask[row].indexOf(1);
      assert.ok(pads > 0, 'fixture row 1 of "left" is padded');
      const alone = model.forward({ inputIds: [cs.input_ids[row].slice(pads)] });
      const batched = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
      const seq = cs.input_ids[0].length;
      const sliced = batched.slice([row, pads, 0], [1, seq - pads, model.config.vocabSize]);
      assert.ok(relError(sliced.dataSync(), alone.dataSync()) <= 1e-5);
      tf.dispose([alone, batched, sliced]);
    });

    test('forward, cached forward and loss leave no tensors behind', async () => {
      const cs = f.expected.cases.left;
      const leaked = await tensorsLeaked(() => {
        model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask }).dispose();
        model.loss({ inputIds: cs.input_ids, attentionMask: cs.attention_mask, labels: cs.labels }).dispose();
        const cache = model.createCache();
        model.forward({ inputIds: cs.input_ids.map((r) => r.slice(0, 5)), attentionMask: cs.attention_mask.map((r) => r.slice(0, 5)), cache }).dispose();
        model.forward({ inputIds: cs.input_ids.map((r) => r.slice(5, 6)), attentionMask: cs.attention_mask.map((r) => r.slice(0, 6)), cache }).dispose();
        cache.dispose();
      });
      assert.equal(leaked, 0);
    });

    test('inputsEmbeds (the embedded ids) give the logits of inputIds', () => {
      const cs = f.expected.cases.right;
      const embeds = tf.gather(model.model.embed_tokens, tf.tensor2d(cs.input_ids, undefined, 'int32')) as tf.Tensor as tf.Tensor3D;
      const a = model.forward({ inputsEmbeds: embeds, attentionMask: cs.attention_mask });
      const b = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
      assert.deepEqual(a.dataSync(), b.dataSync());
      assert.throws(() => model.forward({ inputIds: cs.input_ids, inputsEmbeds: embeds }), /exactly one of inputIds and inputsEmbeds/);
      const narrow = embeds.slice([0, 0, 0], [1, 2, 8]);
      assert.throws(() => model.forward({ inputsEmbeds: narrow }), /inputsEmbeds must be \[batch, seq, 64\]/);
      tf.dispose([embeds, a, b, narrow]);
    });

    test('logitsToKeep returns the last positions only', () => {
      const cs = f.expected.cases.full;
      const all = model.forward({ inputIds: cs.input_ids });
      const last = model.forward({ inputIds: cs.input_ids, logitsToKeep: 1 });
      const seq = cs.input_ids[0].length;
      assert.deepEqual(last.shape, [2, 1, model.config.vocabSize]);
      const tail = all.slice([0, seq - 1, 0], [2, 1, model.config.vocabSize]);
      assert.deepEqual(last.dataSync(), tail.dataSync());
      tf.dispose([all, last, tail]);
    });
  });
}

describe('llama weight import and loss errors', () => {
  test('a checkpoint with a missing and an unexpected tensor is rejected, naming both', async () => {
    const f = await loadFixture('llama3');
    const ckpt = await Checkpoint.open(f.dir);
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const k of ckpt.keys()) tensors[k] = await ckpt.getF32(k);
    delete tensors['model.layers.1.mlp.up_proj.weight'];
    tensors['model.layers.1.mlp.extra.weight'] = { shape: [1], data: new Float32Array(1) };
    const model = await LlamaForCausalLM.fromPretrained(f.dir);
    await assert.rejects(LlamaForCausalLM.fromWeights(model.config, new MemoryWeights(tensors)),
      /missing model\.layers\.1\.mlp\.up_proj\.weight; unexpected model\.layers\.1\.mlp\.extra\.weight/);
    model.dispose();
  });

  test('known extras (rotary buffers, a stored tied head) are accepted; a wrong shape is named', async () => {
    const f = await loadFixture('tied');
    const ckpt = await Checkpoint.open(f.dir);
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const k of ckpt.keys()) tensors[k] = await ckpt.getF32(k);
    tensors['model.layers.0.self_attn.rotary_emb.inv_freq'] = { shape: [8], data: new Float32Array(8) };
    tensors['lm_head.weight'] = tensors['model.embed_tokens.weight'];
    const base = await LlamaForCausalLM.fromPretrained(f.dir);
    const m = await LlamaForCausalLM.fromWeights(base.config, new MemoryWeights(tensors));
    m.dispose();
    tensors['model.norm.weight'] = { shape: [2, 32], data: new Float32Array(64) };
    await assert.rejects(LlamaForCausalLM.fromWeights(base.config, new MemoryWeights(tensors)),
      /model\.norm\.weight has shape \[2,32\], config needs \[64\]/);
    base.dispose();
  });

  test('a repo id that is not a local directory goes through the Hub cache (offline: a clear error)', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'ttslab-hub-'));
    await assert.rejects(LlamaForCausalLM.fromPretrained('ttslab-test/no-such-model', { snapshot: { offline: true, cacheDir } }),
      /ttslab-test\/no-such-model .*is not in the cache/);
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('causal-LM loss by hand: two positions, one ignored label', () => {
    // logits of position 0 predict labels[1] = 1: -log softmax([0, ln 3])[1] = -log(3/4);
    // position 1 predicts labels[2] = -100 (skipped); the mean is over one token.
    const logits = tf.tensor3d([[[0, Math.log(3)], [5, -5], [1, 1]]]);
    const loss = causalLmLoss(logits, [[0, 1, -100]]);
    assert.ok(Math.abs(loss.dataSync()[0] - -Math.log(0.75)) < 1e-6);
    assert.throws(() => causalLmLoss(logits, [[0, -100, -100]]), /no token to predict/);
    assert.throws(() => causalLmLoss(logits, [[0, 2, -100]]), /label 2 at \[0\]\[1\] is outside the vocabulary/);
    tf.dispose([logits, loss]);
  });

  test('inputs are checked: ragged rows, ids outside the vocabulary, a mask of the wrong length', async () => {
    const f = await loadFixture('gqa');
    const model = await loadModel(f);
    assert.throws(() => model.forward({ inputIds: [[1, 2], [3]] }), /rows differ in length/);
    assert.throws(() => model.forward({ inputIds: [[1, 256]] }), /token id 256 is outside the vocabulary \[0, 256\)/);
    assert.throws(() => model.forward({ inputIds: [[1, 2]], attentionMask: [[1, 1, 1]] }), /must cover past \+ new tokens/);
    model.dispose();
  });
});
