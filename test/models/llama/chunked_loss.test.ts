/**
 * Row-chunked LM head + cross-entropy (src/models/llama/loss.ts, issue 10): the loss and the
 * gradient of the hidden states equal `causalLmLoss` on full logits (f32 on the cpu backend, rel.
 * error <= 1e-5), also through the model's LoRA step (every A/B gradient) with a tied and an
 * untied head; the peak of live tensor bytes of a LoRA step drops when the logits are chunked; on
 * WebGPU (lavapipe) the f16 head (HalfLinear lm_head, tied f16 embedding) gives the full-logits
 * f16 loss and gradients and stays within 2% of float32; bad inputs fail with clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../../src/runtime';
import { fromHfConfig } from '../../../src/models/llama/config';
import { LlamaForCausalLM, causalLmLoss, IGNORE_INDEX } from '../../../src/models/llama/modeling';
import { chunkedLmHeadLoss, shiftLabels, DEFAULT_LOSS_CHUNK_ROWS } from '../../../src/models/llama/loss';
import { applyLora, loraValueAndGrads } from '../../../src/lora';
import { relError, seededLoraStep } from './lora_checks';
import { LlamaLoraTrainable } from '../../../src/train/llama';
import { validateTrainConfig } from '../../../src/train/config';
import { peakBytes } from '../../../bench/results';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const LORA = { r: 4, alpha: 8, dropout: 0, targetModules: ALL, useRslora: false, seed: 3 };

function config(vocab: number, hidden: number, tied: boolean, layers = 2) {
  return fromHfConfig({
    model_type: 'llama', hidden_size: hidden, intermediate_size: 2 * hidden, num_hidden_layers: layers, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: hidden / 4, vocab_size: vocab, tie_word_embeddings: tied, max_position_embeddings: 128,
    rms_norm_eps: 1e-5, rope_theta: 10000, bos_token_id: 0, eos_token_id: 1, pad_token_id: 1,
  }, { source: 'chunked_loss test' });
}

/** Seeded ids in [2, vocab) `[batch][seq]`. */
function ids(vocab: number, batch: number, seq: number, seed: number): number[][] {
  let s = seed;
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 2 + (s % (vocab - 2));
  }));
}

/** LoRA loss and A/B gradients of `model` (B seeded so A's gradients are not zero), read back; the adapter is unloaded again. */
function loraStep(model: LlamaForCausalLM, input: { inputIds: number[][]; labels: number[][]; attentionMask?: number[][] }, lossChunkRows: number, targets = ALL) {
  return seededLoraStep(model, { ...LORA, targetModules: targets }, (m) => m.loss({ ...input, lossChunkRows }));
}

test('chunkedLmHeadLoss equals causalLmLoss on full logits: loss and dh (f32, cpu), any chunk size, with a bias and ignored labels', async () => {
  await initRuntime({ backend: 'cpu' });
  const [B, S, H, V] = [2, 9, 16, 50];
  const h = tf.randomNormal([B, S, H], 0, 1, 'float32', 1) as tf.Tensor3D;
  const w = tf.randomNormal([V, H], 0, 0.3, 'float32', 2) as tf.Tensor2D;
  const bias = tf.randomNormal([V], 0, 0.5, 'float32', 3) as tf.Tensor1D;
  const labels = ids(V, B, S, 7);
  labels[0][3] = IGNORE_INDEX; // a masked prompt token
  labels[1][7] = labels[1][8] = IGNORE_INDEX; // right padding
  const before = tf.memory().numTensors;
  for (const withBias of [false, true]) {
    const full = (x: tf.Tensor3D) => {
      let logits = tf.matMul(x.reshape([B * S, H]), w, false, true);
      if (withBias) logits = logits.add(bias);
      return causalLmLoss(logits.reshape([B, S, V]) as tf.Tensor3D, labels);
    };
    const ref = tf.valueAndGrad(full)(h);
    const refLoss = (await ref.value.data())[0];
    const refGrad = await ref.grad.data();
    tf.dispose([ref.value, ref.grad]);
    for (const rowChunk of [1, 5, 16, 1000]) {
      const chunked = (x: tf.Tensor3D) => chunkedLmHeadLoss(x.reshape([B * S, H]) as tf.Tensor2D, { weight: w, bias: withBias ? bias : null }, shiftLabels(labels), { rowChunk });
      const got = tf.valueAndGrad(chunked)(h);
      const loss = (await got.value.data())[0];
      const grad = await got.grad.data();
      tf.dispose([got.value, got.grad]);
      const lossErr = Math.abs(loss - refLoss) / Math.abs(refLoss);
      assert.ok(lossErr <= 1e-5, `bias ${withBias}, rowChunk ${rowChunk}: loss ${loss} vs ${refLoss} (rel ${lossErr})`);
      const gradErr = relError(grad, refGrad);
      assert.ok(gradErr <= 1e-5, `bias ${withBias}, rowChunk ${rowChunk}: dh rel err ${gradErr}`);
      // The incoming gradient scales dh (the gradient is formed in the forward pass for dy = 1).
      const scaled = tf.grad((x: tf.Tensor) => chunked(x as tf.Tensor3D).mul(-2.5))(h);
      const scaledErr = relError(await scaled.data(), refGrad.map((v) => -2.5 * v));
      scaled.dispose();
      assert.ok(scaledErr <= 1e-5, `bias ${withBias}, rowChunk ${rowChunk}: d(-2.5 loss)/dh rel err ${scaledErr}`);
      // The ignored rows and each sequence's last row get exactly no gradient.
      for (const [b, t] of [[0, 2], [0, 8], [1, 6], [1, 7], [1, 8]]) {
        const row = grad.subarray((b * S + t) * H, (b * S + t + 1) * H);
        assert.ok(row.every((v) => v === 0), `row [${b}][${t}] predicts nothing but has a gradient`);
      }
    }
  }
  assert.equal(tf.memory().numTensors, before, 'chunkedLmHeadLoss leaks tensors');
  tf.dispose([h, w, bias]);
});

