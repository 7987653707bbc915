/**
 * Issue 9, acceptance 3: does fine-tuning the mini CSM with LoRA on the sample talk's clips
 * move its voice to the talk's speaker (flite `slt`)? Measured on held-out sentences:
 *
 *  1. training clips: the sample talk (datasets/sample-talk) through the library's data path,
 *     as notebooks 01-03 do it: the shipped transcript, corrected by its rules and glossary
 *     (notebook 02, the same proposal rejected), `chunkSegments` (clips of at most
 *     `maxClipSeconds`; at most `maxClips` clips), `buildRows` (speaker id 0),
 *     `trainEvalSplit` (10% validation, seed 0), `saveDataset`; then, as notebook 04/05 and
 *     `ttslab train` do, `ttsTrainingData` (codes with the model's own codec, cached) and
 *     `trainTts` (the family's preset under the flags given) on the tensor backend chosen;
 *  2. N held-out sentences (scripts/mini/corpus_text.py `sentences('eval', N)`: the first N of
 *     its hand-written held-out lines; or a file) spoken by the base model and by the
 *     fine-tuned one (the saved adapter loaded back), seed `seed + i` for sentence i in both,
 *     speaker id = the training data's;
 *  3. references: flite `slt` speaking the same sentences, rendered at run time (16 kHz,
 *     resampled to 24 kHz);
 *  4. measures:
 *     - speaker similarity (SIM): the mini speaker encoder's x-vector (WavLMForXVector) of each
 *       generated clip, cosine against the CENTROID of the references' embeddings (each
 *       L2-normalised, averaged: `meanEmbedding`); the mean over the sentences is the figure
 *       the acceptance reads. Also reported: the "pairwise" mean, each clip against the
 *       reference of its own sentence.
 *     - median F0 (YIN, src/eval/pitch.ts) pooled over the voiced frames of each system's
 *       clips, and of the references.
 *     Pass: SIM(fine-tuned) - SIM(base) >= 0.15 and |F0(fine-tuned) - F0(slt)| / F0(slt) <= 0.10.
 *
 * Output folder: voice_change.json (everything, per clip too), wav/{reference,base,finetuned}/NNN.wav,
 * work/{dataset,codes} (the training data and its codes cache), train/ (adapter, metrics.jsonl).
 *
 *   node --import tsx scripts/mini/eval_voice_change.ts [--model mini] [--out runs/voice_change]
 *       [--n 20] [--sentences FILE(.jsonl|.txt)] [--steps S] [--lr LR] [--r R] [--alpha A]
 *       [--batch-size B] [--grad-accum G] [--max-clips 50] [--max-clip-seconds 10] [--seed 0]
 *       [--max-new-frames F] [--speaker-model DIR] [--backend cpu|wasm|tensorflow|auto]
 *
 * `--model tiny-random-csm` runs the plumbing in a minute (random weights: the figures mean nothing).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { decodeAudioFile } from '../../src/audio/ffmpeg';
import { writeFileAtomic } from '../../src/audio/files';
import { resample } from '../../src/audio/resample';
import { decodeWav, encodeWav } from '../../src/audio/wav';
import { chunkSegments } from '../../src/data/chunk';
import { buildRows, saveDataset, trainEvalSplit } from '../../src/data/dataset';
import { SAMPLE_TALK_DIR } from '../../src/data/workspace';
import { pooledF0, PitchError, resolvePitchOptions } from '../../src/eval/pitch';
import type { F0Summary, PitchOptions } from '../../src/eval/pitch';
import { meanEmbedding } from '../../src/eval/search';
import { WORKSHOP_TTS_SAMPLING } from '../../src/models/csm/tts';
import type { CsmTts } from '../../src/models/csm/tts';
import { loadTtsModel, MINI_SPEAKER_DIR } from '../../src/models/registry';
import type { NotebookTtsModel } from '../../src/models/registry';
import type { Codes, TtsGenerateRequest, TtsSampling } from '../../src/models/types';
import { WavLMForXVector, cosineSimilarity } from '../../src/models/wavlm';
import { PROJECT_ROOT } from '../../src/paths';
import { initRuntime } from '../../src/runtime';
import type { BackendRequest } from '../../src/runtime';
import { validateTrainConfig } from '../../src/train/config';
import type { TrainConfig } from '../../src/train/config';
import { trainTts, ttsTrainConfig, ttsTrainingData } from '../../src/train/tts';
import { applyRules, loadGlossary, loadRules, proposalsToRules, proposeCorrections, readTranscript } from '../../src/transcript';

/** The acceptance figures of issue 9, item 3. */
export const MIN_SIMILARITY_GAIN = 0.15;
export const MAX_F0_RELATIVE_ERROR = 0.1;
/** The reference voice (the sample talk's) and the rate references are stored at (the codecs' 24 kHz). */
export const REFERENCE_VOICE = 'slt';
export const REFERENCE_RATE = 24000;
/** The speaker encoder's input rate (WavLM). */
const ENCODER_RATE = 16000;

