/**
 * Writes the adapters for the reverse PEFT check (acceptance 2, second half; see
 * docs/parity.md): for each fixture model, a LoRA made by ttslab with settings unlike the
 * Python adapter's (rank, alpha, rsLoRA, targets), A from ttslab's init and B drawn at
 * random so the update matters, saved with `savePeftAdapter` into
 * test/fixtures/llama/<name>/ttslab_adapter/, with the logits ttslab computes with it
 * (`ttslab_logits.safetensors`, keys `logits.<case>`). For llama3 and tied, also the
 * merged F16 export (`ttslab_merged/`). make_llama_fixtures.py --check-ttslab loads them
 * in PEFT / transformers and compares.
 *
 *   node --import tsx test/lora/export_ttslab_adapter.ts
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeSafetensors } from '../../src/weights/safetensors';
import { Rng } from '../../src/generate';
import { applyLora, saveMergedCheckpoint, savePeftAdapter } from '../../src/lora';
import type { LoraConfig } from '../../src/lora';
import { CASE_NAMES, FIXTURE_NAMES, loadFixture, loadModel } from '../models/llama_fixtures';

const SETTINGS: Record<(typeof FIXTURE_NAMES)[number], LoraConfig> = {
  llama3: { r: 6, alpha: 12, dropout: 0, targetModules: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'lm_head'], useRslora: true, seed: 11 },
  tied: { r: 2, alpha: 3, dropout: 0.1, targetModules: ['k_proj', 'gate_proj', 'down_proj'], useRslora: false, seed: 12 },
  gqa: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], useRslora: false, seed: 13 },
};
const MERGED = new Set(['llama3', 'tied']);

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  for (const name of FIXTURE_NAMES) {
    const f = await loadFixture(name);
    const model = await loadModel(f);
    const adapter = applyLora(model, SETTINGS[name]);
    const rng = new Rng(100 + (SETTINGS[name].seed ?? 0));
    for (const m of adapter.modules.values()) {
      const b = tf.tensor2d(Array.from({ length: m.lora_B.size }, () => 0.1 * rng.normal()), m.lora_B.shape);
      m.lora_B.assign(b);
      b.dispose();
    }
    const dir = join(f.dir, 'ttslab_adapter');
    await rm(dir, { recursive: true, force: true });
    await savePeftAdapter(dir, adapter, { baseModelNameOrPath: `test/fixtures/llama/${name}` });
    const logits = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>();
    for (const c of CASE_NAMES) {
      const cs = f.expected.cases[c];
      const t = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
      logits.set(`logits.${c}`, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
      t.dispose();
    }
    await writeSafetensors(join(dir, 'ttslab_logits.safetensors'), logits, { metadata: { format: 'pt' } });
    const mergedDir = join(f.dir, 'ttslab_merged');
    await rm(mergedDir, { recursive: true, force: true });
    if (MERGED.has(name)) await saveMergedCheckpoint(model, mergedDir, { dtype: 'F16' });
    console.log(`${name}: ${adapter.report().text}; wrote ${dir}${MERGED.has(name) ? ` and ${mergedDir}` : ''}`);
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
