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

/**
 * Where the Orpheus tokens sit in a vocabulary: the recipe's ids counted from the Llama-3
 * text vocabulary size (`tokeniser_length + n`), the two Llama-3 text specials it uses,
 * and the codebook size of the audio positions. `ORPHEUS_LAYOUT` is Orpheus-3B's; the
 * tiny random model (tiny.ts) has the same layout over a 259-token text vocabulary and a
 * smaller codebook, so every function here takes a layout (default: Orpheus-3B's).
 */
export interface OrpheusLayout {
  /** Size of the text vocabulary the specials count from (128256 for Llama-3). */
  tokeniserLength: number;
  /** `<|begin_of_text|>`, the bos the text is encoded with (128000). */
  startOfText: number;
  /** `<|eot_id|>`, closing the text (128009). */
  endOfText: number;
  startOfSpeech: number;
  endOfSpeech: number;
  startOfHuman: number;
  endOfHuman: number;
  startOfAi: number;
  endOfAi: number;
  pad: number;
  /** Id of code 0 at frame position 0; position k starts `k * codebookSize` later. */
  audioTokensStart: number;
  /** Codes per SNAC level (4096). */
  codebookSize: number;
}

/** The layout for a text vocabulary of `tokeniserLength` ids: specials at `tokeniserLength + 1..7`, audio at `+ 10`. */
export function orpheusLayout(tokeniserLength: number, text: { startOfText: number; endOfText: number }, codebookSize: number): OrpheusLayout {
  for (const [k, v] of Object.entries({ tokeniserLength, codebookSize, ...text })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`Orpheus layout: ${k} must be an integer >= 0, got ${v}`);
  }
  if (text.startOfText >= tokeniserLength || text.endOfText >= tokeniserLength) {
    throw new Error(`Orpheus layout: text specials ${text.startOfText}, ${text.endOfText} must lie in the text vocabulary [0, ${tokeniserLength})`);
  }
  return Object.freeze({
    tokeniserLength,
    ...text,
    startOfSpeech: tokeniserLength + 1,
    endOfSpeech: tokeniserLength + 2,
    startOfHuman: tokeniserLength + 3,
    endOfHuman: tokeniserLength + 4,
    startOfAi: tokeniserLength + 5,
    endOfAi: tokeniserLength + 6,
    pad: tokeniserLength + 7,
    audioTokensStart: tokeniserLength + 10,
    codebookSize,
  });
}

/** Orpheus-3B's layout (REFERENCE.md; the recipe's `tokeniser_length + n`). */
export const ORPHEUS_LAYOUT: OrpheusLayout = orpheusLayout(TOKENISER_LENGTH, { startOfText: 128000, endOfText: 128009 }, CODEBOOK_SIZE);

/** Ids one past the last audio token: the vocabulary a model of `layout` needs at least (156938 for Orpheus-3B). */
export function layoutVocabSize(layout: OrpheusLayout): number {
  return layout.audioTokensStart + TOKENS_PER_FRAME * layout.codebookSize;
}

/** Special ids of Orpheus-3B (REFERENCE.md; the recipe's `tokeniser_length + n`). */
export const ORPHEUS_IDS = Object.freeze({
  startOfText: ORPHEUS_LAYOUT.startOfText,
  endOfText: ORPHEUS_LAYOUT.endOfText,
  startOfSpeech: ORPHEUS_LAYOUT.startOfSpeech, // 128257
  endOfSpeech: ORPHEUS_LAYOUT.endOfSpeech, // 128258
  startOfHuman: ORPHEUS_LAYOUT.startOfHuman, // 128259
  endOfHuman: ORPHEUS_LAYOUT.endOfHuman, // 128260
  startOfAi: ORPHEUS_LAYOUT.startOfAi, // 128261
  endOfAi: ORPHEUS_LAYOUT.endOfAi, // 128262
  pad: ORPHEUS_LAYOUT.pad, // 128263
  audioTokensStart: ORPHEUS_LAYOUT.audioTokensStart, // 128266
});

