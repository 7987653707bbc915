/** Weights: safetensors files, sharded checkpoints, and the WeightSource contract. */
export type { Dtype, TensorInfo, WeightSource } from './types';
export {
  DTYPE_BYTES, DTYPES, isDtype, convertToF32, convertFromF32, f16BitsToNumber, numberToF16Bits, bf16BitsToNumber,
  numberToBf16Bits,
} from './dtype';
export type { AnyTypedArray, TypedArrayFor } from './dtype';
export {
  MAX_HEADER_BYTES, SafetensorsError, SafetensorsFile, buildHeader, parseHeader, readHeader, writeSafetensors,
} from './safetensors';
export type { SafetensorsHeader, TensorData, TensorToWrite, WriteOptions } from './safetensors';
export { Checkpoint, MemoryWeights, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, writeCheckpoint } from './checkpoint';
export type { MemoryTensor, WriteCheckpointOptions } from './checkpoint';
