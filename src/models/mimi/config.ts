/**
 * Mimi codec configuration: the fields of transformers' MimiConfig that decide the
 * computation, camelCased, with kyutai/mimi's values as defaults.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/mimi/configuration_mimi.py
 */

export interface MimiConfig {
  /** Audio rate the codec works at (Hz). */
  samplingRate: number;
  /** 1 (mono); the reference also allows 2, ttslab encodes mono only. */
  audioChannels: number;
  /** Width of the latent between the SEANet stacks and the transformers (512). */
  hiddenSize: number;
  /** Channels of the first SEANet conv; doubled at each of the 4 down-sampling stages (64). */
  numFilters: number;
  /** Residual blocks per SEANet stage (1). */
  numResidualLayers: number;
  /** Decoder up-sampling strides [8, 6, 5, 4]; the encoder uses them reversed. Product 960 = samples per encoder step. */
  upsamplingRatios: number[];
  /** Kernel of the first conv (7). */
  kernelSize: number;
  /** Kernel of the last conv (3). */
  lastKernelSize: number;
  /** Kernel of the first conv in each residual block (3). */
  residualKernelSize: number;
  /** Dilation of residual block j is growth^j (2; with one block per stage, dilation 1). */
  dilationGrowthRate: number;
  /** Residual branch width = channels / compress (2). */
  compress: number;
  /** Conv padding fill: "constant" (zeros). The downsample conv always replicates. */
  padMode: 'constant' | 'replicate';
  /** Entries per codebook (2048). */
  codebookSize: number;
  /** Codebook vector width (256). */
  codebookDim: number;
  /** Codebooks in all (32): semantic first, then acoustic. */
  numQuantizers: number;
  /** Width of the quantizer space (256); input_proj/output_proj map hiddenSize to it. */
  vectorQuantizationHiddenDimension: number;
  /** Codebooks of the semantic RVQ (1). */
  numSemanticQuantizers: number;
  /** Groups of the transposed upsample conv (512 = hiddenSize: depthwise). */
  upsampleGroups: number;
  /** Layers of each transformer (8). */
  numHiddenLayers: number;
  /** FFN width (2048). */
  intermediateSize: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** hiddenSize / numAttentionHeads unless given (64). */
  headDim: number;
  /** LayerNorm epsilon (1e-5). */
  normEps: number;
  /** RoPE base (10000). */
  ropeTheta: number;
  /** Keys a query sees, itself included (250 steps = 10 s at 25 Hz). */
  slidingWindow: number;
  /** Extra residual shortcut convs (false for Mimi). */
  useConvShortcut: boolean;
}

/** kyutai/mimi (the codec of CSM-1B and Moshi). */
export const MIMI_DEFAULT_CONFIG: MimiConfig = {
  samplingRate: 24000,
  audioChannels: 1,
  hiddenSize: 512,
  numFilters: 64,
  numResidualLayers: 1,
  upsamplingRatios: [8, 6, 5, 4],
  kernelSize: 7,
  lastKernelSize: 3,
  residualKernelSize: 3,
  dilationGrowthRate: 2,
  compress: 2,
  padMode: 'constant',
  codebookSize: 2048,
  codebookDim: 256,
  numQuantizers: 32,
  vectorQuantizationHiddenDimension: 256,
  numSemanticQuantizers: 1,
  upsampleGroups: 512,
  numHiddenLayers: 8,
  intermediateSize: 2048,
  numAttentionHeads: 8,
  numKeyValueHeads: 8,
  headDim: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  slidingWindow: 250,
  useConvShortcut: false,
};

/** Samples per encoder step: the product of the SEANet strides (960 at 24 kHz = 25 Hz). */
export function encoderHopSamples(c: MimiConfig): number {
  return c.upsamplingRatios.reduce((a, b) => a * b, 1);
}

/** Encoder steps per second before the downsample (25 Hz). */
export function encodecFrameRate(c: MimiConfig): number {
  return Math.ceil(c.samplingRate / encoderHopSamples(c));
}

/** The downsample conv's stride: always 2 in MimiModel (its kernel is 2 * ratio of rates). */
export const DOWNSAMPLE_STRIDE = 2;

