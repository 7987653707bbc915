/**
 * The evaluation report (issue 13): for held-out texts, one row per system (base,
 * fine-tuned, fine-tuned + context, each with and without search) with
 *  - WER: mean per-utterance word error rate of the output against its text (ASR verifier),
 *  - speaker similarity of the output to the target speaker (speaker verifier),
 *  - duration ratio: output seconds / the speaker's own recording of the text,
 *  - real-time factor: seconds of compute (generation, search and its verifiers) per
 *    second of speech delivered,
 * and the compute each system spent. Written atomically as `report.json` + `report.md`
 * (and a WAV per output) under `<run folder>/<name>/`; `showEvaluationReport` draws the
 * table in a notebook.
 *
 * Searched systems are scored by the verifiers they searched with unless `evalVerifiers`
 * gives others: the report says so, because a system chosen by a verifier looks better to
 * that verifier than to an independent one.
 */
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../audio/files';
import { encodeWav } from '../audio/wav';
import type { ContextTurn, TtsSampling } from '../models/types';
import { audioBundle } from '../notebook/audio';
import { display, escapeHtml } from '../notebook/display';
import { ProgressBar, type ProgressOptions } from '../notebook/progress';
import { tableBundle, type Row } from '../notebook/table';
import { runFolder, type EvalAudio, type Metric, type Verifier } from './listening';
import {
  EmptyGenerationError, describeSearch, searchSpeech, validateSearchConfig,
  type SearchCompute, type SearchConfig, type SearchModel, type SearchResult,
} from './search';

/** A held-out text to speak. */
export interface EvalItem {
  text: string;
  /** Speaker id the text is attributed to. */
  speaker: number;
  /** The target speaker's own recording of `text` (the duration ratio's denominator; the default similarity target). */
  reference?: EvalAudio;
  /** The clip speaker similarity compares with, when it is not `reference` (a text with no recording). Default: options.target, else `reference`. */
  target?: EvalAudio;
  /** Earlier turns (codes + text) for systems that clone with a context. */
  context?: ContextTurn[];
}

/** A system of the report: a model, with or without a cloning context, with a search strategy. */
export interface ReportSystem {
  /** Stable id (file names, JSON), e.g. "finetuned+context+search". */
  id: string;
  label: string;
  model: SearchModel;
  /** Pass each item's `context` (voice cloning) or speak zero-shot. */
  withContext: boolean;
  /** `{ strategy: 'plain' }` for no search. */
  search: SearchConfig;
  /** Runs before this system's items (e.g. attaching an adapter) ... */
  before?: () => Promise<void> | void;
  /** ... and after them, also when they fail (detaching it). */
  after?: () => Promise<void> | void;
}

/** The two verifier roles. */
export interface RoleVerifiers {
  /** WER against the text (lower is better). */
  asr?: Verifier;
  /** Similarity to the target speaker (higher is better). */
  speaker?: Verifier;
}

export interface EvaluationOptions {
  sampling: TtsSampling;
  /** Item i is generated with seed + i by every system (best-of-N's candidate 0 is then the plain system's output). */
  seed: number;
  /** Frames per output at most (default: the family's estimate from the text). */
  maxNewFrames?: number;
  /** What the searches score with. */
  searchVerifiers?: RoleVerifiers;
  /** What measures every output for the table (default: `searchVerifiers`). */
  evalVerifiers?: RoleVerifiers;
  /** The target speaker's clip for similarity of items without their own `target` (default: each item's `reference`). */
  target?: EvalAudio;
  /** Shown in the report: the model's name, and a warning (random weights) when there is one. */
  model?: string;
  warning?: string | null;
  /** Run folder (default `$TTSLAB_RUN_DIR`, else `<work>/runs/<timestamp>`) and sub-folder (default "evaluation"). */
  runDir?: string;
  name?: string;
  progress?: ProgressOptions['mode'];
  /** Where notices go (an output left out); default console.warn. */
  onNotice?: (message: string) => void;
}

/** One output: an item through a system. */
export interface ReportRow {
  item: number;
  text: string;
  system: string;
  seed: number;
  /** Absent when that verifier was not given, or the output failed. */
  wer?: number;
  similarity?: number;
  durationSeconds?: number;
  /** The reference recording's seconds, when the item has one. */
  referenceSeconds?: number;
  durationRatio?: number;
  /** Seconds of compute per second of this output. */
  realTimeFactor?: number;
  compute?: SearchCompute;
  /** WAV of the output, relative to the report's folder. */
  wav?: string;
  /** Why there is no output (the model ended every candidate at once). */
  error?: string;
}

