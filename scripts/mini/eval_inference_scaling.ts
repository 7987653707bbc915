/**
 * Issue 13, acceptance 3: with the mini family offline, does best-of-N with both verifiers
 * (mini Whisper's WER and the mini speaker encoder's similarity) lower the mean WER and raise
 * the mean speaker similarity against plain sampling on held-out sentences, same seeds?
 *
 *  - texts: the first `--n` hand-written held-out sentences of scripts/mini/corpus_text.py
 *    (no training voice spoke them in training), or `--sentences FILE`;
 *  - the voice: speaker id `--speaker` of the mini CSM (default 2 = flite `rms`, a training
 *    voice); each sentence's reference is flite `--voice` (default rms) speaking it, rendered
 *    at run time: the similarity target (and the duration ratio's denominator);
 *  - systems (`evaluateSystems`, src/eval/report.ts): plain sampling, and best-of-N whose
 *    candidate 0 is the plain output (sentence i uses seed + i in both); the candidates are
 *    scored `WER - similarity` (`searchScore`) by the mini verifiers;
 *  - measured by the same mini verifiers (the report flags this: a system chosen by a verifier
 *    looks better to it) AND by an independent judge nobody here wrote, Debian's pocketsphinx
 *    (scripts/mini/judge_wavs.py, issue 9's judge), on the very WAVs of the report; `--judge none`
 *    leaves it out.
 *
 * Pass: mean WER(best-of-N) < mean WER(plain) and mean SIM(best-of-N) > mean SIM(plain), both
 * by the verifiers (the acceptance's wording); the pocketsphinx WER of both is reported beside.
 *
 * Output folder (`--out`, default runs/inference_scaling): report/{report.json, report.md, WAVs}
 * (the library's evaluation report), judge/<system>.json (pocketsphinx per sentence), and
 * inference_scaling.json (the summary, the acceptance, timings).
 *
 *   node --import tsx scripts/mini/eval_inference_scaling.ts [--model mini] [--n 30] [--best-of 8]
 *       [--speaker 2] [--voice rms] [--seed 0] [--sentences FILE] [--max-new-frames F]
 *       [--backend cpu|wasm|auto] [--judge pocketsphinx|none] [--out DIR]
 *
 * `--model tiny-random-csm --n 2 --best-of 2` runs the plumbing in a minute (random weights:
 * the figures mean nothing).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../src/audio/files';
import {
  evaluateSystems, reportMarkdown,
  type ComputeTotals, type EvalItem, type EvaluationReport, type ReportRow, type ReportSystem, type SystemSummary, type WrittenReport,
} from '../../src/eval/report';
import { asrVerifier, speakerVerifier } from '../../src/eval/verifiers';
import { WORKSHOP_TTS_SAMPLING } from '../../src/models/csm/tts';
import { loadTtsModel, MINI_SPEAKER_DIR, MINI_WHISPER_DIR } from '../../src/models/registry';
import { PROJECT_ROOT } from '../../src/paths';
import { initRuntime, type BackendRequest } from '../../src/runtime';
import { BACKENDS, corpusEvalSentences, fliteSpeak, num, readSentences, REFERENCE_RATE } from './eval_voice_change';

const run = promisify(execFile);
const JUDGE_PY = join(PROJECT_ROOT, 'scripts', 'mini', 'judge_wavs.py');

export interface InferenceScalingOptions {
  model: string;
  sentences: string[];
  bestOf: number;
  speaker: number;
  voice: string;
  /** Seed of sentence 0; sentence i uses seed + i in both systems. */
  seed: number;
  maxNewFrames?: number;
  outDir: string;
  log?: (message: string) => void;
}

const PLAIN_ID = 'base';
const bestId = (n: number) => `base+best-of-${n}`;

/** pocketsphinx's verdict on one system's WAVs (judge_wavs.py's JSON). */
interface JudgeResult { sentences: number; words: number; wer: number }