test('LlamaForCausalLM.loss with lossChunkRows: LoRA loss and every A/B gradient equal the full-logits loss (f32, cpu, tied and untied head)', async (t) => {
  await initRuntime({ backend: 'cpu' });
  for (const tied of [true, false]) {
    const cfg = config(120, 32, tied);
    const inputIds = ids(cfg.vocabSize, 2, 11, 3);
    const attentionMask = [new Array(11).fill(1), [...new Array(8).fill(1), 0, 0, 0]];
    const labels = inputIds.map((r, b) => r.map((y, i) => (attentionMask[b][i] ? y : IGNORE_INDEX)));
    labels[0][0] = labels[0][1] = IGNORE_INDEX;
    const model = LlamaForCausalLM.random(cfg, { seed: 4, std: 0.1 });
    const before = tf.memory().numTensors;
    const ref = await loraStep(model, { inputIds, labels, attentionMask }, 0);
    for (const rows of [3, 64]) {
      const got = await loraStep(model, { inputIds, labels, attentionMask }, rows);
      const lossErr = Math.abs(got.loss - ref.loss) / Math.abs(ref.loss);
      assert.ok(lossErr <= 1e-5, `tied ${tied}, ${rows} rows: loss ${got.loss} vs ${ref.loss} (rel ${lossErr})`);
      assert.equal(got.grads.size, 2 * ALL.length * cfg.numHiddenLayers);
      let worst = 0;
      for (const [k, g] of ref.grads) {
        const e = relError(got.grads.get(k)!, g);
        worst = Math.max(worst, e);
        assert.ok(e <= 1e-5, `tied ${tied}, ${rows} rows, ${k}: gradient rel err ${e}`);
      }
      t.diagnostic(`tied ${tied}, ${rows} rows: loss ${got.loss} vs ${ref.loss}, largest A/B gradient rel err ${worst.toExponential(2)}`);
    }
    assert.equal(tf.memory().numTensors, before, 'the chunked LoRA step leaks tensors');
    model.dispose();
  }
});

