/**
 * Text -> 16 kHz audio with Llasa and the XCodec2 decoder, as the model card's inference
 * (generate speech tokens, `Codec_model.decode_code`). Needs no XCodec2 encoder: zero-shot,
 * or cloning from a clip whose codes are already known (e.g. cached by notebook 04 once the
 * encoder exists).
 */
import type { CausalLM } from '../llama/modeling';
import type { Xcodec2Decoder } from '../xcodec2/modeling';
import { generateLlasaSpeech } from './generation';
import type { LlasaGenerateOptions, LlasaSpeech } from './generation';
import type { LlasaProcessor } from './processor';

export interface LlasaAudio extends LlasaSpeech {
  /** Mono samples at `sampleRate`: the new speech only (cloning: not the clip's). */
  samples: Float32Array;
  /** Hz */
  sampleRate: number;
  durationSeconds: number;
}

/**
 * Generates and decodes. Throws when the decoder's codebook does not match the tokenizer's
 * speech tokens, or when the model wrote no speech (naming how many tokens it wrote instead).
 */
export async function speakLlasa(
  model: CausalLM, processor: LlasaProcessor, decoder: Xcodec2Decoder, text: string, options: LlasaGenerateOptions = {},
): Promise<LlasaAudio> {
  if (decoder.codebookSize !== processor.layout.numSpeechTokens) {
    throw new Error(`the XCodec2 decoder has ${decoder.codebookSize} codes, the tokenizer ${processor.layout.numSpeechTokens} speech tokens`);
  }
  const speech = await generateLlasaSpeech(model, processor, text, options);
  if (speech.codes.length === 0) {
    throw new Error(`Llasa wrote no speech for ${JSON.stringify(text.slice(0, 40))} (${speech.tokens.length} tokens, ${speech.invalid.length} not speech); try another seed`);
  }
  const samples = await decoder.decode(speech.codes);
  const sampleRate = decoder.config.samplingRate;
  return { ...speech, samples, sampleRate, durationSeconds: samples.length / sampleRate };
}