export { MINI_SPEAKER_DIR };
const CORPUS_TEXT_PY = join(PROJECT_ROOT, 'scripts', 'mini', 'corpus_text.py');

export interface VoiceChangeOptions {
  /** `loadTtsModel` value (default 'mini'). */
  model?: string;
  /** Speaker encoder folder or repo (WavLMForXVector; default models/mini/speaker). */
  speakerModel?: string;
  /** Output folder (created; an existing voice_change.json is replaced). */
  outDir: string;
  /** Held-out sentences to speak (at least 1). */
  sentences: string[];
  /** Most clips cut from the talk (train + validation; default 50, the acceptance's bound). */
  maxClips?: number;
  /** Longest clip (seconds, default 10: about two of the talk's sentences; the mini CSM trained on single sentences). */
  maxClipSeconds?: number;
  /** The sample talk's folder (default datasets/sample-talk). */
  talkDir?: string;
  /** TrainConfig fields over the family's preset (outputDir and livePlot are set here). */
  train?: Partial<TrainConfig>;
  /** Seed of sentence 0; sentence i uses seed + i for both models (default 0). */
  seed?: number;
  /** Generation sampling (default: the model's `defaultSampling`, else the workshop's). */
  sampling?: TtsSampling;
  /** Frame budget per sentence (default: the processor's estimate from the text). */
  maxNewFrames?: number;
  /** YIN options for the F0 measure. */
  pitch?: PitchOptions;
  /** flite binary (default /usr/bin/flite when present, else `flite` on PATH). */
  flite?: string;
  /** Progress lines (default console.log). */
  log?: (message: string) => void;
}

/** One generated clip. */
export interface GeneratedClip {
  /** Relative to the output folder; null when the model generated 0 frames (nothing to write). */
  path: string | null;
  frames: number;
  seconds: number;
  /** Generation hit the frame budget instead of ending on its own (null: the family does not say). */
  truncated: boolean | null;
  /** Cosine to the reference centroid; null for an empty clip. */
  similarity: number | null;
  /** Cosine to this sentence's reference; null for an empty clip. */
  pairwiseSimilarity: number | null;
  /** Median F0 of this clip (Hz); null when no frame is voiced. */
  medianF0Hz: number | null;
}

export interface SystemSummary {
  /** Mean cosine to the reference centroid over the non-empty clips (the acceptance's SIM); null if all are empty. */
  meanSimilarity: number | null;
  /** Mean cosine to each sentence's own reference. */
  meanPairwiseSimilarity: number | null;
  f0: F0Summary;
  /** Clips with 0 frames (left out of the means). */
  emptyClips: number;
  truncatedClips: number;
  meanSeconds: number;
  /** Wall time of generating and decoding this system's clips. */
  generateSeconds: number;
}

export interface VoiceChangeResult {
  model: string;
  /** The model's random-weights warning, or null. */
  warning: string | null;
  speakerModel: string;
  backend: string;
  createdAt: string;
  similarityMethod: string;
  sentences: number;
  seed: number;
  speaker: number;
  sampling: TtsSampling;
  data: {
    talkDir: string;
    maxClipSeconds: number;
    clips: number;
    trainClips: number;
    validationClips: number;
    trainSeconds: number;
    droppedByCap: number;
  };
  training: {
    config: Pick<TrainConfig, 'loraR' | 'loraAlpha' | 'useRslora' | 'learningRate' | 'maxSteps' | 'batchSize' | 'gradientAccumulationSteps' | 'optimizer' | 'schedule' | 'warmupSteps' | 'targetModules'>;
    steps: number;
    firstLoss: number;
    lastLoss: number;
    lastEvalLoss: number | null;
    trainableParams: number;
    adapterDir: string;
    seconds: number;
  };
  reference: { f0: F0Summary; meanSeconds: number; selfSimilarity: number };
  base: SystemSummary;
  finetuned: SystemSummary;
  acceptance: {
    similarityGain: { value: number | null; required: number; pass: boolean };
    f0RelativeError: { value: number | null; base: number | null; required: number; pass: boolean };
    pass: boolean;
  };
  clips: { text: string; seed: number; reference: { path: string; seconds: number; medianF0Hz: number | null }; base: GeneratedClip; finetuned: GeneratedClip }[];
  timings: Record<'dataSeconds' | 'referencesSeconds' | 'baseSeconds' | 'trainSeconds' | 'finetunedSeconds' | 'totalSeconds', number>;
  /** The printed table. */
  table: string;
}

