/**
 * CSM configuration: a typed view of transformers' `CsmConfig` (`config.json` of
 * `sesame/csm-1b` and its fine-tunes), with the depth decoder's `CsmDepthDecoderConfig`.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/csm/configuration_csm.py
 *
 * Both decoders are Llama decoders, so each is read into a `LlamaConfig` by the Llama
 * reader, after CSM's own defaults (which differ from Llama's: rope theta 500000, RMSNorm
 * eps 1e-5) are filled in. Unknown keys (the codec's config, generation leftovers) are ignored.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHfConfig as llamaFromHfConfig, validateLlamaConfig } from '../llama/config';
import type { LlamaConfig } from '../llama/config';

/** The depth decoder: a Llama decoder over one frame's codebooks, fed from the backbone. */
export interface CsmDepthDecoderConfig {
  /**
   * Its Llama decoder. `vocabSize` is the audio vocabulary (codebook size + specials);
   * special text ids are cleared: this decoder sees codes only.
   */
  llama: LlamaConfig;
  /** Width of the backbone's hidden state and of the shared audio embeddings it projects from. */
  backboneHiddenSize: number;
}

export interface CsmConfig {
  /**
   * The backbone's Llama decoder. `vocabSize` is the audio vocabulary (`lm_head` predicts
   * codebook 0); special text ids are kept below, not here.
   */
  backbone: LlamaConfig;
  depthDecoder: CsmDepthDecoderConfig;
  /** Codebooks per audio frame (32 for CSM-1B, as Mimi's split RVQ). */
  numCodebooks: number;
  /** Audio vocabulary per codebook: codec codes + specials (2048 + 3 = 2051 for CSM-1B). */
  audioVocabSize: number;
  /** Text vocabulary (`embed_text_tokens` rows; 128256 for the Llama 3 tokenizer). */
  textVocabSize: number;
  /** Code written for finished rows in batched generation (2050). */
  codebookPadTokenId: number;
  /** Code of the all-zero end-of-audio frame (0). */
  codebookEosTokenId: number;
  /** `<|AUDIO|>`: one per audio frame in the text sequence (128002). */
  audioTokenId: number;
  /** `<|audio_eos|>`: after each audio turn, embedded as an all-`codebookEosTokenId` frame (128003). */
  audioEosTokenId: number;
  bosTokenId: number | null;
  /** The config's pad id (CSM-1B: the audio token); padding itself uses the tokenizer's pad (eos). */
  padTokenId: number | null;
  /** The backbone's audio embeddings and the depth decoder's embed_tokens are one table. */
  tieCodebooksEmbeddings: boolean;
  /** The parsed config.json. */
  hf?: Record<string, unknown>;
}

// transformers' CsmConfig / CsmDepthDecoderConfig defaults (CSM-1B), used where a key is absent.
const BACKBONE_DEFAULTS = {
  hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
  num_key_value_heads: 8, max_position_embeddings: 2048, rms_norm_eps: 1e-5,
};
const DEPTH_DEFAULTS = {
  backbone_hidden_size: 2048, hidden_size: 1024, intermediate_size: 8192, num_hidden_layers: 4,
  num_attention_heads: 8, num_key_value_heads: 2, max_position_embeddings: 33, rms_norm_eps: 1e-5,
};
/** CsmConfig.default_theta */
const DEFAULT_ROPE_THETA = 500000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intField(obj: Record<string, unknown>, field: string, fallback: number, source: string, min = 0): number {
  const v = obj[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new Error(`${source}: ${field} must be an integer >= ${min}, got ${JSON.stringify(obj[field])}`);
  }
  return v;
}

function firstId(v: unknown, field: string, source: string, fallback: number | null): number | null {
  if (v === undefined) return fallback;
  if (v === null) return null;
  const x = Array.isArray(v) ? v[0] : v;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw new Error(`${source}: ${field} must be a token id, got ${JSON.stringify(v)}`);
  return x;
}

/** A Llama reading of one CSM sub-config: CSM defaults first, text special ids cleared. */
function llamaView(obj: Record<string, unknown>, defaults: Record<string, number>, vocabSize: number, source: string): LlamaConfig {
  const view: Record<string, unknown> = { ...defaults, ...obj };
  const hasTheta = obj.rope_theta !== undefined
    || (isObject(obj.rope_parameters) && obj.rope_parameters.rope_theta !== undefined);
  if (!hasTheta) view.rope_theta = DEFAULT_ROPE_THETA;
  Object.assign(view, { vocab_size: vocabSize, bos_token_id: null, eos_token_id: null, pad_token_id: null, tie_word_embeddings: false });
  delete view.model_type;
  const c = llamaFromHfConfig(view, { source });
  delete c.hf; // the whole CSM config is kept on CsmConfig.hf
  return c;
}

