/**
 * Orpheus training sequences and inference prompts, as the reference recipe builds them
 * (Unsloth's Orpheus notebook / canopylabs/Orpheus-TTS finetune `create_input_ids`;
 * ../shared/REFERENCE.md, Orpheus):
 *
 *   [start_of_human] + text_ids (with bos) + [end_of_text, end_of_human, start_of_ai,
 *   start_of_speech] + audio tokens + [end_of_speech, end_of_ai],   labels = input_ids
 *
 * Text is `"{source}: {text}"` for multi-speaker data, else the text; emotion tags
 * (`<laugh>`, `<sigh>`, ...) are left in the text for the tokenizer.
 */
import { ORPHEUS_LAYOUT, removeDuplicateFrames, TOKENS_PER_FRAME, positionRange } from './tokens';
import type { OrpheusLayout } from './tokens';

/** The emotion tags Orpheus-3B-ft was trained with (passed through as text). */
export const ORPHEUS_EMOTION_TAGS = ['<laugh>', '<chuckle>', '<sigh>', '<cough>', '<sniffle>', '<groan>', '<yawn>', '<gasp>'] as const;

/** `"{source}: {text}"` when a source (speaker) is given, else the text unchanged. */
export function orpheusPromptText(text: string, source?: string | number): string {
  return source === undefined ? text : `${source}: ${text}`;
}

/** Anything that turns text into ids with the tokenizer's bos (TextTokenizer.encode). */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
}

export interface OrpheusExampleInput {
  text: string;
  /** Speaker for multi-speaker data (`"{source}: {text}"`); omit for single-speaker. */
  source?: string | number;
  /** Audio tokens (7 per frame, see tokens.ts). */
  audioTokens: number[];
  /** Drop frames repeating the last kept frame's first code (the recipe does; default true). */
  removeDuplicates?: boolean;
}

export interface OrpheusSequence {
  inputIds: number[];
  /** = inputIds (the recipe trains on the whole sequence). */
  labels: number[];
  attentionMask: number[];
  /** Frames dropped by duplicate removal. */
  removedFrames: number;
}

/** Builds one training sequence; throws on audio tokens out of their frame position's range. */
export function buildOrpheusSequence(tokenizer: TextEncoder, ex: OrpheusExampleInput, layout: OrpheusLayout = ORPHEUS_LAYOUT): OrpheusSequence {
  const audio = ex.audioTokens;
  if (audio.length === 0 || audio.length % TOKENS_PER_FRAME !== 0) {
    throw new Error(`Orpheus example ${JSON.stringify(ex.text.slice(0, 40))}: ${audio.length} audio tokens, expected a positive multiple of ${TOKENS_PER_FRAME}`);
  }
  audio.forEach((v, i) => {
    const [lo, hi] = positionRange(i % TOKENS_PER_FRAME, layout);
    if (!(v >= lo && v < hi)) throw new Error(`Orpheus example: audio token ${i} is ${v}, expected [${lo}, ${hi})`);
  });
  const { tokens, removedFrames } = ex.removeDuplicates === false ? { tokens: audio, removedFrames: 0 } : removeDuplicateFrames(audio);
  const textIds = tokenizer.encode(orpheusPromptText(ex.text, ex.source), { addSpecialTokens: true });
  const L = layout;
  const inputIds = [L.startOfHuman, ...textIds, L.endOfText, L.endOfHuman, L.startOfAi, L.startOfSpeech, ...tokens, L.endOfSpeech, L.endOfAi];
  return { inputIds, labels: [...inputIds], attentionMask: inputIds.map(() => 1), removedFrames };
}

/**
 * The inference prompt of the reference notebooks: `[start_of_human] + text_ids +
 * [end_of_text, end_of_human]`; the model then writes start_of_ai, start_of_speech, the
 * audio tokens and end_of_speech.
 */
export function buildOrpheusPrompt(tokenizer: TextEncoder, text: string, source?: string | number, layout: OrpheusLayout = ORPHEUS_LAYOUT): number[] {
  const textIds = tokenizer.encode(orpheusPromptText(text, source), { addSpecialTokens: true });
  return [layout.startOfHuman, ...textIds, layout.endOfText, layout.endOfHuman];
}

/** An earlier turn for voice cloning: its text (and speaker) and its audio tokens (7 per frame). */
export interface OrpheusContextTurn {
  text: string;
  source?: string | number;
  audioTokens: number[];
}

/**
 * The voice-cloning prompt of Orpheus-TTS' pretrained-model examples: each context turn as
 * a whole human/AI exchange in the training layout (text, then its speech, frames kept as
 * they are), then the inference prompt of the new text; the model continues with speech
 * in the context's voice. Without context this is `buildOrpheusPrompt`.
 */
export function buildOrpheusCloningPrompt(
  tokenizer: TextEncoder, context: readonly OrpheusContextTurn[], text: string, source?: string | number, layout: OrpheusLayout = ORPHEUS_LAYOUT,
): number[] {
  const ids: number[] = [];
  context.forEach((turn, i) => {
    try {
      ids.push(...buildOrpheusSequence(tokenizer, { text: turn.text, source: turn.source, audioTokens: turn.audioTokens, removeDuplicates: false }, layout).inputIds);
    } catch (e) {
      throw new Error(`context turn ${i}: ${(e as Error).message}`);
    }
  });
  return [...ids, ...buildOrpheusPrompt(tokenizer, text, source, layout)];
}
