/**
 * Writes test/fixtures/csm/ttslab_adapter/: a LoRA adapter saved by ttslab's
 * savePeftAdapter for the CSM fixture's config, with settings unlike the Python one (r 3,
 * alpha 6, rsLoRA, a different target set that includes lm_head and the depth decoder's
 * inputs_embeds_projector) and random B. The adapter depends on the config only (A and B
 * are ttslab's own draws), so it is made before the fixture model exists:
 * make_csm_fixtures.py loads it with PEFT onto the fixture model and stores PEFT's logits,
 * which test/models/csm/csm.test.ts compares with ttslab's.
 *
 *   node --import tsx test/models/csm/export_ttslab_adapter.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CsmForConditionalGeneration, fromHfConfig } from '../../../src/models/csm';
import { applyLora, savePeftAdapter } from '../../../src/lora';
import { Rng } from '../../../src/generate/rng';

export const TTSLAB_ADAPTER_TARGETS =
  String.raw`(backbone_model\.layers\.\d+\.(self_attn\.(q|v|o)_proj|mlp\.up_proj)|depth_decoder\.model\.(layers\.\d+\.(self_attn\.k_proj|mlp\.down_proj)|inputs_embeds_projector)|lm_head)`;

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const dir = join(__dirname, '..', '..', 'fixtures', 'csm');
  const config = fromHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const model = CsmForConditionalGeneration.random(config, { seed: 5 });
  const adapter = applyLora(model, { r: 3, alpha: 6, dropout: 0, targetModules: TTSLAB_ADAPTER_TARGETS, useRslora: true, seed: 21 });
  const rng = new Rng(22);
  for (const m of adapter.modules.values()) {
    const b = tf.tensor2d(rng.uniformArray(m.lora_B.size, -0.2, 0.2), m.lora_B.shape);
    m.lora_B.assign(b);
    b.dispose();
  }
  const files = await savePeftAdapter(join(dir, 'ttslab_adapter'), adapter);
  console.log(`${adapter.modules.size} modules; wrote ${files.join(', ')}`);
  model.dispose();
}

if (require.main === module) void main();
