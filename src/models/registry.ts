/**
 * Model selection for notebooks 04-06: one config value names the model, `loadTtsModel`
 * turns it into a `TtsModel`, and the choice is written into the work folder by 04 so 05
 * and 06 use the same model.
 *
 * Values:
 * - 'csm': CSM-1B from `unsloth/csm-1b` (ungated, transformers layout, Mimi inside as
 *   `codec_model.*`), through the shared Hugging Face cache (offline-aware).
 * - a Hub repo id or a local folder in the same layout (a CSM fine-tune, say).
 * - 'tiny-random-csm': a seeded tiny random CSM + Mimi built in code, a PIPELINE CHECK
 *   ONLY (random weights: its audio is noise). See src/models/csm/tiny.ts for its sizes.
 * - 'orpheus': Orpheus-3B from `canopylabs/orpheus-3b-0.1-ft` (Llama-3B emitting SNAC
 *   tokens) with SNAC 24 kHz from `hubertsiuzdak/snac_24khz`, which ships pytorch_model.bin
 *   only: convert it once with scripts/convert_snac.py and point `codecDir` (or the
 *   TTSLAB_SNAC_DIR environment variable) at the folder (see `loadSnac24k`).
 * - 'tiny-random-orpheus': a seeded tiny random Orpheus + SNAC built in code, a PIPELINE
 *   CHECK ONLY (see src/models/orpheus/tiny.ts).
 * - 'llasa': Llasa-1B from `HKUSTAudio/Llasa-1B` (a Llama emitting one XCodec2 token per
 *   20 ms) with XCodec2 16 kHz from `HKUSTAudio/xcodec2` (read in its original layout, or
 *   point `codecDir` / TTSLAB_XCODEC2_DIR at a converted folder). Llasa-3B / -8B by repo id.
 * - 'tiny-random-llasa': a seeded tiny random Llasa + XCodec2 (encoder and decoder) built in
 *   code, a PIPELINE CHECK ONLY (see src/models/llasa/tiny.ts).
 * - A repo id or folder is read by its config.json: model_type "csm" is CSM; "llama" whose
 *   tokenizer has Llasa's markers is Llasa, one with Orpheus' `<custom_token_N>` ids Orpheus.
 * - 'mini': ttslab-mini, the project's own small CSM with its mel codec inside, read from
 *   models/mini/csm (trained by scripts/mini/, model card models/mini/README.md): offline,
 *   CPU-sized, loaded through the same CSM checkpoint code as 'csm'. A checkout without the
 *   weights file fails with a message naming it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../audio/files';
import { PROJECT_ROOT } from '../paths';
import { workspace } from '../data/workspace';
import { HubError, isLocalDir, snapshot } from '../hub';
import type { SnapshotOptions } from '../hub';
import { TOKENIZER_FILES, TextTokenizer } from '../tokenizer';
import { Checkpoint } from '../weights/checkpoint';
import { CsmForConditionalGeneration, CsmProcessor, fromHfConfig } from './csm';
import { TINY_MIMI_CONFIG, TINY_RANDOM_CSM, TINY_RANDOM_WARNING, tinyCsmTokenizer, tinyRandomCsm, tinyRandomMimi } from './csm/tiny';
import { CsmTts, mimiCodec } from './csm/tts';
import { MimiModel } from './mimi/modeling';
import { mimiConfigFromHf } from './mimi/config';
import { MEL_CODEC_MODEL_TYPE, MelRvqCodec, melCodecConfigFromHf } from './melcodec';
import { loadLlamaConfig } from './llama/config';
import { LlamaForCausalLM } from './llama/modeling';
import { ORPHEUS_PRESET } from './orpheus/generation';
import { snacAsAudioCodec } from './orpheus/codec';
import { TINY_RANDOM_ORPHEUS, tinyRandomOrpheus } from './orpheus/tiny';
import { LLASA_PRESET } from './llasa/generation';
import { isLlasaTokenizerDir, loadLlasaCheckpoint } from './llasa/load';
import { TINY_RANDOM_LLASA, tinyRandomLlasaTts } from './llasa/tiny';
import { ORPHEUS_LAYOUT, layoutVocabSize } from './orpheus/tokens';
import { OrpheusTts } from './orpheus/tts';
import { SnacModel } from './snac/modeling';
import { codecFrameRateHz, parseModelChoice } from './types';
import type { AudioCodec, TtsModel, TtsSampling } from './types';
import type { LoraAdapter } from '../lora';
import type { TrainConfig } from '../train/config';
import type { BatchInfo, TrainableModel } from '../train/types';

/** The Hub repo behind `model: 'csm'`: CSM-1B in transformers' layout, ungated (sesame/csm-1b is gated). */
export const CSM_DEFAULT_REPO = 'unsloth/csm-1b';

