/**
 * Greedy generation against transformers' `generate` on the fixtures: token-identical
 * sequences with and without the KV cache, with and without left padding, with a stop
 * token that ends one row early (per-row stopping, pad fill) and with a repetition
 * penalty; step-by-step cached logits equal one full forward (and Python's).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LlamaForCausalLM } from '../../src/models/llama';
import { generate } from '../../src/generate';
import { FIXTURE_NAMES, expectedArray, loadFixture, loadModel, maskedRelError, tensorsLeaked } from '../models/llama_fixtures';
import type { Fixture } from '../models/llama_fixtures';

before(async () => {
  await tf.setBackend('cpu');
});

for (const name of FIXTURE_NAMES) {
  describe(`greedy generation parity: ${name}`, () => {
    let f: Fixture;
    let model: LlamaForCausalLM;
    before(async () => {
      f = await loadFixture(name);
      model = await loadModel(f);
    });
    after(() => model.dispose());

    for (const gen of ['gen_nopad', 'gen_left'] as const) {
      for (const useCache of [true, false]) {
        const how = `${gen}, ${useCache ? 'KV cache' : 'no cache'}`;
        test(`${how}: greedy equals transformers`, async () => {
          const g = f.expected.generation[gen];
          const out = await generate(model, { inputIds: g.input_ids, attentionMask: g.attention_mask },
            { maxNewTokens: g.max_new_tokens, useCache, eosTokenId: [], padTokenId: f.expected.pad_token_id });
          assert.deepEqual(out.sequences, g.greedy);
          assert.deepEqual(out.finished, [false, false]);
        });

        test(`${how}: a stop token ends its row only (pad fill)`, async () => {
          const g = f.expected.generation[gen];
          const out = await generate(model, { inputIds: g.input_ids, attentionMask: g.attention_mask },
            { maxNewTokens: g.max_new_tokens, useCache, eosTokenId: g.eos_token_id, padTokenId: f.expected.pad_token_id });
          // HF stops when every row is done; the fixture's stop token ends row 0 only, so the
          // output runs to max_new_tokens and row 0 is padded after its stop token.
          assert.deepEqual(out.sequences, g.greedy_eos);
          assert.deepEqual(out.finished, [true, false]);
          assert.equal(out.newTokens[0][out.newTokens[0].length - 1], g.eos_token_id);
        });

        test(`${how}: repetition penalty equals transformers`, async () => {
          const g = f.expected.generation[gen];
          const out = await generate(model, { inputIds: g.input_ids, attentionMask: g.attention_mask },
            { maxNewTokens: g.max_new_tokens, useCache, eosTokenId: [], padTokenId: f.expected.pad_token_id, repetitionPenalty: g.repetition_penalty });
          assert.deepEqual(out.sequences, g.greedy_rep);
        });
      }

      test(`${gen}: logits through the cache one token at a time equal Python's full forward`, async () => {
        const g = f.expected.generation[gen];
        const seqs = g.greedy;
        const total = seqs[0].length;
        const mask = g.attention_mask.map((r) => [...r, ...new Array(total - r.length).fill(1)]);
        const prompt = g.input_ids[0].length;
        const cache = model.createCache();
        const parts = [model.forward({ inputIds: seqs.map((r) => r.slice(0, prompt)), attentionMask: mask.map((r) => r.slice(0, prompt)), cache })];
        for (let t = prompt; t < total; t++) {
          parts.push(model.forward({ inputIds: seqs.map((r) => r.slice(t, t + 1)), attentionMask: mask.map((r) => r.slice(0, t + 1)), cache }));
        }
        cache.dispose();
        const logits = tf.concat(parts, 1);
        tf.dispose(parts);
        const exp = await expectedArray(f, `gen_logits.${gen}`);
        const e = maskedRelError(logits.dataSync() as Float32Array, exp.data, mask, model.config.vocabSize);
        logits.dispose();
        assert.ok(e <= 1e-4, `relative error ${e}`);
      });
    }

    test('generation leaks no tensors', async () => {
      const g = f.expected.generation.gen_left;
      const leaked = await tensorsLeaked(() => generate(model, { inputIds: g.input_ids, attentionMask: g.attention_mask },
        { maxNewTokens: 4, eosTokenId: g.eos_token_id, padTokenId: 0, doSample: true, temperature: 0.8, topK: 20, topP: 0.9, seed: 1 }));
      assert.equal(leaked, 0);
    });
  });
}

describe('sampling generation', () => {
  let f: Fixture;
  let model: LlamaForCausalLM;
  before(async () => {
    f = await loadFixture('llama3');
    model = await loadModel(f);
  });
  after(() => model.dispose());

  test('a seed reproduces the samples; another seed gives others', async () => {
    const g = f.expected.generation.gen_left;
    const run = (seed: number) => generate(model, { inputIds: g.input_ids, attentionMask: g.attention_mask },
      { maxNewTokens: 8, eosTokenId: [], padTokenId: 0, doSample: true, temperature: 1.5, seed });
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    assert.deepEqual(a.sequences, b.sequences);
    assert.notDeepEqual(a.sequences, c.sequences);
  });

  test('sampling with top-k 1 is greedy', async () => {
    const g = f.expected.generation.gen_left;
    const out = await generate(model, { inputIds: g.input_ids, attentionMask: g.attention_mask },
      { maxNewTokens: g.max_new_tokens, eosTokenId: [], padTokenId: 0, doSample: true, topK: 1, temperature: 2, seed: 3 });
    assert.deepEqual(out.sequences, g.greedy);
  });

  test('onStep reports each step; all rows stopping ends generation early', async () => {
    const g = f.expected.generation.gen_nopad;
    const steps: number[][] = [];
    // Stop on the first greedy token of each row: both rows finish at step 0.
    const first = g.greedy.map((r) => r[g.input_ids[0].length]);
    const out = await generate(model, { inputIds: g.input_ids }, { maxNewTokens: 8, eosTokenId: first, padTokenId: 0, onStep: (_, t) => steps.push(t) });
    assert.deepEqual(steps, [first]);
    assert.deepEqual(out.newTokens, first.map((t) => [t]));
    assert.deepEqual(out.finished, [true, true]);
  });

  test('bad requests are refused with the value named', async () => {
    const g = f.expected.generation.gen_left;
    await assert.rejects(generate(model, { inputIds: g.input_ids }, { maxNewTokens: 0 }), /maxNewTokens must be an integer >= 1, got 0/);
    await assert.rejects(generate(model, { inputIds: g.input_ids }, { maxNewTokens: 2, doSample: true, temperature: 0 }), /temperature must be a finite number > 0/);
    await assert.rejects(generate(model, { inputIds: [[1, 2, 0]], attentionMask: [[1, 1, 0]] }, { maxNewTokens: 2, padTokenId: 0 }), /ends with padding; generation needs left padding/);
    await assert.rejects(generate(model, { inputIds: [[1, 2]] }, { maxNewTokens: 255, padTokenId: 0 }), /exceeds max_position_embeddings \(256\)/);
  });
});
