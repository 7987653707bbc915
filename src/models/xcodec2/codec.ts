/**
 * XCodec2 as one codec: the encoder side (encoder.ts) and the decoder side (modeling.ts) over
 * one checkpoint in transformers' layout, and its `AudioCodec` view for tokenization and
 * playback (16 kHz, 320 samples per frame, one codebook).
 *
 * Checkpoints: transformers' `Xcodec2Model` layout (config.json with model_type "xcodec2" +
 * model.safetensors with `semantic_encoder.*`, `acoustic_encoder.*`, `acoustic_decoder.*`, ...),
 * as transformers 5.17 names them. transformers' main branch renames the decoder
 * (`decoder.prior_resnet_block1` for `acoustic_decoder.prior_net.0`, `decoder.final_layer_norm`
 * for `acoustic_decoder.norm`, ...): such a checkpoint is read through `xcodec2LayoutAliases`.
 * HKUSTAudio/xcodec2 itself ships the original package's layout (`CodecEnc.*`, `generator.*`,
 * `semantic_model.*`, weight-normalised convs): it is read through `xcodec2FromOriginal`
 * (original.ts: renamed, weight norm folded, c_attn split) with no conversion step. That
 * path is checked on a layout rebuilt from the tiny fixture, not on the real file; should it
 * fail there, transformers' `models/xcodec2/convert_xcodec2_checkpoint.py` converts the file once.
 */
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import type { AudioCodec, Codes } from '../types';
import { validateXcodec2Config, xcodec2CodebookSize, xcodec2ConfigFromHf, xcodec2HopLength } from './config';
import type { Xcodec2Config } from './config';
import { Xcodec2Encoder } from './encoder';
import { Xcodec2Decoder } from './modeling';
import { isOriginalXcodec2Layout, xcodec2FromOriginal } from './original';

export interface Xcodec2CodecLoadOptions {
  /** Prefix of every key. Default none. */
  prefix?: string;
}

export interface Xcodec2CodecPretrainedOptions extends Xcodec2CodecLoadOptions {
  snapshot?: SnapshotOptions;
}

/** transformers main-branch decoder names -> 5.17's, in order (first match wins). */
const MAIN_TO_517: [RegExp, string][] = [
  [/^decoder\.prior_resnet_block1\./, 'acoustic_decoder.prior_net.0.'],
  [/^decoder\.prior_resnet_block2\./, 'acoustic_decoder.prior_net.1.'],
  [/^decoder\.post_resnet_block1\./, 'acoustic_decoder.post_net.0.'],
  [/^decoder\.post_resnet_block2\./, 'acoustic_decoder.post_net.1.'],
  [/^decoder\.final_layer_norm\./, 'acoustic_decoder.norm.'],
  [/^decoder\./, 'acoustic_decoder.'],
];

/**
 * `source` with transformers main-branch decoder names (`decoder.*`) read under the 5.17 names
 * this port uses (`acoustic_decoder.*`); a source already in the 5.17 layout is returned as is.
 * Keys are mapped after `prefix`.
 */
export function xcodec2LayoutAliases(source: WeightSource, prefix = ''): WeightSource {
  const keys = source.keys();
  if (!keys.some((k) => k.startsWith(`${prefix}decoder.`)) || keys.some((k) => k.startsWith(`${prefix}acoustic_decoder.`))) return source;
  const toOriginal = new Map<string, string>();
  for (const k of keys) {
    let name = k;
    if (k.startsWith(prefix)) {
      const rest = k.slice(prefix.length);
      const rule = MAIN_TO_517.find(([re]) => re.test(rest));
      if (rule) name = prefix + rest.replace(rule[0], rule[1]);
    }
    if (toOriginal.has(name)) throw new Error(`XCodec2 checkpoint: keys ${toOriginal.get(name)} and ${k} both map to ${name}`);
    toOriginal.set(name, k);
  }
  const orig = (name: string): string => {
    const k = toOriginal.get(name);
    if (k === undefined) throw new Error(`XCodec2 checkpoint has no tensor ${name}`);
    return k;
  };
  return {
    keys: () => [...toOriginal.keys()].sort(),
    has: (name) => toOriginal.has(name),
    info: (name) => ({ ...source.info(orig(name)), name }),
    getF32: (name) => source.getF32(orig(name)),
  };
}

