/**
 * The work folder where notebooks 01-03 leave what later notebooks read: the downloaded
 * recording, transcripts and the dataset.
 *
 * `$TTSLAB_WORKDIR` when set, else `<project>/work/` (git-ignored). Layout:
 *   work/audio/       recordings (01_download)
 *   work/transcripts/ transcript.json as read or recognised, transcript.corrected.json (02)
 *   work/dataset/     data/train-*.parquet, data/validation-*.parquet, clips.json (03)
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../paths';

/** The sample talk shipped with ttslab (datasets/sample-talk). */
export const SAMPLE_TALK_DIR = join(PROJECT_ROOT, 'datasets', 'sample-talk');

export type WorkArea = 'audio' | 'transcripts' | 'dataset';

/** The work folder (or one of its areas), created if missing. */
export function workspace(area?: WorkArea | string): string {
  const root = process.env.TTSLAB_WORKDIR ? resolve(process.env.TTSLAB_WORKDIR) : join(PROJECT_ROOT, 'work');
  const dir = area ? join(root, area) : root;
  mkdirSync(dir, { recursive: true });
  return dir;
}