/** Compute a system spent over all items (sums). */
export interface ComputeTotals {
  candidates: number;
  generationCalls: number;
  framesGenerated: number;
  framesDecoded: number;
  verifierCalls: { asr: number; speaker: number };
  wallSeconds: number;
  /** Seconds of speech delivered (the chosen outputs). */
  audioSeconds: number;
}

export interface SystemSummary {
  id: string;
  label: string;
  /** e.g. "plain sampling", "best-of-8", "beam B4 x2, K 10, max 125 frames". */
  search: string;
  /** Outputs made / items; `failed` had none. */
  outputs: number;
  failed: number;
  /** Means over the outputs (absent without the verifier or the references). */
  wer?: number;
  similarity?: number;
  durationRatio?: number;
  /** Total wall seconds / total seconds of speech. */
  realTimeFactor?: number;
  compute: ComputeTotals;
}

export interface EvaluationReport {
  version: 1;
  createdAt: string;
  model: string | null;
  warning: string | null;
  items: number;
  seed: number;
  sampling: TtsSampling;
  maxNewFrames: number | null;
  /** Metric names the verifiers gave ("WER", "speaker similarity", "spectral similarity"...), null where none ran. */
  metrics: { wer: string | null; similarity: string | null };
  /** True when a searched system was measured by a verifier it searched with (its numbers are optimistic). */
  measuredBySearchVerifiers: boolean;
  systems: SystemSummary[];
  rows: ReportRow[];
}

/** The report plus where it was written. */
export interface WrittenReport extends EvaluationReport {
  dir: string;
  jsonPath: string;
  markdownPath: string;
}

const mean = (xs: number[]): number | undefined => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

/** A file-name-safe form of a system id ("finetuned+context+search" stays readable). */
function slug(id: string): string {
  return id.replace(/[^A-Za-z0-9._+-]+/g, '_');
}

function validateSystems(systems: readonly ReportSystem[]): void {
  if (systems.length === 0) throw new Error('evaluation: no systems');
  const ids = new Set<string>();
  for (const s of systems) {
    if (!s.id || ids.has(slug(s.id))) throw new Error(`evaluation: system id ${JSON.stringify(s.id)} is empty or collides with another as a file name`);
    ids.add(slug(s.id));
    validateSearchConfig(s.search);
  }
}

function checkMetric(m: Metric, role: string, where: string): Metric {
  if (!m || typeof m.name !== 'string' || !Number.isFinite(m.value)) throw new Error(`${where}: the ${role} verifier returned ${JSON.stringify(m)}; expected {name: string, value: finite number}`);
  return m;
}

function addCompute(total: ComputeTotals, c: SearchCompute): void {
  total.candidates += c.candidates;
  total.generationCalls += c.generationCalls;
  total.framesGenerated += c.framesGenerated;
  total.framesDecoded += c.framesDecoded;
  total.verifierCalls.asr += c.verifierCalls.asr;
  total.verifierCalls.speaker += c.verifierCalls.speaker;
  total.wallSeconds += c.wallSeconds;
  total.audioSeconds += c.audioSeconds;
}

/**
 * Runs every item through every system (system by system, so `before`/`after` run once
 * each), measures each output with the evaluation verifiers, writes the WAVs,
 * `report.json` and `report.md`, and returns the report. An output whose search found no
 * frames at all is recorded as failed (with a notice), not dropped; any other error stops.
 */