const run = promisify(execFile);
const seconds = (t0: number) => (Date.now() - t0) / 1000;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Codes and whether generation ended on its own (CsmTts tells; other families: null). */
async function generateWithStatus(tts: NotebookTtsModel, request: TtsGenerateRequest): Promise<{ codes: Codes; stopped: boolean | null }> {
  const withStatus = (tts as Partial<Pick<CsmTts, 'generateWithStatus'>>).generateWithStatus;
  if (typeof withStatus === 'function') return withStatus.call(tts, request);
  return { codes: await tts.generate(request), stopped: null };
}

/** The held-out sentences of scripts/mini/corpus_text.py `sentences('eval', n)` for n <= its hand-written count (read from the file). */
export function corpusEvalSentences(n: number, file = CORPUS_TEXT_PY): string[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`the number of held-out sentences must be an integer >= 1, got ${n}`);
  const src = readFileSync(file, 'utf8');
  const block = /^HANDWRITTEN = """\n([\s\S]*?)"""\.strip\(\)\.splitlines\(\)/m.exec(src);
  const count = /^EVAL_HANDWRITTEN = (\d+)$/m.exec(src);
  if (!block || !count) throw new Error(`${file}: no HANDWRITTEN = """...""" block or EVAL_HANDWRITTEN = <n> line (has corpus_text.py changed?)`);
  const held = block[1]!.trim().split('\n').map((l) => l.trim()).slice(0, Number(count[1]));
  if (held.some((l) => l === '')) throw new Error(`${file}: an empty line among the first ${count[1]} hand-written sentences`);
  if (n > held.length) {
    throw new Error(`${file} holds ${held.length} hand-written held-out sentences; more (its generated ones) need Python: `
      + `python3 scripts/mini/corpus_text.py eval ${n} > eval.txt, then --sentences eval.txt`);
  }
  return held.slice(0, n);
}

