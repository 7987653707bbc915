/**
 * What CSM needs from an audio codec. CSM itself works on codes; a codec (Mimi,
 * src/models/mimi) turns 24 kHz samples into codes and back.
 */
export interface AudioCodec {
  /** Sample rate in Hz the codec reads and writes (24000 for Mimi). */
  readonly sampleRate: number;
  /** Samples per code frame (1920 for Mimi: 24000 Hz / 12.5 Hz). */
  readonly frameSamples: number;
  /** Codebooks per frame the codec produces (32 for CSM-1B). */
  readonly numCodebooks: number;
  /** `[samples]` at `sampleRate` -> codes `[frames][codebooks]`, frames = ceil(samples / frameSamples). */
  encode(samples: Float32Array): Promise<number[][]>;
  /** Codes `[frames][codebooks]` -> `[frames * frameSamples]` samples. */
  decode(codes: number[][]): Promise<Float32Array>;
}

/** Audio of a turn: samples (encoded by a codec in `encodeTurnAudio`) or codes already made. */
export type TurnAudio =
  | { samples: Float32Array; sampleRate: number }
  | { codes: number[][] };

/** One conversation turn: `[speaker]text`, optionally followed by its audio. */
export interface CsmTurn {
  text: string;
  /** Speaker id (dataset column `source`); missing means 0, as the workshop's data. */
  speaker?: number;
  audio?: TurnAudio;
}

/** A turn whose audio is codes `[frames][codebooks]` (what the processor consumes). */
export interface CsmCodedTurn {
  text: string;
  speaker?: number;
  codes?: number[][];
}