export async function evaluateSystems(items: readonly EvalItem[], systems: readonly ReportSystem[], options: EvaluationOptions): Promise<WrittenReport> {
  if (items.length === 0) throw new Error('evaluation: no items');
  validateSystems(systems);
  if (!Number.isInteger(options.seed)) throw new Error(`evaluation: seed must be an integer, got ${JSON.stringify(options.seed)}`);
  const search = options.searchVerifiers ?? {};
  const evalV = options.evalVerifiers ?? search;
  const notice = options.onNotice ?? ((m: string) => console.warn(m));
  items.forEach((it, i) => {
    if (typeof it.text !== 'string' || it.text.trim() === '') throw new Error(`evaluation item ${i}: text must be a non-empty string, got ${JSON.stringify(it.text)}`);
    if ((search.speaker || evalV.speaker) && !it.target && !options.target && !it.reference) {
      throw new Error(`evaluation item ${i} ("${it.text}"): speaker similarity needs a target clip: give the item's target or reference, or options.target`);
    }
    if (systems.some((s) => s.withContext) && !it.context?.length) throw new Error(`evaluation item ${i} ("${it.text}"): a system clones with a context but the item has no context turns`);
  });
  const dir = join(runFolder(options.runDir), options.name ?? 'evaluation');
  const digits = Math.max(2, String(items.length - 1).length);
  const metrics: EvaluationReport['metrics'] = { wer: null, similarity: null };
  let measuredBySearch = false;
  const rows: ReportRow[] = [];
  const summaries: SystemSummary[] = [];
  const bar = new ProgressBar({ label: `evaluating ${items.length} texts x ${systems.length} systems`, total: items.length * systems.length, unit: 'outputs', mode: options.progress });
  try {
    for (const system of systems) {
      const total: ComputeTotals = { candidates: 0, generationCalls: 0, framesGenerated: 0, framesDecoded: 0, verifierCalls: { asr: 0, speaker: 0 }, wallSeconds: 0, audioSeconds: 0 };
      const sysRows: ReportRow[] = [];
      await system.before?.();
      try {
        for (const [i, item] of items.entries()) {
          const target = item.target ?? options.target ?? item.reference;
          const seed = options.seed + i;
          const row: ReportRow = { item: i, text: item.text, system: system.id, seed };
          if (item.reference) row.referenceSeconds = item.reference.samples.length / item.reference.sampleRate;
          let result: SearchResult;
          try {
            // Plain sampling needs no verifier: the evaluation verifiers below measure it, outside its compute.
            result = await searchSpeech(system.model, {
              text: item.text, speaker: item.speaker, context: system.withContext ? item.context : undefined,
              sampling: options.sampling, seed, maxNewFrames: options.maxNewFrames,
            }, system.search, system.search.strategy === 'plain' ? {} : { ...search, reference: target });
          } catch (e) {
            if (!(e instanceof EmptyGenerationError)) throw e;
            row.error = e.message;
            notice(`item ${i}, system ${system.id}: ${e.message}; left out of the means`);
            sysRows.push(row);
            bar.tick(1);
            continue;
          }
          addCompute(total, result.compute);
          row.compute = result.compute;
          row.durationSeconds = result.compute.audioSeconds;
          row.realTimeFactor = result.compute.realTimeFactor;
          if (row.referenceSeconds) row.durationRatio = row.durationSeconds / row.referenceSeconds;
          // A measure the search already took with the same verifier is reused, not recomputed
          // (only searched systems have any: plain sampling ran without verifiers).
          const where = `item ${i}, system ${system.id}`;
          if (evalV.asr) {
            const reuse = evalV.asr === search.asr && result.measures.wer !== undefined;
            if (reuse) measuredBySearch = true;
            const m = reuse ? { name: result.metricNames.asr!, value: result.measures.wer! } : checkMetric(await evalV.asr(result.audio, item.text, target), 'ASR', where);
            metrics.wer ??= m.name;
            row.wer = m.value;
          }
          if (evalV.speaker) {
            const reuse = evalV.speaker === search.speaker && result.measures.similarity !== undefined;
            if (reuse) measuredBySearch = true;
            const m = reuse ? { name: result.metricNames.speaker!, value: result.measures.similarity! } : checkMetric(await evalV.speaker(result.audio, item.text, target), 'speaker', where);
            metrics.similarity ??= m.name;
            row.similarity = m.value;
          }
          const wavPath = join(dir, `p${String(i).padStart(digits, '0')}_${slug(system.id)}.wav`);
          await writeFileAtomic(wavPath, encodeWav({ sampleRate: result.audio.sampleRate, channels: [result.audio.samples] }).bytes);
          row.wav = relative(dir, wavPath);
          sysRows.push(row);
          bar.tick(1, `${system.label}, text ${i + 1}`);
        }
      } finally {
        await system.after?.();
      }
      const ok = sysRows.filter((r) => r.error === undefined);
      summaries.push({
        id: system.id, label: system.label, search: describeSearch(system.search), outputs: ok.length, failed: sysRows.length - ok.length,
        wer: mean(ok.flatMap((r) => (r.wer === undefined ? [] : [r.wer]))),
        similarity: mean(ok.flatMap((r) => (r.similarity === undefined ? [] : [r.similarity]))),
        durationRatio: mean(ok.flatMap((r) => (r.durationRatio === undefined ? [] : [r.durationRatio]))),
        realTimeFactor: total.audioSeconds > 0 ? total.wallSeconds / total.audioSeconds : undefined,
        compute: total,
      });
      rows.push(...sysRows);
    }
    bar.finish();
  } catch (e) {
    bar.finish(`failed: ${(e as Error).message}`);
    throw e;
  }
  const report: EvaluationReport = {
    version: 1, createdAt: new Date().toISOString(), model: options.model ?? null, warning: options.warning ?? null, items: items.length,
    seed: options.seed, sampling: options.sampling, maxNewFrames: options.maxNewFrames ?? null, metrics, measuredBySearchVerifiers: measuredBySearch,
    systems: summaries, rows,
  };
  const jsonPath = join(dir, 'report.json');
  const markdownPath = join(dir, 'report.md');
  await writeFileAtomic(jsonPath, JSON.stringify(report, null, 2) + '\n');
  await writeFileAtomic(markdownPath, reportMarkdown(report));
  return { ...report, dir, jsonPath, markdownPath };
}

