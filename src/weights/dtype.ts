/**
 * safetensors dtypes: element sizes, the typed array each one maps to, and
 * conversions to and from float32 (the compute dtype of the tfjs models).
 *
 * All conversions assume a little-endian host, which safetensors also assumes for
 * its data: every platform Node runs ttslab on (x64, arm64) is little-endian, and
 * `assertLittleEndian` turns the rare exception into a clear error.
 */
import { endianness } from 'node:os';
import type { Dtype } from './types';

/** Bytes per element, as in the safetensors spec (safetensors/src/tensor.rs `Dtype::size`). */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export const DTYPES = Object.keys(DTYPE_BYTES) as Dtype[];

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/**
 * The typed array that holds a dtype's elements unchanged. F16 and BF16 have no JS
 * array type, so they come as their raw 16-bit patterns (Uint16Array); F8 as bytes.
 */
export type TypedArrayFor<D extends Dtype> =
  D extends 'F32' ? Float32Array :
  D extends 'F64' ? Float64Array :
  D extends 'F16' | 'BF16' | 'U16' ? Uint16Array :
  D extends 'I16' ? Int16Array :
  D extends 'I32' ? Int32Array :
  D extends 'U32' ? Uint32Array :
  D extends 'I64' ? BigInt64Array :
  D extends 'U64' ? BigUint64Array :
  D extends 'I8' ? Int8Array :
  Uint8Array;

export type AnyTypedArray =
  | Float32Array | Float64Array | Uint16Array | Int16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Int8Array | Uint8Array;

/** A view of `bytes` as the dtype's natural typed array (no copy; `bytes` must be aligned). */
export function viewAs(dtype: Dtype, buffer: ArrayBuffer, byteOffset: number, byteLength: number): AnyTypedArray {
  const n = byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F32': return new Float32Array(buffer, byteOffset, n);
    case 'F64': return new Float64Array(buffer, byteOffset, n);
    case 'F16': case 'BF16': case 'U16': return new Uint16Array(buffer, byteOffset, n);
    case 'I16': return new Int16Array(buffer, byteOffset, n);
    case 'I32': return new Int32Array(buffer, byteOffset, n);
    case 'U32': return new Uint32Array(buffer, byteOffset, n);
    case 'I64': return new BigInt64Array(buffer, byteOffset, n);
    case 'U64': return new BigUint64Array(buffer, byteOffset, n);
    case 'I8': return new Int8Array(buffer, byteOffset, n);
    case 'U8': case 'BOOL': case 'F8_E4M3': case 'F8_E5M2': return new Uint8Array(buffer, byteOffset, n);
  }
}

/** The dtype whose natural typed array `a` is, for arrays that map to exactly one dtype. */
export function typedArrayMatches(dtype: Dtype, a: ArrayBufferView): boolean {
  switch (dtype) {
    case 'F32': return a instanceof Float32Array;
    case 'F64': return a instanceof Float64Array;
    case 'F16': case 'BF16': case 'U16': return a instanceof Uint16Array;
    case 'I16': return a instanceof Int16Array;
    case 'I32': return a instanceof Int32Array;
    case 'U32': return a instanceof Uint32Array;
    case 'I64': return a instanceof BigInt64Array;
    case 'U64': return a instanceof BigUint64Array;
    case 'I8': return a instanceof Int8Array;
    case 'U8': case 'BOOL': case 'F8_E4M3': case 'F8_E5M2': return a instanceof Uint8Array;
  }
}

export function assertLittleEndian(): void {
  if (endianness() !== 'LE') {
    throw new Error('ttslab weights: this host is big-endian; safetensors data is little-endian and is read as typed-array views');
  }
}

// ---------------------------------------------------------------------------------
// 16-bit floats

let f16Table: Float32Array | undefined;

/** All 65536 F16 bit patterns as float32, built once (256 KB): a lookup beats bit twiddling in JS. */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToNumber(h);
  f16Table = t;
  return t;
}

/** IEEE 754 binary16 bits to a number (exact). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal: frac * 2^-14 / 2^10
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 to binary16 bits, round to nearest even (what torch `.half()` does). */
export function numberToF16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16Bits(u32Scratch[0]);
}

