// The listening comparison: the grid's HTML (players, images, durations, metrics or blanks),
// the WAV files and manifest.json in the run folder, and the errors at its boundary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, resample } from '../../src/audio';
import * as tf from '@tensorflow/tfjs';
import { MimiModel } from '../../src/models/mimi';
import type { AudioCodec, Codes, TtsGenerateRequest } from '../../src/models/types';
import {
  buildListeningComparison, generateComparison, listeningGridBundle, listeningGridHtml, metricMeans, showListeningGrid, spectrogramDb,
  type EvalAudio, type ListeningManifest, type ListeningPrompt, type Verifier,
} from '../../src/eval';
import { setDisplaySink, type MimeBundle } from '../../src/notebook/display';

const SR = 24_000;
let speech: Float32Array; // the flite clip of test/fixtures/mimi, 3.2 s at 24 kHz
let tmp: string;

before(() => {
  speech = decodeWav(readFileSync(join(__dirname, '..', 'fixtures', 'mimi', 'speech_slt_24k.wav'))).channels[0]!;
  tmp = mkdtempSync(join(tmpdir(), 'ttslab-listen-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const clip = (from: number, to: number): EvalAudio => ({ samples: speech.slice(from, to), sampleRate: SR });

/** Prompt 0 lacks base+context and finetuned (2 empty cells); prompt 1 is full; its reference is at 16 kHz. */
function prompts(): ListeningPrompt[] {
  return [
    { text: 'Hello <there> & welcome.', speaker: 0, audio: { reference: clip(0, 24_000), base: clip(24_000, 36_000), 'finetuned+context': clip(36_000, 60_000) } },
    {
      text: 'Second prompt.', speaker: 1,
      audio: {
        reference: { samples: resample(speech.slice(0, 19_200), SR, 16_000), sampleRate: 16_000 },
        base: clip(0, 4800), 'base+context': clip(4800, 14_400), finetuned: clip(14_400, 33_600), 'finetuned+context': clip(33_600, 76_800),
      },
    },
  ];
}

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

test('without verifiers: one <audio> per filled cell with waveform, spectrogram and duration; metric slots blank; WAVs and manifest written', async () => {
  const runDir = join(tmp, 'plain');
  const c = await buildListeningComparison(prompts(), { runDir });
  const html = listeningGridHtml(c);
  assert.equal(count(html, /<audio /g), 8, '3 + 5 filled cells');
  assert.equal(count(html, /class="ttslab-waveform"[^>]*src="data:image\/svg\+xml;base64,/g), 8);
  assert.equal(count(html, /class="ttslab-spectrogram"[^>]*src="data:image\/png;base64,/g), 8);
  assert.equal(count(html, /class="ttslab-empty"/g), 2, 'base+context and finetuned of prompt 0');
  assert.equal(count(html, /<th>/g), 2 + 5 + 4, '#, text, 5 systems; summary: system, clips, 2 metrics');
  assert.ok(html.includes('Hello &lt;there&gt; &amp; welcome.'), 'prompt text escaped');
  assert.ok(html.includes('<div class="ttslab-duration" style="font-size:12px">1.00 s</div>'));
  assert.ok(html.includes('<div class="ttslab-duration" style="font-size:12px">1.80 s</div>'), '43200 samples at 24 kHz');
  assert.equal(count(html, /speaker similarity: <b>–<\/b>/g), 8, 'metric slots blank without a verifier');
  assert.equal(count(html, /WER: <b>–<\/b>/g), 8);

  // Every cell's WAV exists and decodes to the given samples (pcm16: within half a step of 1/32767).
  const dir = join(runDir, 'listening');
  assert.deepEqual(readdirSync(dir).sort(), [
    'manifest.json', 'p00_base.wav', 'p00_finetuned+context.wav', 'p00_reference.wav',
    'p01_base+context.wav', 'p01_base.wav', 'p01_finetuned+context.wav', 'p01_finetuned.wav', 'p01_reference.wav',
  ], 'no temporary files left, nothing for empty cells');
  const manifest = JSON.parse(readFileSync(c.manifestPath, 'utf8')) as ListeningManifest;
  assert.equal(manifest.entries.length, 8);
  const given = prompts();
  for (const e of manifest.entries) {
    const audio = given[e.prompt]!.audio[e.system]!;
    const wav = decodeWav(readFileSync(join(dir, e.path)), e.path);
    assert.equal(wav.sampleRate, audio.sampleRate, e.path);
    assert.equal(wav.channels[0]!.length, audio.samples.length, e.path);
    let err = 0;
    wav.channels[0]!.forEach((v, i) => (err = Math.max(err, Math.abs(v - audio.samples[i]!))));
    assert.ok(err <= 1 / 32767, `${e.path}: max error ${err}`);
    assert.equal(e.durationSeconds, audio.samples.length / audio.sampleRate);
    assert.equal(e.text, given[e.prompt]!.text);
    assert.equal(e.speaker, given[e.prompt]!.speaker);
    assert.deepEqual(e.metrics, {});
  }
  const ref1 = manifest.entries.find((e) => e.prompt === 1 && e.system === 'reference')!;
  assert.deepEqual(
    { ...ref1 },
    { prompt: 1, text: 'Second prompt.', system: 'reference', systemLabel: 'reference clip', speaker: 1, path: 'p01_reference.wav', sampleRate: 16_000, durationSeconds: 0.8, metrics: {} },
  );
  assert.deepEqual(manifest.metricNames, ['speaker similarity', 'WER']);
  assert.deepEqual(manifest.systems.map((s) => s.id), ['reference', 'base', 'base+context', 'finetuned', 'finetuned+context']);
});

/** Cosine similarity of the mean log-spectra: a crude but real voice-match measure (1 = same spectrum envelope). */
const spectralSimilarity: Verifier = async (audio, _text, reference) => {
  if (!reference) throw new Error('spectral similarity needs a reference');
  const mean = (a: EvalAudio) => {
    const s = spectrogramDb(resample(a.samples, a.sampleRate, 16_000), 16_000);
    const m = new Float64Array(s.numBins);
    for (let t = 0; t < s.numFrames; t++) for (let k = 0; k < s.numBins; k++) m[k]! += (s.db[t * s.numBins + k]! + 80) / s.numFrames;
    return m;
  };
  const a = mean(audio);
  const b = mean(reference);
  let dot = 0, na = 0, nb = 0;
  for (let k = 0; k < a.length; k++) { dot += a[k]! * b[k]!; na += a[k]! ** 2; nb += b[k]! ** 2; }
  return { name: 'speaker similarity', value: dot / Math.sqrt(na * nb) };
};
/** Seconds per word of the text: a real, if simple, measure of speaking rate. */
const secondsPerWord: Verifier = async (audio, text) => ({ name: 'seconds per word', value: audio.samples.length / audio.sampleRate / text.split(/\s+/).filter(Boolean).length });

test('verifiers fill metric cells, the summary means and the manifest; the reference is passed to them', async () => {
  const runDir = join(tmp, 'metrics');
  const seen: { text: string; hasRef: boolean }[] = [];
  const spy: Verifier = async (audio, text, reference) => {
    seen.push({ text, hasRef: reference !== undefined });
    return spectralSimilarity(audio, text, reference);
  };
  const c = await buildListeningComparison(prompts(), { runDir, verifiers: [spy, secondsPerWord] });
  assert.equal(seen.length, 8);
  assert.ok(seen.every((s) => s.hasRef));
  assert.deepEqual(c.metricNames, ['speaker similarity', 'WER', 'seconds per word'], 'a new metric name adds a column');
  const ref0 = c.rows[0]!.cells.reference!;
  assert.ok(Math.abs(ref0.metrics['speaker similarity']! - 1) < 1e-12, 'a clip is its own best match');
  const base0 = c.rows[0]!.cells.base!;
  assert.ok(base0.metrics['speaker similarity']! < 1);
  assert.equal(base0.metrics['seconds per word'], 0.5 / 4);
  const html = listeningGridHtml(c);
  assert.ok(html.includes(`speaker similarity: <b>${base0.metrics['speaker similarity']!.toFixed(3)}</b>`));
  assert.equal(count(html, /seconds per word: <b>\d+\.\d{3}<\/b>/g), 8);
  assert.equal(count(html, /WER: <b>–<\/b>/g), 8, 'no WER verifier: WER stays blank');
  const means = metricMeans(c);
  const ft = means.find((m) => m.system === 'finetuned')!;
  assert.equal(ft.clips, 1);
  assert.equal(ft.means['seconds per word'], 0.8 / 2);
  assert.equal(ft.means.WER, undefined);
  assert.ok(html.includes('<th>mean seconds per word</th>'));
  const manifest = JSON.parse(readFileSync(c.manifestPath, 'utf8')) as ListeningManifest;
  const e = manifest.entries.find((x) => x.prompt === 0 && x.system === 'base')!;
  assert.deepEqual(e.metrics, base0.metrics);
});

test('showListeningGrid sends one bundle (HTML + text); TTSLAB_RUN_DIR is the default run folder; float32 WAVs are exact', async () => {
  const runDir = join(tmp, 'env-run');
  const saved = process.env.TTSLAB_RUN_DIR;
  process.env.TTSLAB_RUN_DIR = runDir;
  try {
    const c = await buildListeningComparison(prompts().slice(1), { name: 'float', wavFormat: 'float32', systems: [{ id: 'reference', label: 'ref' }, { id: 'base', label: 'base' }, { id: 'base+context', label: 'ctx' }, { id: 'finetuned', label: 'ft' }, { id: 'finetuned+context', label: 'ft+ctx' }] });
    assert.equal(c.dir, join(runDir, 'float'));
    const wav = decodeWav(readFileSync(join(c.dir, 'p00_finetuned.wav')));
    assert.deepEqual(wav.channels[0], speech.slice(14_400, 33_600));
    const shown: MimeBundle[] = [];
    setDisplaySink((b) => shown.push(b));
    try {
      showListeningGrid(c);
    } finally {
      setDisplaySink(null);
    }
    assert.equal(shown.length, 1);
    assert.equal(shown[0]!['text/html'], listeningGridBundle(c)['text/html']);
    assert.match(shown[0]!['text/plain']!, /ft\+ctx\s+1\.80 s, speaker similarity –, WER –/);
  } finally {
    if (saved === undefined) delete process.env.TTSLAB_RUN_DIR;
    else process.env.TTSLAB_RUN_DIR = saved;
  }
});

test('errors name the prompt, system and value; nothing half-written is left', async () => {
  const runDir = join(tmp, 'errors');
  await assert.rejects(buildListeningComparison([{ text: 'x', speaker: 0, audio: { finetuned_ctx: clip(0, 100) } }], { runDir }), /prompt 0: audio for system "finetuned_ctx", which is not a column/);
  const nan = clip(0, 100);
  nan.samples[42] = Number.NaN;
  await assert.rejects(buildListeningComparison([{ text: 'x', speaker: 0, audio: { base: nan } }], { runDir }), /prompt 0, system base: sample 42 is NaN/);
  await assert.rejects(buildListeningComparison([{ text: 'x', speaker: -1, audio: {} }], { runDir }), /prompt 0: speaker must be an integer >= 0, got -1/);
  const broken: Verifier = async () => ({ name: 'WER', value: Number.NaN });
  await assert.rejects(buildListeningComparison(prompts(), { runDir, verifiers: [broken] }), /prompt 0, system reference: a verifier returned \{"name":"WER","value":null\}/);
  await assert.rejects(buildListeningComparison([], { runDir, systems: [{ id: 'a', label: 'A' }, { id: 'a', label: 'B' }] }), /id "a" is empty or listed twice/);
  const dir = join(runDir, 'listening');
  assert.ok(!existsSync(join(dir, 'manifest.json')), 'a failed comparison writes no manifest');
  assert.ok(!existsSync(dir) || readdirSync(dir).every((f) => f.endsWith('.wav')), 'no temporary files');
});

test('generateComparison: every (prompt, system) generated with seed + prompt index, context only for cloning systems, decoded by the real Mimi codec', async () => {
  await tf.setBackend('cpu');
  const mimi = await MimiModel.fromPretrained(join(__dirname, '..', 'fixtures', 'mimi'));
  try {
    const codec: AudioCodec = { ...mimi.asAudioCodec(8), id: 'mimi-tiny-fixture:8' };
    const contextCodes = await codec.encode(speech.slice(0, 9600)); // 5 frames
    const ownCodes = await codec.encode(speech.slice(9600, 28_800)); // 10 frames
    // A test double for generate only (generateComparison uses nothing else of a TtsModel):
    // it "clones" by returning the context's codes and otherwise returns its own clip's
    // codes; it records every request so the test can check what each system was given.
    const requests: { model: string; request: TtsGenerateRequest }[] = [];
    const model = (name: string, empty = false) => ({
      codec,
      generate: async (request: TtsGenerateRequest): Promise<Codes> => {
        requests.push({ model: name, request });
        if (empty && request.text === 'two') return [];
        return request.context?.length ? request.context.at(-1)!.codes : ownCodes;
      },
    });
    const base = model('base');
    const tuned = model('tuned', true);
    const systems = [
      { column: { id: 'base', label: 'base zero-shot' }, model: base, withContext: false },
      { column: { id: 'finetuned+context', label: 'fine-tuned + context' }, model: tuned, withContext: true },
    ];
    const context = [{ codes: contextCodes, text: 'earlier', speaker: 0 }];
    const notices: string[] = [];
    const sampling = { doSample: true, temperature: 0.8, topK: 50, depthDecoder: { doSample: true, temperature: 0.6, topP: 0.9 } };
    const lp = await generateComparison(
      [{ text: 'one', speaker: 0, reference: clip(0, 4800), context }, { text: 'two', speaker: 0, context }],
      systems, { sampling, seed: 100, maxNewFrames: 125, progress: 'none', onNotice: (m) => notices.push(m) },
    );
    assert.deepEqual(requests.map((r) => [r.model, r.request.text, r.request.seed, r.request.context?.length ?? 0]), [
      ['base', 'one', 100, 0], ['tuned', 'one', 100, 1], ['base', 'two', 101, 0], ['tuned', 'two', 101, 1],
    ]);
    assert.ok(requests.every((r) => r.request.maxNewFrames === 125 && r.request.sampling === sampling));
    assert.deepEqual(Object.keys(lp[0]!.audio).sort(), ['base', 'finetuned+context', 'reference']);
    assert.deepEqual(lp[0]!.audio['finetuned+context']!.samples, await codec.decode(contextCodes), 'decoded by the system\'s codec');
    assert.equal(lp[0]!.audio.base!.samples.length, 10 * 1920);
    assert.equal(lp[0]!.audio.base!.sampleRate, 24_000);
    assert.deepEqual(Object.keys(lp[1]!.audio), ['base'], 'no reference, and the empty generation is left out');
    assert.deepEqual(notices, ['prompt 1, system finetuned+context: the model generated 0 frames; the cell is left empty']);
    const c = await buildListeningComparison(lp, { runDir: join(tmp, 'generated'), systems: [{ id: 'reference', label: 'reference clip' }, ...systems.map((x) => x.column)] });
    assert.equal(count(listeningGridHtml(c), /<audio /g), 4);
    await assert.rejects(generateComparison([{ text: 'x', speaker: 0 }], systems, { sampling, seed: 0, progress: 'none' }), /prompt 0: system finetuned\+context clones a voice but the prompt has no context turns/);
  } finally {
    mimi.dispose();
  }
});
