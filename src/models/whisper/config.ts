/**
 * Whisper configuration: typed, validated views of a checkpoint's `config.json`
 * (`WhisperConfig`) and `generation_config.json` (the special tokens, languages, suppress
 * lists and alignment heads that decoding needs).
 *
 * `fromHfConfig` / `fromHfGenerationConfig` ignore keys they do not know; a bad value
 * throws an error naming the file, field and value.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/whisper/configuration_whisper.py
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WhisperConfig {
  /** Token embedding rows and logits columns (51865 multilingual, 51866 for v3). */
  vocabSize: number;
  /** Mel bins of the input features: 80, or 128 for large-v3 / turbo. */
  numMelBins: number;
  /** Width of the residual stream of encoder and decoder. */
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  encoderAttentionHeads: number;
  decoderAttentionHeads: number;
  encoderFfnDim: number;
  decoderFfnDim: number;
  /** Encoder positions: 1500 = 3000 mel frames / conv2's stride 2 (30 s at 20 ms). */
  maxSourcePositions: number;
  /** Decoder positions (448): prompt, previous text and generated tokens together. */
  maxTargetPositions: number;
  /** Decoder input embeddings are multiplied by sqrt(dModel) when true (false for every OpenAI checkpoint). */
  scaleEmbedding: boolean;
  /** Width of the median filter over cross-attention weights for token timestamps (7). */
  medianFilterWidth: number;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
  /** LayerNorm epsilon; WhisperConfig has no field for it, torch.nn.LayerNorm's default is used. */
  layerNormEps: number;
}

/** `generation_config.json` of a Whisper checkpoint: what decoding needs beyond the model. */
export interface WhisperGenerationConfig {
  /** <|startoftranscript|> */
  decoderStartTokenId: number;
  /** <|endoftext|> */
  eosTokenId: number;
  padTokenId: number;
  /** <|notimestamps|>; timestamps start right after it, <|nospeech|> sits right before it. */
  noTimestampsTokenId: number;
  /** <|startofprev|>, which starts previous-text conditioning; null when the config has none. */
  prevSotTokenId: number | null;
  /** `<|en|>` -> id, in the checkpoint's order. */
  langToId: Record<string, number>;
  /** `transcribe` / `translate` -> id. */
  taskToId: Record<string, number>;
  /** Suppressed at every step. */
  suppressTokens: number[];
  /** Suppressed at the first generated step only (" " and <|endoftext|>). */
  beginSuppressTokens: number[];
  /** [decoder layer, head] pairs whose cross-attention follows the audio (word timestamps). */
  alignmentHeads: [number, number][];
  isMultilingual: boolean;
  /** The first timestamp may be at most this many steps of 0.02 s (50 = 1.0 s); null: no limit. */
  maxInitialTimestampIndex: number | null;
  /** Longest decoder sequence generate() builds when max_new_tokens is not given. */
  maxLength: number;
}

export interface FromHfConfigOptions {
  /** Named in errors (a file path, or a repo id). */
  source?: string;
}

type Json = Record<string, unknown>;

class Reader {
  constructor(private readonly obj: Json, private readonly source: string) {}

  fail(field: string, value: unknown, why: string): never {
    throw new Error(`${this.source}: ${field} ${why}, got ${JSON.stringify(value)?.slice(0, 120)}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  int(field: string, fallback?: number, min = 1): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], 'is required');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(field, v, `must be an integer >= ${min}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (typeof v !== 'boolean') this.fail(field, v, 'must be true or false');
    return v;
  }

  /** A token id, or the first of a list (HF allows either for eos). */
  tokenId(field: string, fallback?: number): number {
    let v = this.has(field) ? this.obj[field] : fallback;
    if (Array.isArray(v)) v = v[0];
    if (v === undefined) this.fail(field, this.obj[field], 'is required');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(field, v, 'must be a token id');
    return v;
  }

  ids(field: string): number[] {
    const v = this.obj[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0)) {
      this.fail(field, v, 'must be a list of token ids');
    }
    return v as number[];
  }

