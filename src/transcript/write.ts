/**
 * Writing transcripts as openai-whisper JSON (what `readTranscript` and Python's
 * whisper tooling read back), atomically, never over the file they were read from.
 */
import { resolve } from 'node:path';
import { writeFileAtomic } from '../audio/files';
import { TranscriptError, transcriptText, type Transcript } from './types';

/** The openai-whisper result shape of a transcript (snake_case, as Python writes it). */
export function toWhisperJson(t: Transcript): object {
  return {
    text: transcriptText(t),
    segments: t.segments.map((s) => ({
      id: s.id,
      start: s.start,
      end: s.end,
      text: s.text,
      ...(s.avgLogprob !== undefined ? { avg_logprob: s.avgLogprob } : {}),
      ...(s.compressionRatio !== undefined ? { compression_ratio: s.compressionRatio } : {}),
      ...(s.noSpeechProb !== undefined ? { no_speech_prob: s.noSpeechProb } : {}),
      ...(s.words ? { words: s.words.map((w) => ({ word: w.word, start: w.start, end: w.end, ...(w.probability !== undefined ? { probability: w.probability } : {}) })) } : {}),
    })),
    ...(t.language ? { language: t.language } : {}),
  };
}

/**
 * Writes `t` as openai-whisper JSON to `file`. Refuses to overwrite `t.source` (the file
 * the transcript was read from), so a corrected transcript never replaces the original.
 */
export async function writeTranscript(file: string, t: Transcript): Promise<void> {
  if (t.source && resolve(t.source) === resolve(file)) {
    throw new TranscriptError(file, 'refusing to overwrite the transcript this one was read from; write the corrected copy to another file');
  }
  await writeFileAtomic(file, JSON.stringify(toWhisperJson(t), null, 1) + '\n');
}
