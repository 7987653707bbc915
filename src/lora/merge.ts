/**
 * Export of a LoRA-adapted model as a plain checkpoint: every wrapped weight is written
 * as W + s B A, in F16 or BF16 (or F32), with the model's config.json, so transformers'
 * `from_pretrained` (or ttslab) loads it without PEFT. The model itself is not changed.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeCheckpoint } from '../weights/checkpoint';
import type { TensorToWrite } from '../weights/safetensors';
import { toHfConfig } from '../models/llama/config';
import type { LlamaConfig } from '../models/llama/config';
import type { NamedLinear } from '../models/llama/modeling';
import { LoraLinear } from './lora';

export interface ExportableModel {
  readonly config: LlamaConfig;
  namedParameters(): Map<string, tf.Tensor>;
  namedLinears(): NamedLinear[];
}

export interface SaveMergedOptions {
  dtype?: 'F16' | 'BF16' | 'F32';
  /** Largest shard in bytes (transformers' default 5 GB). */
  maxShardBytes?: number;
}

const TORCH_DTYPE = { F16: 'float16', BF16: 'bfloat16', F32: 'float32' } as const;

/** Writes `config.json` and the merged weights (`model.safetensors` or shards) into `dir`. */
export async function saveMergedCheckpoint(model: ExportableModel, dir: string, options: SaveMergedOptions = {}): Promise<string[]> {
  const dtype = options.dtype ?? 'BF16';
  const lora = new Map<string, LoraLinear>();
  for (const n of model.namedLinears()) if (n.module instanceof LoraLinear) lora.set(`${n.path}.weight`, n.module);
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.namedParameters()) {
    const wrapped = lora.get(name);
    tensors.set(name, {
      dtype,
      shape: [...t.shape],
      // Produced one tensor at a time while the file is written.
      data: async () => {
        if (!wrapped) return (await t.data()) as Float32Array;
        const merged = wrapped.mergedWeight();
        try {
          return (await merged.data()) as Float32Array;
        } finally {
          merged.dispose();
        }
      },
    });
  }
  const files = await writeCheckpoint(dir, tensors, { maxShardBytes: options.maxShardBytes });
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(toHfConfig(model.config, TORCH_DTYPE[dtype]), null, 2) + '\n');
  return [configFile, ...files];
}
