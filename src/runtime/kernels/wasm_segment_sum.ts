/**
 * tfjs-backend-wasm 4.22 has no `UnsortedSegmentSum` kernel, and tfjs' gradient of
 * `tf.gather` needs it: every loss that picks target log-probabilities with `gather`
 * (causalLmLoss, CSM's depth-decoder loss) fails to differentiate on wasm with
 * "Kernel 'UnsortedSegmentSum' not registered for backend 'wasm'". The plain `cpu` backend
 * has it but trains the tiny CSM ~100x slower, so this registers a straightforward
 * JavaScript implementation on wasm (reading and writing the wasm heap directly).
 *
 * Registered by `initRuntime` whenever the wasm backend is chosen, so every trainer gets it.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

/**
 * out[s, ...] = sum of x[i, ...] over i with segmentIds[i] = s (ids outside [0, numSegments) dropped,
 * as tf.unsortedSegmentSum). Registered for 'wasm' once; a no-op when a kernel already exists.
 */
export function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const b = backend as unknown as WasmBackendLike;
      const xs = b.readSync(x.dataId);
      const ids = b.readSync(segmentIds.dataId);
      // segmentIds index the leading dimensions of x; the rest is one row of `inner` values.
      const inner = x.shape.slice(segmentIds.shape.length).reduce((a, d) => a * d, 1);
      const out = b.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
      const o = b.typedArrayFromHeap(out);
      o.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i]!;
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j]!;
      }
      return out;
    },
  });
}
