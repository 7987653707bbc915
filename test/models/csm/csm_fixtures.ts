/** Loads test/fixtures/csm (made by test/fixtures/make_csm_fixtures.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CSM_DIR = join(__dirname, '..', '..', 'fixtures', 'csm');

export interface TrainCase {
  input_ids: number[][];
  attention_mask: number[][];
  codes: number[][][];
  labels_processor: number[][];
  labels_fixed: number[][];
  fixed_101: number[][];
  turns: { speaker: number; text: string; samples: number | null }[][];
}
export interface LossRecord { loss: number; backbone_loss: number; depth_decoder_loss: number }
export interface CsmExpected {
  train: TrainCase;
  loss_full: LossRecord;
  loss_fixed: LossRecord;
  lora_loss_fixed: LossRecord;
  ttslab_adapter_loss_fixed: number;
  adapter_keys: string[];
  generation: Record<string, {
    input_ids: number[][]; attention_mask: number[][]; codes: number[][][]; frames: number[][][]; matches_manual: boolean;
    turns: { speaker: number; text: string; samples: number | null }[][];
  }>;
}

export function loadExpected(): CsmExpected {
  return JSON.parse(readFileSync(join(CSM_DIR, 'expected.json'), 'utf8')) as CsmExpected;
}

/** Per row, the codes of its audio segments in order (the fixture lists segments over the batch). */
export function rowCodes(turns: { samples: number | null }[][], segments: number[][][]): number[][][] {
  let s = 0;
  return turns.map((row) => row.flatMap((t) => (t.samples ? segments[s++] : [])));
}

