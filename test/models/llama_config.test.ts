/** LlamaConfig from config.json: both transformers layouts, defaults, and errors that name field and value. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LLAMA_3_2_1B, fromHfConfig, loadLlamaConfig, toHfConfig } from '../../src/models/llama';
import { FIXTURES_DIR } from './llama_fixtures';

/** meta-llama/Llama-3.2-1B config.json as published (transformers 4.45 layout). */
const LLAMA_32_1B_JSON = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000,
  eos_token_id: 128001, head_dim: 64, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02,
  intermediate_size: 8192, max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama',
  num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0',
  use_cache: true, vocab_size: 128256,
};

const strip = (c: object) => {
  const { hf, ...rest } = c as { hf?: unknown };
  void hf;
  return rest;
};

describe('fromHfConfig', () => {
  test('the published Llama-3.2-1B config equals the preset (unknown keys ignored)', () => {
    assert.deepEqual(strip(fromHfConfig({ ...LLAMA_32_1B_JSON, some_future_key: [1, 2] })), strip(LLAMA_3_2_1B));
  });

  test('transformers 5 layout (rope_parameters) from the llama3 fixture', async () => {
    const c = await loadLlamaConfig(join(FIXTURES_DIR, 'llama3'));
    assert.equal(c.ropeTheta, 10000);
    assert.deepEqual(c.ropeScaling, { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
    assert.equal(c.headDim, 16);
    assert.deepEqual(c.eosTokenIds, []);
    assert.equal(c.padTokenId, 0);
  });

  test('HF defaults: kv heads = heads, head_dim = hidden / heads, rope default with theta 10000, untied', () => {
    const c = fromHfConfig({ vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 });
    assert.equal(c.numKeyValueHeads, 2);
    assert.equal(c.headDim, 4);
    assert.equal(c.ropeTheta, 10000);
    assert.deepEqual(c.ropeScaling, { ropeType: 'default' });
    assert.equal(c.tieWordEmbeddings, false);
    assert.equal(c.rmsNormEps, 1e-6);
  });

  test('eos_token_id may be a list (Llama 3 instruct)', () => {
    const c = fromHfConfig({ ...LLAMA_32_1B_JSON, eos_token_id: [128001, 128008, 128009] });
    assert.deepEqual(c.eosTokenIds, [128001, 128008, 128009]);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['missing hidden_size', { hidden_size: undefined }, /my\.json: hidden_size is required, got undefined/],
    ['kv heads not dividing heads', { num_key_value_heads: 5 }, /num_key_value_heads must divide num_attention_heads \(32\), got 5/],
    ['non-integer layers', { num_hidden_layers: 2.5 }, /num_hidden_layers must be an integer >= 1, got 2\.5/],
    ['zero vocab', { vocab_size: 0 }, /vocab_size must be an integer >= 1, got 0/],
    ['string eps', { rms_norm_eps: '1e-5' }, /rms_norm_eps must be a finite number > 0, got "1e-5"/],
    ['gelu', { hidden_act: 'gelu' }, /hidden_act is not supported \(Llama uses "silu"\), got "gelu"/],
    ['yarn rope', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling\.rope_type is not supported .*got "yarn"/],
    ['llama3 without factor', { rope_scaling: { rope_type: 'llama3', low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, /factor is required/],
    ['odd head_dim', { head_dim: 63 }, /head_dim must be even .*got 63/],
    ['other model type', { model_type: 'mistral' }, /model_type must be one of \["llama"\], got "mistral"/],
    ['eos outside vocab', { eos_token_id: 200000 }, /special token id 200000 is outside the vocabulary/],
    ['tie flag as string', { tie_word_embeddings: 'true' }, /tie_word_embeddings must be true or false, got "true"/],
  ];
  for (const [what, patch, re] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(() => fromHfConfig({ ...LLAMA_32_1B_JSON, ...patch }, { source: 'my.json' }), re);
    });
  }

  test('rejects a non-object', () => {
    assert.throws(() => fromHfConfig([1, 2], { source: 'x.json' }), /x\.json: expected a JSON object/);
  });

  test('toHfConfig of a config built in code reads back to the same config', () => {
    const json = toHfConfig(LLAMA_3_2_1B, 'bfloat16');
    assert.deepEqual(strip(fromHfConfig(json)), strip(LLAMA_3_2_1B));
    assert.equal(json.torch_dtype, 'bfloat16');
  });
});