/** Samples per codec frame: hop * downsample stride (1920 = 80 ms at 24 kHz). */
export function frameSamples(c: MimiConfig): number {
  return encoderHopSamples(c) * DOWNSAMPLE_STRIDE;
}

/** Codec frames per second (12.5 Hz). */
export function frameRate(c: MimiConfig): number {
  return c.samplingRate / frameSamples(c);
}

/** Frames that `samples` samples encode to: `ceil(samples / frameSamples)`. */
export function framesForSamples(c: MimiConfig, samples: number): number {
  return Math.ceil(samples / frameSamples(c));
}

/** Throws, naming the field and value, when a config cannot describe a working Mimi. */
export function validateMimiConfig(c: MimiConfig): void {
  const positiveInts: (keyof MimiConfig)[] = [
    'samplingRate', 'hiddenSize', 'numFilters', 'numResidualLayers', 'kernelSize', 'lastKernelSize', 'residualKernelSize',
    'dilationGrowthRate', 'compress', 'codebookSize', 'codebookDim', 'numQuantizers', 'vectorQuantizationHiddenDimension',
    'numSemanticQuantizers', 'upsampleGroups', 'numHiddenLayers', 'intermediateSize', 'numAttentionHeads',
    'numKeyValueHeads', 'headDim', 'slidingWindow',
  ];
  for (const k of positiveInts) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`MimiConfig.${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (c.audioChannels !== 1) throw new Error(`MimiConfig.audioChannels must be 1 (mono), got ${c.audioChannels}`);
  if (!Array.isArray(c.upsamplingRatios) || c.upsamplingRatios.length === 0 || c.upsamplingRatios.some((r) => !Number.isInteger(r) || r < 1)) {
    throw new Error(`MimiConfig.upsamplingRatios must be positive integers, got ${JSON.stringify(c.upsamplingRatios)}`);
  }
  if (c.numSemanticQuantizers >= c.numQuantizers) {
    throw new Error(`MimiConfig.numSemanticQuantizers (${c.numSemanticQuantizers}) must be lower than numQuantizers (${c.numQuantizers})`);
  }
  if (c.codebookDim !== c.vectorQuantizationHiddenDimension) {
    throw new Error(`MimiConfig.codebookDim (${c.codebookDim}) must equal vectorQuantizationHiddenDimension (${c.vectorQuantizationHiddenDimension})`);
  }
  if (c.upsampleGroups !== 1 && c.upsampleGroups !== c.hiddenSize) {
    throw new Error(`MimiConfig.upsampleGroups must be 1 or hiddenSize (${c.hiddenSize}), got ${c.upsampleGroups}`);
  }
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    throw new Error(`MimiConfig.numAttentionHeads (${c.numAttentionHeads}) must be a multiple of numKeyValueHeads (${c.numKeyValueHeads})`);
  }
  if (c.headDim % 2 !== 0) throw new Error(`MimiConfig.headDim must be even for RoPE, got ${c.headDim}`);
  if (c.padMode !== 'constant' && c.padMode !== 'replicate') throw new Error(`MimiConfig.padMode must be "constant" or "replicate", got ${JSON.stringify(c.padMode)}`);
  if (!(c.normEps > 0)) throw new Error(`MimiConfig.normEps must be > 0, got ${c.normEps}`);
  if (!(c.ropeTheta > 0)) throw new Error(`MimiConfig.ropeTheta must be > 0, got ${c.ropeTheta}`);
}

type Json = Record<string, unknown>;

/**
 * MimiConfig from a transformers `config.json` (a MimiModel's, or the `codec_config` of a
 * CSM checkpoint). Unknown keys are ignored; settings ttslab does not implement (non-causal
 * convs, trim_right_ratio != 1, activations other than GELU, RoPE scaling, attention bias,
 * stereo) are rejected with the key and value.
 */
export function mimiConfigFromHf(hf: Json): MimiConfig {
  const d = MIMI_DEFAULT_CONFIG;
  const num = (key: string, fallback: number): number => {
    const v = hf[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number') throw new Error(`Mimi config.json: ${key} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const unsupported = (key: string, ok: (v: unknown) => boolean, why: string) => {
    if (hf[key] !== undefined && hf[key] !== null && !ok(hf[key])) throw new Error(`Mimi config.json: ${key} = ${JSON.stringify(hf[key])} is not supported (${why})`);
  };
  unsupported('use_causal_conv', (v) => v === true, 'ttslab implements the causal Mimi only');
  unsupported('trim_right_ratio', (v) => v === 1 || v === 1.0, 'causal transposed convs trim all k - stride samples on the right');
  unsupported('hidden_act', (v) => v === 'gelu', 'Mimi uses exact GELU');
  unsupported('attention_bias', (v) => v === false, 'Mimi projections have no bias');
  const rope = (hf.rope_parameters ?? hf.rope_scaling) as Json | undefined | null;
  if (rope && typeof rope === 'object') {
    const type = rope.rope_type ?? rope.type ?? 'default';
    if (type !== 'default') throw new Error(`Mimi config.json: rope type ${JSON.stringify(type)} is not supported (Mimi uses default RoPE)`);
  }
  // transformers 5 moved rope_theta into rope_parameters; 4.x configs (kyutai/mimi) hold it at the top.
  const ropeTheta = typeof rope?.rope_theta === 'number' ? (rope.rope_theta as number) : num('rope_theta', d.ropeTheta);
  const hiddenSize = num('hidden_size', d.hiddenSize);
  const numAttentionHeads = num('num_attention_heads', d.numAttentionHeads);
  const ratios = hf.upsampling_ratios ?? d.upsamplingRatios;
  const c: MimiConfig = {
    samplingRate: num('sampling_rate', d.samplingRate),
    audioChannels: num('audio_channels', d.audioChannels),
    hiddenSize,
    numFilters: num('num_filters', d.numFilters),
    numResidualLayers: num('num_residual_layers', d.numResidualLayers),
    upsamplingRatios: Array.isArray(ratios) ? [...(ratios as number[])] : (ratios as number[]),
    kernelSize: num('kernel_size', d.kernelSize),
    lastKernelSize: num('last_kernel_size', d.lastKernelSize),
    residualKernelSize: num('residual_kernel_size', d.residualKernelSize),
    dilationGrowthRate: num('dilation_growth_rate', d.dilationGrowthRate),
    compress: num('compress', d.compress),
    padMode: (hf.pad_mode ?? d.padMode) as MimiConfig['padMode'],
    codebookSize: num('codebook_size', d.codebookSize),
    codebookDim: num('codebook_dim', hf.codebook_dim === undefined ? d.codebookDim : hiddenSize),
    numQuantizers: num('num_quantizers', d.numQuantizers),
    vectorQuantizationHiddenDimension: num('vector_quantization_hidden_dimension', d.vectorQuantizationHiddenDimension),
    numSemanticQuantizers: num('num_semantic_quantizers', d.numSemanticQuantizers),
    upsampleGroups: num('upsample_groups', d.upsampleGroups),
    numHiddenLayers: num('num_hidden_layers', d.numHiddenLayers),
    intermediateSize: num('intermediate_size', d.intermediateSize),
    numAttentionHeads,
    numKeyValueHeads: num('num_key_value_heads', d.numKeyValueHeads),
    headDim: num('head_dim', Math.floor(hiddenSize / numAttentionHeads)),
    normEps: num('norm_eps', d.normEps),
    ropeTheta,
    slidingWindow: num('sliding_window', d.slidingWindow),
    useConvShortcut: hf.use_conv_shortcut === true,
  };
  validateMimiConfig(c);
  // Old configs store frame_rate; it must agree with the strides (the downsample assumes 2x).
  const fr = hf.frame_rate;
  if (typeof fr === 'number' && Math.abs(fr - frameRate(c)) > 1e-6) {
    throw new Error(`Mimi config.json: frame_rate ${fr} disagrees with sampling_rate / (prod(upsampling_ratios) * 2) = ${frameRate(c)}`);
  }
  return c;
}
