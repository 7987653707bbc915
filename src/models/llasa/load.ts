/**
 * Loads a Llasa checkpoint (HKUSTAudio/Llasa-1B, -3B, -8B, or a fine-tune in their layout):
 * the Llama weights and config.json, and the tokenizer whose markers and `<|s_N|>` tokens
 * give the token layout. Checked at the boundary: the vocabulary must hold every Llasa token,
 * and a checkpoint whose tokenizer says 65536 speech tokens must have them at 128264.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HubError, isLocalDir, snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { TOKENIZER_FILES, TextTokenizer } from '../../tokenizer';
import { Checkpoint } from '../../weights/checkpoint';
import { loadLlamaConfig } from '../llama/config';
import { LlamaForCausalLM } from '../llama/modeling';
import { Xcodec2Codec } from '../xcodec2/codec';
import { xcodec2ConfigFromHf } from '../xcodec2/config';
import { LLASA_PRESET } from './generation';
import { LlasaProcessor } from './processor';
import { LLASA_SPEECH_TOKEN_START, LLASA_VOCAB_SIZE, XCODEC2_CODEBOOK_SIZE } from './tokens';
import { LlasaTts } from './tts';

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

export interface LoadLlasaCheckpointOptions extends LoadLlasaOptions {
  /**
   * The XCodec2 codec: a repo id or folder with config.json + safetensors, in transformers'
   * `Xcodec2Model` layout or the original package's (HKUSTAudio/xcodec2, read through
   * `xcodec2FromOriginal`, see src/models/xcodec2/original.ts). Default: the TTSLAB_XCODEC2_DIR
   * environment variable, else `LLASA_PRESET.codecRepoId` (HKUSTAudio/xcodec2).
   */
  codec?: string;
  /** Snapshot options for the codec (default: `snapshot`'s). */
  codecSnapshot?: SnapshotOptions;
  /** Shown as the model's name (default `repoOrDir`). */
  name?: string;
}

/**
 * A Llasa checkpoint (HKUSTAudio/Llasa-1B, -3B, -8B or a fine-tune) with its XCodec2 codec, as
 * the `LlasaTts` notebooks 04-06 use (`NotebookTtsModel`). The LlasaTts owns the codec.
 */
export async function loadLlasaCheckpoint(repoOrDir: string = LLASA_PRESET.repoId, options: LoadLlasaCheckpointOptions = {}): Promise<LlasaTts> {
  const codecRepo = options.codec ?? process.env.TTSLAB_XCODEC2_DIR ?? LLASA_PRESET.codecRepoId;
  let codecDir: string;
  try {
    codecDir = await snapshot(codecRepo, { allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json'], ...(options.codecSnapshot ?? options.snapshot) });
  } catch (e) {
    throw new Error(`cannot get the XCodec2 codec ${codecRepo}: ${(e as Error).message}${e instanceof HubError ? '' : ' (is the repo id right?)'}`);
  }
  const configFile = join(codecDir, 'config.json');
  const codecConfig = xcodec2ConfigFromHf(JSON.parse(await readFile(configFile, 'utf8')), configFile);
  const codec = await Xcodec2Codec.fromWeights(await Checkpoint.open(codecDir), codecConfig);
  let loaded: LoadedLlasa;
  try {
    loaded = await loadLlasa(repoOrDir, options);
  } catch (e) {
    codec.dispose();
    throw e;
  }
  const { model, processor } = loaded;
  if (processor.layout.numSpeechTokens !== codec.codebookSize) {
    model.dispose();
    codec.dispose();
    throw new Error(`${repoOrDir}: the tokenizer has ${processor.layout.numSpeechTokens} speech tokens, the XCodec2 codec ${codecRepo} ${codec.codebookSize} codes`);
  }
  // A Hub snapshot folder is named by its commit, which pins the weights for the codes cache.
  const codecId = (await isLocalDir(codecRepo)) ? codecDir : `${codecRepo}@${basename(codecDir)}`;
  return new LlasaTts(model, processor, codec.asAudioCodec(codecId), {
    name: options.name ?? repoOrDir, baseModelNameOrPath: repoOrDir, codecModel: codec, codebookSize: codec.codebookSize,
  });
}

/**
 * True when the tokenizer in `dir` has Llasa's markers (`<|SPEECH_GENERATION_START|>` and
 * `<|s_0|>`): how a Llama checkpoint folder is told to be Llasa rather than Orpheus.
 * False when there is no readable tokenizer.
 */
export async function isLlasaTokenizerDir(dir: string): Promise<boolean> {
  let tokenizer: TextTokenizer;
  try {
    tokenizer = await TextTokenizer.fromDir(dir);
  } catch {
    return false;
  }
  return tokenizer.tokenToId('<|SPEECH_GENERATION_START|>') !== undefined && tokenizer.tokenToId('<|s_0|>') !== undefined;
}
