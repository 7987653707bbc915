/**
 * Embedding lookup in an f16 table: rows of a `HalfTensor` [rows, cols] picked by int32 ids and
 * widened to float32 (`unpack2x16float`, exact). The frozen embedding of a LoRA fine-tune
 * (`LlamaForCausalLM` with `embeddingDtype: 'float16'`): Llasa-8B's [193800, 4096] table is
 * 3.18 GB in f32, beyond one WebGPU storage binding (2 GiB on an H100), 1.59 GB in f16.
 *
 * No gradient: the output is not recorded on tfjs' tape, so nothing flows back to the table or
 * the ids (the table is frozen; LoRA trains adapters only). WebGPU only, like every f16 kernel:
 * other backends get gpuContext()'s error that names the fix (there is no f16 tensor off WebGPU).
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { allocateTensor, compileKernel, dispatch, gpuContext, maxBindingBytes, tensorBuffer, uniforms } from './gpu';
import { HalfTensor, grid } from './half';

const WORKGROUP = 256;

// One invocation per output element e = r * cols + c: y[e] = table[ids[r], c]. Ids outside
// [0, rows) give a zero row (as tfjs' own WebGPU gather).
const GATHER_HALF = /* wgsl */ `
@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
struct Params { n: u32, cols: u32, rows: u32 }
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let e = gid.x + gid.y * groups.x * ${WORKGROUP}u;
  if (e >= p.n) { return; }
  let r = e / p.cols;
  let c = e - r * p.cols;
  let id = ids[r];
  if (id < 0 || u32(id) >= p.rows) {
    y[e] = 0.0;
    return;
  }
  let k = u32(id) * p.cols + c; // element of the table; < 2^31 (the table fits one binding)
  let v = unpack2x16float(table[k >> 1u]);
  y[e] = select(v.x, v.y, (k & 1u) == 1u);
}`;

/**
 * `table` f16 [rows, cols] at `ids` (int32, any shape S): float32 [...S, cols], a new tensor the
 * caller owns. `ids` is not disposed. Ids outside [0, rows) give zero rows; check them first where
 * that matters (LlamaModel does).
 */
export function gatherHalf(table: HalfTensor, ids: tf.Tensor): tf.Tensor {
  const ctx = gpuContext(); // fails off webgpu with the call that fixes it
  if (table.isDisposed) throw new RuntimeError('init-failed', `gatherHalf: the f16 table [${table.shape}] was disposed`);
  if (table.shape.length !== 2) throw new RuntimeError('init-failed', `gatherHalf needs a table [rows, cols], got [${table.shape}]`);
  if (ids.dtype !== 'int32') throw new RuntimeError('init-failed', `gatherHalf takes int32 ids, got ${ids.dtype} [${ids.shape}]`);
  const [rows, cols] = table.shape;
  const n = ids.size * cols;
  const outShape = [...ids.shape, cols];
  if (n === 0) return tf.zeros(outShape);
  const limit = maxBindingBytes(ctx);
  const tableBytes = table.packed.size * 4;
  if (tableBytes > limit) {
    throw new RuntimeError('init-failed', `gatherHalf: the f16 table [${table.shape}] is ${tableBytes} B, beyond this device's storage binding limit of ${limit} B`);
  }
  if (n * 4 > limit) {
    throw new RuntimeError('init-failed', `gatherHalf: the output [${outShape}] is ${n * 4} B in float32, beyond this device's storage binding limit of ${limit} B: gather fewer ids per call`);
  }
  const { tensor, buffer } = allocateTensor(ctx, outShape);
  dispatch(ctx, {
    kernel: compileKernel(ctx, 'ttslab.gatherHalf', GATHER_HALF),
    tensors: [table.packed, ids, tensor],
    buffers: [tensorBuffer(ctx, table.packed), tensorBuffer(ctx, ids), buffer],
    uniforms: uniforms([{ u32: n }, { u32: cols }, { u32: rows }]),
    workgroups: grid(ctx, Math.ceil(n / WORKGROUP)),
  });
  return tensor;
}
