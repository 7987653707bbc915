/** LoRA adapters: wrap, train (gradients of A and B only), save/load in PEFT's format, merge and export. */
export {
  DEFAULT_TARGET_MODULES, LoraAdapter, LoraLinear, WORKSHOP_LORA, applyLora, loraScale, loraValueAndGrads, matchesTarget,
  peftKey, validateLoraConfig,
} from './lora';
export type { HasNamedLinears, LoraConfig, TrainableReport } from './lora';
export { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, fromPeftConfig, loadPeftAdapter, savePeftAdapter, toPeftConfig } from './peft';
export type { SavePeftOptions } from './peft';
export { TORCH_DTYPE, saveMergedCheckpoint, saveMergedWeights } from './merge';
export type { ExportableModel, ExtraTensors, MergeableModel, SaveMergedOptions } from './merge';