/** The folder behind `model: 'mini'`: the shipped mini CSM (codec inside). */
export const MINI_CSM_DIR = join(PROJECT_ROOT, 'models', 'mini', 'csm');
/** The shipped mini Whisper (ASR verifier offline; model card models/mini/whisper/README.md). */
export const MINI_WHISPER_DIR = join(PROJECT_ROOT, 'models', 'mini', 'whisper');
/** The shipped mini speaker encoder (`WavLMForXVector`; speaker verifier offline; models/mini/speaker/README.md). */
export const MINI_SPEAKER_DIR = join(PROJECT_ROOT, 'models', 'mini', 'speaker');

export interface LoadTtsModelOptions {
  /** Seed of the tiny random model's weights (default 0). Ignored for checkpoints. */
  seed?: number;
  /** Hub snapshot options (revision, offline, cache folder, token). */
  snapshot?: SnapshotOptions;
  /** Tokenizer folder when it is not in the model folder itself (default: the model folder). */
  tokenizerDir?: string;
  /**
   * Orpheus: the SNAC 24 kHz folder (config.json + model.safetensors, as
   * scripts/convert_snac.py writes it) or a Hub repo holding safetensors. Default: the
   * TTSLAB_SNAC_DIR environment variable, else `hubertsiuzdak/snac_24khz` through the Hub.
   * Llasa: the XCodec2 folder or repo (default TTSLAB_XCODEC2_DIR, else `HKUSTAudio/xcodec2`).
   */
  codecDir?: string;
}

/**
 * What notebooks 04-06 use of a model, whatever its family: the `TtsModel` contract plus a
 * name, the random-weights warning, LoRA training with a config, adapters on and off, and
 * `dispose`. CsmTts and OrpheusTts implement it (LlasaTts has the same members); a family
 * added to `loadTtsModel` must too, so the notebooks need no change.
 */
export interface NotebookTtsModel extends TtsModel<unknown, BatchInfo> {
  readonly family: string;
  /** e.g. "unsloth/csm-1b" or "tiny-random-csm". */
  readonly name: string;
  /** Shown next to every output when the weights are random; null for a real model. */
  readonly warning: string | null;
  /** Codes per codebook of the codec, when the family knows it (histograms then show unused codes too). */
  readonly codebookSize?: number;
  /** Folder of the adapter `loadAdapter` attached, or null. */
  readonly adapterDir: string | null;
  /**
   * The family's generation sampling, when it differs from the workshop's CSM sampling
   * (`WORKSHOP_TTS_SAMPLING`): Orpheus' temperature 0.6, top_p 0.95, repetition penalty 1.1.
   */
  readonly defaultSampling?: TtsSampling;
  /** The family's LoRA preset, applied by `trainable` under the fields a config sets (Orpheus: r 64, alpha 64, lr 2e-4). */
  readonly trainDefaults?: Readonly<Partial<TrainConfig>>;
  /** The model with a LoRA adapter built from `config`'s LoRA fields, for `train()`. */
  trainable(config?: Partial<TrainConfig>): TrainableModel<unknown, BatchInfo> & { readonly adapter: LoraAdapter };
  loadAdapter(dir: string): Promise<void>;
  unloadAdapter(): void;
  dispose(): void;
}

