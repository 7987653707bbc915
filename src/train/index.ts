/** Training: config, the TrainableModel contract, optimizers, schedules, checkpoints, the loop. */
export { DEFAULT_TRAIN_CONFIG, TRAIN_CONFIG_FIELDS, TrainConfigError, validateTrainConfig } from './config';
export type { LossAveraging, OptimizerName, ScheduleName, TrainConfig } from './config';
export type { BatchInfo, NamedVariable, TokenExample, TrainableModel } from './types';
export { LlamaLoraTrainable, collateTokens, loraConfigOf } from './llama';
export type { TokenBatch } from './llama';
export { AdamW, AdamW8bit, clipGradsByNorm, createOptimizer, decaysWeight, globalGradNorm } from './optim';
export type { AdamWOptions, AdamW8bitOptions, Optimizer } from './optim';
export { BLOCK_SIZE_8BIT, createDynamicMap, dequantize, quantize } from './quant8';
export { learningRateAt, lrLambda } from './schedule';
export { BatchStream, epochBatches, splitTrainEval } from './data';
export type { DataPosition } from './data';
export { listCheckpoints, loadTrainerCheckpoint, readTrainerState, saveTrainerCheckpoint } from './checkpoint';
export type { TrainerState } from './checkpoint';
export { METRICS_FILE_NAME, MetricsLog, TrainingPlot, readMetrics } from './metrics';
export type { StepMetrics } from './metrics';
export { NonFiniteError, evaluate, train } from './trainer';
export type { MemoryReport, TrainOptions, TrainResult } from './trainer';
