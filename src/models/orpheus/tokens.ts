/**
 * Orpheus-3B's token layout: SNAC 24 kHz codes written as text-vocabulary tokens of a
 * Llama-3 tokenizer extended past 128256. From the data preparation of Unsloth's Orpheus
 * notebook and canopylabs/Orpheus-TTS (`tokenise_audio`, `remove_duplicate_frames`,
 * `create_input_ids`, inference `redistribute_codes`); ../shared/REFERENCE.md, Orpheus.
 *
 * One frame = 2048 samples at 24 kHz (one level-0 code) = 7 tokens:
 *   [L0[i], L1[2i], L2[4i], L2[4i+1], L1[2i+1], L2[4i+2], L2[4i+3]]
 * token at position k of a frame = code + AUDIO_TOKENS_START + k * CODEBOOK_SIZE.
 */
import type { SnacCodes } from '../snac/modeling';

/** Size of the Llama-3 text vocabulary the Orpheus ids count from. */
export const TOKENISER_LENGTH = 128256;
export const CODEBOOK_SIZE = 4096;
/** Tokens per SNAC frame (1 + 2 + 4 codes of the three levels). */
export const TOKENS_PER_FRAME = 7;

/** Special ids (REFERENCE.md; the recipe's `tokeniser_length + n`). */
export const ORPHEUS_IDS = Object.freeze({
  startOfText: 128000,
  endOfText: 128009,
  startOfSpeech: TOKENISER_LENGTH + 1, // 128257
  endOfSpeech: TOKENISER_LENGTH + 2, // 128258
  startOfHuman: TOKENISER_LENGTH + 3, // 128259
  endOfHuman: TOKENISER_LENGTH + 4, // 128260
  startOfAi: TOKENISER_LENGTH + 5, // 128261
  endOfAi: TOKENISER_LENGTH + 6, // 128262
  pad: TOKENISER_LENGTH + 7, // 128263
  audioTokensStart: TOKENISER_LENGTH + 10, // 128266
});

/** Level of the code at each of the 7 positions of a frame. */
export const POSITION_LEVEL = [0, 1, 2, 2, 1, 2, 2] as const;
/** Index of that code within its level's codes of frame i: level-stride * i + this. */
const POSITION_SUB = [0, 0, 0, 1, 1, 2, 3] as const;
/** Codes of level k per frame (1, 2, 4). */
const PER_FRAME = [1, 2, 4] as const;

/** The id range `[lo, hi)` of position k within a frame. */
export function positionRange(k: number): [number, number] {
  const lo = ORPHEUS_IDS.audioTokensStart + k * CODEBOOK_SIZE;
  return [lo, lo + CODEBOOK_SIZE];
}

/** SNAC codes (levels n, 2n, 4n) -> frames `[n][7]` of raw codes in the Orpheus order. */
export function snacToFrames(codes: SnacCodes): number[][] {
  if (codes.length !== 3) throw new Error(`Orpheus needs 3 SNAC levels, got ${codes.length}`);
  const n = codes[0].length;
  codes.forEach((c, k) => {
    if (c.length !== n * PER_FRAME[k]) throw new Error(`SNAC level ${k} has ${c.length} codes, expected ${n * PER_FRAME[k]} for ${n} frames`);
  });
  const frames: number[][] = [];
  for (let i = 0; i < n; i++) {
    frames.push(POSITION_LEVEL.map((level, k) => codes[level][PER_FRAME[level] * i + POSITION_SUB[k]]));
  }
  return frames;
}

/** Frames `[n][7]` of raw codes -> SNAC codes (levels n, 2n, 4n). */
export function framesToSnac(frames: number[][]): SnacCodes {
  const n = frames.length;
  const codes = [new Int32Array(n), new Int32Array(2 * n), new Int32Array(4 * n)];
  frames.forEach((f, i) => {
    if (f.length !== TOKENS_PER_FRAME) throw new Error(`frame ${i} has ${f.length} codes, expected ${TOKENS_PER_FRAME}`);
    f.forEach((code, k) => {
      if (!Number.isInteger(code) || code < 0 || code >= CODEBOOK_SIZE) throw new Error(`frame ${i} position ${k}: code ${code} outside [0, ${CODEBOOK_SIZE})`);
      const level = POSITION_LEVEL[k];
      codes[level][PER_FRAME[level] * i + POSITION_SUB[k]] = code;
    });
  });
  return codes;
}

/** Frames of raw codes -> audio tokens (7 per frame, id = code + 128266 + k * 4096). */
export function framesToTokens(frames: number[][]): number[] {
  const out: number[] = [];
  frames.forEach((f, i) => {
    if (f.length !== TOKENS_PER_FRAME) throw new Error(`frame ${i} has ${f.length} codes, expected ${TOKENS_PER_FRAME}`);
    f.forEach((code, k) => {
      if (!Number.isInteger(code) || code < 0 || code >= CODEBOOK_SIZE) throw new Error(`frame ${i} position ${k}: code ${code} outside [0, ${CODEBOOK_SIZE})`);
      out.push(code + positionRange(k)[0]);
    });
  });
  return out;
}