/** Encoder + decoder of one XCodec2 checkpoint. Owns both (`dispose()`). */
export class Xcodec2Codec {
  readonly sampleRate: number;
  readonly hopLength: number;
  readonly codebookSize: number;

  constructor(readonly config: Xcodec2Config, readonly encoder: Xcodec2Encoder, readonly decoder: Xcodec2Decoder) {
    this.sampleRate = config.samplingRate;
    this.hopLength = xcodec2HopLength(config);
    this.codebookSize = xcodec2CodebookSize(config);
  }

  static async fromWeights(checkpoint: WeightSource, config: Xcodec2Config, options: Xcodec2CodecLoadOptions = {}): Promise<Xcodec2Codec> {
    const c = validateXcodec2Config(config);
    const prefix = options.prefix ?? '';
    // The original package's layout is renamed to transformers 5.17's (no prefix left after that).
    const original = isOriginalXcodec2Layout(checkpoint, prefix);
    const source = original ? xcodec2FromOriginal(checkpoint, prefix, c.semanticModel.numHiddenLayers) : xcodec2LayoutAliases(checkpoint, prefix);
    const opts = { ...options, prefix: original ? '' : prefix };
    const encoder = await Xcodec2Encoder.fromWeights(source, c, opts);
    try {
      return new Xcodec2Codec(c, encoder, await Xcodec2Decoder.fromWeights(source, c, opts));
    } catch (e) {
      encoder.dispose();
      throw e;
    }
  }

  /** A local folder or Hub repo in transformers' layout (config.json + *.safetensors). */
  static async fromPretrained(repoOrDir: string, options: Xcodec2CodecPretrainedOptions = {}): Promise<Xcodec2Codec> {
    const dir = await snapshot(repoOrDir, { allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json'], ...options.snapshot });
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const file = join(dir, 'config.json');
    const config = xcodec2ConfigFromHf(JSON.parse(await readFile(file, 'utf8')), file);
    return Xcodec2Codec.fromWeights(await Checkpoint.open(dir), config, options);
  }

  /** Seeded random encoder and decoder (seeds `seed` and `seed + 1`): for tests and tiny pipeline models; its codes mean nothing. */
  static async random(config: Xcodec2Config, seed = 0): Promise<Xcodec2Codec> {
    const encoder = await Xcodec2Encoder.random(config, seed);
    try {
      return new Xcodec2Codec(config, encoder, await Xcodec2Decoder.random(config, seed + 1));
    } catch (e) {
      encoder.dispose();
      throw e;
    }
  }

  /** 16 kHz samples -> N // 320 + 1 codes, as the reference (the last covers the padding). */
  encode(samples: Float32Array): Promise<Int32Array> {
    return this.encoder.encode(samples);
  }

  /** Codes -> codes.length * 320 samples at 16 kHz. */
  decode(codes: ArrayLike<number>): Promise<Float32Array> {
    return this.decoder.decode(codes);
  }

  /**
   * The `AudioCodec` view (one codebook): `encode` keeps ceil(N / 320) frames, the contract of
   * every codec here; the reference's extra frame for N a multiple of 320 covers only its
   * padding and is dropped. `weightsId` names the weights (a repo@revision or a folder).
   */
  asAudioCodec(weightsId: string): AudioCodec {
    const hop = this.hopLength;
    return {
      id: `xcodec2:${weightsId}`,
      sampleRate: this.sampleRate,
      frameSamples: hop,
      numCodebooks: 1,
      encode: async (samples: Float32Array): Promise<Codes> => {
        const codes = await this.encoder.encode(samples);
        return Array.from(codes.subarray(0, Math.ceil(samples.length / hop)), (c) => [c]);
      },
      decode: async (codes: Codes): Promise<Float32Array> => {
        if (codes.length === 0) return new Float32Array(0); // nothing generated: no audio
        const flat = codes.map((frame, t) => {
          if (!Array.isArray(frame) || frame.length !== 1) throw new Error(`XCodec2 decode: frame ${t} has ${Array.isArray(frame) ? frame.length : 'no'} codes, expected 1`);
          return frame[0]!;
        });
        return this.decoder.decode(flat);
      },
    };
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}
