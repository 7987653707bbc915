/**
 * Llasa prompts and training sequences through the tokenizer's own chat template, as the
 * reference builds them:
 *
 * - Inference (HKUSTAudio/Llasa-* model card): the chat
 *     user:      "Convert the text to speech:<|TEXT_UNDERSTANDING_START|>{text}<|TEXT_UNDERSTANDING_END|>"
 *     assistant: "<|SPEECH_GENERATION_START|>" (+ the prompt clip's `<|s_N|>` for voice cloning)
 *   rendered with `apply_chat_template(..., continue_final_message=True)`: the text stops
 *   right after the assistant content, so the model continues the speech.
 * - Training (LLaSA_training/train_tts.py `TTSDataset.__getitem__`, used by the LoRA
 *   fine-tune too): the skeleton chat [user "Convert the text to speech:<|TEXT_UNDERSTANDING_START|>",
 *   assistant "<|SPEECH_GENERATION_START|>"] is tokenized whole (closing <|eot_id|>
 *   included); its <|TEXT_UNDERSTANDING_START|> is replaced by the ids of
 *   `<|TEXT_UNDERSTANDING_START|>{text}<|TEXT_UNDERSTANDING_END|>` and its
 *   <|SPEECH_GENERATION_START|> by `<|SPEECH_GENERATION_START|> speech <|SPEECH_GENERATION_END|>`.
 *   Labels are -100 before <|SPEECH_GENERATION_START|>, the ids from there on, and -100
 *   wherever the id is the pad token (pad = eos = <|eot_id|>, so the closing <|eot_id|>
 *   is not learnt).
 *
 * Both are checked token for token against transformers on a fixture tokenizer
 * (test/fixtures/make_llasa_fixtures.py).
 */
import { IGNORE_INDEX } from '../llama/modeling';
import type { ChatMessage, TextTokenizer } from '../../tokenizer';
import type { TokenExample } from '../../train/types';
import { codesToSpeechTokens, llasaLayoutFromTokenizer, markerToken } from './tokens';
import type { LlasaTokenLayout } from './tokens';

/** The instruction the user turn starts with (model card and training code). */
export const LLASA_INSTRUCTION = 'Convert the text to speech:';

/**
 * `date_string` given to the chat template. The Llama-3.2 template Llasa ships writes
 * "Today Date: ..." into the system header, from `strftime_now` (today) under transformers;
 * a prompt that changes with the calendar would change tokenization caches and results, so
 * ttslab passes the template's own fallback date unless told otherwise.
 */
export const LLASA_DEFAULT_DATE = '26 Jul 2024';

/**
 * transformers' `continue_final_message`: cut the rendered chat right after the final
 * message's content, so the template's end-of-turn tokens after it go (the last occurrence
 * of the stripped content; its leading whitespace kept when the template kept it).
 */
export function continueFinalMessage(rendered: string, finalMessage: string): string {
  const stripped = finalMessage.trim();
  const at = rendered.lastIndexOf(stripped);
  if (stripped === '' || at < 0) {
    throw new Error(`continue_final_message: the final message ${JSON.stringify(finalMessage.slice(0, 60))} does not appear in the rendered chat; the template changed it`);
  }
  const lstripped = finalMessage.trimStart();
  if (rendered.slice(at, at + lstripped.length) === finalMessage) return rendered.slice(0, at + lstripped.length);
  return rendered.slice(0, at + stripped.length);
}

export interface LlasaProcessorOptions {
  /** Token layout; default read from the tokenizer (`llasaLayoutFromTokenizer`). */
  layout?: LlasaTokenLayout;
  /** The chat template's `date_string` (default `LLASA_DEFAULT_DATE`). */
  dateString?: string;
}

/** A voice-cloning prompt clip: what it says and its XCodec2 codes. */
export interface LlasaPromptClip {
  text: string;
  codes: ArrayLike<number>;
}

/**
 * Text the user turn can carry: non-empty, and without Llasa's marker or speech-token
 * strings, which the tokenizer would read as those tokens (a stray <|SPEECH_GENERATION_START|>
 * would make the reference's splice and label start ambiguous). `where` names the row.
 */
export function checkLlasaText(text: unknown, where: string): string {
  if (typeof text !== 'string' || text.trim() === '') throw new Error(`Llasa ${where}: text must be a non-empty string, got ${JSON.stringify(text)}`);
  const m = /<\|(?:(?:TEXT|SPEECH)_(?:GENERATION|UNDERSTANDING)_(?:START|END)|s_\d+)\|>/.exec(text);
  if (m) throw new Error(`Llasa ${where}: text contains the token string ${m[0]} at character ${m.index}; remove it`);
  return text;
}

/** Builds Llasa prompts and training examples with one tokenizer. */
export class LlasaProcessor {
  readonly layout: LlasaTokenLayout;
  readonly dateString: string;
  /** Token masked out of the labels: the tokenizer's pad, else its eos (the training script sets pad = eos). */
  readonly padTokenId: number;
  private skeleton: number[] | null = null;

