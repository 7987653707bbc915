/**
 * f16 matrix product C[M, N] (float32) = A[M, K] (f16) x B[K, N] (f16), f32 accumulation;
 * with `transB`, B is given as B^T [N, K] (row-major), the layout of a torch.nn.Linear weight
 * [out, in], so y = x W^T needs no transposed copy of W.
 *
 * Two variants behind one call:
 * - 'subgroup-matrix': tensor cores through `chromium_experimental_subgroup_matrix`
 *   (Vulkan cooperative matrices). Needs shader-f16, the subgroup-matrix feature, an
 *   f16 x f16 -> f32 16x16x16 config, a fixed subgroup size, and M, N, K multiples of the
 *   block tile. Block tiles of A and B are staged in workgroup memory; each subgroup owns a
 *   TM x TN block of 16x16 accumulators (the layout GPU.md's second probe measured).
 * - 'tiled': portable fallback, no feature needed: f16 pairs unpacked to f32 in workgroup
 *   memory, 64x64 output tile per workgroup, 4x4 outputs per thread. Any M; K, N even.
 * 'auto' takes the first that applies.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { webgpuStateIfReady, subgroupMatrixConfigs } from '../webgpu';
import { GpuContext, allocateTensor, compileKernel, compileKernelAsync, dispatch, gpuContext, hasFeature, tensorBuffer, uniforms } from './gpu';
import { HalfTensor } from './half';

/** Shape of the subgroup-matrix kernel's work split. */
export interface SubgroupMatrixTiling {
  /** Output rows per workgroup (multiple of 16 * sgRows). */
  BM: number;
  /** Output columns per workgroup (multiple of 16 * sgCols). */
  BN: number;
  /** K per staged step (multiple of 16). */
  BK: number;
  /** Subgroups per workgroup along M and along N. */
  sgRows: number;
  sgCols: number;
  /** f16 elements of padding after each workgroup-memory row (spreads shared-memory banks; default 0). */
  pad?: number;
  /** Stage the next K step in registers while the current one multiplies (default false). */
  prefetch?: boolean;
  /** Load fragments straight from global memory, no workgroup memory (default false). */
  direct?: boolean;
  /** With prefetch: 2 = two workgroup buffers, one barrier per K step (default 1). */
  stages?: 1 | 2;
  /** With prefetch: 16-byte global loads (8 f16) instead of 8-byte ones; needs K and N multiples of 8. */
  wide?: boolean;
  /** Launch order in bands of this many block rows (L2 reuse); 0 or absent = row by row. */
  swizzle?: number;
}

/**
 * Default tiling: 128x128 output, 8 subgroups each owning 64x32 (4x2 tiles of 16x16), K steps
 * of 64 staged through padded workgroup rows (35 KiB) with 16-byte loads of the next step
 * prefetched into registers. Measured fastest among tilings with 128-row granularity on an
 * H100 (docs/performance.md: 121 TFLOP/s at 4096^3, 143 at 8192^3); needs 36 KiB of
 * workgroup memory, so devices with the WebGPU default of 16 KiB use the 'tiled' fallback
 * unless a smaller tiling is passed.
 */
export const DEFAULT_TILING: SubgroupMatrixTiling = { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true };

export type MatmulVariant = 'auto' | 'subgroup-matrix' | 'tiled';

export interface MatmulHalfOptions {
  variant?: MatmulVariant;
  tiling?: SubgroupMatrixTiling;
  /**
   * B is passed transposed: `b` has shape [N, K] (row-major) and C = A b^T. The tiled kernel
   * reads it directly; the subgroup-matrix kernel stages b's [BN, BK] block like A's and loads
   * the right-hand fragments column-major. Default false.
   */
  transB?: boolean;
}

/** The 16x16x16 matrix shape used here; every subgroup-matrix GPU listed on the H200 has it (GPU.md). */
const TILE = 16;

