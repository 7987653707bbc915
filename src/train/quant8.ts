/**
 * Block-wise 8-bit quantisation of optimizer moments, as bitsandbytes' 8-bit optimizers
 * store them (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"):
 * each block of BLOCK_SIZE values keeps its absolute maximum in float32, and every value
 * is stored as the index (uint8) of the nearest entry of a 256-entry *dynamic* (tree)
 * quantisation map applied to value / absmax. The first moment uses the signed map, the
 * second moment (never negative) the unsigned one, as bitsandbytes does.
 * https://github.com/bitsandbytes-foundation/bitsandbytes/blob/main/bitsandbytes/functional.py (create_dynamic_map)
 */

/** Values per block: bitsandbytes' blockwise optimizers use 256 (earlier releases 2048). */
export const BLOCK_SIZE_8BIT = 256;

/**
 * bitsandbytes' create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): for each
 * exponent i, 2^i (signed) or 2^(i+1) (unsigned) midpoints of a linear grid on [0.1, 1],
 * scaled by 10^(i-6); plus 0 and 1; sorted. So it spans 1e-7 .. 1 with ~2 significant
 * digits at every magnitude, which is what moments spread over many decades need.
 */
export function createDynamicMap(signed: boolean, maxExponentBits = 7, totalBits = 8): Float32Array {
  const data: number[] = [];
  const nonSignBits = totalBits - 1;
  const additionalItems = 2 ** (nonSignBits - maxExponentBits) - 1;
  const linspace = (a: number, b: number, n: number) => Array.from({ length: n }, (_, k) => Math.fround(n === 1 ? a : a + ((b - a) * k) / (n - 1)));
  const pushMeans = (items: number, scale: number) => {
    const bounds = linspace(0.1, 1, items);
    for (let k = 0; k + 1 < bounds.length; k++) {
      const mean = Math.fround((bounds[k] + bounds[k + 1]) / 2);
      data.push(scale * mean);
      if (signed) data.push(-scale * mean);
    }
  };
  let i = 0;
  for (; i < maxExponentBits; i++) {
    const fractionItems = signed ? 2 ** (i + nonSignBits - maxExponentBits) + 1 : 2 ** (i + nonSignBits - maxExponentBits + 1) + 1;
    pushMeans(fractionItems, 10 ** (-(maxExponentBits - 1) + i));
  }
  if (additionalItems > 0) pushMeans(additionalItems + 1, 10 ** (-(maxExponentBits - 1) + i - 1));
  data.push(0, 1);
  while (data.length < 2 ** totalBits) data.push(0);
  if (data.length !== 2 ** totalBits) throw new Error(`dynamic map has ${data.length} entries, expected ${2 ** totalBits}`);
  data.sort((a, b) => a - b);
  return Float32Array.from(data);
}

export const SIGNED_DYNAMIC_MAP = createDynamicMap(true);
export const UNSIGNED_DYNAMIC_MAP = createDynamicMap(false);

/** Index of the entry of the sorted `code` nearest to x (ties go to the lower entry). */
export function nearestCode(code: Float32Array, x: number): number {
  let lo = 0;
  let hi = code.length - 1;
  if (x <= code[lo]) return lo;
  if (x >= code[hi]) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (code[mid] <= x) lo = mid;
    else hi = mid;
  }
  return x - code[lo] <= code[hi] - x ? lo : hi;
}

/** A block-wise 8-bit tensor: `codes[i]` indexes the map, scaled by its block's absmax. */
export interface Quantized8 {
  codes: Uint8Array;
  /** One per block of BLOCK_SIZE values. */
  absmax: Float32Array;
}

export function numBlocks(n: number, blockSize = BLOCK_SIZE_8BIT): number {
  return Math.ceil(n / blockSize);
}

/** Quantises block `b` of `values` (the block's own slice) into `q`. */
export function quantizeBlock(values: ArrayLike<number>, q: Quantized8, b: number, code: Float32Array, blockSize = BLOCK_SIZE_8BIT): void {
  const start = b * blockSize;
  const end = Math.min(start + blockSize, q.codes.length);
  let absmax = 0;
  for (let i = start; i < end; i++) absmax = Math.max(absmax, Math.abs(values[i - start]));
  q.absmax[b] = absmax;
  // An all-zero block: every value is 0 (the map holds an exact 0).
  const inv = absmax > 0 ? 1 / absmax : 0;
  for (let i = start; i < end; i++) q.codes[i] = nearestCode(code, values[i - start] * inv);
}

export function quantize(values: Float32Array, code: Float32Array, blockSize = BLOCK_SIZE_8BIT): Quantized8 {
  const q: Quantized8 = { codes: new Uint8Array(values.length), absmax: new Float32Array(numBlocks(values.length, blockSize)) };
  for (let b = 0; b < q.absmax.length; b++) quantizeBlock(values.subarray(b * blockSize, (b + 1) * blockSize), q, b, code, blockSize);
  return q;
}

export function dequantize(q: Quantized8, code: Float32Array, blockSize = BLOCK_SIZE_8BIT): Float32Array {
  const out = new Float32Array(q.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = code[q.codes[i]] * q.absmax[Math.floor(i / blockSize)];
  return out;
}