/** Loads the model a notebook's `MODEL` value names (see the file comment). */
export async function loadTtsModel(model: string, options: LoadTtsModelOptions = {}): Promise<NotebookTtsModel> {
  if (typeof model !== 'string' || model.trim() === '') throw new Error(`model must be a non-empty string, got ${JSON.stringify(model)}`);
  if (model === TINY_RANDOM_CSM) return tinyRandomTts(options.seed ?? 0);
  if (model === TINY_RANDOM_ORPHEUS) return tinyRandomOrpheus(options.seed ?? 0);
  if (model === TINY_RANDOM_LLASA) return tinyRandomLlasaTts(options.seed ?? 0);
  if (model === 'mini') {
    if (!existsSync(join(MINI_CSM_DIR, 'model.safetensors'))) {
      throw new Error(`model "mini": ${join(MINI_CSM_DIR, 'model.safetensors')} is missing (it ships with the repository: is the checkout complete?). Rebuild it with scripts/mini/gpu_train.sh (models/mini/README.md), or use "tiny-random-csm" for a pipeline check or "csm" for CSM-1B`);
    }
    return loadCheckpoint(MINI_CSM_DIR, 'mini', options);
  }
  if (await isLocalDir(model)) return loadCheckpoint(model, model, options);
  const choice = parseModelChoice(model, 'MODEL');
  if (choice.kind === 'family' && choice.family === 'orpheus') return loadCheckpoint(ORPHEUS_PRESET.repoId, model, options);
  if (choice.kind === 'family' && choice.family === 'llasa') return loadCheckpoint(LLASA_PRESET.repoId, model, options);
  const repo = choice.kind === 'family' ? CSM_DEFAULT_REPO : choice.repoId;
  return loadCheckpoint(repo, model, options);
}

function tinyRandomTts(seed: number): Promise<CsmTts> {
  return tinyRandomMimi(seed).then((mimi) => {
    const model = tinyRandomCsm(seed);
    const processor = new CsmProcessor(tinyCsmTokenizer(), model.config);
    const codec = mimiCodec(mimi, TINY_MIMI_CONFIG.numQuantizers, `${TINY_RANDOM_CSM}-seed${seed}`);
    return new CsmTts(model, processor, codec, mimi, {
      name: TINY_RANDOM_CSM, baseModelNameOrPath: null, warning: TINY_RANDOM_WARNING, codebookSize: TINY_MIMI_CONFIG.codebookSize,
    });
  });
}

/** A checkpoint from a repo id or folder, by its config.json: CSM (transformers layout) or an Orpheus Llama. */
async function loadCheckpoint(repoOrDir: string, asked: string, options: LoadTtsModelOptions): Promise<NotebookTtsModel> {
  let dir: string;
  try {
    dir = await snapshot(repoOrDir, {
      ...options.snapshot,
      allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json', ...TOKENIZER_FILES],
    });
  } catch (e) {
    const via = asked === repoOrDir ? '' : ` (model ${JSON.stringify(asked)})`;
    const hint = e instanceof HubError
      ? (e.status === 401 || e.status === 403 ? ' (a gated repo: accept its terms on the Hub and set HF_TOKEN)' : '')
      : ' (is the repo id right?)';
    throw new Error(`cannot get ${repoOrDir}${via}: ${(e as Error).message}${hint}`);
  }
  const hf = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  // The snapshot folder of a Hub repo is named by its commit, which pins the weights for the codes cache.
  const weightsId = (await isLocalDir(repoOrDir)) ? dir : `${repoOrDir}@${basename(dir)}`;
  const name = asked === 'csm' ? CSM_DEFAULT_REPO : asked === 'orpheus' ? ORPHEUS_PRESET.repoId : asked === 'llasa' ? LLASA_PRESET.repoId : asked;
  if (hf.model_type === 'llama') {
    if (await isLlasaTokenizerDir(options.tokenizerDir ?? dir)) {
      return loadLlasaCheckpoint(repoOrDir, { snapshot: options.snapshot, codec: options.codecDir, name });
    }
    return loadOrpheusCheckpoint(repoOrDir, dir, name, options);
  }
  if (hf.model_type !== 'csm') {
    throw new Error(`${repoOrDir}: config.json has model_type ${JSON.stringify(hf.model_type)}; CSM ("csm"), Llasa and Orpheus ("llama") checkpoints load here`);
  }
  return loadCsmCheckpoint(repoOrDir, dir, hf, weightsId, name, options);
}

/**
 * A CSM checkpoint (transformers layout with `codec_config` and `codec_model.*`) in `dir`. The
 * codec is Mimi (CSM-1B) or, for the ttslab-mini family, the mel codec (`codec_config.model_type`
 * "ttslab_mel_rvq", src/models/melcodec): the same folder layout, the codec's tensors under
 * `codec_model.`, its frame rate setting the processor's default generation budget.
 */