/** WGSL of the portable tiled kernel; `transB`: b is [N, K] (pairs along K). */
function tiledWgsl(transB: boolean): string {
  // Stage B's [BK, BN] tile into Bs[k][n]. Plain: 16 rows of K x 32 words of N pairs.
  // transB: 64 rows of N x 8 words of K pairs, each pair written to two k rows of Bs.
  const loadB = transB
    ? `
      let nb = t / (BK / 2u);
      let kb = k0 + 2u * (t % (BK / 2u));
      var u = vec2f(0.0);
      // K is even, so kb < K implies kb + 1 < K.
      if (n0 + nb < p.N && kb < p.K) { u = unpack2x16float(b[((n0 + nb) * p.K + kb) / 2u]); }
      Bs[(kb - k0) * BN + nb] = u.x;
      Bs[(kb - k0 + 1u) * BN + nb] = u.y;`
    : `
      let rb = t / (BN / 2u);
      let nw = t % (BN / 2u);
      let n = n0 + 2u * nw;
      var u = vec2f(0.0);
      if (k0 + rb < p.K && n < p.N) { u = unpack2x16float(b[((k0 + rb) * p.N + n) / 2u]); }
      Bs[rb * BN + 2u * nw] = u.x;
      Bs[rb * BN + 2u * nw + 1u] = u.y;`;
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<u32>;       // [M, K] f16 pairs
@group(0) @binding(1) var<storage, read> b: array<u32>;       // ${transB ? '[N, K]' : '[K, N]'} f16 pairs
@group(0) @binding(2) var<storage, read_write> c: array<f32>; // [M, N]
struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(3) var<uniform> p: Params;

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, BM * BK>; // [BM][BK]
var<workgroup> Bs: array<f32, BK * BN>; // [BK][BN]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) l: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // 512 words of A (64 rows x 8) and of B (16 rows x 32): two of each per thread.
    for (var t = lid; t < BM * BK / 2u; t += 256u) {
      let r = t / (BK / 2u);
      let kw = t % (BK / 2u);
      let k = k0 + 2u * kw;
      var v = vec2f(0.0);
      // K is even, so k < K implies k + 1 < K.
      if (m0 + r < p.M && k < p.K) { v = unpack2x16float(a[((m0 + r) * p.K + k) / 2u]); }
      As[r * BK + 2u * kw] = v.x;
      As[r * BK + 2u * kw + 1u] = v.y;
${loadB}
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      // Rows l.y + 16 i and columns l.x + 16 j: neighbouring threads read neighbouring words.
      for (var i = 0u; i < 4u; i++) { av[i] = As[(l.y + 16u * i) * BK + kk]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk * BN + l.x + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let row = m0 + l.y + 16u * i;
      let col = n0 + l.x + 16u * j;
      if (row < p.M && col < p.N) { c[row * p.N + col] = acc[i][j]; }
    }
  }
}`;
}

/**
 * WGSL of the subgroup-matrix kernel for one tiling and subgroup size (all loops over tiles unrolled here).
 *
 * Staged form (default): each K step copies the A [BM, BK] and B [BK, BN] block tiles into
 * workgroup memory (rows padded by `pad` f16 to spread shared-memory banks), then every
 * subgroup multiplies its TM x TN 16x16 tiles out of it. With `prefetch`, each thread reads
 * its share of the next K step into registers before the multiply of the current one, so
 * global loads overlap tensor-core work (one workgroup buffer, two barriers per step).
 * Direct form (`direct`): no workgroup memory; each subgroup loads its fragments from global
 * memory (L1/L2 serve the reuse).
 * `transB`: b is B^T [N, K]; its [BN, BK] block is staged like A's (rows of K, padded), and the
 * right-hand fragments are loaded `col_major` from it (element (k, n) at n * stride + k).
 */
export function subgroupMatrixWgsl(t: SubgroupMatrixTiling, subgroupSize: number, transB = false): string {
  const TM = t.BM / (TILE * t.sgRows);
  const TN = t.BN / (TILE * t.sgCols);
  const threads = t.sgRows * t.sgCols * subgroupSize;
  const pad = t.pad ?? 0;
  const lines: string[] = [];
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) lines.push(`  var acc_${i}_${j} = subgroup_matrix_result<f32, ${TILE}, ${TILE}>();`);
  const accs = lines.join('\n');
  const bMajor = transB ? 'col_major' : 'row_major';
  const mma = (aRef: string, aOff: (i: number) => string, aStride: string, bRef: string, bOff: (j: number) => string, bStride: string): string => {
    const step: string[] = [];
    for (let i = 0; i < TM; i++) step.push(`      let l_${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, ${TILE}, ${TILE}>, row_major>(${aRef}, ${aOff(i)}, ${aStride});`);
    for (let j = 0; j < TN; j++) step.push(`      let r_${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, ${TILE}, ${TILE}>, ${bMajor}>(${bRef}, ${bOff(j)}, ${bStride});`);
    for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) step.push(`      acc_${i}_${j} = subgroupMatrixMultiplyAccumulate(l_${i}, r_${j}, acc_${i}_${j});`);
    return step.join('\n');
  };
  const stores: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) {
      stores.push(`  subgroupMatrixStore<row_major>(&c, (m0 + rowA + ${i * TILE}u) * p.N + n0 + colB + ${j * TILE}u, acc_${i}_${j}, p.N);`);
    }
  }
  const header = /* wgsl */ `
enable f16;
enable chromium_experimental_subgroup_matrix;
// The subgroup index comes from local_invocation_index / subgroup size, which the
// uniformity analysis cannot prove subgroup-uniform; it is, for a 1-D workgroup.
diagnostic(off, chromium.subgroup_matrix_uniformity);
`;
  const prologue = /* wgsl */ `
  let sg = lid / ${subgroupSize}u;
  let rowA = (sg / ${t.sgCols}u) * ${TM * TILE}u; // first row of this subgroup's block in the tile
  let colB = (sg % ${t.sgCols}u) * ${TN * TILE}u; // first column
${t.swizzle ? `  // Workgroups run in bands of ${t.swizzle} block rows, column by column, so the A rows and
  // B columns in flight at once stay in L2.
  let nx = nwg.x;
  let ny = nwg.y;
  let pid = wid.y * nx + wid.x;
  let band = pid / (${t.swizzle}u * nx);
  let first = band * ${t.swizzle}u;
  let rows = min(ny - first, ${t.swizzle}u);
  let inBand = pid % (${t.swizzle}u * nx);
  let m0 = (first + inBand % rows) * BM;
  let n0 = (inBand / rows) * BN;` : `  let m0 = wid.y * BM;
  let n0 = wid.x * BN;`}
${accs}`;
  const consts = `const BM = ${t.BM}u;\nconst BN = ${t.BN}u;\nconst BK = ${t.BK}u;\nconst THREADS = ${threads}u;`;
  if (t.direct) {
    return `${header}
@group(0) @binding(0) var<storage, read> a: array<f16>;        // [M, K]
@group(0) @binding(1) var<storage, read> b: array<f16>;        // ${transB ? '[N, K]' : '[K, N]'}
@group(0) @binding(2) var<storage, read_write> c: array<f32>;  // [M, N]
struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(3) var<uniform> p: Params;
${consts}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {${prologue}
  for (var kk = 0u; kk < p.K; kk += ${TILE}u) {
${transB
    ? mma('&a', (i) => `(m0 + rowA + ${i * TILE}u) * p.K + kk`, 'p.K', '&b', (j) => `(n0 + colB + ${j * TILE}u) * p.K + kk`, 'p.K')
    : mma('&a', (i) => `(m0 + rowA + ${i * TILE}u) * p.K + kk`, 'p.K', '&b', (j) => `kk * p.N + n0 + colB + ${j * TILE}u`, 'p.N')}
  }
${stores.join('\n')}
}`;
  }
  const SA = t.BK + pad;
  // Row stride of Bs: plain [BK][BN + pad]; transB [BN][BK + pad] (same layout as As).
  const SB = transB ? t.BK + pad : t.BN + pad;
  const stages = t.stages ?? 1;
  const W = t.wide ? 8 : 4; // f16 per global load: vec4<u32> (16 bytes) or vec4<f16> (8 bytes)
  const loadsA = (t.BM * t.BK) / W / threads;
  const loadsB = (t.BK * t.BN) / W / threads;
  const compute = (buf: string): string => (transB
    ? mma('&As', (i) => `${buf}aBase + (rowA + ${i * TILE}u) * SA + kk`, 'SA', '&Bs', (j) => `${buf}bBase + (colB + ${j * TILE}u) * SB + kk`, 'SB')
    : mma('&As', (i) => `${buf}aBase + (rowA + ${i * TILE}u) * SA + kk`, 'SA', '&Bs', (j) => `${buf}bBase + kk * SB + colB + ${j * TILE}u`, 'SB'));
  const elem = t.wide ? 'vec4<u32>' : 'vec4<f16>';
  const decl = `${header}
@group(0) @binding(0) var<storage, read> a: array<${elem}>;  // [M, K], ${W} f16 per element
@group(0) @binding(1) var<storage, read> b: array<${elem}>;  // ${transB ? '[N, K]' : '[K, N]'}, ${W} f16 per element
@group(0) @binding(2) var<storage, read_write> c: array<f32>;  // [M, N]
struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(3) var<uniform> p: Params;
${consts}
const SA = ${SA}u; // row stride of As in f16 (BK + pad)
const SB = ${SB}u; // row stride of Bs in f16 (${transB ? 'BK' : 'BN'} + pad)
var<workgroup> As: array<f16, ${stages} * BM * SA>; // [stages][BM][SA]
var<workgroup> Bs: array<f16, ${stages} * ${transB ? 'BN' : 'BK'} * SB>; // [stages][${transB ? 'BN' : 'BK'}][SB]
`;
  if (t.prefetch && Number.isInteger(loadsA) && Number.isInteger(loadsB)) {
    // Registers -> workgroup memory: 4 or 8 f16 per element.
    const put = (arr: string, o: string, v: string): string =>
      t.wide
        ? [0, 1, 2, 3].map((q) => `{ let h = bitcast<vec2<f16>>(${v}[${q}]); ${arr}[${o} + ${2 * q}u] = h.x; ${arr}[${o} + ${2 * q + 1}u] = h.y; }`).join(' ')
        : `${arr}[${o}] = ${v}.x; ${arr}[${o} + 1u] = ${v}.y; ${arr}[${o} + 2u] = ${v}.z; ${arr}[${o} + 3u] = ${v}.w;`;
    const fetch = (k: string): string => `
      for (var i = 0u; i < ${loadsA}u; i++) { let t = lid + i * THREADS; ra[i] = a[((m0 + t / (BK / ${W}u)) * p.K + ${k}) / ${W}u + t % (BK / ${W}u)]; }
      for (var i = 0u; i < ${loadsB}u; i++) { let t = lid + i * THREADS; ${transB
      ? `rb[i] = b[((n0 + t / (BK / ${W}u)) * p.K + ${k}) / ${W}u + t % (BK / ${W}u)];`
      : `rb[i] = b[((${k} + t / (BN / ${W}u)) * p.N + n0) / ${W}u + t % (BN / ${W}u)];`} }`;
    const stash = (aBase: string, bBase: string): string => `
      for (var i = 0u; i < ${loadsA}u; i++) { let t = lid + i * THREADS; let o = ${aBase} + (t / (BK / ${W}u)) * SA + ${W}u * (t % (BK / ${W}u)); ${put('As', 'o', 'ra[i]')} }
      for (var i = 0u; i < ${loadsB}u; i++) { let t = lid + i * THREADS; let o = ${bBase} + ${transB
      ? `(t / (BK / ${W}u)) * SB + ${W}u * (t % (BK / ${W}u))`
      : `(t / (BN / ${W}u)) * SB + ${W}u * (t % (BN / ${W}u))`}; ${put('Bs', 'o', 'rb[i]')} }`;
    const regs = `
  var ra: array<${elem}, ${loadsA}>;
  var rb: array<${elem}, ${loadsB}>;`;
    if (stages === 2) {
      // Two workgroup buffers: multiply out of one while the other fills; one barrier per K step.
      return `${decl}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {${prologue}${regs}
  ${fetch('0u')}
  ${stash('0u', '0u')}
  workgroupBarrier();
  var cur = 0u;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    let k1 = k0 + BK;
    if (k1 < p.K) { ${fetch('k1')} }
    let aBase = cur * BM * SA;
    let bBase = cur * ${transB ? 'BN' : 'BK'} * SB;
    for (var kk = 0u; kk < BK; kk += ${TILE}u) {
${compute('')}
    }
    if (k1 < p.K) { ${stash('(1u - cur) * BM * SA', `(1u - cur) * ${transB ? 'BN' : 'BK'} * SB`)} }
    workgroupBarrier();
    cur = 1u - cur;
  }
${stores.join('\n')}
}`;
    }
    return `${decl}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {${prologue}${regs}
  ${fetch('0u')}
  let aBase = 0u;
  let bBase = 0u;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    ${stash('0u', '0u')}
    workgroupBarrier();
    let k1 = k0 + BK;
    if (k1 < p.K) { ${fetch('k1')} }
    for (var kk = 0u; kk < BK; kk += ${TILE}u) {
${compute('')}
    }
    workgroupBarrier();
  }
${stores.join('\n')}
}`;
  }
  return `${decl}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {${prologue}
  let aBase = 0u;
  let bBase = 0u;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var t = lid; t < BM * BK / 4u; t += THREADS) {
      let r = t / (BK / 4u);
      let q = t % (BK / 4u);
      let v = a[((m0 + r) * p.K + k0) / 4u + q];
      let o = r * SA + 4u * q;
      As[o] = v.x; As[o + 1u] = v.y; As[o + 2u] = v.z; As[o + 3u] = v.w;
    }
    for (var t = lid; t < BK * BN / 4u; t += THREADS) {${transB ? `
      let r = t / (BK / 4u); // row of b = column n0 + r of B
      let q = t % (BK / 4u);
      let v = b[((n0 + r) * p.K + k0) / 4u + q];` : `
      let r = t / (BN / 4u);
      let q = t % (BN / 4u);
      let v = b[((k0 + r) * p.N + n0) / 4u + q];`}
      let o = r * SB + 4u * q;
      Bs[o] = v.x; Bs[o + 1u] = v.y; Bs[o + 2u] = v.z; Bs[o + 3u] = v.w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk += ${TILE}u) {
${compute('')}
    }
    workgroupBarrier();
  }