test('LoRA step peak live tensor bytes: chunked logits stay far below the full [tokens, vocab] logits (wasm)', async (t) => {
  // wasm: tfjs' cpu backend computes the full path's gather gradient (unsortedSegmentSum) one
  // segment at a time over the [tokens * vocab] log-probabilities, slow and memory-bound.
  await initRuntime({ backend: 'wasm' });
  // 2 x 64 tokens, vocabulary 8192: full f32 logits are 4 MiB, one 16-row chunk 0.5 MiB.
  const cfg = config(8192, 32, true, 1);
  const model = LlamaForCausalLM.random(cfg, { seed: 5 });
  const inputIds = ids(cfg.vocabSize, 2, 64, 9);
  const adapter = applyLora(model, LORA);
  const peakOf = async (lossChunkRows: number) => {
    const base = tf.memory().numBytes;
    let loss = 0;
    const peak = await peakBytes(async () => {
      const { value, grads } = loraValueAndGrads(adapter, () => model.loss({ inputIds, labels: inputIds, lossChunkRows }));
      loss = (await value.data())[0];
      value.dispose();
      for (const g of grads.values()) g.dispose();
    });
    return { extra: peak - base, loss };
  };
  const full = await peakOf(0);
  const chunked = await peakOf(16);
  const oneChunk = await peakOf(128);
  const logitsBytes = 2 * 64 * cfg.vocabSize * 4;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  t.diagnostic(`peak live tensor bytes above the weights: full logits ${mib(full.extra)}, 16-row chunks ${mib(chunked.extra)}, one 128-row chunk ${mib(oneChunk.extra)} `
    + `(one copy of the full logits: ${mib(logitsBytes)})`);
  for (const c of [chunked, oneChunk]) assert.ok(Math.abs(full.loss - c.loss) <= 1e-5 * full.loss, `loss ${c.loss} vs ${full.loss}`);
  // The full path keeps several [tokens, vocab] copies through the backward pass (logits,
  // log-softmax, their gradients); the chunked one a few [rowChunk, vocab] at a time.
  assert.ok(full.extra >= 4 * logitsBytes, `full-logits step peaked at ${full.extra} B, expected >= ${4 * logitsBytes}`);
  assert.ok(chunked.extra <= full.extra / 4, `chunked step peaked at ${chunked.extra} B, not below a quarter of the full path's ${full.extra} B`);
  assert.ok(full.extra - chunked.extra >= 3 * logitsBytes, `chunks saved only ${full.extra - chunked.extra} B`);
  // Smaller chunks, smaller peak: a 128-row chunk holds 8 times the logits of a 16-row one.
  assert.ok(oneChunk.extra - chunked.extra >= (128 - 16) * cfg.vocabSize * 4, `128-row chunks peaked at ${oneChunk.extra} B, 16-row ones at ${chunked.extra} B`);
  adapter.unload();
  model.dispose();
});

test('LlamaLoraTrainable chunks the loss by default; a LoRA-wrapped lm_head gets full logits, and asking for chunks there fails clearly', async () => {
  await initRuntime({ backend: 'cpu' });
  const cfg = config(64, 16, false, 1);
  const train = validateTrainConfig({ loraR: 2, loraAlpha: 4, loraDropout: 0, targetModules: ['q_proj', 'v_proj'] });
  const model = LlamaForCausalLM.random(cfg, { seed: 6 });
  const tr = LlamaLoraTrainable.create(model, train);
  assert.equal(tr.lossChunkRows, DEFAULT_LOSS_CHUNK_ROWS);
  const batch = tr.collate([{ inputIds: [3, 4, 5, 6, 7], labels: [3, 4, 5, 6, 7] }, { inputIds: [8, 9, 10], labels: [-100, 9, 10] }]);
  const a = tr.loss(batch, { training: true });
  const b = model.loss({ inputIds: batch.inputIds, attentionMask: batch.attentionMask, labels: batch.labels });
  assert.ok(Math.abs(a.dataSync()[0] - b.dataSync()[0]) <= 1e-5 * b.dataSync()[0]);
  tf.dispose([a, b]);
  tr.adapter.unload();
  const explicit = new LlamaLoraTrainable(model, applyLora(model, { ...LORA, targetModules: ['q_proj'] }), null, { lossChunkRows: 0 });
  assert.equal(explicit.lossChunkRows, 0);
  explicit.adapter.unload();
  const withHead = applyLora(model, { ...LORA, targetModules: ['q_proj', 'lm_head'] });
  assert.equal(model.frozenLmHead(), null);
  assert.equal(new LlamaLoraTrainable(model, withHead).lossChunkRows, 0);
  assert.throws(() => new LlamaLoraTrainable(model, withHead, null, { lossChunkRows: 8 }), /lossChunkRows 8 needs a frozen lm_head, but LoRA wraps lm_head/);
  assert.throws(() => model.loss({ inputIds: [[3, 4, 5]], labels: [[3, 4, 5]], lossChunkRows: 8 }), /lossChunkRows 8 needs a frozen lm_head, but lm_head is a trainable LoraLinear/);
  assert.throws(() => model.loss({ inputIds: [[3, 4, 5]], labels: [[3, 4, 5]], lossChunkRows: 1.5 }), /lossChunkRows must be an integer >= 0, got 1.5/);
  withHead.unload();
  assert.ok(model.frozenLmHead(), 'the unwrapped head is frozen again');
  assert.throws(() => model.loss({ inputIds: [[3, 4, 5]], labels: [[3, 4]], lossChunkRows: 8 }), /labels must be \[1\]\[3\] like the input, got \[1\]\[2\]/);
  model.dispose();
  const h = tf.zeros([4, 8]) as tf.Tensor2D;
  const w = tf.zeros([10, 8]) as tf.Tensor2D;
  assert.throws(() => chunkedLmHeadLoss(h, { weight: w, bias: null }, [1, 2, 3]), /3 labels for 4 rows/);
  assert.throws(() => chunkedLmHeadLoss(h, { weight: w, bias: null }, [1, 2, 10, -100]), /label 10 of row 2 is outside the vocabulary \[0, 10\)/);
  assert.throws(() => chunkedLmHeadLoss(h, { weight: w, bias: null }, [-100, -100, -100, -100]), /no token to predict/);
  assert.throws(() => chunkedLmHeadLoss(h, { weight: w, bias: null }, [1, 2, 3, 4], { rowChunk: 0 }), /rowChunk must be an integer >= 1, got 0/);
  assert.throws(() => chunkedLmHeadLoss(h, { weight: tf.zeros([10, 6]) as tf.Tensor2D, bias: null }, [1, 2, 3, 4]), /head weight \[10,6\] does not fit hidden states \[4,8\]/);
  tf.dispose([h, w]);
});