  idMap(field: string): Record<string, number> {
    const v = this.obj[field];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(field, v, 'must be an object of token -> id');
    for (const [k, id] of Object.entries(v as Json)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) this.fail(`${field}.${k}`, id, 'must be a token id');
    }
    return { ...(v as Record<string, number>) };
  }
}

function asObject(json: unknown, source: string): Json {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected a JSON object, got ${JSON.stringify(json)?.slice(0, 60)}`);
  }
  return json as Json;
}

/** Builds a `WhisperConfig` from a parsed `config.json` with WhisperConfig's defaults; ignores unknown keys. */
export function fromHfConfig(json: unknown, options: FromHfConfigOptions = {}): WhisperConfig {
  const source = options.source ?? 'config.json';
  const obj = asObject(json, source);
  const r = new Reader(obj, source);
  if (r.has('model_type') && obj.model_type !== 'whisper') r.fail('model_type', obj.model_type, 'must be "whisper"');
  const act = obj.activation_function ?? 'gelu';
  if (act !== 'gelu') r.fail('activation_function', act, 'is not supported (Whisper uses exact "gelu")');
  const config: WhisperConfig = {
    vocabSize: r.int('vocab_size', 51865),
    numMelBins: r.int('num_mel_bins', 80),
    dModel: r.int('d_model', 384),
    encoderLayers: r.int('encoder_layers', 4),
    decoderLayers: r.int('decoder_layers', 4),
    encoderAttentionHeads: r.int('encoder_attention_heads', 6),
    decoderAttentionHeads: r.int('decoder_attention_heads', 6),
    encoderFfnDim: r.int('encoder_ffn_dim', 1536),
    decoderFfnDim: r.int('decoder_ffn_dim', 1536),
    maxSourcePositions: r.int('max_source_positions', 1500),
    maxTargetPositions: r.int('max_target_positions', 448),
    scaleEmbedding: r.bool('scale_embedding', false),
    medianFilterWidth: r.int('median_filter_width', 7),
    padTokenId: r.tokenId('pad_token_id', 50256),
    eosTokenId: r.tokenId('eos_token_id', 50256),
    decoderStartTokenId: r.tokenId('decoder_start_token_id', 50257),
    layerNormEps: 1e-5,
  };
  return validateWhisperConfig(config, source);
}

/** Checks a config built in code (presets, benchmarks); returns it unchanged. */
export function validateWhisperConfig(c: WhisperConfig, source = 'WhisperConfig'): WhisperConfig {
  const ints: (keyof WhisperConfig)[] = [
    'vocabSize', 'numMelBins', 'dModel', 'encoderLayers', 'decoderLayers', 'encoderAttentionHeads', 'decoderAttentionHeads',
    'encoderFfnDim', 'decoderFfnDim', 'maxSourcePositions', 'maxTargetPositions', 'medianFilterWidth',
  ];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${source}: ${k} must be an integer >= 1, got ${JSON.stringify(v)}`);
  }
  for (const k of ['encoderAttentionHeads', 'decoderAttentionHeads'] as const) {
    if (c.dModel % c[k] !== 0) throw new Error(`${source}: dModel (${c.dModel}) must be a multiple of ${k}, got ${c[k]}`);
  }
  if (c.medianFilterWidth % 2 !== 1) throw new Error(`${source}: medianFilterWidth must be odd, got ${c.medianFilterWidth}`);
  for (const k of ['padTokenId', 'eosTokenId', 'decoderStartTokenId'] as const) {
    if (!(c[k] >= 0 && c[k] < c.vocabSize)) throw new Error(`${source}: ${k} ${c[k]} is outside the vocabulary [0, ${c.vocabSize})`);
  }
  if (!(c.layerNormEps > 0)) throw new Error(`${source}: layerNormEps must be > 0, got ${c.layerNormEps}`);
  return c;
}