/** Runs scripts/mini/judge_wavs.py on a system's rows of the report; per-sentence detail goes to `jsonPath`. */
async function judgeSystem(report: EvaluationReport, reportDir: string, system: string, jsonPath: string): Promise<JudgeResult> {
  const rows = report.rows.filter((r) => r.system === system && r.wav);
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-judge-'));
  try {
    const manifest = rows.map((r) => JSON.stringify({ text: r.text, path: resolve(reportDir, r.wav!), seconds: r.durationSeconds }));
    await writeFileAtomic(join(dir, 'manifest.jsonl'), manifest.join('\n') + '\n');
    try {
      await run('python3', [JUDGE_PY, dir, '--json', jsonPath], { maxBuffer: 1 << 24 });
    } catch (e) {
      throw new Error(`pocketsphinx judge (${relative(PROJECT_ROOT, JUDGE_PY)}) failed on system ${system}: ${(e as Error).message} `
        + '(needs apt-get install pocketsphinx pocketsphinx-en-us; --judge none leaves it out)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const j = JSON.parse(readFileSync(jsonPath, 'utf8')) as { generated: JudgeResult };
  return j.generated;
}

/** Plain sampling and best-of-N on `o.sentences` by the base model; the library's report in `<outDir>/report`. */
export async function runSystems(o: InferenceScalingOptions): Promise<WrittenReport> {
  const log = o.log ?? ((m: string) => console.log(m));
  const t0 = Date.now();
  mkdirSync(o.outDir, { recursive: true });
  const flite = existsSync('/usr/bin/flite') ? '/usr/bin/flite' : 'flite';
  const refDir = mkdtempSync(join(tmpdir(), 'ttslab-refs-'));
  const items: EvalItem[] = [];
  try {
    for (const [i, text] of o.sentences.entries()) {
      const samples = await fliteSpeak(flite, o.voice, text, join(refDir, `${i}.wav`));
      items.push({ text, speaker: o.speaker, reference: { samples, sampleRate: REFERENCE_RATE } });
    }
  } finally {
    rmSync(refDir, { recursive: true, force: true });
  }
  log(`${items.length} references by flite ${o.voice} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  const tts = await loadTtsModel(o.model);
  const quiet = () => {};
  const asr = await asrVerifier({ modelId: MINI_WHISPER_DIR, name: 'WER (mini Whisper)', onNotice: quiet });
  const speaker = await speakerVerifier({ modelId: MINI_SPEAKER_DIR, name: 'similarity (mini speaker encoder)', onNotice: quiet });
  try {
    const systems: ReportSystem[] = [
      { id: PLAIN_ID, label: 'base, plain sampling', model: tts, withContext: false, search: { strategy: 'plain' } },
      { id: bestId(o.bestOf), label: `base, best-of-${o.bestOf}`, model: tts, withContext: false, search: { strategy: 'best-of-n', n: o.bestOf } },
    ];
    return await evaluateSystems(items, systems, {
      sampling: tts.defaultSampling ?? WORKSHOP_TTS_SAMPLING, seed: o.seed, maxNewFrames: o.maxNewFrames,
      searchVerifiers: { asr, speaker }, evalVerifiers: { asr, speaker },
      model: tts.name, warning: tts.warning, runDir: o.outDir, name: 'report', progress: process.stderr.isTTY ? 'terminal' : 'none',
    });
  } finally {
    asr.dispose();
    speaker.dispose();
    tts.dispose();
  }
}

const meanOf = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
};

/**
 * One report from the shards' reports (`--jobs`): rows in sentence order (item indices and
 * WAV paths made relative to `dir`), per-system means over all rows, compute summed.
 */
export function mergeReports(shards: { report: EvaluationReport; dir: string; first: number }[], dir: string): EvaluationReport {
  const rows: ReportRow[] = shards.flatMap((s) => s.report.rows.map((r) => ({ ...r, item: r.item + s.first, wav: r.wav && relative(dir, resolve(s.dir, r.wav)) })));
  const head = shards[0]!.report;
  const systems: SystemSummary[] = head.systems.map((sys) => {
    const parts = shards.map((s) => s.report.systems.find((x) => x.id === sys.id)!);
    const mine = rows.filter((r) => r.system === sys.id && r.error === undefined);
    const compute: ComputeTotals = { candidates: 0, generationCalls: 0, framesGenerated: 0, framesDecoded: 0, verifierCalls: { asr: 0, speaker: 0 }, wallSeconds: 0, audioSeconds: 0 };
    for (const p of parts) {
      for (const k of ['candidates', 'generationCalls', 'framesGenerated', 'framesDecoded', 'wallSeconds', 'audioSeconds'] as const) compute[k] += p.compute[k];
      compute.verifierCalls.asr += p.compute.verifierCalls.asr;
      compute.verifierCalls.speaker += p.compute.verifierCalls.speaker;
    }
    return {
      id: sys.id, label: sys.label, search: sys.search, outputs: mine.length, failed: parts.reduce((a, p) => a + p.failed, 0),
      wer: meanOf(mine.map((r) => r.wer)), similarity: meanOf(mine.map((r) => r.similarity)), durationRatio: meanOf(mine.map((r) => r.durationRatio)),
      realTimeFactor: compute.audioSeconds > 0 ? compute.wallSeconds / compute.audioSeconds : undefined, compute,
    };
  });
  return {
    ...head, createdAt: new Date().toISOString(), items: shards.reduce((a, s) => a + s.report.items, 0),
    measuredBySearchVerifiers: shards.some((s) => s.report.measuredBySearchVerifiers), systems, rows: rows.sort((a, b) => a.item - b.item),
  };
}

/** The acceptance's reading of a report (+ pocketsphinx when `judge`), written to `<outDir>/inference_scaling.json`. */
export async function summarise(report: EvaluationReport, reportDir: string, o: InferenceScalingOptions & { judge: boolean; jobs: number; t0: number }) {
  const log = o.log ?? ((m: string) => console.log(m));
  const plain = report.systems.find((s) => s.id === PLAIN_ID)!;
  const best = report.systems.find((s) => s.id === bestId(o.bestOf))!;
  let judge: Record<string, JudgeResult> | null = null;
  if (o.judge) {
    mkdirSync(join(o.outDir, 'judge'), { recursive: true });
    judge = {};
    for (const s of [plain, best]) {
      judge[s.id] = await judgeSystem(report, reportDir, s.id, join(o.outDir, 'judge', `${s.id}.json`));
      log(`pocketsphinx on ${s.id}: WER ${judge[s.id]!.wer.toFixed(3)} over ${judge[s.id]!.words} words`);
    }
  }
  const werLower = best.wer !== undefined && plain.wer !== undefined && best.wer < plain.wer;
  const simHigher = best.similarity !== undefined && plain.similarity !== undefined && best.similarity > plain.similarity;
  const summary = {
    issue: 13, acceptance: 3, createdAt: new Date().toISOString(), backend: tf.getBackend(), jobs: o.jobs, model: report.model, warning: report.warning,
    verifiers: { asr: relative(PROJECT_ROOT, MINI_WHISPER_DIR), speaker: relative(PROJECT_ROOT, MINI_SPEAKER_DIR) },
    sentences: report.items, bestOf: o.bestOf, seed: o.seed, speaker: o.speaker, referenceVoice: `flite ${o.voice}`, sampling: report.sampling,
    systems: Object.fromEntries([plain, best].map((s) => [s.id, {
      search: s.search, outputs: s.outputs, failed: s.failed, wer: s.wer ?? null, similarity: s.similarity ?? null,
      durationRatio: s.durationRatio ?? null, realTimeFactor: s.realTimeFactor ?? null,
      generationCalls: s.compute.generationCalls, framesGenerated: s.compute.framesGenerated, verifierCalls: s.compute.verifierCalls,
      computeSeconds: s.compute.wallSeconds, pocketsphinxWer: judge ? judge[s.id]!.wer : null,
    }])),
    measuredBySearchVerifiers: report.measuredBySearchVerifiers,
    result: {
      werLower: { plain: plain.wer ?? null, best: best.wer ?? null, pass: werLower },
      similarityHigher: { plain: plain.similarity ?? null, best: best.similarity ?? null, pass: simHigher },
      independentWer: judge ? { judge: 'pocketsphinx (scripts/mini/judge_wavs.py)', plain: judge[plain.id]!.wer, best: judge[best.id]!.wer } : null,
      pass: werLower && simHigher,
    },
    report: relative(o.outDir, join(reportDir, 'report.json')),
    totalSeconds: (Date.now() - o.t0) / 1000,
  };
  await writeFileAtomic(join(o.outDir, 'inference_scaling.json'), JSON.stringify(summary, null, 1) + '\n');
  const f = (x: number | null | undefined) => (x === undefined || x === null ? '-' : x.toFixed(3));
  log([
    '',
    '| system | WER (mini Whisper) | similarity (mini speaker enc.) | WER (pocketsphinx) | compute s | RTF |',
    '| --- | --- | --- | --- | --- | --- |',
    ...[plain, best].map((s) => `| ${s.label} | ${f(s.wer)} | ${f(s.similarity)} | ${f(judge?.[s.id]?.wer)} | ${s.compute.wallSeconds.toFixed(0)} | ${f(s.realTimeFactor)} |`),
    '',
    `acceptance 3: WER ${werLower ? 'lower' : 'NOT lower'}, similarity ${simHigher ? 'higher' : 'NOT higher'}: ${summary.result.pass ? 'PASS' : 'FAIL'}; ${summary.totalSeconds.toFixed(0)} s; ${join(o.outDir, 'inference_scaling.json')}`,
  ].join('\n'));
  return summary;
}

/** Runs the sentences in `jobs` child processes (contiguous slices; sentence i keeps seed + i) and merges their reports. */
async function runSharded(o: InferenceScalingOptions, jobs: number, argv: string[]): Promise<{ report: EvaluationReport; dir: string }> {
  const per = Math.ceil(o.sentences.length / jobs);
  const shards: { first: number; count: number; dir: string }[] = [];
  for (let first = 0; first < o.sentences.length; first += per) shards.push({ first, count: Math.min(per, o.sentences.length - first), dir: join(o.outDir, `shard-${shards.length}`) });
  const own = ['--jobs', '--out', '--judge', '--first', '--count'];
  const passOn = argv.filter((a, i) => !own.includes(a) && !own.includes(argv[i - 1] ?? ''));
  await Promise.all(shards.map(async (sh, k) => {
    try {
      await run(process.execPath, [...process.execArgv, __filename, ...passOn, '--first', String(sh.first), '--count', String(sh.count), '--out', sh.dir, '--shard'], { maxBuffer: 1 << 26 });
    } catch (e) {
      throw new Error(`shard ${k} (sentences ${sh.first}..${sh.first + sh.count - 1}, ${sh.dir}) failed: ${(e as Error).message}`);
    }
    o.log?.(`shard ${k} done (sentences ${sh.first}..${sh.first + sh.count - 1})`);
  }));
  const dir = join(o.outDir, 'report');
  mkdirSync(dir, { recursive: true });
  const report = mergeReports(shards.map((sh) => ({
    report: JSON.parse(readFileSync(join(sh.dir, 'report', 'report.json'), 'utf8')) as EvaluationReport, dir: join(sh.dir, 'report'), first: sh.first,
  })), dir);
  await writeFileAtomic(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFileAtomic(join(dir, 'report.md'), reportMarkdown(report));
  return { report, dir };
}

export async function main(argv: string[]): Promise<number> {
  const t0 = Date.now();
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'mini' }, out: { type: 'string', default: join('runs', 'inference_scaling') },
      n: { type: 'string', default: '30' }, 'best-of': { type: 'string', default: '8' }, sentences: { type: 'string' },
      speaker: { type: 'string', default: '2' }, voice: { type: 'string', default: 'rms' }, seed: { type: 'string', default: '0' },
      'max-new-frames': { type: 'string' }, backend: { type: 'string', default: 'wasm' }, judge: { type: 'string', default: 'pocketsphinx' },
      jobs: { type: 'string', default: '1' }, shard: { type: 'boolean' }, first: { type: 'string', default: '0' }, count: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(readFileSync(__filename, 'utf8').split('*/')[0]);
    return 0;
  }
  const isInt = (x: number) => Number.isSafeInteger(x) && x >= 1;
  const nonNeg = (x: number) => Number.isSafeInteger(x) && x >= 0;
  const n = num('n', values.n, isInt, 'an integer >= 1')!;
  const bestOf = num('best-of', values['best-of'], (x) => Number.isSafeInteger(x) && x >= 2, 'an integer >= 2')!;
  const jobs = num('jobs', values.jobs, isInt, 'an integer >= 1')!;
  if (values.judge !== 'pocketsphinx' && values.judge !== 'none') throw new Error(`--judge must be pocketsphinx or none, got ${JSON.stringify(values.judge)}`);
  const backend = values.backend as (typeof BACKENDS)[number];
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(values.backend)}`);
  const all = values.sentences ? readSentences(values.sentences).slice(0, n) : corpusEvalSentences(n);
  // --first/--count: a slice (what --jobs hands each child); sentence i of the whole list keeps seed + i.
  const first = num('first', values.first, nonNeg, 'an integer >= 0')!;
  const count = values.count === undefined ? all.length - first : num('count', values.count, isInt, 'an integer >= 1')!;
  if (first + count > all.length) throw new Error(`--first ${first} --count ${count} goes past the ${all.length} sentences`);
  const seed = num('seed', values.seed, nonNeg, 'an integer >= 0')!;
  const options: InferenceScalingOptions = {
    model: values.model!, sentences: all.slice(first, first + count), bestOf, outDir: values.out!, voice: values.voice!,
    speaker: num('speaker', values.speaker, nonNeg, 'an integer >= 0')!, seed: seed + first,
    maxNewFrames: num('max-new-frames', values['max-new-frames'], isInt, 'an integer >= 1'),
  };
  const runtime = await initRuntime({ backend: backend as BackendRequest });
  console.log(`tensor backend: ${runtime.backend}${jobs > 1 ? `, ${jobs} processes` : ''}`);
  if (values.shard) {
    // A child of --jobs: its slice's report only; the parent merges and judges.
    await runSystems(options);
    return 0;
  }
  let report: EvaluationReport;
  let dir: string;
  if (jobs > 1 && options.sentences.length > 1) {
    ({ report, dir } = await runSharded(options, Math.min(jobs, options.sentences.length), argv));
  } else {
    const written = await runSystems(options);
    report = written;
    dir = written.dir;
  }
  const s = await summarise(report, dir, { ...options, judge: values.judge === 'pocketsphinx', jobs, t0 });
  return s.result.pass ? 0 : 4;
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