/** SNAC codes -> audio tokens (the recipe's `tokenise_audio`). */
export function snacToTokens(codes: SnacCodes): number[] {
  return framesToTokens(snacToFrames(codes));
}

/**
 * Drops every frame whose first token equals the first token of the last kept frame (the
 * recipe's `remove_duplicate_frames`: a run of repeats keeps only its first frame).
 */
export function removeDuplicateFrames(tokens: number[]): { tokens: number[]; removedFrames: number } {
  if (tokens.length % TOKENS_PER_FRAME !== 0) throw new Error(`audio tokens: ${tokens.length} is not a multiple of ${TOKENS_PER_FRAME}`);
  const out = tokens.slice(0, TOKENS_PER_FRAME);
  let removedFrames = 0;
  for (let i = TOKENS_PER_FRAME; i < tokens.length; i += TOKENS_PER_FRAME) {
    if (tokens[i] !== out[out.length - TOKENS_PER_FRAME]) out.push(...tokens.slice(i, i + TOKENS_PER_FRAME));
    else removedFrames++;
  }
  return { tokens: out, removedFrames };
}

/** A token that cannot be decoded: where it is and why. */
export interface TokenIssue {
  /** Index in the token list given to the parser. */
  position: number;
  /** The token id found. */
  value: number;
  /** Frame it belongs to and its position in that frame (0..6). */
  frame: number;
  slot: number;
  reason: string;
}

export interface ParsedSpeech {
  /** Complete, valid frames `[n][7]` of raw codes, in order (decode with `framesToSnac`). */
  frames: number[][];
  /** Token index (in the input) of each frame's first token. */
  frameStarts: number[];
  /** Frames with a token outside its position's range: reported, never decoded. */
  invalid: TokenIssue[];
  /** Tokens of an unfinished last frame (fewer than 7), with their position. */
  partial: { position: number; values: number[] } | null;
  /** Whether end-of-speech (128258) was seen; tokens after it are ignored. */
  ended: boolean;
}

export interface ParseOptions {
  /**
   * What to do with a frame that holds an invalid token: 'throw' (default: the error names
   * position, value and expected range) or 'skip' (drop the whole frame, report it).
   */
  onInvalid?: 'throw' | 'skip';
}

/**
 * Parses generated tokens into complete frames. Speech starts after the last
 * start-of-speech (128257) if there is one (else at index 0) and ends at end-of-speech
 * (128258). Each group of 7 tokens must have token k in `positionRange(k)`; a frame with
 * a token out of its range is an error (or, with `onInvalid: 'skip'`, dropped and
 * reported), and a trailing incomplete frame is reported in `partial`, never decoded.
 */
export function parseSpeechTokens(tokens: number[], options: ParseOptions = {}): ParsedSpeech {
  const onInvalid = options.onInvalid ?? 'throw';
  const start = tokens.lastIndexOf(ORPHEUS_IDS.startOfSpeech) + 1; // 0 when absent
  let end = tokens.indexOf(ORPHEUS_IDS.endOfSpeech, start);
  const ended = end >= 0;
  if (!ended) end = tokens.length;
  const frames: number[][] = [];
  const frameStarts: number[] = [];
  const invalid: TokenIssue[] = [];
  const whole = Math.floor((end - start) / TOKENS_PER_FRAME);
  for (let f = 0; f < whole; f++) {
    const at = start + f * TOKENS_PER_FRAME;
    const codes: number[] = [];
    let bad: TokenIssue | null = null;
    for (let k = 0; k < TOKENS_PER_FRAME; k++) {
      const v = tokens[at + k];
      const [lo, hi] = positionRange(k);
      if (!(Number.isInteger(v) && v >= lo && v < hi)) {
        bad = { position: at + k, value: v, frame: f, slot: k, reason: `expected an id in [${lo}, ${hi}) at frame position ${k}` };
        break;
      }
      codes.push(v - lo);
    }
    if (bad) {
      if (onInvalid === 'throw') {
        throw new Error(`Orpheus speech tokens: invalid token ${bad.value} at position ${bad.position} (frame ${bad.frame}, slot ${bad.slot}): ${bad.reason}`);
      }
      invalid.push(bad);
      continue;
    }
    frames.push(codes);
    frameStarts.push(at);
  }
  const restAt = start + whole * TOKENS_PER_FRAME;
  const partial = restAt < end ? { position: restAt, values: tokens.slice(restAt, end) } : null;
  return { frames, frameStarts, invalid, partial, ended };
}
