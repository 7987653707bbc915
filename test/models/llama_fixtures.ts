/**
 * Loads the Python-made parity fixtures of test/fixtures/llama/<name>/ (see
 * test/fixtures/make_llama_fixtures.py): the base model, expected.json and the arrays of
 * expected.safetensors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../src/weights/checkpoint';
import { LlamaForCausalLM } from '../../src/models/llama';

export const FIXTURES_DIR = join(__dirname, '..', 'fixtures', 'llama');
export const FIXTURE_NAMES = ['llama3', 'tied', 'gqa'] as const;
export const CASE_NAMES = ['full', 'right', 'left'] as const;
export type CaseName = (typeof CASE_NAMES)[number];

export interface FixtureCase {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  labels: number[][];
  loss: number;
  lora_loss: number;
}

export interface GenerationCase {
  input_ids: number[][];
  attention_mask: number[][];
  max_new_tokens: number;
  greedy: number[][];
  eos_token_id: number;
  greedy_eos: number[][];
  repetition_penalty: number;
  greedy_rep: number[][];
}

export interface ExpectedJson {
  name: string;
  pad_token_id: number;
  cases: Record<CaseName, FixtureCase>;
  generation: Record<'gen_nopad' | 'gen_left', GenerationCase>;
  lora: { r: number; lora_alpha: number; use_rslora: boolean; target_modules: string[]; trainable_params: number; total_params: number };
}

export interface Fixture {
  name: string;
  dir: string;
  expected: ExpectedJson;
  arrays: Checkpoint;
}

export async function loadFixture(name: string): Promise<Fixture> {
  const dir = join(FIXTURES_DIR, name);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as ExpectedJson;
  return { name, dir, expected, arrays: await Checkpoint.open(join(dir, 'expected.safetensors')) };
}

export async function loadModel(f: Fixture): Promise<LlamaForCausalLM> {
  return LlamaForCausalLM.fromPretrained(f.dir);
}

/** An expected array as a flat Float32Array with its shape. */
export async function expectedArray(f: Fixture, key: string): Promise<{ shape: number[]; data: Float32Array }> {
  return f.arrays.getF32(key);
}

/**
 * max |a - b| / max |b| over the rows where `mask` is 1 (rows = positions of a
 * `[batch, seq, vocab]` array); padding positions carry no meaning and are skipped.
 */
export function maskedRelError(actual: Float32Array, expected: Float32Array, mask: number[][], width: number): number {
  let maxDiff = 0;
  let maxRef = 0;
  const seq = mask[0].length;
  for (let b = 0; b < mask.length; b++) {
    for (let t = 0; t < seq; t++) {
      if (mask[b][t] !== 1) continue;
      const base = (b * seq + t) * width;
      for (let v = 0; v < width; v++) {
        maxDiff = Math.max(maxDiff, Math.abs(actual[base + v] - expected[base + v]));
        maxRef = Math.max(maxRef, Math.abs(expected[base + v]));
      }
    }
  }
  return maxDiff / maxRef;
}

/** max |a - b| / max |b| over all elements. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < actual.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxDiff / maxRef;
}

/** Runs `f` and returns how many tensors it left behind. */
export async function tensorsLeaked(f: () => unknown): Promise<number> {
  const before = tf.memory().numTensors;
  await f();
  return tf.memory().numTensors - before;
}
