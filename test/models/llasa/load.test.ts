/**
 * loadLlasa on a local folder in the Hub layout (config.json + model.safetensors written by
 * saveMergedCheckpoint, the Llasa fixture tokenizer): the model and processor load and give
 * the same logits as the model saved; a vocabulary too small for the tokenizer's Llasa tokens
 * is refused naming both numbers.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fromHfConfig } from '../../../src/models/llama/config';
import { LlamaForCausalLM } from '../../../src/models/llama/modeling';
import { saveMergedCheckpoint } from '../../../src/lora/merge';
import { loadLlasa } from '../../../src/models/llasa';

const TOKENIZER = join(__dirname, '..', '..', 'fixtures', 'llasa', 'tokenizer');

function tiny(vocab: number): LlamaForCausalLM {
  return LlamaForCausalLM.random(fromHfConfig({
    model_type: 'llama', vocab_size: vocab, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2,
    num_key_value_heads: 1, head_dim: 16, max_position_embeddings: 2048, tie_word_embeddings: true, rope_theta: 500000,
  }), { seed: 5 });
}

async function folder(model: LlamaForCausalLM): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llasa-load-'));
  await saveMergedCheckpoint(model, dir, { dtype: 'F32' });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(TOKENIZER, f), join(dir, f));
  return dir;
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('loadLlasa', () => {
  test('a local folder loads: layout from the tokenizer, weights equal to the saved model', async () => {
    const saved = tiny(1595);
    const dir = await folder(saved);
    try {
      const { model, processor } = await loadLlasa(dir);
      assert.equal(processor.layout.speechTokenStart, 571);
      assert.equal(processor.layout.numSpeechTokens, 1024);
      const ids = [processor.prompt('Hello world.')];
      const a = saved.forward({ inputIds: ids });
      const b = model.forward({ inputIds: ids });
      assert.ok(tf.max(tf.abs(a.sub(b))).arraySync() as number < 1e-6);
      tf.dispose([a, b]);
      model.dispose();
    } finally {
      saved.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a vocabulary without room for the speech tokens is refused', async () => {
    const saved = tiny(1000);
    const dir = await folder(saved);
    try {
      await assert.rejects(loadLlasa(dir), /config.json vocab_size is 1000, the tokenizer's Llasa tokens need 1595/);
    } finally {
      saved.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
