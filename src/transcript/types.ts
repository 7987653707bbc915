/**
 * One transcript type for every source (openai-whisper JSON, Hugging Face pipeline
 * chunks, SRT, VTT). Times are seconds from the start of the recording.
 */

/** A word with its own timestamps (Whisper `word_timestamps=True`). */
export interface Word {
  word: string;
  start: number;
  end: number;
  /** The model's probability for the word, when given. */
  probability?: number;
}

export interface Segment {
  /** Stable id: the source's id, else the position from 0. */
  id: number;
  start: number;
  end: number;
  text: string;
  words?: Word[];
  /** Whisper's mean token log-probability (`avg_logprob`), when given. */
  avgLogprob?: number;
  /** Whisper's probability that the window holds no speech (`no_speech_prob`). */
  noSpeechProb?: number;
  /** Whisper's gzip compression ratio of the text (`compression_ratio`); high means repetition. */
  compressionRatio?: number;
}

export interface Transcript {
  segments: Segment[];
  /** Language code, when the source says. */
  language?: string;
  /** The file it was read from; writing over it is refused (the original is kept). */
  source?: string;
}

export class TranscriptError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'TranscriptError';
  }
}

/** All segment texts joined with single spaces. */
export function transcriptText(t: Transcript): string {
  return t.segments.map((s) => s.text.trim()).filter(Boolean).join(' ');
}