test('f16 head on WebGPU (lavapipe): chunked loss and LoRA gradients equal the full-logits f16 path and stay within 2% of float32', async (t) => {
  for (const tied of [false, true]) {
    const cfg = config(96, 64, tied);
    const inputIds = ids(cfg.vocabSize, 2, 12, 11);
    const labels = inputIds.map((r) => [...r]);
    labels[1][10] = labels[1][11] = IGNORE_INDEX;
    await initRuntime({ backend: 'cpu' });
    const m32 = LlamaForCausalLM.random(cfg, { seed: 8, std: 0.08 });
    const ref = await loraStep(m32, { inputIds, labels }, 0);
    m32.dispose();
    await initRuntime({ backend: 'webgpu' });
    const before = tf.memory().numTensors;
    const m16 = LlamaForCausalLM.random(cfg, { seed: 8, std: 0.08, frozenDtype: 'float16', embeddingDtype: 'float16' });
    const head = m16.frozenLmHead();
    assert.ok(head && !(head.weight instanceof tf.Tensor), 'the head is f16');
    const full16 = await loraStep(m16, { inputIds, labels }, 0);
    const got = await loraStep(m16, { inputIds, labels }, 5);
    m16.dispose();
    assert.equal(tf.memory().numTensors, before, 'the f16 chunked step leaks tensors');
    const vsFull = Math.abs(got.loss - full16.loss) / full16.loss;
    const vs32 = Math.abs(got.loss - ref.loss) / ref.loss;
    assert.ok(vsFull <= 1e-5, `tied ${tied}: f16 chunked loss ${got.loss} vs f16 full ${full16.loss} (rel ${vsFull})`);
    assert.ok(vs32 <= 0.02, `tied ${tied}: f16 chunked loss ${got.loss} vs f32 ${ref.loss} (rel ${vs32})`);
    let worstFull = 0;
    let worst32 = 0;
    for (const [k, g] of ref.grads) {
      const eFull = relError(got.grads.get(k)!, full16.grads.get(k)!);
      const e32 = relError(got.grads.get(k)!, g);
      worstFull = Math.max(worstFull, eFull);
      worst32 = Math.max(worst32, e32);
      // f16 rounding of p (chunked) vs of p - onehot (full) differs slightly.
      assert.ok(eFull <= 5e-3, `tied ${tied}, ${k}: f16 chunked vs f16 full gradient rel err ${eFull}`);
      assert.ok(e32 <= 0.02, `tied ${tied}, ${k}: f16 chunked vs f32 gradient rel err ${e32}`);
    }
    t.diagnostic(`tied ${tied}: loss f16 chunked ${got.loss}, f16 full ${full16.loss}, f32 ${ref.loss}; largest A/B gradient rel err vs f16 full ${worstFull.toExponential(2)}, vs f32 ${worst32.toExponential(2)}`);
  }
});