/** Sentences from a file: JSONL with a "text" per line, or plain text with one sentence a line. */
export function readSentences(file: string): string[] {
  const lines = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const out = lines.map((l, i) => {
    if (!file.endsWith('.jsonl')) return l;
    let o: unknown;
    try {
      o = JSON.parse(l);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: ${(e as Error).message}`);
    }
    const t = (o as { text?: unknown }).text;
    if (typeof t !== 'string' || t.trim() === '') throw new Error(`${file}:${i + 1}: no "text" string, got ${JSON.stringify(t)}`);
    return t.trim();
  });
  if (out.length === 0) throw new Error(`${file}: no sentences`);
  return out;
}

/** flite renders `text` with `voice` into `file`; returns mono samples at REFERENCE_RATE. */
export async function fliteSpeak(flite: string, voice: string, text: string, file: string): Promise<Float32Array> {
  try {
    await run(flite, ['-voice', voice, '-t', text, '-o', file]);
  } catch (e) {
    throw new Error(`flite (${flite}) failed for voice ${voice} and text ${JSON.stringify(text)}: ${(e as Error).message} (apt-get install flite)`);
  }
  const a = decodeWav(readFileSync(file), file);
  const mono = a.channels[0]!;
  return a.sampleRate === REFERENCE_RATE ? mono : resample(mono, a.sampleRate, REFERENCE_RATE);
}

export function writeWav(file: string, samples: Float32Array, sampleRate: number): Promise<void> {
  return writeFileAtomic(file, encodeWav({ sampleRate, channels: [samples] }).bytes);
}

/** The sample talk as notebooks 01-03 make it: corrected transcript, clips, rows, split, saved dataset. */
async function buildTalkDataset(talkDir: string, datasetDir: string, maxClips: number, maxClipSeconds: number, log: (m: string) => void) {
  const transcript = await readTranscript(join(talkDir, 'transcript.json'));
  const byRules = applyRules(transcript, await loadRules(join(talkDir, 'corrections.json')));
  const proposals = proposeCorrections(byRules.transcript, await loadGlossary(join(talkDir, 'glossary.json')));
  // Notebook 02 rejects this one proposal: "Hawking" is right, it only sounds like "Haskins".
  const accepted = proposals.filter((p) => !(p.found === 'Hawking' && p.term === 'Haskins'));
  const corrected = applyRules(byRules.transcript, proposalsToRules(accepted)).transcript;
  const recording = join(talkDir, 'talk.flac');
  const audio = await decodeAudioFile(recording);
  const { clips, dropped } = chunkSegments(corrected.segments, { maxSeconds: maxClipSeconds, minSeconds: 1, maxGapSeconds: 2 });
  if (dropped.length) log(`chunking dropped ${dropped.length} pieces: ${dropped.map((d) => `${d.reason} (${d.text.slice(0, 30)})`).join('; ')}`);
  if (clips.length === 0) throw new Error(`${recording}: no clips of 1-${maxClipSeconds} s in its transcript`);
  const kept = clips.slice(0, maxClips);
  const rows = buildRows(audio, kept, { source: 0, sourceFile: recording });
  const split = trainEvalSplit(rows, { evalFraction: 0.1, seed: 0 });
  rmSync(datasetDir, { recursive: true, force: true });
  await saveDataset(datasetDir, { train: split.train, eval: split.eval });
  return {
    clips: kept.length, droppedByCap: clips.length - kept.length, train: split.train.length, validation: split.eval.length,
    trainSeconds: split.train.reduce((a, r) => a + r.duration, 0), speaker: 0,
  };
}

/** Runs the whole measurement (see the file comment). */
export async function evalVoiceChange(options: VoiceChangeOptions): Promise<VoiceChangeResult> {
  const t0 = Date.now();
  const log = options.log ?? ((m: string) => console.log(m));
  const modelName = options.model ?? 'mini';
  const speakerModel = options.speakerModel ?? MINI_SPEAKER_DIR;
  const talkDir = options.talkDir ?? SAMPLE_TALK_DIR;
  const maxClips = options.maxClips ?? 50;
  const maxClipSeconds = options.maxClipSeconds ?? 10;
  const seed = options.seed ?? 0;
  if (typeof options.outDir !== 'string' || options.outDir === '') throw new Error(`outDir must be a folder path, got ${JSON.stringify(options.outDir)}`);
  if (!Array.isArray(options.sentences) || options.sentences.length === 0 || options.sentences.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new Error(`sentences must be a non-empty array of non-empty strings, got ${JSON.stringify(options.sentences)?.slice(0, 200)}`);
  }
  if (!Number.isSafeInteger(maxClips) || maxClips < 2 || maxClips > 50) throw new Error(`maxClips must be an integer in [2, 50] (acceptance 3 allows at most 50 clips), got ${maxClips}`);
  if (!(maxClipSeconds >= 1 && maxClipSeconds <= 30)) throw new Error(`maxClipSeconds must be in [1, 30], got ${maxClipSeconds}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be an integer >= 0, got ${seed}`);
  if (options.maxNewFrames !== undefined && !(Number.isSafeInteger(options.maxNewFrames) && options.maxNewFrames >= 1)) {
    throw new Error(`maxNewFrames must be an integer >= 1, got ${options.maxNewFrames}`);
  }
  const pitchOptions = options.pitch ?? {};
  try {
    resolvePitchOptions(REFERENCE_RATE, pitchOptions);
  } catch (e) {
    if (e instanceof PitchError) throw new Error(`pitch: ${e.message}`);
    throw e;
  }
  // Validated now, so a bad flag fails before minutes of work (the preset is merged in later).
  validateTrainConfig(options.train ?? {}, 'train');
  const flite = options.flite ?? (existsSync('/usr/bin/flite') ? '/usr/bin/flite' : 'flite');
  const outDir = resolve(options.outDir);
  const dirs = { wav: join(outDir, 'wav'), work: join(outDir, 'work'), train: join(outDir, 'train') };
  for (const sub of ['reference', 'base', 'finetuned']) mkdirSync(join(dirs.wav, sub), { recursive: true });
  // A previous run's adapter or checkpoints must not be resumed or mistaken for this one's.
  rmSync(dirs.train, { recursive: true, force: true });
  const sentences = options.sentences.map((s) => s.trim());
  const N = sentences.length;

  // 1. Training data, through the notebooks' path.
  let t = Date.now();
  log(`[1/5] training clips from ${relative(process.cwd(), talkDir) || talkDir} (<= ${maxClips} clips of <= ${maxClipSeconds} s)`);
  const data = await buildTalkDataset(talkDir, join(dirs.work, 'dataset'), maxClips, maxClipSeconds, log);
  log(`      ${data.clips} clips (${data.train} train, ${data.validation} validation, ${data.trainSeconds.toFixed(1)} s of training audio)${data.droppedByCap ? `; ${data.droppedByCap} more left out by the cap` : ''}`);
  const tts: NotebookTtsModel = await loadTtsModel(modelName);
  let encoder: WavLMForXVector | null = null;
  try {
    if (tts.warning) log(`WARNING: ${tts.warning}`);
    encoder = await WavLMForXVector.fromPretrained(speakerModel);
    const embed = (samples: Float32Array, rate: number) => encoder!.speakerEmbedding(rate === ENCODER_RATE ? samples : resample(samples, rate, ENCODER_RATE));
    const training = await ttsTrainingData(tts, { dataset: join(dirs.work, 'dataset'), cacheDir: join(dirs.work, 'codes') }, { progress: 'none', onNotice: (m) => log(`      ${m}`) });
    const dataSeconds = seconds(t);

    // 2. References: flite slt, rendered now.
    t = Date.now();
    log(`[2/5] ${N} ${REFERENCE_VOICE} references with ${flite}`);
    const refs: { samples: Float32Array; path: string }[] = [];
    for (let i = 0; i < N; i++) {
      const path = join('wav', 'reference', `${String(i).padStart(3, '0')}.wav`);
      const samples = await fliteSpeak(flite, REFERENCE_VOICE, sentences[i]!, join(outDir, path));
      await writeWav(join(outDir, path), samples, REFERENCE_RATE);
      refs.push({ samples, path });
    }
    const refEmbeddings = refs.map((r) => embed(r.samples, REFERENCE_RATE));
    const centroid = meanEmbedding(refEmbeddings);
    const referencesSeconds = seconds(t);

    // 3-5. Generation with the same seeds, base first, then the adapter trained here.
    const sampling = options.sampling ?? tts.defaultSampling ?? WORKSHOP_TTS_SAMPLING;
    const speaker = data.speaker;
    const generateAll = async (system: 'base' | 'finetuned'): Promise<{ clips: GeneratedClip[]; audio: (Float32Array | null)[]; seconds: number }> => {
      const tg = Date.now();
      const clips: GeneratedClip[] = [];
      const audio: (Float32Array | null)[] = [];
      for (let i = 0; i < N; i++) {
        const out = await generateWithStatus(tts, { text: sentences[i]!, speaker, sampling, seed: seed + i, maxNewFrames: options.maxNewFrames });
        if (out.codes.length === 0) {
          log(`      ${system} sentence ${i}: 0 frames generated (left out of the means)`);
          clips.push({ path: null, frames: 0, seconds: 0, truncated: false, similarity: null, pairwiseSimilarity: null, medianF0Hz: null });
          audio.push(null);
          continue;
        }
        const samples = await tts.codec.decode(out.codes);
        const path = join('wav', system, `${String(i).padStart(3, '0')}.wav`);
        await writeWav(join(outDir, path), samples, tts.codec.sampleRate);
        const e = embed(samples, tts.codec.sampleRate);
        const f0 = pooledF0([{ samples, sampleRate: tts.codec.sampleRate }], pitchOptions).medianHz;
        clips.push({
          path, frames: out.codes.length, seconds: samples.length / tts.codec.sampleRate, truncated: out.stopped === null ? null : !out.stopped,
          similarity: cosineSimilarity(e, centroid), pairwiseSimilarity: cosineSimilarity(e, refEmbeddings[i]!), medianF0Hz: f0,
        });
        audio.push(samples);
        log(`      ${system} ${i + 1}/${N}: ${out.codes.length} frames${out.stopped === false ? ' (budget hit)' : ''}, SIM ${clips[i]!.similarity!.toFixed(3)}, F0 ${f0 === null ? '-' : f0.toFixed(0)} Hz, ${seconds(tg).toFixed(0)} s`);
      }
      return { clips, audio, seconds: seconds(tg) };
    };
    const summarize = (g: Awaited<ReturnType<typeof generateAll>>): SystemSummary => {
      const ok = g.clips.filter((c) => c.path !== null);
      return {
        meanSimilarity: ok.length ? mean(ok.map((c) => c.similarity!)) : null,
        meanPairwiseSimilarity: ok.length ? mean(ok.map((c) => c.pairwiseSimilarity!)) : null,
        f0: pooledF0(g.audio.flatMap((a) => (a ? [{ samples: a, sampleRate: tts.codec.sampleRate }] : [])), pitchOptions),
        emptyClips: g.clips.length - ok.length,
        truncatedClips: ok.filter((c) => c.truncated).length,
        meanSeconds: ok.length ? mean(ok.map((c) => c.seconds)) : 0,
        generateSeconds: g.seconds,
      };
    };

    tts.unloadAdapter();
    log(`[3/5] base model: ${N} sentences, speaker ${speaker}, seeds ${seed}..${seed + N - 1}`);
    const base = await generateAll('base');

    t = Date.now();
    const config = ttsTrainConfig(tts, { ...options.train, outputDir: dirs.train, livePlot: false }, 'train');
    log(`[4/5] LoRA training: ${training.train.length} clips, ${config.maxSteps} steps, r ${config.loraR}, alpha ${config.loraAlpha}, lr ${config.learningRate}, batch ${config.batchSize} x ${config.gradientAccumulationSteps}`);
    const trained = await trainTts(tts, training, config, {
      progress: 'none',
      log: (m) => log(`      ${m}`),
      onStep: (s) => {
        if (s.step === 1 || s.step % Math.max(1, Math.round(config.maxSteps / 10)) === 0 || s.step === config.maxSteps) {
          log(`      step ${s.step}/${config.maxSteps}  loss ${s.loss.toFixed(4)}${s.eval_loss !== undefined ? `  eval_loss ${s.eval_loss.toFixed(4)}` : ''}  ${seconds(t).toFixed(0)} s`);
        }
      },
    });
    const trainSeconds = seconds(t);
    const history = trained.history;
    const evalLosses = history.filter((h) => h.eval_loss !== undefined);

    // The saved adapter, loaded back: what notebook 06 and users get.
    tts.unloadAdapter();
    await tts.loadAdapter(trained.adapterDir);
    log(`[5/5] fine-tuned model (adapter ${relative(outDir, trained.adapterDir)}): the same ${N} sentences and seeds`);
    const tuned = await generateAll('finetuned');
    tts.unloadAdapter();

    // Measures.
    const refF0 = pooledF0(refs.map((r) => ({ samples: r.samples, sampleRate: REFERENCE_RATE })), pitchOptions);
    const refSelf = mean(refEmbeddings.map((e) => cosineSimilarity(e, centroid)));
    const baseSummary = summarize(base);
    const tunedSummary = summarize(tuned);
    const gain = baseSummary.meanSimilarity !== null && tunedSummary.meanSimilarity !== null ? tunedSummary.meanSimilarity - baseSummary.meanSimilarity : null;
    const relErr = (s: SystemSummary) => (s.f0.medianHz !== null && refF0.medianHz !== null ? Math.abs(s.f0.medianHz - refF0.medianHz) / refF0.medianHz : null);
    const f0Err = relErr(tunedSummary);
    const acceptance = {
      similarityGain: { value: gain, required: MIN_SIMILARITY_GAIN, pass: gain !== null && gain >= MIN_SIMILARITY_GAIN },
      f0RelativeError: { value: f0Err, base: relErr(baseSummary), required: MAX_F0_RELATIVE_ERROR, pass: f0Err !== null && f0Err <= MAX_F0_RELATIVE_ERROR },
      pass: false,
    };
    acceptance.pass = acceptance.similarityGain.pass && acceptance.f0RelativeError.pass;
    const result: VoiceChangeResult = {
      model: tts.name, warning: tts.warning, speakerModel: relative(PROJECT_ROOT, resolve(speakerModel)).startsWith('..') ? speakerModel : relative(PROJECT_ROOT, resolve(speakerModel)),
      backend: tf.getBackend(), createdAt: new Date().toISOString(),
      similarityMethod: 'cosine of the speaker encoder x-vector of each generated clip to the centroid of the slt references\' x-vectors (each L2-normalised, averaged); mean over the non-empty clips. pairwise: to the reference of the same sentence',
      sentences: N, seed, speaker, sampling,
      data: {
        talkDir: relative(PROJECT_ROOT, talkDir), maxClipSeconds, clips: data.clips, trainClips: data.train, validationClips: data.validation,
        trainSeconds: data.trainSeconds, droppedByCap: data.droppedByCap,
      },
      training: {
        config: {
          loraR: config.loraR, loraAlpha: config.loraAlpha, useRslora: config.useRslora, learningRate: config.learningRate, maxSteps: config.maxSteps,
          batchSize: config.batchSize, gradientAccumulationSteps: config.gradientAccumulationSteps, optimizer: config.optimizer, schedule: config.schedule,
          warmupSteps: config.warmupSteps, targetModules: config.targetModules,
        },
        steps: trained.steps, firstLoss: history[0]?.loss ?? Number.NaN, lastLoss: history[history.length - 1]?.loss ?? Number.NaN,
        lastEvalLoss: evalLosses.length ? evalLosses[evalLosses.length - 1]!.eval_loss! : null,
        trainableParams: trained.memory.trainableParams, adapterDir: relative(outDir, trained.adapterDir), seconds: trainSeconds,
      },
      reference: { f0: refF0, meanSeconds: mean(refs.map((r) => r.samples.length / REFERENCE_RATE)), selfSimilarity: refSelf },
      base: baseSummary, finetuned: tunedSummary, acceptance,
      clips: sentences.map((text, i) => ({
        text, seed: seed + i,
        reference: { path: refs[i]!.path, seconds: refs[i]!.samples.length / REFERENCE_RATE, medianF0Hz: refF0.perClipHz[i]! },
        base: base.clips[i]!, finetuned: tuned.clips[i]!,
      })),
      timings: {
        dataSeconds, referencesSeconds, baseSeconds: base.seconds, trainSeconds, finetunedSeconds: tuned.seconds, totalSeconds: seconds(t0),
      },
      table: '',
    };
    result.table = voiceChangeTable(result);
    await writeFileAtomic(join(outDir, 'voice_change.json'), JSON.stringify(result, null, 1) + '\n');
    log(result.table);
    log(`written: ${join(outDir, 'voice_change.json')} and wav/{reference,base,finetuned}/`);
    return result;
  } finally {
    encoder?.dispose();
    tts.dispose();
  }
}

const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** The printed summary: one row per system, then the acceptance lines. */
export function voiceChangeTable(r: VoiceChangeResult): string {
  const rows = [
    ['system', 'clips', 'SIM (centroid)', 'SIM (pairwise)', 'median F0 Hz', 'voiced frames', 'mean s', 'truncated'],
    ['slt reference', String(r.sentences), fmt(r.reference.selfSimilarity), '1', fmt(r.reference.f0.medianHz, 1), `${r.reference.f0.voicedFrames}/${r.reference.f0.frames}`, fmt(r.reference.meanSeconds, 2), '-'],
    ...(['base', 'finetuned'] as const).map((k) => {
      const s = r[k];
      return [k === 'base' ? 'base' : 'fine-tuned (LoRA)', `${r.sentences - s.emptyClips}`, fmt(s.meanSimilarity), fmt(s.meanPairwiseSimilarity), fmt(s.f0.medianHz, 1),
        `${s.f0.voicedFrames}/${s.f0.frames}`, fmt(s.meanSeconds, 2), String(s.truncatedClips)];
    }),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ');
  const a = r.acceptance;
  return [
    `voice change: ${r.model}, ${r.sentences} held-out sentences, speaker ${r.speaker}, ${r.training.steps} LoRA steps on ${r.data.trainClips} clips (${r.backend})`,
    ...(r.warning ? [`WARNING: ${r.warning}`] : []),
    line(rows[0]!), ...rows.slice(1).map(line),
    `SIM gain (fine-tuned - base): ${fmt(a.similarityGain.value)} (need >= ${a.similarityGain.required}): ${a.similarityGain.pass ? 'PASS' : 'FAIL'}`,
    `F0 |fine-tuned - slt| / slt: ${fmt(a.f0RelativeError.value)} (base ${fmt(a.f0RelativeError.base)}; need <= ${a.f0RelativeError.required}): ${a.f0RelativeError.pass ? 'PASS' : 'FAIL'}`,
    `acceptance 3: ${a.pass ? 'PASS' : 'FAIL'}; time ${r.timings.totalSeconds.toFixed(0)} s (data ${r.timings.dataSeconds.toFixed(0)}, references ${r.timings.referencesSeconds.toFixed(0)}, base ${r.timings.baseSeconds.toFixed(0)}, training ${r.timings.trainSeconds.toFixed(0)}, fine-tuned ${r.timings.finetunedSeconds.toFixed(0)})`,
  ].join('\n');
}

// -- command line ------------------------------------------------------------------------------

export const BACKENDS = ['cpu', 'wasm', 'tensorflow', 'webgpu', 'auto'] as const;

export function num(flag: string, raw: string | undefined, check: (x: number) => boolean, what: string): number | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(v) || !check(v)) throw new Error(`--${flag} must be ${what}, got ${JSON.stringify(raw)}`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'mini' }, out: { type: 'string', default: join('runs', 'voice_change') },
      n: { type: 'string', default: '20' }, sentences: { type: 'string' },
      steps: { type: 'string' }, lr: { type: 'string' }, r: { type: 'string' }, alpha: { type: 'string' },
      'batch-size': { type: 'string' }, 'grad-accum': { type: 'string' },
      'max-clips': { type: 'string', default: '50' }, 'max-clip-seconds': { type: 'string', default: '10' },
      seed: { type: 'string', default: '0' }, 'max-new-frames': { type: 'string' },
      'speaker-model': { type: 'string' }, backend: { type: 'string', default: 'auto' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(readFileSync(__filename, 'utf8').split('*/')[0]);
    return 0;
  }
  const isInt = (x: number) => Number.isSafeInteger(x) && x >= 1;
  const n = num('n', values.n, isInt, 'an integer >= 1')!;
  const train: Partial<TrainConfig> = {};
  const steps = num('steps', values.steps, isInt, 'an integer >= 1');
  const lr = num('lr', values.lr, (x) => x > 0, 'a number > 0');
  const r = num('r', values.r, isInt, 'an integer >= 1');
  const alpha = num('alpha', values.alpha, (x) => x > 0, 'a number > 0');
  const batch = num('batch-size', values['batch-size'], isInt, 'an integer >= 1');
  const accum = num('grad-accum', values['grad-accum'], isInt, 'an integer >= 1');
  if (steps !== undefined) train.maxSteps = steps;
  if (lr !== undefined) train.learningRate = lr;
  if (r !== undefined) train.loraR = r;
  if (alpha !== undefined) train.loraAlpha = alpha;
  if (batch !== undefined) train.batchSize = batch;
  if (accum !== undefined) train.gradientAccumulationSteps = accum;
  if (steps !== undefined && steps <= 3 && train.warmupSteps === undefined) train.warmupSteps = 0;
  const backend = values.backend as (typeof BACKENDS)[number];
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(values.backend)}`);
  const runtime = await initRuntime({ backend: backend as BackendRequest });
  console.log(`tensor backend: ${runtime.backend}`);
  const sentences = values.sentences ? readSentences(values.sentences).slice(0, n) : corpusEvalSentences(n);
  const result = await evalVoiceChange({
    model: values.model, outDir: values.out!, sentences, train,
    maxClips: num('max-clips', values['max-clips'], isInt, 'an integer >= 1'),
    maxClipSeconds: num('max-clip-seconds', values['max-clip-seconds'], (x) => x > 0, 'a number of seconds > 0'),
    seed: num('seed', values.seed, (x) => Number.isSafeInteger(x) && x >= 0, 'an integer >= 0'),
    maxNewFrames: num('max-new-frames', values['max-new-frames'], isInt, 'an integer >= 1'),
    speakerModel: values['speaker-model'],
  });
  return result.acceptance.pass ? 0 : 4;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    tf.disposeVariables();
    process.exit(code);
  }, (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
