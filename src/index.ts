/**
 * ttslab: the helper library behind the workshop notebooks.
 *
 * The public API, grouped by pipeline stage (see docs/architecture.md).
 */
export { version } from './version';
export { PROJECT_ROOT } from './paths';

// Notebook display: tables, audio players, plots (00_setup onwards).
export * from './notebook';

// Environment check (00_setup).
export * from './env';

// Data preparation (01-03): audio decoding and processing, transcripts, download, chunking, datasets.
export * from './audio';
export * from './transcript';
export * from './data';

// Tensor runtime: backend choice (WebGPU through Dawn, tfjs-node-gpu, wasm, cpu) and custom WGSL kernels.
export * from './runtime';

// Weights: safetensors, sharded checkpoints, the WeightSource contract.
export * from './weights';

// Hugging Face Hub: snapshots into the cache shared with Python.
export * from './hub';

// Text tokenizers and chat templates.
export * from './tokenizer';

// Shared model blocks and the Llama decoder every model here builds on.
export * from './models/common';
export * from './models/llama';

// LoRA adapters in PEFT format.
export * from './lora';

// Sampling and generation.
export * from './generate';

// The training loop (05): TrainConfig, AdamW (32- and 8-bit), schedules, checkpoints, resume, live plots.
export * from './train';

// Sesame CSM: backbone + depth decoder, processor, generation with a cloning context.
// The whole module as `csm`; its main classes by name too.
export * as csm from './models/csm';
export { CsmForConditionalGeneration, CsmProcessor, generateFrames } from './models/csm';
export type { CsmConfig, CsmTurn, CsmGenerateOptions, CsmGenerateOutput } from './models/csm';

// Mimi codec (CSM's): audio at 24 kHz <-> codes [codebooks, frames] at 12.5 Hz.
export * as mimi from './models/mimi';
export { MimiModel, mimiConfigFromHf, MIMI_DEFAULT_CONFIG } from './models/mimi';
export type { MimiConfig, MimiCodes, MimiEncodeOptions, MimiDecodeOptions, MimiAudioCodec } from './models/mimi';
export { MelRvqCodec, MEL_CODEC_MODEL_TYPE, melCodecConfigFromHf } from './models/melcodec';
export type { MelCodecConfig } from './models/melcodec';

// Whisper (02): transcription with timestamps on ttslab's runtime.
export * as whisper from './models/whisper';
export { transcribe, whisperCheckpointCached, DEFAULT_WHISPER_MODEL, WhisperForConditionalGeneration } from './models/whisper';
export type { TranscriptJson, TranscribeOptions } from './models/whisper';

// One model interface for notebooks 04-06: AudioCodec (the codec contract + a cache id), TtsModel, model choice.
export * from './models/types';

// Tokenization (04): codec codes cached on disk, code histograms, decoded playback.
export * from './data/tokenize';

// Evaluation (06): listening grid, WAVs + manifest.json, spectrograms, verifiers.
export * from './eval';

// SNAC codec and the Orpheus token layout (Orpheus-3B).
export * as snac from './models/snac';
export * as orpheus from './models/orpheus';
export { OrpheusTts, ORPHEUS_TTS_SAMPLING, ORPHEUS_LORA_TRAIN, TINY_RANDOM_ORPHEUS } from './models/orpheus';
export type { OrpheusTtsOptions, OrpheusGeneration } from './models/orpheus';

// WavLM (06/07): speaker embeddings for the speaker-similarity verifier.
export * as wavlm from './models/wavlm';
export { WavLMForXVector, cosineSimilarity, DEFAULT_WAVLM_SV_MODEL } from './models/wavlm';

// Model selection for 04-06 and CSM behind the model interface (LoRA trainable, tiny random pipeline-check model).
export { loadTtsModel, saveModelChoice, readModelChoice, adapterOutputDir, modelSlug, CSM_DEFAULT_REPO, MINI_CSM_DIR, MINI_WHISPER_DIR, MINI_SPEAKER_DIR, MODEL_CHOICE_FILE, loadSnac24k, SNAC_DIR_ENV } from './models/registry';
export type { LoadTtsModelOptions, NotebookTtsModel } from './models/registry';
export { CsmTts, mimiCodec, generateBaseAndFinetuned, WORKSHOP_TTS_SAMPLING, BASE_AND_FINETUNED_SYSTEMS } from './models/csm/tts';
export type { CsmTtsOptions, Speech, AdapterSwitchable } from './models/csm/tts';
export { CsmLoraTrainable, csmTrainingExample, CSM_TRAIN_STATE_NAME, saveMergedTts } from './models/csm/trainable';
export type { CsmTrainingExample, CsmTrainBatch, CsmTrainableOptions, SaveMergedTtsOptions, MergedExport } from './models/csm/trainable';
export { TINY_RANDOM_CSM, TINY_RANDOM_WARNING, TINY_MIMI_CONFIG, tinyCsmConfig, tinyCsmTokenizer, tinyRandomCsm, tinyRandomMimi } from './models/csm/tiny';

// Llasa (Llama + XCodec2 at 16 kHz).
export * as llasa from './models/llasa';
export { LlasaTts, loadLlasaCheckpoint, tinyRandomLlasaTts, TINY_RANDOM_LLASA } from './models/llasa';
export * as xcodec2 from './models/xcodec2';
export * as w2vbert from './models/w2vbert';
