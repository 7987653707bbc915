/**
 * PEFT's on-disk LoRA format: `adapter_config.json` and `adapter_model.safetensors` with
 * keys `base_model.model.<module path>.lora_A.weight` `[r, in]` and `.lora_B.weight`
 * `[out, r]` (peft/utils/save_and_load.py drops the adapter name on save). Adapters
 * saved here load with `PeftModel.from_pretrained`, and PEFT's load here.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../weights/checkpoint';
import { writeSafetensors } from '../weights/safetensors';
import type { TensorToWrite } from '../weights/safetensors';
import { LoraAdapter, applyLora, peftKey } from './lora';
import type { HasNamedLinears, LoraConfig } from './lora';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';

export interface SavePeftOptions {
  /** Written as `base_model_name_or_path` (PEFT loads the base from it when asked to). */
  baseModelNameOrPath?: string | null;
  /** Storage dtype of A and B; PEFT saves the training dtype, F32 keeps them exact. */
  dtype?: 'F32' | 'F16' | 'BF16';
}

/** The adapter_config.json PEFT writes for a plain LoRA (fields it reads back). */
export function toPeftConfig(c: LoraConfig, baseModelNameOrPath: string | null = null): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModelNameOrPath,
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: c.targetModules,
    use_rslora: c.useRslora,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_dora: false,
    inference_mode: true,
    revision: null,
  };
}

/**
 * Reads a PEFT LoRA config. Features ttslab does not implement (DoRA, biases, per-module
 * ranks, layer selection, modules_to_save, ...) throw, naming the field and value, rather
 * than loading an adapter that would compute something else.
 */
export function fromPeftConfig(json: unknown, source = ADAPTER_CONFIG_NAME): LoraConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  const fail = (field: string, why: string): never => {
    throw new Error(`${source}: ${field} ${why}, got ${JSON.stringify(o[field])}`);
  };
  if (o.peft_type !== 'LORA') fail('peft_type', 'must be "LORA"');
  const empty = (v: unknown) => v === undefined || v === null || v === false
    || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v as object).length === 0);
  for (const f of ['use_dora', 'fan_in_fan_out', 'modules_to_save', 'layers_to_transform', 'layers_pattern', 'rank_pattern',
    'alpha_pattern', 'target_parameters', 'trainable_token_indices', 'layer_replication', 'lora_bias', 'use_qalora']) {
    if (!empty(o[f])) fail(f, 'is not supported by ttslab');
  }
  if (o.bias !== undefined && o.bias !== 'none') fail('bias', 'must be "none" (LoRA biases are not supported)');
  const r = o.r;
  if (!(typeof r === 'number' && Number.isInteger(r) && r >= 1)) fail('r', 'must be an integer >= 1');
  const alpha = o.lora_alpha ?? 8; // PEFT's default lora_alpha
  if (!(typeof alpha === 'number' && alpha > 0)) fail('lora_alpha', 'must be a number > 0');
  const dropout = o.lora_dropout ?? 0;
  if (!(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) fail('lora_dropout', 'must be in [0, 1)');
  const t = o.target_modules;
  if (!(typeof t === 'string' || (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')))) {
    fail('target_modules', 'must be a non-empty list of module names or a regular expression');
  }
  return {
    r: r as number,
    alpha: alpha as number,
    dropout: dropout as number,
    targetModules: t as string[] | string,
    useRslora: o.use_rslora === true,
  };
}

/** Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`. */
export async function savePeftAdapter(dir: string, adapter: LoraAdapter, options: SavePeftOptions = {}): Promise<string[]> {
  const dtype = options.dtype ?? 'F32';
  await mkdir(dir, { recursive: true });
  const tensors = new Map<string, TensorToWrite>();
  for (const [path, m] of adapter.modules) {
    for (const [which, v] of [['A', m.lora_A], ['B', m.lora_B]] as const) {
      tensors.set(peftKey(path, which), { dtype, shape: [...v.shape], data: async () => (await v.data()) as Float32Array });
    }
  }
  const weights = join(dir, ADAPTER_WEIGHTS_NAME);
  await writeSafetensors(weights, tensors, { metadata: { format: 'pt' } });
  const config = join(dir, ADAPTER_CONFIG_NAME);
  await writeFile(config, JSON.stringify(toPeftConfig(adapter.config, options.baseModelNameOrPath ?? null), null, 2) + '\n');
  return [config, weights];
}

/**
 * Attaches a saved PEFT LoRA adapter to `model`. The adapter's keys must be exactly the
 * A and B of the modules its config targets; the error lists missing and unexpected keys.
 */
export async function loadPeftAdapter(model: HasNamedLinears, dir: string): Promise<LoraAdapter> {
  const configFile = join(dir, ADAPTER_CONFIG_NAME);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(configFile, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${configFile}: ${(e as Error).message}`);
  }
  const config = fromPeftConfig(json, configFile);
  const weights = await Checkpoint.open(join(dir, ADAPTER_WEIGHTS_NAME));
  const adapter = applyLora(model, config);
  try {
    const wanted = new Set([...adapter.modules.keys()].flatMap((p) => [peftKey(p, 'A'), peftKey(p, 'B')]));
    const have = weights.keys();
    const missing = [...wanted].filter((k) => !weights.has(k));
    const unexpected = have.filter((k) => !wanted.has(k));
    if (missing.length || unexpected.length) {
      const list = (xs: string[]) => xs.slice(0, 6).join(', ') + (xs.length > 6 ? `, ... (${xs.length} in all)` : '');
      throw new Error(`${dir}: adapter weights do not match its config: ${[
        missing.length ? `missing ${list(missing)}` : '', unexpected.length ? `unexpected ${list(unexpected)}` : '',
      ].filter(Boolean).join('; ')}`);
    }
    for (const [path, m] of adapter.modules) {
      for (const [which, v] of [['A', m.lora_A], ['B', m.lora_B]] as const) {
        const key = peftKey(path, which);
        const { shape, data } = await weights.getF32(key);
        if (shape.join() !== v.shape.join()) throw new Error(`${dir}: ${key} has shape [${shape}], the model needs [${v.shape}]`);
        const t = tf.tensor2d(data, shape as [number, number]);
        v.assign(t);
        t.dispose();
      }
    }
  } catch (e) {
    adapter.unload();
    throw e;
  }
  return adapter;
}

