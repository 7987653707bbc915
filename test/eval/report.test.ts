/**
 * The evaluation report (src/eval/report.ts) on the tiny random CSM + Mimi: six systems
 * (base / fine-tuned / fine-tuned + context, plain and searched) with a real PEFT adapter,
 * outputs checked against generations redone independently, the best-of-N invariant
 * (candidate 0 is the plain output, so the searched output never scores worse by the
 * verifier it searched with), compute totals, the JSON + Markdown files and the WAVs, the
 * notebook table, failures recorded rather than dropped, and errors at the boundary.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { decodeWav } from '../../src/audio/wav';
import { resample } from '../../src/audio/resample';
import type { EvalAudio } from '../../src/eval/listening';
import { baseAndFinetunedSystems, evaluateSystems, reportMarkdown, reportTableRows, showEvaluationReport, type EvalItem, type ReportSystem } from '../../src/eval/report';
import { spectralSpeakerVerifier, type SearchModel } from '../../src/eval/search';
import { asrVerifier, speakerVerifier, type AsrRecord, type ModelVerifier, type SpeakerRecord } from '../../src/eval/verifiers';
import { savePeftAdapter } from '../../src/lora';
import { CsmTts, WORKSHOP_TTS_SAMPLING } from '../../src/models/csm/tts';
import { loadTtsModel } from '../../src/models/registry';
import type { ContextTurn } from '../../src/models/types';
import { setDisplaySink, type MimeBundle } from '../../src/notebook/display';

const FIXTURES = join(__dirname, '..', 'fixtures');
const slt16k = decodeWav(readFileSync(join(FIXTURES, 'wavlm', 'speech_a.wav'))).channels[0]!; // 3.0 s at 16 kHz

let tts: CsmTts;
let tmp: string;
let adapterDir: string;
let items: EvalItem[];

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  tmp = mkdtempSync(join(tmpdir(), 'ttslab-report-'));
  tts = (await loadTtsModel('tiny-random-csm')) as CsmTts;
  // A real PEFT adapter with non-zero B, so the fine-tuned systems really differ from the base.
  const adapter = tts.trainable({ loraR: 4, loraAlpha: 8 }).adapter;
  for (const [, m] of adapter.modules) m.lora_B.assign(tf.randomNormal(m.lora_B.shape, 0, 0.5, 'float32', 1));
  adapterDir = join(tmp, 'adapter');
  await savePeftAdapter(adapterDir, adapter);
  tts.unloadAdapter();
  const at24k = resample(slt16k, 16000, 24000);
  const context: ContextTurn[] = [{ codes: await tts.codec.encode(at24k.slice(0, 24000)), text: 'Please call Stella.', speaker: 0 }];
  items = [
    { text: 'Ask her to bring these things.', speaker: 0, reference: { samples: slt16k.slice(0, 24000), sampleRate: 16000 }, context },
    { text: 'Six spoons of fresh snow peas.', speaker: 0, reference: { samples: at24k.slice(0, 48000), sampleRate: 24000 }, context },
  ];
});
after(() => {
  tts.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const OPTIONS = { sampling: WORKSHOP_TTS_SAMPLING, seed: 5, maxNewFrames: 6, progress: 'none' as const };

describe('evaluateSystems', () => {
  test('six systems: outputs equal independent generations, search never scores worse than plain, files and table', async () => {
    const hooks: string[] = [];
    const switchable = {
      codec: tts.codec,
      generate: tts.generate.bind(tts),
      continueGeneration: tts.continueGeneration.bind(tts),
      loadAdapter: async (dir: string) => { hooks.push('load'); await tts.loadAdapter(dir); },
      unloadAdapter: () => { hooks.push('unload'); tts.unloadAdapter(); },
    };
    const spectral = spectralSpeakerVerifier();
    const systems = baseAndFinetunedSystems(switchable, adapterDir, { strategy: 'best-of-n', n: 3 });
    assert.deepEqual(systems.map((s) => s.id), ['base', 'base+search', 'finetuned', 'finetuned+search', 'finetuned+context', 'finetuned+context+search']);
    assert.deepEqual(baseAndFinetunedSystems(switchable, adapterDir, null).map((s) => `${s.id}: ${s.search.strategy}`), ['base: plain', 'finetuned: plain', 'finetuned+context: plain']);
    assert.deepEqual(baseAndFinetunedSystems(switchable, null, { strategy: 'plain' }).map((s) => s.id), ['base', 'base+search']);
    const report = await evaluateSystems(items, systems, { ...OPTIONS, searchVerifiers: { speaker: spectral }, model: 'tiny-random-csm', warning: 'random', runDir: tmp, name: 'six' });
    // base, base+search: detach; each fine-tuned system: attach, then detach after its items.
    assert.deepEqual(hooks, ['unload', 'unload', 'load', 'unload', 'load', 'unload', 'load', 'unload', 'load', 'unload']);
    assert.equal(tts.adapterDir, null, 'the model is left without an adapter');
    assert.equal(report.rows.length, 12);
    assert.deepEqual(report.metrics, { wer: null, similarity: 'spectral similarity' });
    assert.equal(report.measuredBySearchVerifiers, true);

    // The plain rows are the plain generations with seed + item, measured against the item's reference.
    const frames6 = (6 * 1920) / 24000;
    for (const [i, item] of items.entries()) {
      const codes = await tts.generate({ text: item.text, speaker: 0, sampling: WORKSHOP_TTS_SAMPLING, seed: 5 + i, maxNewFrames: 6 });
      const audio: EvalAudio = { samples: await tts.codec.decode(codes), sampleRate: 24000 };
      const row = report.rows.find((r) => r.system === 'base' && r.item === i)!;
      assert.equal(row.seed, 5 + i);
      assert.equal(row.similarity, (await spectral(audio, item.text, item.reference)).value);
      assert.equal(row.durationSeconds, frames6);
      const refSeconds = item.reference!.samples.length / item.reference!.sampleRate;
      assert.equal(row.referenceSeconds, refSeconds);
      assert.equal(row.durationRatio, frames6 / refSeconds);
      const wav = decodeWav(readFileSync(join(report.dir, row.wav!)));
      assert.equal(wav.channels[0]!.length, 6 * 1920);
      // Best-of-3's candidate 0 is that same output: the searched output is at least as similar.
      for (const [plain, searched] of [['base', 'base+search'], ['finetuned', 'finetuned+search'], ['finetuned+context', 'finetuned+context+search']]) {
        const p = report.rows.find((r) => r.system === plain && r.item === i)!;
        const s = report.rows.find((r) => r.system === searched && r.item === i)!;
        assert.ok(s.similarity! >= p.similarity!, `${searched} ${s.similarity} vs ${plain} ${p.similarity}, item ${i}`);
      }
    }
    const wavBytes = (system: string) => readFileSync(join(report.dir, report.rows.find((r) => r.system === system && r.item === 0)!.wav!));
    assert.notDeepEqual(wavBytes('finetuned'), wavBytes('base'), 'the adapter changes the output');
    assert.notDeepEqual(wavBytes('finetuned+context'), wavBytes('finetuned'), 'the context changes the output');

    // Summaries: means of the rows, compute totals from the budgets.
    for (const s of report.systems) {
      const rows = report.rows.filter((r) => r.system === s.id);
      assert.equal(s.outputs, 2);
      assert.ok(Math.abs(s.similarity! - (rows[0]!.similarity! + rows[1]!.similarity!) / 2) < 1e-12);
      assert.equal(s.wer, undefined);
      const searched = s.id.endsWith('+search');
      assert.equal(s.search, searched ? 'best-of-3' : 'plain sampling');
      assert.deepEqual([s.compute.candidates, s.compute.framesGenerated, s.compute.verifierCalls], searched ? [6, 36, { asr: 0, speaker: 6 }] : [2, 12, { asr: 0, speaker: 0 }]);
      assert.equal(s.compute.audioSeconds, 2 * frames6);
      assert.ok(Math.abs(s.realTimeFactor! - s.compute.wallSeconds / s.compute.audioSeconds) < 1e-12);
    }

    // The files: JSON equals the report, Markdown has the table and caveats, one WAV per output.
    const { dir, jsonPath, markdownPath, ...written } = report;
    assert.deepEqual(JSON.parse(readFileSync(jsonPath, 'utf8')), JSON.parse(JSON.stringify(written)));
    const md = readFileSync(markdownPath, 'utf8');
    assert.equal(md, reportMarkdown(written));
    assert.match(md, /^# Evaluation report/);
    assert.match(md, /\| system \| search \| outputs \| WER ↓ \| spectral similarity ↑ \| duration ratio \| RTF \|/);
    assert.match(md, /\| fine-tuned \+ context \+ search \| best-of-3 \| 2 \| – \| -?\d\.\d{3} \|/);
    assert.match(md, /> WARNING: random/);
    assert.match(md, /> No ASR verifier ran/);
    assert.match(md, /> Searched systems are measured by the verifiers they searched with/);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.wav')).length, 12);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'atomic writes leave no temporary file');

    const shown: MimeBundle[] = [];
    setDisplaySink((b) => shown.push(b));
    try {
      showEvaluationReport(report);
    } finally {
      setDisplaySink(null);
    }
    const html = shown.map((b) => b['text/html'] ?? '').join('\n');
    assert.match(html, /<caption>Evaluation: 2 held-out texts, 6 systems<\/caption>/);
    assert.match(html, /<th>spectral similarity ↑<\/th>/);
    assert.match(shown.map((b) => b['text/plain']).join('\n'), /report: .*report\.md/);
    assert.equal(reportTableRows(report).length, 6);
  });

  test('independent evaluation verifiers: ASR reused from the search only when it is the same verifier', async () => {
    const asr: ModelVerifier<AsrRecord> = await asrVerifier({
      modelId: join(FIXTURES, 'whisper'), onNotice: () => undefined,
      transcribe: { temperature: [0], compressionRatioThreshold: null, logprobThreshold: null, noSpeechThreshold: null, conditionOnPreviousText: false, maxNewTokens: 8 },
    });
    const wavlm: ModelVerifier<SpeakerRecord> = await speakerVerifier({ modelId: join(FIXTURES, 'wavlm', 'base'), onNotice: () => undefined });
    try {
      const systems: ReportSystem[] = [
        { id: 'base', label: 'base', model: tts, withContext: false, search: { strategy: 'plain' } },
        { id: 'base+search', label: 'base, best-of-2', model: tts, withContext: false, search: { strategy: 'best-of-n', n: 2 } },
      ];
      const r = await evaluateSystems(items.slice(0, 1), systems, {
        ...OPTIONS, searchVerifiers: { asr, speaker: spectralSpeakerVerifier() }, evalVerifiers: { asr, speaker: wavlm }, runDir: tmp, name: 'independent',
      });
      // Search: 2 ASR calls; evaluation: 1 for the plain output, the searched one reused.
      assert.equal(asr.history.length, 3);
      assert.equal(wavlm.history.length, 2, 'the independent speaker verifier measures both outputs');
      assert.deepEqual(r.metrics, { wer: 'WER', similarity: 'speaker similarity' });
      assert.equal(r.measuredBySearchVerifiers, true);
      assert.equal(r.rows[0]!.wer, asr.history[2]!.wer.wer);
      assert.equal(r.rows[1]!.similarity, wavlm.history[1]!.similarity);
      assert.deepEqual(r.systems[1]!.compute.verifierCalls, { asr: 2, speaker: 2 });
    } finally {
      asr.dispose();
      wavlm.dispose();
    }
  });

  test('an output with no frames is recorded as failed, with a notice, and left out of the means', async () => {
    const silent: SearchModel = { codec: tts.codec, generate: async () => [] };
    const notices: string[] = [];
    const r = await evaluateSystems(items, [
      { id: 'silent', label: 'ends at once', model: silent, withContext: false, search: { strategy: 'plain' } },
      { id: 'base', label: 'base', model: tts, withContext: false, search: { strategy: 'plain' } },
    ], { ...OPTIONS, searchVerifiers: { speaker: spectralSpeakerVerifier() }, runDir: tmp, name: 'failed', onNotice: (m) => notices.push(m) });
    assert.equal(notices.length, 2);
    assert.match(notices[0]!, /item 0, system silent: search: every candidate for "Ask her to bring these things." ended at once with 0 frames \(seeds 5\)/);
    assert.deepEqual([r.systems[0]!.outputs, r.systems[0]!.failed, r.systems[0]!.similarity, r.systems[0]!.realTimeFactor], [0, 2, undefined, undefined]);
    assert.equal(r.systems[1]!.outputs, 2);
    assert.equal(reportTableRows(r)[0]!.outputs, '0 (2 failed)');
    assert.match(readFileSync(r.markdownPath, 'utf8'), /\| silent \| – \| – \| – \| – \| – \| failed: search: every candidate/);
  });

  test('a text without a recording: similarity to its target clip, no duration ratio', async () => {
    const spectral = spectralSpeakerVerifier();
    const target = items[1]!.reference!;
    const r = await evaluateSystems([{ text: 'No recording of this one.', speaker: 0, target }],
      [{ id: 'base', label: 'base', model: tts, withContext: false, search: { strategy: 'plain' } }],
      { ...OPTIONS, evalVerifiers: { speaker: spectral }, runDir: tmp, name: 'target' });
    const codes = await tts.generate({ text: 'No recording of this one.', speaker: 0, sampling: WORKSHOP_TTS_SAMPLING, seed: 5, maxNewFrames: 6 });
    const want = (await spectral({ samples: await tts.codec.decode(codes), sampleRate: 24000 }, '', target)).value;
    assert.equal(r.rows[0]!.similarity, want);
    assert.deepEqual([r.rows[0]!.referenceSeconds, r.rows[0]!.durationRatio, r.systems[0]!.durationRatio], [undefined, undefined, undefined]);
    assert.equal(r.measuredBySearchVerifiers, false);
  });

  test('errors at the boundary name the item, system or field', async () => {
    const plain: ReportSystem = { id: 'base', label: 'base', model: tts, withContext: false, search: { strategy: 'plain' } };
    const o = { ...OPTIONS, runDir: tmp, name: 'errors' };
    await assert.rejects(evaluateSystems([{ text: 'No target.', speaker: 0 }], [plain], { ...o, searchVerifiers: { speaker: spectralSpeakerVerifier() } }),
      /evaluation item 0 \("No target."\): speaker similarity needs a target clip: give the item's target or reference, or options.target/);
    await assert.rejects(evaluateSystems([{ text: 'No context.', speaker: 0 }], [{ ...plain, withContext: true }], o), /item 0 \("No context."\): a system clones with a context but the item has no context turns/);
    await assert.rejects(evaluateSystems(items, [plain, { ...plain }], o), /system id "base" is empty or collides/);
    await assert.rejects(evaluateSystems(items, [{ ...plain, search: { strategy: 'best-of-n', n: 0 } }], o), /search n must be an integer >= 1, got 0/);
    await assert.rejects(evaluateSystems([], [plain], o), /no items/);
    assert.ok(!existsSync(join(tmp, 'errors', 'report.json')), 'nothing written when the inputs are refused');
  });
});
