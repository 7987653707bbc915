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
import type { WeightSource } from '../weights/types';
import { toHfConfig } from '../models/llama/config';
import type { LlamaConfig } from '../models/llama/config';
import type { NamedLinear } from '../models/llama/modeling';
import { LoraLinear } from './lora';

/** A model whose linears LoRA may wrap: its base weights by reference name, and its linear modules. */
export interface MergeableModel {
  namedParameters(): Map<string, tf.Tensor>;
  namedLinears(): NamedLinear[];
}

/** A Llama-architecture model: its config.json comes from its LlamaConfig. */
export interface ExportableModel extends MergeableModel {
  readonly config: LlamaConfig;
}

export interface SaveMergedOptions {
  dtype?: 'F16' | 'BF16' | 'F32';
  /** Largest shard in bytes (transformers' default 5 GB). */
  maxShardBytes?: number;
}

export const TORCH_DTYPE = { F16: 'float16', BF16: 'bfloat16', F32: 'float32' } as const;

/** Writes `config.json` and the merged weights (`model.safetensors` or shards) into `dir`. */
export async function saveMergedCheckpoint(model: ExportableModel, dir: string, options: SaveMergedOptions = {}): Promise<string[]> {
  const dtype = options.dtype ?? 'BF16';
  const files = await saveMergedWeights(model, dir, options);
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(toHfConfig(model.config, TORCH_DTYPE[dtype]), null, 2) + '\n');
  return [configFile, ...files];
}

/** Tensors copied unchanged into a merged checkpoint (a codec stored inside the model's checkpoint, say). */
export interface ExtraTensors {
  source: WeightSource;
  /** Names to copy (each must be a floating-point tensor of `source`); written in their own dtype, F16/BF16/F32. */
  names: string[];
}

/**
 * Writes the merged weights of any `MergeableModel` (every LoRA-wrapped weight as
 * W + s B A, the rest as they are) in `options.dtype`, plus `extra` tensors copied in
 * their own dtype, into `dir` (`model.safetensors` or shards). No config.json: the caller
 * writes the model's own. Returns the files written.
 */
export async function saveMergedWeights(model: MergeableModel, dir: string, options: SaveMergedOptions & { extra?: ExtraTensors } = {}): Promise<string[]> {
  const dtype = options.dtype ?? 'BF16';
  if (!(dtype in TORCH_DTYPE)) throw new Error(`merged checkpoint dtype must be F16, BF16 or F32, got ${JSON.stringify(dtype)}`);
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
  for (const name of options.extra?.names ?? []) {
    const src = options.extra!.source;
    if (tensors.has(name)) throw new Error(`extra tensor ${name} is also a model weight`);
    if (!src.has(name)) throw new Error(`extra tensor ${name} is not in ${src.keys().length} tensors of its source`);
    const info = src.info(name);
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') throw new Error(`extra tensor ${name} is ${info.dtype}; only F32, F16 and BF16 are copied`);
    // F16/BF16 -> F32 -> the same dtype is exact.
    tensors.set(name, { dtype: info.dtype, shape: [...info.shape], data: async () => (await src.getF32(name)).data });
  }
  return writeCheckpoint(dir, tensors, { maxShardBytes: options.maxShardBytes });
}