/**
 * Builds the generation settings from a parsed `generation_config.json`; ignores unknown
 * keys. `vocabSize` (from config.json) bounds every id.
 */
export function fromHfGenerationConfig(json: unknown, vocabSize: number, options: FromHfConfigOptions = {}): WhisperGenerationConfig {
  const source = options.source ?? 'generation_config.json';
  const obj = asObject(json, source);
  const r = new Reader(obj, source);
  if (!r.has('no_timestamps_token_id')) {
    r.fail('no_timestamps_token_id', obj.no_timestamps_token_id, 'is required (timestamps and long-form decoding need it; update the generation config)');
  }
  const heads = obj.alignment_heads ?? [];
  if (!Array.isArray(heads) || heads.some((h) => !Array.isArray(h) || h.length !== 2 || !h.every((x) => Number.isInteger(x) && x >= 0))) {
    r.fail('alignment_heads', heads, 'must be a list of [layer, head] pairs');
  }
  const g: WhisperGenerationConfig = {
    decoderStartTokenId: r.tokenId('decoder_start_token_id'),
    eosTokenId: r.tokenId('eos_token_id'),
    padTokenId: r.tokenId('pad_token_id', r.tokenId('eos_token_id')),
    noTimestampsTokenId: r.tokenId('no_timestamps_token_id'),
    prevSotTokenId: r.has('prev_sot_token_id') ? r.tokenId('prev_sot_token_id') : null,
    langToId: r.idMap('lang_to_id'),
    taskToId: r.idMap('task_to_id'),
    suppressTokens: r.ids('suppress_tokens'),
    beginSuppressTokens: r.ids('begin_suppress_tokens'),
    alignmentHeads: (heads as [number, number][]).map(([l, h]) => [l, h]),
    isMultilingual: r.bool('is_multilingual', Object.keys(r.idMap('lang_to_id')).length > 0),
    maxInitialTimestampIndex: r.has('max_initial_timestamp_index') ? r.int('max_initial_timestamp_index', undefined, 0) : null,
    maxLength: r.int('max_length', 448),
  };
  // transformers falls back on suppress_tokens[-2] for <|startofprev|> (generation_whisper.py).
  if (g.prevSotTokenId === null && g.suppressTokens.length >= 2) g.prevSotTokenId = g.suppressTokens[g.suppressTokens.length - 2]!;
  const all = [g.decoderStartTokenId, g.eosTokenId, g.padTokenId, g.noTimestampsTokenId, ...Object.values(g.langToId),
    ...Object.values(g.taskToId), ...g.suppressTokens, ...g.beginSuppressTokens];
  for (const id of all) if (id >= vocabSize) throw new Error(`${source}: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
  return g;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Reads and validates `<dir>/config.json` and `<dir>/generation_config.json`. */
export async function loadWhisperConfigs(dir: string): Promise<{ config: WhisperConfig; generation: WhisperGenerationConfig }> {
  const cfgFile = join(dir, 'config.json');
  const config = fromHfConfig(await readJson(cfgFile), { source: cfgFile });
  const genFile = join(dir, 'generation_config.json');
  const generation = fromHfGenerationConfig(await readJson(genFile), config.vocabSize, { source: genFile });
  return { config, generation };
}

/** openai/whisper-large-v3-turbo's shape (REFERENCE.md): for benchmarks with random weights. */
export const WHISPER_LARGE_V3_TURBO: WhisperConfig = {
  vocabSize: 51866,
  numMelBins: 128,
  dModel: 1280,
  encoderLayers: 32,
  decoderLayers: 4,
  encoderAttentionHeads: 20,
  decoderAttentionHeads: 20,
  encoderFfnDim: 5120,
  decoderFfnDim: 5120,
  maxSourcePositions: 1500,
  maxTargetPositions: 448,
  scaleEmbedding: false,
  medianFilterWidth: 7,
  padTokenId: 50257,
  eosTokenId: 50257,
  decoderStartTokenId: 50258,
  layerNormEps: 1e-5,
};