async function loadCsmCheckpoint(
  repoOrDir: string, dir: string, hf: Record<string, unknown>, weightsId: string, name: string, options: LoadTtsModelOptions,
): Promise<CsmTts> {
  if (typeof hf.codec_config !== 'object' || hf.codec_config === null) {
    throw new Error(`${repoOrDir}: config.json has no codec_config; a CSM checkpoint in transformers' layout (e.g. ${CSM_DEFAULT_REPO}) carries its Mimi inside`);
  }
  const codecHf = hf.codec_config as Record<string, unknown>;
  const config = fromHfConfig(hf, join(dir, 'config.json'));
  const weights = await Checkpoint.open(dir);
  let codec: AudioCodec;
  let codecModel: { dispose(): void } | null = null;
  let codebookSize: number;
  if (codecHf.model_type === MEL_CODEC_MODEL_TYPE) {
    const melConfig = melCodecConfigFromHf(codecHf, `${join(dir, 'config.json')} codec_config`);
    const mel = await MelRvqCodec.fromWeights(melConfig, weights, { prefix: 'codec_model.', where: dir });
    codec = mel.asAudioCodec(`melcodec:${weightsId}`, config.numCodebooks);
    codebookSize = melConfig.codebookSize;
  } else {
    const mimiConfig = mimiConfigFromHf(codecHf);
    const mimi = await MimiModel.fromWeights(weights, mimiConfig, { prefix: 'codec_model.' });
    codec = mimiCodec(mimi, config.numCodebooks, weightsId);
    codecModel = mimi;
    codebookSize = mimiConfig.codebookSize;
  }
  let model: CsmForConditionalGeneration;
  try {
    model = await CsmForConditionalGeneration.fromWeights(config, weights);
  } catch (e) {
    codecModel?.dispose();
    throw e;
  }
  const tokenizerDir = options.tokenizerDir ?? dir;
  if (!existsSync(join(tokenizerDir, 'tokenizer.json'))) {
    model.dispose();
    codecModel?.dispose();
    throw new Error(`${repoOrDir}: no tokenizer.json in ${tokenizerDir}; pass tokenizerDir`);
  }
  const processor = new CsmProcessor(await TextTokenizer.fromDir(tokenizerDir), config, { frameRateHz: codecFrameRateHz(codec) });
  return new CsmTts(model, processor, codec, codecModel, { name, baseModelNameOrPath: repoOrDir, codebookSize });
}

/**
 * An Orpheus checkpoint in `dir` (canopylabs/orpheus-3b-0.1-ft or a fine-tune: a Llama whose
 * tokenizer has the Orpheus ids) with SNAC 24 kHz from `loadSnac24k`. The tokenizer is
 * checked against Orpheus-3B's layout: `<custom_token_1>` = start of speech = 128257,
 * `<|begin_of_text|>` = 128000, `<|eot_id|>` = 128009, and the vocabulary holds every audio token.
 */
async function loadOrpheusCheckpoint(repoOrDir: string, dir: string, name: string, options: LoadTtsModelOptions): Promise<OrpheusTts> {
  const tokenizerDir = options.tokenizerDir ?? dir;
  if (!existsSync(join(tokenizerDir, 'tokenizer.json'))) throw new Error(`${repoOrDir}: no tokenizer.json in ${tokenizerDir}; pass tokenizerDir`);
  const tokenizer = await TextTokenizer.fromDir(tokenizerDir);
  const L = ORPHEUS_LAYOUT;
  const expected: [string, number][] = [
    ['<custom_token_1>', L.startOfSpeech], ['<custom_token_10>', L.audioTokensStart], ['<|begin_of_text|>', L.startOfText], ['<|eot_id|>', L.endOfText],
  ];
  for (const [token, id] of expected) {
    const got = tokenizer.tokenToId(token);
    if (got !== id) {
      throw new Error(`${repoOrDir}: a Llama checkpoint, but its tokenizer has ${token} at ${got ?? 'no id'}, Orpheus-3B's layout has it at ${id}; `
        + 'only Orpheus checkpoints (model "orpheus" or a fine-tune of it) load as a Llama here');
    }
  }
  const config = await loadLlamaConfig(dir);
  if (config.vocabSize < layoutVocabSize(L)) {
    throw new Error(`${repoOrDir}: config.json vocab_size is ${config.vocabSize}, Orpheus' audio tokens need ${layoutVocabSize(L)}`);
  }
  const snac = await loadSnac24k(options);
  let model: LlamaForCausalLM;
  try {
    model = await LlamaForCausalLM.fromWeights(config, await Checkpoint.open(dir));
  } catch (e) {
    snac.model.dispose();
    throw e;
  }
  const codec = snacAsAudioCodec(snac.model, `snac:${snac.weightsId}`);
  return new OrpheusTts(model, tokenizer, codec, { name, baseModelNameOrPath: repoOrDir, codecModel: snac.model });
}