// -- the standard systems -----------------------------------------------------------------

/** A model whose LoRA adapter can be attached and removed (CsmTts; LlasaTts has the same methods). */
export type AdapterSwitchableModel = SearchModel & { loadAdapter(dir: string): Promise<void>; unloadAdapter(): void };

/**
 * The report's systems: base, fine-tuned (the adapter in `adapterDir`) and fine-tuned +
 * context, each with plain sampling and, unless `search` is null, with `search` too (six
 * systems; three without search). The fine-tuned systems attach the adapter before their
 * items and remove it after, so `tts` is left as found (without an adapter).
 * `adapterDir` null: only the base systems.
 */
export function baseAndFinetunedSystems(tts: AdapterSwitchableModel, adapterDir: string | null, search: SearchConfig | null): ReportSystem[] {
  if (search) validateSearchConfig(search);
  const base = async () => tts.unloadAdapter();
  const tuned = async () => tts.loadAdapter(adapterDir!);
  const untune = () => tts.unloadAdapter();
  const both = (id: string, label: string, withContext: boolean, before: () => Promise<void>, after?: () => void): ReportSystem[] => [
    { id, label, model: tts, withContext, search: { strategy: 'plain' }, before, after },
    ...(search ? [{ id: `${id}+search`, label: `${label} + search`, model: tts, withContext, search, before, after }] : []),
  ];
  return [
    ...both('base', 'base zero-shot', false, base),
    ...(adapterDir === null ? [] : [
      ...both('finetuned', 'fine-tuned zero-shot', false, tuned, untune),
      ...both('finetuned+context', 'fine-tuned + context', true, tuned, untune),
    ]),
  ];
}

// -- showing it ---------------------------------------------------------------------------

const fmt = (v: number | undefined, digits: number): string => (v === undefined ? '–' : v.toFixed(digits));

/** The summary as table rows (one per system), for `showTable` or a DataFrame. */
export function reportTableRows(report: EvaluationReport): Row[] {
  return report.systems.map((s) => ({
    system: s.label,
    search: s.search,
    outputs: s.failed ? `${s.outputs} (${s.failed} failed)` : s.outputs,
    [`${report.metrics.wer ?? 'WER'} ↓`]: s.wer,
    [`${report.metrics.similarity ?? 'speaker similarity'} ↑`]: s.similarity,
    'duration ratio': s.durationRatio,
    RTF: s.realTimeFactor,
    candidates: s.compute.candidates,
    'frames generated': s.compute.framesGenerated,
    'verifier calls': s.compute.verifierCalls.asr + s.compute.verifierCalls.speaker,
    'wall s': Number(s.compute.wallSeconds.toFixed(2)),
  }));
}

function caveats(report: EvaluationReport): string[] {
  const out: string[] = [];
  if (report.warning) out.push(`WARNING: ${report.warning}`);
  if (!report.metrics.wer) out.push('No ASR verifier ran: the WER column is blank.');
  if (!report.metrics.similarity) out.push('No speaker verifier ran: the similarity column is blank.');
  if (report.measuredBySearchVerifiers) out.push('Searched systems are measured by the verifiers they searched with: their WER / similarity are optimistic; measure with independent verifiers (evalVerifiers) for a fair comparison.');
  return out;
}