  constructor(readonly tokenizer: TextTokenizer, options: LlasaProcessorOptions = {}) {
    this.layout = options.layout ?? llasaLayoutFromTokenizer(tokenizer, tokenizer.source);
    this.dateString = options.dateString ?? LLASA_DEFAULT_DATE;
    const pad = tokenizer.padTokenId ?? tokenizer.eosTokenId;
    if (pad === undefined) throw new Error(`${tokenizer.source}: the tokenizer has neither a pad nor an eos token; Llasa masks pad (= eos) labels`);
    this.padTokenId = pad;
  }

  /** The user turn's text: instruction + text between the text-understanding markers. */
  userContent(text: string): string {
    return `${LLASA_INSTRUCTION}${markerToken('TEXT_UNDERSTANDING_START')}${text}${markerToken('TEXT_UNDERSTANDING_END')}`;
  }

  private render(messages: ChatMessage[]): string {
    return this.tokenizer.applyChatTemplate(messages, { extra: { date_string: this.dateString } });
  }

  /**
   * Inference prompt ids, ending with <|SPEECH_GENERATION_START|> (zero-shot) or with the
   * prompt clip's speech tokens (voice cloning: its text goes before `text`, joined by one
   * space, and generation continues its speech). The speech tokens are appended as ids;
   * tokenizing their `<|s_N|>` text, as the model card does, gives the same ids (tested).
   */
  prompt(text: string, clip?: LlasaPromptClip): number[] {
    checkLlasaText(text, 'prompt');
    let fullText = text;
    let speech: number[] = [];
    if (clip) {
      if (typeof clip.text !== 'string') throw new Error(`Llasa prompt clip: text must be a string, got ${JSON.stringify(clip.text)}`);
      if (clip.text.trim() !== '') checkLlasaText(clip.text, 'prompt clip');
      if (clip.codes.length === 0) throw new Error('Llasa prompt clip has no codes; leave the clip out for zero-shot');
      speech = codesToSpeechTokens(clip.codes, this.layout);
      fullText = clip.text.trim() === '' ? text : `${clip.text.trim()} ${text}`;
    }
    const start = markerToken('SPEECH_GENERATION_START');
    const rendered = this.render([{ role: 'user', content: this.userContent(fullText) }, { role: 'assistant', content: start }]);
    const ids = this.tokenizer.encode(continueFinalMessage(rendered, start), { addSpecialTokens: false });
    return [...ids, ...speech];
  }

  /** The tokenized skeleton chat of the training script (cached: it depends only on the tokenizer and date). */
  private trainingSkeleton(): number[] {
    if (!this.skeleton) {
      const m = this.layout.markers;
      const ids = this.tokenizer.encodeChat([
        { role: 'user', content: `${LLASA_INSTRUCTION}${markerToken('TEXT_UNDERSTANDING_START')}` },
        { role: 'assistant', content: markerToken('SPEECH_GENERATION_START') },
      ], { extra: { date_string: this.dateString } });
      for (const id of [m.TEXT_UNDERSTANDING_START, m.SPEECH_GENERATION_START]) {
        if (ids.filter((x) => x === id).length !== 1) throw new Error(`${this.tokenizer.source}: the chat template's output holds marker ${id} ${ids.filter((x) => x === id).length} times, expected once`);
      }
      this.skeleton = ids;
    }
    return this.skeleton;
  }

  /**
   * One training sequence (train_tts.py layout, see the file comment) from the clip's
   * codes and text; `where` names the row in errors.
   */
  trainingExample(text: string, codes: ArrayLike<number>, where = 'example'): TokenExample {
    checkLlasaText(text, where);
    if (codes.length === 0) throw new Error(`Llasa ${where}: no speech codes`);
    let speech: number[];
    try {
      speech = codesToSpeechTokens(codes, this.layout);
    } catch (e) {
      throw new Error(`Llasa ${where}: ${(e as Error).message}`);
    }
    const m = this.layout.markers;
    const textIds = this.tokenizer.encode(`${markerToken('TEXT_UNDERSTANDING_START')}${text}${markerToken('TEXT_UNDERSTANDING_END')}`, { addSpecialTokens: false });
    const speechSeq = [m.SPEECH_GENERATION_START, ...speech, m.SPEECH_GENERATION_END];
    const skeleton = this.trainingSkeleton();
    const inputIds: number[] = [];
    for (const id of skeleton) {
      if (id === m.TEXT_UNDERSTANDING_START) inputIds.push(...textIds);
      else if (id === m.SPEECH_GENERATION_START) inputIds.push(...speechSeq);
      else inputIds.push(id);
    }
    const at = inputIds.indexOf(m.SPEECH_GENERATION_START);
    const labels = inputIds.map((id, i) => (i < at || id === this.padTokenId ? IGNORE_INDEX : id));
    return { inputIds, labels };
  }
}