function f32BitsToF16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  let mant = f & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps a quiet bit so it never becomes Inf.
    return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  }
  // Unbiased exponent re-biased for F16 (bias 15 instead of 127).
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    // Subnormal or zero in F16: shift the full 24-bit significand into place.
    if (e < -10) return sign; // below half the smallest subnormal -> signed zero
    mant |= 0x800000;
    const shift = 14 - e; // 13 for the normal case, plus the distance below the normal range
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Round to nearest even; a carry into the exponent is correct (it may reach Inf).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1;
  return sign | h;
}

/** float32 bits to bfloat16 bits, round to nearest even (torch `.bfloat16()`); NaN stays NaN. */
function f32BitsToBf16Bits(f: number): number {
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) return ((f >>> 16) & 0x8000) | 0x7fc0;
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

export function numberToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToBf16Bits(u32Scratch[0]);
}

export function bf16BitsToNumber(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0];
}

// ---------------------------------------------------------------------------------
// 8-bit floats (read only: checkpoints in F8 exist, ttslab never writes them)

let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;

function fp8Tables(): { e4m3: Float32Array; e5m2: Float32Array } {
  if (!e4m3Table || !e5m2Table) {
    const a = new Float32Array(256);
    const b = new Float32Array(256);
    const f16 = f16ToF32Table();
    for (let v = 0; v < 256; v++) {
      // E4M3 "fn" (torch.float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN.
      const sign = v & 0x80 ? -1 : 1;
      const exp = (v >> 3) & 0xf;
      const frac = v & 7;
      if (exp === 0xf && frac === 7) a[v] = NaN;
      else if (exp === 0) a[v] = sign * frac * 2 ** -9; // frac/8 * 2^-6
      else a[v] = sign * (1 + frac / 8) * 2 ** (exp - 7);
      // E5M2 is the top byte of an F16.
      b[v] = f16[v << 8];
    }
    e4m3Table = a;
    e5m2Table = b;
  }
  return { e4m3: e4m3Table, e5m2: e5m2Table };
}

// ---------------------------------------------------------------------------------
// Bulk conversions

/**
 * Converts `src` (the dtype's natural typed array) into `out` starting at `outOffset`.
 * Integers larger than 2^24 lose precision, as they do in torch's `.float()`.
 */
export function convertToF32(dtype: Dtype, src: AnyTypedArray, out: Float32Array, outOffset = 0): void {
  const n = src.length;
  switch (dtype) {
    case 'F32':
      out.set(src as Float32Array, outOffset);
      return;
    case 'F16': {
      const t = f16ToF32Table();
      const s = src as Uint16Array;
      for (let i = 0; i < n; i++) out[outOffset + i] = t[s[i]];
      return;
    }
    case 'BF16': {
      // bf16 is the top half of an f32: shift the bits into an Uint32 view of `out`.
      const s = src as Uint16Array;
      const o = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, n);
      for (let i = 0; i < n; i++) o[i] = s[i] << 16;
      return;
    }
    case 'I64': case 'U64': {
      const s = src as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) out[outOffset + i] = Number(s[i]);
      return;
    }
    case 'F8_E4M3': case 'F8_E5M2': {
      const t = dtype === 'F8_E4M3' ? fp8Tables().e4m3 : fp8Tables().e5m2;
      const s = src as Uint8Array;
      for (let i = 0; i < n; i++) out[outOffset + i] = t[s[i]];
      return;
    }
    case 'BOOL': {
      // Any non-zero byte is true, as in numpy's bool.
      const s = src as Uint8Array;
      for (let i = 0; i < n; i++) out[outOffset + i] = s[i] ? 1 : 0;
      return;
    }
    default:
      // F64 and the 8/16/32-bit integers: TypedArray.set converts per element
      // (F64 -> F32 rounds to nearest even).
      out.set(src as Float64Array, outOffset);
  }
}

/** float32 values into the bits of a float dtype (F16/BF16 round to nearest even). */
export function convertFromF32(dtype: 'F32' | 'F16' | 'BF16' | 'F64', src: Float32Array): Float32Array | Uint16Array | Float64Array {
  switch (dtype) {
    case 'F32': return src;
    case 'F64': return Float64Array.from(src);
    case 'F16': case 'BF16': {
      const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
      const out = new Uint16Array(src.length);
      const f = dtype === 'F16' ? f32BitsToF16Bits : f32BitsToBf16Bits;
      for (let i = 0; i < src.length; i++) out[i] = f(bits[i]);
      return out;
    }
  }
}