/** The report as Markdown: a header, caveats, the summary table, and one table of outputs per item. */
export function reportMarkdown(report: EvaluationReport): string {
  const lines = [
    '# Evaluation report',
    '',
    `model: ${report.model ?? 'unnamed'} · ${report.items} held-out text${report.items === 1 ? '' : 's'} · seed ${report.seed} · max new frames ${report.maxNewFrames ?? 'the family\'s default'} · ${report.createdAt}`,
    '',
    ...caveats(report).map((c) => `> ${c}`),
    ...(caveats(report).length ? [''] : []),
    'WER: mean per-utterance word error rate (lower is better). Similarity: mean to the target speaker (higher is better). ' +
      'Duration ratio: output seconds / the speaker\'s recording of the text. RTF: wall seconds of generation, search and its verifiers per second of speech.',
    '',
  ];
  const rows = reportTableRows(report);
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v === undefined ? '–' : String(v).replace(/\|/g, '\\|'));
  lines.push(`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`);
  for (const r of rows) lines.push(`| ${cols.map((c) => cell(r[c])).join(' | ')} |`);
  lines.push('', '## Outputs', '');
  const items = [...new Set(report.rows.map((r) => r.item))].sort((a, b) => a - b);
  for (const i of items) {
    const its = report.rows.filter((r) => r.item === i);
    lines.push(`### ${i}. ${its[0]!.text.replace(/\n/g, ' ')}`, '', '| system | WER | similarity | seconds | ratio | RTF | wav |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of its) {
      lines.push(r.error
        ? `| ${r.system} | – | – | – | – | – | failed: ${r.error.replace(/\|/g, '\\|')} |`
        : `| ${r.system} | ${fmt(r.wer, 3)} | ${fmt(r.similarity, 3)} | ${fmt(r.durationSeconds, 2)} | ${fmt(r.durationRatio, 2)} | ${fmt(r.realTimeFactor, 2)} | ${r.wav} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Shows the summary table in a notebook, with its caveats and where the files are. */
export function showEvaluationReport(report: WrittenReport): void {
  const notes = caveats(report);
  if (notes.length) {
    display({ 'text/html': notes.map((n) => `<div style="color:#9a6700">${escapeHtml(n)}</div>`).join(''), 'text/plain': notes.join('\n') });
  }
  display(tableBundle(reportTableRows(report), { caption: `Evaluation: ${report.items} held-out text${report.items === 1 ? '' : 's'}, ${report.systems.length} systems`, digits: 3 }));
  display({ 'text/plain': `report: ${report.markdownPath}\n        ${report.jsonPath}` });
}

/** A search's compute as one table row. */
export function computeRow(c: SearchCompute): Row {
  return {
    candidates: c.candidates, 'generation calls': c.generationCalls, 'frames generated': c.framesGenerated, 'frames decoded': c.framesDecoded,
    'ASR calls': c.verifierCalls.asr, 'speaker calls': c.verifierCalls.speaker, 'wall s': c.wallSeconds, 'generate s': c.generateSeconds,
    'decode s': c.decodeSeconds, 'verify s': c.verifySeconds, 'audio s': c.audioSeconds, RTF: c.realTimeFactor,
  };
}

/**
 * Shows one search in a notebook: its candidates (best-of-N, plain) or rounds (beam search)
 * with their measures and which was chosen, the compute it spent, and the chosen audio.
 */
export function showSearchResult(result: SearchResult, options: { title?: string } = {}): void {
  const title = options.title ?? result.strategy;
  const wer = result.metricNames.asr ?? 'WER';
  const sim = result.metricNames.speaker ?? 'similarity';
  if (result.rounds) {
    display(tableBundle(result.rounds.map((r) => ({
      round: r.round, frames: r.frames, sequences: r.pool.length,
      kept: r.pool.filter((p) => p.kept).map((p) => `#${p.id} ${p.similarity.toFixed(3)}${p.finished ? ' (done)' : ''}`).join(', '),
      dropped: r.pool.filter((p) => !p.kept).map((p) => `#${p.id} ${p.similarity.toFixed(3)}`).join(', '),
    })), { caption: `${title}: rounds (${sim} of each partial sequence; kept = the best B)` }));
  }
  display(tableBundle(result.candidates.map((c, i) => ({
    chosen: i === result.best ? '✓' : '', sequence: result.rounds ? `#${c.index}` : c.index, seeds: c.seeds.join(' '), frames: c.codes.length,
    ended: c.stopped === null ? '' : c.stopped ? 'yes' : 'budget', [wer]: c.measures.wer, [sim]: c.measures.similarity, score: c.score,
  })), { caption: `${title}: ${result.rounds ? 'final beams' : 'candidates'} (score: weighted WER minus similarity, lower is better)`, digits: 3 }));
  display(tableBundle([computeRow(result.compute)], { caption: `${title}: compute spent`, digits: 3 }));
  display(audioBundle(result.audio, undefined, { title: `${title}: the chosen output (${result.codes.length} frames)` }));
}
