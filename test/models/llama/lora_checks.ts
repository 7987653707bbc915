/**
 * What the tiny-Llama LoRA tests (half_frozen, half_embedding, chunked_loss) share: seeded
 * normal values, relative error (test/runtime/helpers.ts'), and one LoRA loss + A/B gradients
 * read back with B seeded.
 */
import * as tf from '@tensorflow/tfjs';
import type { LlamaForCausalLM } from '../../../src/models/llama/modeling';
import { applyLora, loraValueAndGrads } from '../../../src/lora';
import type { LoraConfig } from '../../../src/lora';
import { Rng } from '../../../src/generate/rng';

export { relError } from '../../runtime/helpers';

/** `n` seeded normal values of standard deviation `std` (Box-Muller on ttslab's Rng). */
export function normal(n: number, seed: number, std: number): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
  return out;
}

/**
 * Wraps `model` with LoRA `lora`, sets every B to seeded values (std 0.05, so A's gradients are
 * not zero), returns the loss `lossOf(model)` and every A/B gradient read back, and unloads the
 * adapter again (the model is the caller's to dispose).
 */
export async function seededLoraStep(model: LlamaForCausalLM, lora: LoraConfig, lossOf: (model: LlamaForCausalLM) => tf.Scalar): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const adapter = applyLora(model, lora);
  try {
    let seed = 500;
    for (const v of adapter.variables()) {
      if (!v.name.endsWith('lora_B')) continue;
      const b = tf.tensor(normal(v.size, seed++, 0.05), v.shape);
      v.assign(b);
      b.dispose();
    }
    const { value, grads } = loraValueAndGrads(adapter, () => lossOf(model));
    const loss = (await value.data())[0]!;
    value.dispose();
    const out = new Map<string, Float32Array>();
    for (const [k, g] of grads) {
      out.set(k, Float32Array.from(await g.data()));
      g.dispose();
    }
    return { loss, grads: out };
  } finally {
    adapter.unload();
  }
}