/** The environment variable naming a converted SNAC 24 kHz folder (see `LoadTtsModelOptions.codecDir`). */
export const SNAC_DIR_ENV = 'TTSLAB_SNAC_DIR';

/**
 * SNAC 24 kHz for Orpheus from `options.codecDir`, $TTSLAB_SNAC_DIR or the Hub repo. The Hub
 * repo ships pytorch_model.bin only, which tfjs cannot read: the error then says how to
 * convert it (scripts/convert_snac.py) and where to point.
 */
export async function loadSnac24k(options: Pick<LoadTtsModelOptions, 'codecDir' | 'snapshot'> = {}): Promise<{ model: SnacModel; weightsId: string }> {
  const source = options.codecDir ?? process.env[SNAC_DIR_ENV] ?? ORPHEUS_PRESET.codecRepoId;
  let model: SnacModel;
  let dir: string;
  try {
    dir = await snapshot(source, { ...options.snapshot, allowPatterns: ['config.json', '*.safetensors'] });
    model = await SnacModel.fromPretrained(dir);
  } catch (e) {
    const folder = 'snac_24khz';
    throw new Error(`SNAC 24 kHz from ${JSON.stringify(source)}: ${(e as Error).message}. `
      + `${ORPHEUS_PRESET.codecRepoId} ships pytorch_model.bin only; convert it once (needs torch + safetensors): `
      + `\`huggingface-cli download ${ORPHEUS_PRESET.codecRepoId} --local-dir ${folder} && python3 scripts/convert_snac.py ${folder}\`, `
      + `then set ${SNAC_DIR_ENV}=<absolute path of ${folder}> (or pass codecDir)`);
  }
  const weightsId = (await isLocalDir(source)) ? dir : `${source}@${basename(dir)}`;
  if (model.config.samplingRate !== 24000 || model.config.vqStrides.length !== 3) {
    model.dispose();
    throw new Error(`${source}: a SNAC at ${model.config.samplingRate} Hz with ${model.config.vqStrides.length} levels; Orpheus reads SNAC 24 kHz (3 levels)`);
  }
  return { model, weightsId };
}

// -- the choice, shared by notebooks 04-06 -------------------------------------------------

/** File in the work folder holding the model notebook 04 chose. */
export const MODEL_CHOICE_FILE = 'model.json';

/** Records the model for notebooks 05 and 06 (written by 04). */
export async function saveModelChoice(model: string): Promise<string> {
  const file = join(workspace(), MODEL_CHOICE_FILE);
  await writeFileAtomic(file, JSON.stringify({ model, chosenAt: new Date().toISOString() }, null, 2) + '\n');
  return file;
}

/** The model notebook 04 chose; throws, saying to run 04, when it has not run in this work folder. */
export async function readModelChoice(): Promise<string> {
  const file = join(workspace(), MODEL_CHOICE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`${file} does not exist: run notebook 04_tokenize first (its MODEL value chooses the model for 05 and 06)`);
  }
  const json = JSON.parse(text) as { model?: unknown };
  if (typeof json.model !== 'string' || json.model === '') throw new Error(`${file}: "model" must be a non-empty string, got ${JSON.stringify(json.model)}`);
  return json.model;
}

/** A folder-name-safe form of a model value ("unsloth/csm-1b" -> "unsloth--csm-1b"), for work/adapters/<model>/. */
export function modelSlug(model: string): string {
  return model.replace(/[\\/]+/g, '--').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '') || 'model';
}

/** Where notebook 05 trains the adapter of `model`: `<work>/adapters/<model>/` (checkpoints, metrics.jsonl, adapter/). */
export function adapterOutputDir(model: string): string {
  return join(workspace('adapters'), modelSlug(model));
}
