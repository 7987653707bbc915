/**
 * SNAC (Multi-Scale Neural Audio Codec) configuration, as the constructor kwargs of the
 * reference `snac` package (https://github.com/hubertsiuzdak/snac/blob/main/snac/snac.py),
 * which its Hub checkpoints store verbatim in config.json.
 */

export interface SnacConfig {
  /** Hz; 24000 for hubertsiuzdak/snac_24khz (the codec of Orpheus). */
  samplingRate: number;
  /** Channels of the encoder's first conv; doubled by every encoder block. */
  encoderDim: number;
  /** Encoder strides; their product is the hop length (2*4*8*8 = 512 samples at 24 kHz). */
  encoderRates: number[];
  /** Quantizer input channels; the reference default is encoderDim * 2^len(encoderRates). */
  latentDim: number;
  /** Channels after the decoder's input convs; halved by every decoder block. */
  decoderDim: number;
  decoderRates: number[];
  /** LocalMHA window in latent frames, or null for no attention (the 24 kHz model). */
  attnWindowSize: number | null;
  /** Codes per level (4096). */
  codebookSize: number;
  /** Dimension of the factorised codebook space (8). */
  codebookDim: number;
  /** Temporal stride of each level over the latent frames: [4, 2, 1] -> ~12/23/47 Hz at 24 kHz. */
  vqStrides: number[];
  /** Decoder NoiseBlocks present (their weights exist in the checkpoint). */
  noise: boolean;
  /** Depthwise (groups = channels) convs in the residual units and around the latent. */
  depthwise: boolean;
}

/** hubertsiuzdak/snac_24khz/config.json. */
export const SNAC_24KHZ: SnacConfig = {
  samplingRate: 24000,
  encoderDim: 48,
  encoderRates: [2, 4, 8, 8],
  latentDim: 48 * 2 ** 4,
  decoderDim: 1024,
  decoderRates: [8, 8, 4, 2],
  attnWindowSize: null,
  codebookSize: 4096,
  codebookDim: 8,
  vqStrides: [4, 2, 1],
  noise: true,
  depthwise: true,
};

/** Hop length: input samples per latent frame, the product of the encoder rates (512 at 24 kHz). */
export function hopLength(c: SnacConfig): number {
  return c.encoderRates.reduce((a, b) => a * b, 1);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * `SNAC.preprocess` right-pads audio to a multiple of `hop * lcm(vqStrides[0], attnWindow or 1)`
 * samples, so the coarsest level and the attention windows see whole frames:
 * 512 * 4 = 2048 samples (one Orpheus frame of 7 codes) for the 24 kHz model.
 */
export function padMultiple(c: SnacConfig): number {
  return hopLength(c) * lcm(c.vqStrides[0], c.attnWindowSize ?? 1);
}

/** Samples after `preprocess`: the next multiple of `padMultiple`. */
export function paddedLength(c: SnacConfig, samples: number): number {
  const m = padMultiple(c);
  return Math.ceil(samples / m) * m;
}

function num(json: Record<string, unknown>, key: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`SNAC config: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function ints(json: Record<string, unknown>, key: string, fallback: number[]): number[] {
  const v = json[key] ?? fallback;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x <= 0)) {
    throw new Error(`SNAC config: ${key} must be a list of positive integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

/**
 * Reads a snac config.json (snake_case constructor kwargs; missing keys take the
 * constructor defaults of snac.py, which are the 44 kHz model's). Unknown keys are ignored.
 */
export function snacConfigFromJson(json: Record<string, unknown>): SnacConfig {
  const encoderDim = num(json, 'encoder_dim', 64);
  const encoderRates = ints(json, 'encoder_rates', [3, 3, 7, 7]);
  const attn = json.attn_window_size === undefined ? 32 : json.attn_window_size;
  if (attn !== null && (typeof attn !== 'number' || !Number.isInteger(attn) || attn <= 0)) {
    throw new Error(`SNAC config: attn_window_size must be null or a positive integer, got ${JSON.stringify(attn)}`);
  }
  const c: SnacConfig = {
    samplingRate: num(json, 'sampling_rate', 44100),
    encoderDim,
    encoderRates,
    latentDim: json.latent_dim == null ? encoderDim * 2 ** encoderRates.length : num(json, 'latent_dim', 0),
    decoderDim: num(json, 'decoder_dim', 1536),
    decoderRates: ints(json, 'decoder_rates', [7, 7, 3, 3]),
    attnWindowSize: attn as number | null,
    codebookSize: num(json, 'codebook_size', 4096),
    codebookDim: num(json, 'codebook_dim', 8),
    vqStrides: ints(json, 'vq_strides', [8, 4, 2, 1]),
    noise: json.noise === undefined ? true : json.noise === true,
    depthwise: json.depthwise === undefined ? true : json.depthwise === true,
  };
  validateSnacConfig(c);
  return c;
}

export function validateSnacConfig(c: SnacConfig): void {
  const hop = hopLength(c);
  const up = c.decoderRates.reduce((a, b) => a * b, 1);
  if (up !== hop) throw new Error(`SNAC config: decoder_rates ${JSON.stringify(c.decoderRates)} upsample by ${up}, encoder_rates hop is ${hop}`);
  if (c.decoderDim % 2 ** c.decoderRates.length !== 0) {
    throw new Error(`SNAC config: decoder_dim ${c.decoderDim} is not divisible by 2^${c.decoderRates.length}`);
  }
  if (c.attnWindowSize !== null) {
    // LocalMHA fixes dim_head at 64 (snac/attention.py).
    for (const [what, dim] of [['latent_dim', c.latentDim], ['decoder_dim', c.decoderDim]] as const) {
      if (dim % 64 !== 0) throw new Error(`SNAC config: ${what} ${dim} is not a multiple of LocalMHA's head size 64`);
    }
  }
  for (let i = 1; i < c.vqStrides.length; i++) {
    if (c.vqStrides[i - 1] % c.vqStrides[i] !== 0) throw new Error(`SNAC config: vq_strides ${JSON.stringify(c.vqStrides)} must each divide the previous`);
  }
}
