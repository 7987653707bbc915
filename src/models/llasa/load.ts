/**
 * Loads a Llasa checkpoint (HKUSTAudio/Llasa-1B, -3B, -8B, or a fine-tune in their layout):
 * the Llama weights and config.json, and the tokenizer whose markers and `<|s_N|>` tokens
 * give the token layout. Checked at the boundary: the vocabulary must hold every Llasa token,
 * and a checkpoint whose tokenizer says 65536 speech tokens must have them at 128264.
 */
import { HubError, snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { TOKENIZER_FILES, TextTokenizer } from '../../tokenizer';
import { Checkpoint } from '../../weights/checkpoint';
import { loadLlamaConfig } from '../llama/config';
import { LlamaForCausalLM } from '../llama/modeling';
import { LLASA_PRESET } from './generation';
import { LlasaProcessor } from './processor';
import { LLASA_SPEECH_TOKEN_START, LLASA_VOCAB_SIZE, XCODEC2_CODEBOOK_SIZE } from './tokens';

export interface LoadLlasaOptions {
  snapshot?: SnapshotOptions;
  /** The chat template's date_string (default LLASA_DEFAULT_DATE). */
  dateString?: string;
}

export interface LoadedLlasa {
  model: LlamaForCausalLM;
  processor: LlasaProcessor;
  /** The local folder the files were read from. */
  dir: string;
}

/** A repo id (default HKUSTAudio/Llasa-1B) or a local folder -> the model and its processor. */
export async function loadLlasa(repoOrDir: string = LLASA_PRESET.repoId, options: LoadLlasaOptions = {}): Promise<LoadedLlasa> {
  let dir: string;
  try {
    dir = await snapshot(repoOrDir, { allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json', ...TOKENIZER_FILES], ...options.snapshot });
  } catch (e) {
    throw new Error(`cannot get Llasa checkpoint ${repoOrDir}: ${(e as Error).message}${e instanceof HubError ? '' : ' (is the repo id right?)'}`);
  }
  const processor = new LlasaProcessor(await TextTokenizer.fromDir(dir), { dateString: options.dateString });
  const { speechTokenStart, numSpeechTokens, markers } = processor.layout;
  if (numSpeechTokens === XCODEC2_CODEBOOK_SIZE && speechTokenStart !== LLASA_SPEECH_TOKEN_START) {
    throw new Error(`${dir}: <|s_0|> has id ${speechTokenStart}, the Llasa checkpoints put it at ${LLASA_SPEECH_TOKEN_START}`);
  }
  const config = await loadLlamaConfig(dir);
  const needed = Math.max(speechTokenStart + numSpeechTokens, ...Object.values(markers).map((m) => m + 1));
  if (config.vocabSize < needed) {
    throw new Error(`${dir}: config.json vocab_size is ${config.vocabSize}, the tokenizer's Llasa tokens need ${needed}`
      + (numSpeechTokens === XCODEC2_CODEBOOK_SIZE ? ` (Llasa checkpoints have ${LLASA_VOCAB_SIZE})` : ''));
  }
  const model = await LlamaForCausalLM.fromWeights(config, await Checkpoint.open(dir));
  return { model, processor, dir };
}
