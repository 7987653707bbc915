/**
 * Loading the Mimi parity fixtures of test/fixtures/mimi (made by
 * test/fixtures/make_mimi_fixtures.py with transformers 5.17 on a tiny random MimiModel).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint } from '../../../src/weights/checkpoint';
import { MimiModel } from '../../../src/models/mimi';

export const FIXTURE_DIR = join(__dirname, '..', '..', 'fixtures', 'mimi');

export interface MimiMeta {
  transformers: string;
  min_relative_margin: number;
  clips: Record<string, { samples: number; frames: number; encode_num_quantizers: number[]; decode_num_quantizers: number[] }>;
  encoded_lengths: Record<string, number>;
  sliding_window_applied: boolean;
  state_dict_keys: string[];
}

export async function loadMeta(): Promise<MimiMeta> {
  return JSON.parse(await readFile(join(FIXTURE_DIR, 'meta.json'), 'utf8')) as MimiMeta;
}

export async function loadModel(): Promise<MimiModel> {
  return MimiModel.fromPretrained(FIXTURE_DIR);
}

/** The expected tensors (inputs, codes, activations, decoded audio). */
export async function openExpected(): Promise<Checkpoint> {
  return Checkpoint.open(join(FIXTURE_DIR, 'fixtures.safetensors'));
}

export async function f32(ck: Checkpoint, name: string): Promise<{ shape: number[]; data: Float32Array }> {
  return ck.getF32(name);
}

export async function i32(ck: Checkpoint, name: string): Promise<{ shape: number[]; data: Int32Array }> {
  const r = await ck.read(name);
  if (r.dtype !== 'I32') throw new Error(`${name} is ${r.dtype}, expected I32`);
  return { shape: r.shape, data: r.data as Int32Array };
}

/** ||a - b|| / ||b|| */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
