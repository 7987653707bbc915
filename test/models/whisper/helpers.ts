/** Loads the Python-made Whisper fixtures of test/fixtures/whisper (make_whisper_fixtures.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE_DIR = join(__dirname, '..', '..', 'fixtures', 'whisper');

export interface ExpectedSegment {
  start: number;
  end: number;
  tokens: number[];
  idxs: [number, number];
  token_timestamps?: number[];
}

export interface ExpectedCall {
  decoder_input_ids: number[][];
  sequences: number[][];
  chosen_logprobs?: number[];
  min_margin?: number;
}

export interface ExpectedRun {
  kwargs: Record<string, unknown>;
  sequences: number[][];
  token_timestamps?: number[][];
  segments?: ExpectedSegment[][];
  calls: ExpectedCall[];
}

export interface Expected {
  max_new_tokens: number;
  long_recipe: [string, number][];
  short_samples: number;
  long_samples: number;
  long_frames: number;
  /** attention_mask.sum(-1) of the long input's features (mel frames of real audio). */
  long_mask_sum: number;
  /** attention_mask.sum(-1) of the short clip's features (fixtures made after the pipeline-word runs were added). */
  short_mask_sum?: number;
  /**
   * transformers' ASR pipeline words (`return_timestamps="word"`), by input, decoded greedily:
   * the pipeline called with `generate_kwargs` = `pipeline_generate_kwargs` (num_beams 1; the
   * pipeline's own default, `pipeline_default_num_beams`, is 5). Fixtures made after
   * make_whisper_fixtures.py recorded it; earlier ones hold `pipeline_words`, the beam-search
   * words, which greedy decoding cannot reproduce (not compared).
   */
  pipeline_words_greedy?: Record<'short' | 'long', { text: string; start: number; end: number }[]>;
  pipeline_generate_kwargs?: Record<string, unknown>;
  pipeline_default_num_beams?: number;
  decoder_input_ids: number[];
  detected_language_short: number;
  detected_language_long: number;
  long_no_speech_probs: number[];
  long_window_seeks: number[];
  no_speech_threshold: number;
  ids: { eot: number; sot: number; lang_to_id: Record<string, number>; transcribe: number; timestamp_begin: number; vocab_size: number };
  runs: Record<string, ExpectedRun>;
}

let cached: Expected | null = null;
export function loadExpected(): Expected {
  cached ??= JSON.parse(readFileSync(join(FIXTURE_DIR, 'expected.json'), 'utf8')) as Expected;
  return cached;
}

/** 16-bit PCM mono WAV -> float32 as Python's `int16 / 32768` (the fixture script's reader). */
export function readWavF32(name: string): Float32Array {
  const buf = readFileSync(join(FIXTURE_DIR, name));
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const n = Math.floor(size / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(off + 8 + 2 * i) / 32768;
      return out;
    }
    off += 8 + size + (size % 2);
  }
  throw new Error(`${name}: no data chunk`);
}

/** The > 60 s input: the recipe's clips with zero gaps between them, as the fixture script builds it. */
export function longInput(e: Expected): Float32Array {
  const parts: Float32Array[] = [];
  for (const [name, gap] of e.long_recipe) {
    parts.push(readWavF32(name));
    parts.push(new Float32Array(Math.round(gap * 16000)));
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  if (out.length !== e.long_samples) throw new Error(`long input has ${out.length} samples, the fixture ${e.long_samples}`);
  return out;
}

export function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |a - b| / max |b| */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ref = 0;
  for (let i = 0; i < b.length; i++) ref = Math.max(ref, Math.abs(b[i]!));
  return maxAbsError(a, b) / ref;
}
