/**
 * Llasa generation: the reference preset (LoRA recipe of LLaSA_training's LoRA fine-tune,
 * sampling the paper reports as most stable), and text -> XCodec2 codes through
 * src/generate with a stop on <|SPEECH_GENERATION_END|>.
 */
import type { CausalLM } from '../llama/modeling';
import { generate } from '../../generate/generate';
import type { SamplingOptions } from '../../generate/sampling';
import type { TrainConfig } from '../../train/config';
import { parseSpeechTokens } from './tokens';
import type { ParsedLlasaSpeech, ParseOptions } from './tokens';
import type { LlasaProcessor, LlasaPromptClip } from './processor';

/** XCodec2 runs at 16 kHz. */
export const LLASA_SAMPLE_RATE = 16000;
/** One speech token per 20 ms: 16000 Hz / 50 Hz = 320 samples (XCodec2's hop). */
export const LLASA_FRAME_SAMPLES = 320;
/**
 * Prompt + speech tokens at most: the training sequences' length (train_tts.py
 * `max_length = 2048`, `model_max_length` 2048) and the model card's `max_length=2048`.
 * About 35-40 s of speech after a short prompt.
 */
export const LLASA_MAX_LENGTH = 2048;

/** The LoRA part of the reference fine-tune (LLaSA_training/finetune/*_lora.py + config_lora.json). */
export const LLASA_LORA_TRAIN: Readonly<Partial<TrainConfig>> = Object.freeze({
  loraR: 8,
  loraAlpha: 32,
  useRslora: false,
  loraDropout: 0.1,
  targetModules: ['q_proj', 'v_proj'],
  learningRate: 5e-4,
  // config_lora.json: weight decay 0.01, adam_beta2 0.95, cosine schedule (warmup_ratio 0.03 of the run).
  weightDecay: 0.01,
  adamBeta2: 0.95,
  schedule: 'cosine',
});

/**
 * Llasa defaults (REFERENCE.md, Llasa): HKUSTAudio/Llasa-1B with XCodec2; LoRA r 8, alpha 32
 * on q,v, dropout 0.1, lr 5e-4; sampling temperature 0.9, top_p 0.95 (the paper's most
 * stable setting; the model card's example uses 0.8 / 1.0), stop on <|SPEECH_GENERATION_END|>.
 */
export const LLASA_PRESET = Object.freeze({
  repoId: 'HKUSTAudio/Llasa-1B',
  codecRepoId: 'HKUSTAudio/xcodec2',
  train: LLASA_LORA_TRAIN,
  sampling: Object.freeze({ doSample: true, temperature: 0.9, topP: 0.95 }) as Readonly<SamplingOptions>,
  maxLength: LLASA_MAX_LENGTH,
});

export interface LlasaGenerateOptions extends SamplingOptions {
  /** Voice cloning: a clip whose text precedes the text and whose speech the model continues. */
  clip?: LlasaPromptClip;
  /** Default: what fits in LLASA_MAX_LENGTH after the prompt. */
  maxNewTokens?: number;
  seed?: number;
  /** Non-speech tokens in the output: 'throw' (default) or 'skip' (dropped and reported). */
  onInvalid?: ParseOptions['onInvalid'];
}

export interface LlasaSpeech extends ParsedLlasaSpeech {
  /** The generated token ids (stop token included when reached). */
  tokens: number[];
  /** Prompt length in tokens. */
  promptLength: number;
}

/**
 * Text -> XCodec2 codes of the new speech only (for cloning, the clip's own codes are not
 * repeated; the model card decodes clip + new speech together, `outputs[len(prompt) -
 * len(prefix):-1]`, which is `[...clip.codes, ...codes]`).
 */
export async function generateLlasaSpeech(model: CausalLM, processor: LlasaProcessor, text: string, options: LlasaGenerateOptions = {}): Promise<LlasaSpeech> {
  const { clip, maxNewTokens, seed, onInvalid, ...sampling } = options;
  const prompt = processor.prompt(text, clip);
  const room = LLASA_MAX_LENGTH - prompt.length;
  const budget = maxNewTokens ?? room;
  if (!(Number.isInteger(budget) && budget >= 1)) {
    throw new Error(maxNewTokens === undefined
      ? `Llasa prompt is ${prompt.length} tokens, no room left in the ${LLASA_MAX_LENGTH}-token context; shorten the text or the cloning clip`
      : `maxNewTokens must be an integer >= 1, got ${maxNewTokens}`);
  }
  const out = await generate(model, { inputIds: [prompt] }, {
    ...sampling, maxNewTokens: budget, seed, eosTokenId: processor.layout.markers.SPEECH_GENERATION_END, padTokenId: processor.padTokenId,
  });
  const tokens = out.newTokens[0]!;
  return { ...parseSpeechTokens(tokens, processor.layout, { onInvalid }), tokens, promptLength: prompt.length };
}
