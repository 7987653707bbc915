/**
 * The contract between checkpoint readers (safetensors, sharded checkpoints, Hub
 * snapshots) and the model code that loads weights by reference name.
 */

/** safetensors dtype names, as written in the file header. */
export type Dtype =
  | 'BOOL' | 'U8' | 'I8' | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64'
  | 'F8_E4M3' | 'F8_E5M2';

/** Where one tensor lives, read from a header without touching its data. */
export interface TensorInfo {
  /** Reference weight name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  dtype: Dtype;
  /** Row-major (C order) shape. */
  shape: number[];
  /** The file that holds it (a shard, for sharded checkpoints). */
  file: string;
  /** Absolute byte offset of the data in `file`. */
  byteOffset: number;
  byteLength: number;
}

/**
 * A read-only source of named tensors. Model loaders depend on this interface only,
 * so a single file, a sharded checkpoint and an in-memory map all load the same way.
 */
export interface WeightSource {
  /** All tensor names, sorted. */
  keys(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /**
   * Reads one tensor and converts it to float32 (F16/BF16/F64/integers are widened or
   * narrowed as needed). Reads only that tensor's bytes from disk.
   */
  getF32(name: string): Promise<{ shape: number[]; data: Float32Array }>;
}
