/**
 * The listening comparison (notebook 06): for each prompt, the reference clip and what each
 * system made of the text (base / fine-tuned, zero-shot / with a cloning context), with
 * objective measures where a verifier is given. Every clip is also written as a WAV in the
 * run folder with a `manifest.json`, so the comparison can be judged outside the notebook.
 * `src/eval/grid.ts` draws it.
 */
import { join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../audio/files';
import { encodeWav } from '../audio/wav';
import { workspace } from '../data/workspace';
import type { ContextTurn, TtsModel, TtsSampling } from '../models/types';
import { ProgressBar, type ProgressOptions } from '../notebook/progress';

/** Mono audio of one cell. */
export interface EvalAudio {
  samples: Float32Array;
  /** Hz. */
  sampleRate: number;
}

/** A column of the grid: a system's id (stable, used in file names and the manifest) and its header. */
export interface SystemColumn {
  id: string;
  label: string;
}

/** The workshop's comparison (REFERENCE.md: the best result is fine-tuned + cloning context). */
export const DEFAULT_SYSTEMS: readonly SystemColumn[] = [
  { id: 'reference', label: 'reference clip' },
  { id: 'base', label: 'base zero-shot' },
  { id: 'base+context', label: 'base + cloning context' },
  { id: 'finetuned', label: 'fine-tuned zero-shot' },
  { id: 'finetuned+context', label: 'fine-tuned + context' },
];

/** The measures the workshop reports; their columns show blank until a verifier fills them. */
export const DEFAULT_METRICS: readonly string[] = ['speaker similarity', 'WER'];

/** A measure of one clip. */
export interface Metric {
  /** e.g. "speaker similarity" (cosine, -1..1) or "WER" (word error rate, 0 = perfect). */
  name: string;
  value: number;
}

/**
 * Scores generated audio against the text it should say and, when the row has one, the
 * reference clip of the target speaker (speaker similarity needs it; WER does not).
 */
export type Verifier = (audio: EvalAudio, text: string, reference?: EvalAudio) => Promise<Metric>;

/** One prompt: the text, its speaker, and the audio each system produced (a missing system leaves its cell empty). */
export interface ListeningPrompt {
  text: string;
  /** Speaker id (dataset `source`). */
  speaker: number;
  /** System id -> audio. */
  audio: Partial<Record<string, EvalAudio>>;
}

export interface ListeningOptions {
  /** Columns in order (default `DEFAULT_SYSTEMS`). Audio under an id not listed is an error, not dropped. */
  systems?: readonly SystemColumn[];
  /** Run on every filled cell; their names become metric columns. */
  verifiers?: readonly Verifier[];
  /** Metric columns shown even without a verifier, blank (default `DEFAULT_METRICS`). */
  metricNames?: readonly string[];
  /** Which system's clip is the verifiers' reference (default "reference"). */
  referenceSystem?: string;
  /** Run folder (default `$TTSLAB_RUN_DIR`, else `<work>/runs/<timestamp>`). */
  runDir?: string;
  /** Sub-folder of the run folder for this comparison's files (default "listening"). */
  name?: string;
  /** WAV sample format (default pcm16: plays everywhere; float32 keeps samples exactly). */
  wavFormat?: 'pcm16' | 'float32';
}

/** A filled cell of the grid. */
export interface ListeningCell {
  system: string;
  audio: EvalAudio;
  durationSeconds: number;
  /** Absolute path of the WAV written for this cell. */
  wavPath: string;
  /** Samples outside [-1, 1] clipped in a pcm16 WAV (0 when none or float32). */
  clippedSamples: number;
  /** Metric name -> value, from the verifiers. */
  metrics: Record<string, number>;
}

export interface ListeningRow {
  index: number;
  text: string;
  speaker: number;
  /** System id -> cell; absent where the prompt had no audio for that system. */
  cells: Partial<Record<string, ListeningCell>>;
}

export interface ListeningComparison {
  /** Folder holding the WAVs and manifest.json. */
  dir: string;
  manifestPath: string;
  systems: SystemColumn[];
  /** Metric columns, in order: the default names, then any other a verifier returned. */
  metricNames: string[];
  rows: ListeningRow[];
}

/** One line of manifest.json per written clip. */
export interface ManifestEntry {
  prompt: number;
  text: string;
  system: string;
  systemLabel: string;
  speaker: number;
  /** Relative to the manifest's folder. */
  path: string;
  sampleRate: number;
  durationSeconds: number;
  metrics: Record<string, number>;
}

export interface ListeningManifest {
  version: 1;
  createdAt: string;
  systems: SystemColumn[];
  metricNames: string[];
  entries: ManifestEntry[];
}

/** The run folder: `runDir`, else `$TTSLAB_RUN_DIR` (set by `npm run workshop`), else `<work>/runs/<timestamp>`. */
export function runFolder(runDir?: string): string {
  if (runDir) return resolve(runDir);
  if (process.env.TTSLAB_RUN_DIR) return resolve(process.env.TTSLAB_RUN_DIR);
  return join(workspace('runs'), new Date().toISOString().replace(/[:.]/g, '-'));
}

/** A file-name-safe form of a system id ("base+context" stays readable). */
function slug(id: string): string {
  return id.replace(/[^A-Za-z0-9._+-]+/g, '_');
}

function checkAudio(audio: EvalAudio, where: string): void {
  if (!(audio?.samples instanceof Float32Array)) throw new Error(`${where}: samples must be a Float32Array, got ${typeof audio?.samples}`);
  if (!Number.isInteger(audio.sampleRate) || audio.sampleRate <= 0) throw new Error(`${where}: sampleRate must be a positive integer (Hz), got ${audio.sampleRate}`);
  if (audio.samples.length === 0) throw new Error(`${where}: no samples (an empty generation cannot be listened to; leave the cell out instead)`);
  for (let i = 0; i < audio.samples.length; i++) {
    if (!Number.isFinite(audio.samples[i]!)) throw new Error(`${where}: sample ${i} is ${audio.samples[i]} (not finite)`);
  }
}

/**
 * Runs the verifiers on every filled cell, writes each clip as `p<prompt>_<system>.wav` and
 * `manifest.json` (atomically) under `<runDir>/<name>/`, and returns what the grid shows.
 */
export async function buildListeningComparison(prompts: readonly ListeningPrompt[], options: ListeningOptions = {}): Promise<ListeningComparison> {
  const systems = [...(options.systems ?? DEFAULT_SYSTEMS)];
  const ids = new Set<string>();
  for (const s of systems) {
    if (!s.id || ids.has(s.id)) throw new Error(`systems: id ${JSON.stringify(s.id)} is empty or listed twice`);
    ids.add(s.id);
  }
  const slugs = new Set(systems.map((s) => slug(s.id)));
  if (slugs.size !== systems.length) throw new Error(`systems: ids ${systems.map((s) => JSON.stringify(s.id)).join(', ')} collide as file names`);
  const refId = options.referenceSystem ?? 'reference';
  const dir = join(runFolder(options.runDir), options.name ?? 'listening');
  const metricNames = [...(options.metricNames ?? DEFAULT_METRICS)];
  const digits = Math.max(2, String(prompts.length - 1).length);

  const rows: ListeningRow[] = [];
  const entries: ManifestEntry[] = [];
  for (const [index, p] of prompts.entries()) {
    const at = `prompt ${index}`;
    if (typeof p.text !== 'string') throw new Error(`${at}: text must be a string, got ${typeof p.text}`);
    if (!Number.isInteger(p.speaker) || p.speaker < 0) throw new Error(`${at}: speaker must be an integer >= 0, got ${JSON.stringify(p.speaker)}`);
    for (const id of Object.keys(p.audio)) {
      if (!ids.has(id)) throw new Error(`${at}: audio for system ${JSON.stringify(id)}, which is not a column (${[...ids].join(', ')})`);
    }
    const reference = p.audio[refId];
    const row: ListeningRow = { index, text: p.text, speaker: p.speaker, cells: {} };
    for (const s of systems) {
      const audio = p.audio[s.id];
      if (!audio) continue;
      checkAudio(audio, `${at}, system ${s.id}`);
      const metrics: Record<string, number> = {};
      for (const verify of options.verifiers ?? []) {
        const m = await verify(audio, p.text, reference);
        if (!m || typeof m.name !== 'string' || !Number.isFinite(m.value)) {
          throw new Error(`${at}, system ${s.id}: a verifier returned ${JSON.stringify(m)}; expected {name: string, value: finite number}`);
        }
        metrics[m.name] = m.value;
        if (!metricNames.includes(m.name)) metricNames.push(m.name);
      }
      const wavPath = join(dir, `p${String(index).padStart(digits, '0')}_${slug(s.id)}.wav`);
      const { bytes, report } = encodeWav({ sampleRate: audio.sampleRate, channels: [audio.samples] }, { format: options.wavFormat ?? 'pcm16' });
      await writeFileAtomic(wavPath, bytes);
      const durationSeconds = audio.samples.length / audio.sampleRate;
      row.cells[s.id] = { system: s.id, audio, durationSeconds, wavPath, clippedSamples: report.clippedSamples, metrics };
      entries.push({
        prompt: index, text: p.text, system: s.id, systemLabel: s.label, speaker: p.speaker,
        path: relative(dir, wavPath), sampleRate: audio.sampleRate, durationSeconds, metrics,
      });
    }
    rows.push(row);
  }
  const manifest: ListeningManifest = { version: 1, createdAt: new Date().toISOString(), systems, metricNames, entries };
  const manifestPath = join(dir, 'manifest.json');
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return { dir, manifestPath, systems, metricNames, rows };
}

/** Mean of each metric per system over the prompts where it was measured (the grid's summary). */
export function metricMeans(comparison: ListeningComparison): { system: string; label: string; clips: number; means: Record<string, number | undefined> }[] {
  return comparison.systems.map((s) => {
    const cells = comparison.rows.map((r) => r.cells[s.id]).filter((c): c is ListeningCell => c !== undefined);
    const means: Record<string, number | undefined> = {};
    for (const name of comparison.metricNames) {
      const vals = cells.map((c) => c.metrics[name]).filter((v): v is number => v !== undefined);
      means[name] = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : undefined;
    }
    return { system: s.id, label: s.label, clips: cells.length, means };
  });
}

// -- generating the cells ------------------------------------------------------------------

/** A system of the comparison: which model, and whether it gets the prompt's cloning context. */
export interface ComparisonSystem {
  /** The grid column (its id keys the cell). */
  column: SystemColumn;
  /** Only the codec and generate are used. */
  model: Pick<TtsModel, 'codec' | 'generate'>;
  /** Pass the prompt's `context` turns (voice cloning) or generate zero-shot. */
  withContext: boolean;
}

/** What to say, and what the reference column and the cloning systems get. */
export interface ComparisonPrompt {
  text: string;
  speaker: number;
  /** The speaker's real recording of `text` (the reference column), when there is one. */
  reference?: EvalAudio;
  /** Earlier turns of the speaker (codes + text) for the `withContext` systems. */
  context?: ContextTurn[];
}

export interface GenerateComparisonOptions {
  sampling: TtsSampling;
  /** Prompt i is generated with seed + i by every system, so systems differ by model and context only. */
  seed: number;
  maxNewFrames?: number;
  /** The reference column's id (default "reference"). */
  referenceSystem?: string;
  /** Where notices go (an empty generation left out); default console.warn. */
  onNotice?: (message: string) => void;
  progress?: ProgressOptions['mode'];
}

/**
 * Generates every (prompt, system) cell with a progress bar and decodes it with the
 * system's codec; the result feeds `buildListeningComparison`. A generation of 0 frames
 * leaves its cell empty, with a notice naming it.
 */
export async function generateComparison(prompts: readonly ComparisonPrompt[], systems: readonly ComparisonSystem[], options: GenerateComparisonOptions): Promise<ListeningPrompt[]> {
  const refId = options.referenceSystem ?? 'reference';
  const notice = options.onNotice ?? ((m: string) => console.warn(m));
  const bar = new ProgressBar({ label: `generating ${prompts.length} prompts x ${systems.length} systems`, total: prompts.length * systems.length, mode: options.progress });
  const out: ListeningPrompt[] = [];
  try {
    for (const [i, p] of prompts.entries()) {
      const audio: Partial<Record<string, EvalAudio>> = {};
      if (p.reference) audio[refId] = p.reference;
      for (const s of systems) {
        if (s.withContext && !p.context?.length) throw new Error(`prompt ${i}: system ${s.column.id} clones a voice but the prompt has no context turns`);
        const codes = await s.model.generate({
          text: p.text, speaker: p.speaker, context: s.withContext ? p.context : undefined,
          sampling: options.sampling, seed: options.seed + i, maxNewFrames: options.maxNewFrames,
        });
        if (codes.length === 0) notice(`prompt ${i}, system ${s.column.id}: the model generated 0 frames; the cell is left empty`);
        else audio[s.column.id] = { samples: await s.model.codec.decode(codes), sampleRate: s.model.codec.sampleRate };
        bar.tick(1, `prompt ${i + 1}, ${s.column.label}`);
      }
      out.push({ text: p.text, speaker: p.speaker, audio });
    }
    bar.finish();
  } catch (e) {
    bar.finish(`failed: ${(e as Error).message}`);
    throw e;
  }
  return out;
}