/** Builds a `CsmConfig` from a parsed `config.json` (transformers 4.x or 5.x layout). */
export function fromHfConfig(json: unknown, source = 'config.json'): CsmConfig {
  if (!isObject(json)) throw new Error(`${source}: expected a JSON object, got ${JSON.stringify(json)?.slice(0, 60)}`);
  if (json.model_type !== undefined && json.model_type !== 'csm') {
    throw new Error(`${source}: model_type must be "csm", got ${JSON.stringify(json.model_type)}`);
  }
  const numCodebooks = intField(json, 'num_codebooks', 32, source, 2);
  const audioVocabSize = intField(json, 'vocab_size', 2051, source, 1);
  const dd = json.depth_decoder_config ?? {};
  if (!isObject(dd)) throw new Error(`${source}: depth_decoder_config must be an object, got ${JSON.stringify(dd)}`);
  const ddSource = `${source} depth_decoder_config`;
  if (dd.num_codebooks !== undefined && dd.num_codebooks !== numCodebooks) {
    throw new Error(`${ddSource}: num_codebooks ${JSON.stringify(dd.num_codebooks)} differs from the model's ${numCodebooks}`);
  }
  if (dd.vocab_size !== undefined && dd.vocab_size !== audioVocabSize) {
    throw new Error(`${ddSource}: vocab_size ${JSON.stringify(dd.vocab_size)} differs from the model's ${audioVocabSize}`);
  }
  const backbone = llamaView(json, BACKBONE_DEFAULTS, audioVocabSize, source);
  const depthLlama = llamaView(dd, DEPTH_DEFAULTS, audioVocabSize, ddSource);
  const backboneHiddenSize = intField(dd, 'backbone_hidden_size', DEPTH_DEFAULTS.backbone_hidden_size, ddSource, 1);
  const tie = json.tie_codebooks_embeddings ?? true;
  if (typeof tie !== 'boolean') throw new Error(`${source}: tie_codebooks_embeddings must be true or false, got ${JSON.stringify(tie)}`);
  const config: CsmConfig = {
    backbone,
    depthDecoder: { llama: depthLlama, backboneHiddenSize },
    numCodebooks,
    audioVocabSize,
    textVocabSize: intField(json, 'text_vocab_size', 128256, source, 1),
    codebookPadTokenId: intField(json, 'codebook_pad_token_id', 2050, source),
    codebookEosTokenId: firstId(json.codebook_eos_token_id, 'codebook_eos_token_id', source, 0) ?? 0,
    audioTokenId: firstId(json.audio_token_id, 'audio_token_id', source, 128002)!,
    audioEosTokenId: firstId(json.audio_eos_token_id, 'audio_eos_token_id', source, 128003)!,
    bosTokenId: firstId(json.bos_token_id, 'bos_token_id', source, 128000),
    padTokenId: firstId(json.pad_token_id, 'pad_token_id', source, 128002),
    tieCodebooksEmbeddings: tie,
    hf: { ...json },
  };
  return validateCsmConfig(config, source);
}

/** Checks a config built in code; returns it unchanged. Errors name the field and value. */
export function validateCsmConfig(c: CsmConfig, source = 'CsmConfig'): CsmConfig {
  validateLlamaConfig(c.backbone, `${source} backbone`);
  validateLlamaConfig(c.depthDecoder.llama, `${source} depthDecoder`);
  if (c.depthDecoder.backboneHiddenSize !== c.backbone.hiddenSize) {
    throw new Error(`${source}: depth decoder backbone_hidden_size ${c.depthDecoder.backboneHiddenSize} differs from the backbone's hidden_size ${c.backbone.hiddenSize}`);
  }
  if (c.backbone.vocabSize !== c.audioVocabSize || c.depthDecoder.llama.vocabSize !== c.audioVocabSize) {
    throw new Error(`${source}: backbone and depth decoder vocabSize must equal audioVocabSize ${c.audioVocabSize}`);
  }
  // The depth decoder sees the backbone state + codebooks 0..n-2: n positions.
  if (c.depthDecoder.llama.maxPositionEmbeddings < c.numCodebooks) {
    throw new Error(`${source}: depth decoder max_position_embeddings ${c.depthDecoder.llama.maxPositionEmbeddings} is below num_codebooks ${c.numCodebooks}`);
  }
  for (const [field, v] of [['codebookPadTokenId', c.codebookPadTokenId], ['codebookEosTokenId', c.codebookEosTokenId]] as const) {
    if (!(Number.isInteger(v) && v >= 0 && v < c.audioVocabSize)) throw new Error(`${source}: ${field} must be in [0, ${c.audioVocabSize}), got ${v}`);
  }
  for (const [field, v] of [['audioTokenId', c.audioTokenId], ['audioEosTokenId', c.audioEosTokenId], ['bosTokenId', c.bosTokenId]] as const) {
    if (v !== null && !(Number.isInteger(v) && v >= 0 && v < c.textVocabSize)) throw new Error(`${source}: ${field} must be in [0, ${c.textVocabSize}), got ${v}`);
  }
  return c;
}

/** Reads and validates `<dir>/config.json`. */
export async function loadCsmConfig(dir: string): Promise<CsmConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  return fromHfConfig(json, file);
}