/** Level of the code at each of the 7 positions of a frame. */
export const POSITION_LEVEL = [0, 1, 2, 2, 1, 2, 2] as const;
/** Index of that code within its level's codes of frame i: level-stride * i + this. */
const POSITION_SUB = [0, 0, 0, 1, 1, 2, 3] as const;
/** Codes of level k per frame (1, 2, 4). */
const PER_FRAME = [1, 2, 4] as const;

/** The id range `[lo, hi)` of position k within a frame. */
export function positionRange(k: number, layout: OrpheusLayout = ORPHEUS_LAYOUT): [number, number] {
  const lo = layout.audioTokensStart + k * layout.codebookSize;
  return [lo, lo + layout.codebookSize];
}

/** Frame position (0..6) of an audio token of `layout`, or -1 when `id` is not an audio token. */
export function audioPosition(id: number, layout: OrpheusLayout = ORPHEUS_LAYOUT): number {
  const k = Math.floor((id - layout.audioTokensStart) / layout.codebookSize);
  return Number.isInteger(id) && k >= 0 && k < TOKENS_PER_FRAME ? k : -1;
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

/** Frames `[n][7]` of raw codes (each in `[0, codebookSize)`) -> SNAC codes (levels n, 2n, 4n). */
export function framesToSnac(frames: number[][], codebookSize: number = CODEBOOK_SIZE): SnacCodes {
  const n = frames.length;
  const codes = [new Int32Array(n), new Int32Array(2 * n), new Int32Array(4 * n)];
  frames.forEach((f, i) => {
    if (f.length !== TOKENS_PER_FRAME) throw new Error(`frame ${i} has ${f.length} codes, expected ${TOKENS_PER_FRAME}`);
    f.forEach((code, k) => {
      if (!Number.isInteger(code) || code < 0 || code >= codebookSize) throw new Error(`frame ${i} position ${k}: code ${code} outside [0, ${codebookSize})`);
      const level = POSITION_LEVEL[k];
      codes[level][PER_FRAME[level] * i + POSITION_SUB[k]] = code;
    });
  });
  return codes;
}

/** Frames of raw codes -> audio tokens (7 per frame, id = code + 128266 + k * 4096 in Orpheus-3B's layout). */
export function framesToTokens(frames: number[][], layout: OrpheusLayout = ORPHEUS_LAYOUT): number[] {
  const out: number[] = [];
  frames.forEach((f, i) => {
    if (f.length !== TOKENS_PER_FRAME) throw new Error(`frame ${i} has ${f.length} codes, expected ${TOKENS_PER_FRAME}`);
    f.forEach((code, k) => {
      if (!Number.isInteger(code) || code < 0 || code >= layout.codebookSize) throw new Error(`frame ${i} position ${k}: code ${code} outside [0, ${layout.codebookSize})`);
      out.push(code + positionRange(k, layout)[0]);
    });
  });
  return out;
}

/** SNAC codes -> audio tokens (the recipe's `tokenise_audio`). */
export function snacToTokens(codes: SnacCodes, layout: OrpheusLayout = ORPHEUS_LAYOUT): number[] {
  return framesToTokens(snacToFrames(codes), layout);
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
  /** Token layout (default Orpheus-3B's). */
  layout?: OrpheusLayout;
}

/**
 * Parses generated tokens into complete frames. Speech starts after the last
 * start-of-speech (128257 in Orpheus-3B's layout) if there is one (else at index 0) and ends at end-of-speech
 * (128258). Each group of 7 tokens must have token k in `positionRange(k)`; a frame with
 * a token out of its range is an error (or, with `onInvalid: 'skip'`, dropped and
 * reported), and a trailing incomplete frame is reported in `partial`, never decoded.
 */
export function parseSpeechTokens(tokens: number[], options: ParseOptions = {}): ParsedSpeech {
  const onInvalid = options.onInvalid ?? 'throw';
  const layout = options.layout ?? ORPHEUS_LAYOUT;
  const start = tokens.lastIndexOf(layout.startOfSpeech) + 1; // 0 when absent
  let end = tokens.indexOf(layout.endOfSpeech, start);
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
      const [lo, hi] = positionRange(k, layout);
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