${stores.join('\n')}
}`;
}

/** Why the subgroup-matrix variant cannot run on this device, or undefined when it can. */
export function subgroupMatrixUnavailable(ctx: GpuContext): string | undefined {
  if (!hasFeature(ctx, 'shader-f16')) return "the device lacks 'shader-f16'";
  if (!hasFeature(ctx, 'chromium-experimental-subgroup-matrix')) {
    return "the device lacks 'chromium-experimental-subgroup-matrix' (Dawn toggle allow_unsafe_apis, and a GPU with cooperative matrices)";
  }
  const state = webgpuStateIfReady();
  const configs = state ? subgroupMatrixConfigs(state.adapter) : [];
  const ok = configs.some((c) => c.M === TILE && c.N === TILE && c.K === TILE && c.componentType === 'f16' && c.resultComponentType === 'f32');
  if (!ok) return `no f16 x f16 -> f32 ${TILE}x${TILE}x${TILE} subgroup-matrix config (adapter has ${JSON.stringify(configs)})`;
  if (ctx.subgroupMinSize !== ctx.subgroupMaxSize || ctx.subgroupMinSize === 0) {
    return `subgroup size varies (${ctx.subgroupMinSize}..${ctx.subgroupMaxSize}); the kernel assumes a fixed one`;
  }
  return undefined;
}

function checkTiling(ctx: GpuContext, t: SubgroupMatrixTiling, transB = false): void {
  if (t.BM % (TILE * t.sgRows) !== 0 || t.BN % (TILE * t.sgCols) !== 0 || t.BK % TILE !== 0) {
    throw new RuntimeError('init-failed', `bad subgroup-matrix tiling ${JSON.stringify(t)}: BM/(16 sgRows), BN/(16 sgCols), BK/16 must be whole`);
  }
  const pad = t.pad ?? 0;
  if (!Number.isInteger(pad) || pad < 0 || pad % 8 !== 0) throw new RuntimeError('init-failed', `bad subgroup-matrix tiling ${JSON.stringify(t)}: pad must be a multiple of 8 f16 (16-byte rows)`);
  const memory = workgroupMemoryProblem(ctx, t, transB);
  if (memory) throw new RuntimeError('init-failed', memory);
}

/**
 * Bytes of workgroup memory a tiling stages (f16 A and B tiles, padded rows, 1 or 2 buffers); 0 for
 * the direct form. With `transB` the B tile is [BN][BK + pad] instead of [BK][BN + pad].
 */
export function tilingWorkgroupBytes(t: SubgroupMatrixTiling, transB = false): number {
  if (t.direct) return 0;
  const pad = t.pad ?? 0;
  const bTile = transB ? t.BN * (t.BK + pad) : t.BK * (t.BN + pad);
  return (t.stages ?? 1) * (t.BM * (t.BK + pad) + bTile) * 2;
}

function workgroupMemoryProblem(ctx: GpuContext, t: SubgroupMatrixTiling, transB = false): string | undefined {
  const bytes = tilingWorkgroupBytes(t, transB);
  const limit = ctx.device.limits.maxComputeWorkgroupStorageSize;
  return bytes > limit ? `tiling ${JSON.stringify(t)} needs ${bytes} bytes of workgroup memory, the device has ${limit}` : undefined;
}

function shapes(a: HalfTensor, b: HalfTensor, transB: boolean): { M: number; K: number; N: number } {
  const kOfB = transB ? b.shape[1] : b.shape[0];
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== kOfB) {
    throw new RuntimeError('init-failed', `matmulHalf needs A [M, K] and ${transB ? 'B^T [N, K] (transB)' : 'B [K, N]'}, got [${a.shape}] and [${b.shape}]`);
  }
  const [M, K] = a.shape;
  const N = transB ? b.shape[0] : b.shape[1];
  if (K % 2 !== 0 || N % 2 !== 0) throw new RuntimeError('init-failed', `matmulHalf needs even K and N (f16 pairs), got K=${K}, N=${N}`);
  return { M, K, N };
}

function kernelKey(variant: 'subgroup-matrix' | 'tiled', t: SubgroupMatrixTiling, sg: number, transB: boolean): string {
  const form = t.direct ? '.direct' : `.pad${t.pad ?? 0}${t.prefetch ? `.prefetch${t.stages ?? 1}${t.wide ? '.wide' : ''}` : ''}`;
  const tb = transB ? '.transB' : '';
  return variant === 'tiled' ? `ttslab.matmulHalf.tiled${tb}` : `ttslab.matmulHalf.sgmat.${t.BM}x${t.BN}x${t.BK}.${t.sgRows}x${t.sgCols}${form}.sw${t.swizzle ?? 0}.sg${sg}${tb}`;
}

/** Which variant `matmulHalf` would run for these shapes, and why not the faster one. */
export function matmulHalfPlan(M: number, N: number, K: number, options: MatmulHalfOptions = {}): { variant: 'subgroup-matrix' | 'tiled'; why: string } {
  const ctx = gpuContext();
  const t = options.tiling ?? DEFAULT_TILING;
  const requested = options.variant ?? 'auto';
  if (requested === 'tiled') return { variant: 'tiled', why: 'asked for' };
  const missing = subgroupMatrixUnavailable(ctx);
  const ragged = M % t.BM !== 0 || N % t.BN !== 0 || K % t.BK !== 0 ? `M=${M}, N=${N}, K=${K} are not multiples of the tile ${t.BM}x${t.BN}x${t.BK}` : undefined;
  const reason = missing ?? ragged ?? workgroupMemoryProblem(ctx, t, options.transB ?? false);
  if (!reason) return { variant: 'subgroup-matrix', why: 'tensor cores available and shapes fit the tile' };
  if (requested === 'subgroup-matrix') throw new RuntimeError('missing-feature', `matmulHalf variant 'subgroup-matrix' cannot run: ${reason}`);
  return { variant: 'tiled', why: reason };
}

/** Compiles the kernel `matmulHalf` would use, rejecting with WGSL errors (call before timing or to test support). */
export async function prepareMatmulHalf(options: MatmulHalfOptions & { M?: number; N?: number; K?: number } = {}): Promise<'subgroup-matrix' | 'tiled'> {
  const ctx = gpuContext();
  const t = options.tiling ?? DEFAULT_TILING;
  const transB = options.transB ?? false;
  const { variant } = matmulHalfPlan(options.M ?? t.BM, options.N ?? t.BN, options.K ?? t.BK, options);
  if (variant === 'tiled') await compileKernelAsync(ctx, kernelKey('tiled', t, 0, transB), tiledWgsl(transB));
  else {
    checkTiling(ctx, t, transB);
    await compileKernelAsync(ctx, kernelKey(variant, t, ctx.subgroupMaxSize, transB), subgroupMatrixWgsl(t, ctx.subgroupMaxSize, transB));
  }
  return variant;
}

/**
 * C = A B with A [M, K] and B [K, N] in f16, C [M, N] float32 (f32 accumulation); with
 * `transB`, `b` is [N, K] and C = A b^T. WebGPU only. Returns a new tensor owned by the caller.
 */
export function matmulHalf(a: HalfTensor, b: HalfTensor, options: MatmulHalfOptions = {}): tf.Tensor2D {
  const ctx = gpuContext();
  const transB = options.transB ?? false;
  const { M, K, N } = shapes(a, b, transB);
  const t = options.tiling ?? DEFAULT_TILING;
  const { variant } = matmulHalfPlan(M, N, K, options);
  if (M * N === 0) return tf.zeros([M, N]);
  const { tensor, buffer } = allocateTensor(ctx, [M, N]);
  let kernel;
  let workgroups: [number, number];
  if (variant === 'tiled') {
    kernel = compileKernel(ctx, kernelKey('tiled', t, 0, transB), tiledWgsl(transB));
    workgroups = [Math.ceil(N / 64), Math.ceil(M / 64)];
  } else {
    checkTiling(ctx, t, transB);
    const sg = ctx.subgroupMaxSize;
    kernel = compileKernel(ctx, kernelKey(variant, t, sg, transB), subgroupMatrixWgsl(t, sg, transB));
    workgroups = [N / t.BN, M / t.BM];
  }
  dispatch(ctx, {
    kernel,
    tensors: [a.packed, b.packed, tensor],
    buffers: [tensorBuffer(ctx, a.packed), tensorBuffer(ctx, b.packed), buffer],
    uniforms: uniforms([{ u32: M }, { u32: N }, { u32: K }]),
    workgroups,
  });
  return tensor as tf.Tensor2D;
}
