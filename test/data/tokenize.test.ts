// Tokenization with the on-disk cache, against a real codec: the tiny random Mimi model of
// test/fixtures/mimi (transformers-parity-tested in test/models/mimi), 8 codebooks, on
// slices of the flite speech clip shipped with it.
import { test, before, after } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeWav, encodeWav, resample } from '../../src/audio';
import { MimiModel } from '../../src/models/mimi';
import { codecFrameRateHz, codecFrames, parseModelChoice, type AudioCodec, type Codes } from '../../src/models/types';
import type { AudioCodec as CsmAudioCodec } from '../../src/models/csm';
import {
  cacheEntryPath, codeHistogram, codeHistogramFigures, decodeCacheEntry, encodeCacheEntry, listenDecoded, showCodeHistograms,
  tokenizeDataset, tokenizeSummaryRows, type TokenizeRow,
} from '../../src/data/tokenize';
import { setDisplaySink, type MimeBundle } from '../../src/notebook/display';

const FIXTURE_DIR = join(__dirname, '..', 'fixtures', 'mimi');
const SR = 24_000;

let mimi: MimiModel;
let speech: Float32Array; // 77400 samples at 24 kHz
let tmp: string;

before(async () => {
  await tf.setBackend('cpu');
  mimi = await MimiModel.fromPretrained(FIXTURE_DIR);
  const a = decodeWav(readFileSync(join(FIXTURE_DIR, 'speech_slt_24k.wav')));
  assert.equal(a.sampleRate, SR);
  speech = a.channels[0]!;
  tmp = mkdtempSync(join(tmpdir(), 'ttslab-tok-'));
});
after(() => {
  mimi?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** The Mimi codec as an `AudioCodec`, counting encode calls (the count is what "a rerun costs nothing" measures). */
function codec(numCodebooks = 8): AudioCodec & { encodeCalls: number } {
  const base = mimi.asAudioCodec(numCodebooks);
  const c = {
    ...base,
    id: `mimi-tiny-fixture:${numCodebooks}`,
    encodeCalls: 0,
    encode: async (samples: Float32Array) => {
      c.encodeCalls++;
      return base.encode(samples);
    },
  };
  return c;
}

function wavRow(samples: Float32Array, sampleRate: number, text: string, path: string, channels = 1): TokenizeRow {
  const ch = Array.from({ length: channels }, () => samples);
  return { audio: { bytes: encodeWav({ sampleRate, channels: ch }, { format: 'float32' }).bytes, path }, text, source: 0 };
}

/** Three clips at 24 kHz (0.8 s, 1.0 s, 0.5 s: frame counts 10, 13, 7) and one at 16 kHz. */
function rows(): TokenizeRow[] {
  return [
    wavRow(speech.slice(0, 19_200), SR, 'first', 'a.wav'),
    wavRow(speech.slice(19_200, 43_200), SR, 'second', 'b.wav'),
    wavRow(speech.slice(43_200, 55_200), SR, 'third', 'c.wav'),
    wavRow(resample(speech.slice(55_200, 74_400), SR, 16_000), 16_000, 'fourth, at 16 kHz', 'd.wav'),
  ];
}

function allFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? allFiles(join(dir, n)) : [join(dir, n)]));
}

test('first run encodes every clip; the rerun calls encode 0 times and returns the same codes', async () => {
  const cacheDir = join(tmp, 'rerun');
  const c = codec();
  const notices: string[] = [];
  const progress: number[] = [];
  const first = await tokenizeDataset(rows(), c, { cacheDir, progress: 'none', onNotice: (m) => notices.push(m), onProgress: (d, n) => progress.push(d / n) });
  assert.equal(c.encodeCalls, 4);
  assert.deepEqual(progress, [0.25, 0.5, 0.75, 1]);
  assert.equal(first.summary.cacheMisses, 4);
  assert.equal(first.summary.cacheHits, 0);
  assert.deepEqual(first.clips.map((x) => x.codes.length), [10, 13, 7, 10], 'frames = ceil(samples / 1920) at 24 kHz');
  assert.equal(first.summary.frames, 40);
  assert.ok(Math.abs(first.summary.seconds - (0.8 + 1.0 + 0.5 + 0.8)) < 1e-6, `seconds ${first.summary.seconds}`);
  assert.deepEqual(first.clips.map((x) => x.text), ['first', 'second', 'third', 'fourth, at 16 kHz']);
  // The cached codes are the codec's: a direct encode of the 24 kHz clip gives the same.
  assert.deepEqual(first.clips[1]!.codes, await mimi.asAudioCodec(8).encode(speech.slice(19_200, 43_200)));
  // The 16 kHz clip is resampled with src/audio's resampler before encoding, and a notice says so.
  const d = decodeWav(rows()[3]!.audio.bytes);
  assert.deepEqual(first.clips[3]!.codes, await mimi.asAudioCodec(8).encode(resample(d.channels[0]!, 16_000, SR)));
  assert.equal(first.clips[3]!.sourceSampleRate, 16_000);
  assert.deepEqual(first.summary.resampled, [{ fromHz: 16_000, toHz: SR, clips: 1 }]);
  assert.equal(notices.length, 1, notices.join('\n'));
  assert.match(notices[0]!, /1 of 4 clips at 16000 Hz were resampled to 24000 Hz/);
  assert.match(notices[0]!, /upsampled/);

  const encodeSecondsBefore = first.summary.encodeSeconds;
  const again = await tokenizeDataset(rows(), c, { cacheDir, progress: 'none', onNotice: (m) => notices.push(m) });
  assert.equal(c.encodeCalls, 4, 'the rerun must not call encode');
  assert.equal(again.summary.cacheHits, 4);
  assert.equal(again.summary.cacheMisses, 0);
  assert.equal(again.summary.encodeSeconds, 0);
  assert.ok(encodeSecondsBefore > 0);
  assert.deepEqual(again.clips.map((x) => x.codes), first.clips.map((x) => x.codes));
  assert.ok(again.clips.every((x) => x.cached));
  // The resampling is still reported from the cached entries' headers: never silent.
  assert.match(notices[1]!, /1 of 4 clips at 16000 Hz were resampled/);
  const table = tokenizeSummaryRows(again.summary, c);
  assert.deepEqual(table.find((r) => r.what === 'from cache'), { what: 'from cache', value: 4 });
  assert.deepEqual(table.find((r) => r.what === 'frame rate (Hz)'), { what: 'frame rate (Hz)', value: 12.5 });
});

test('the key is clip bytes + codec id: a duplicate clip is encoded once, another codebook count is a new entry', async () => {
  const cacheDir = join(tmp, 'keys');
  const rs = rows().slice(0, 2);
  const dup = [rs[0]!, rs[1]!, { ...rs[0]!, text: 'same audio, other text' }];
  const c8 = codec(8);
  const r8 = await tokenizeDataset(dup, c8, { cacheDir, progress: 'none', onNotice: () => undefined });
  assert.equal(c8.encodeCalls, 2, 'the third row has the first row\'s bytes');
  assert.deepEqual(r8.clips[2]!.codes, r8.clips[0]!.codes);
  assert.equal(r8.clips[2]!.text, 'same audio, other text');
  const c4 = codec(4);
  const r4 = await tokenizeDataset(rs, c4, { cacheDir, progress: 'none' });
  assert.equal(c4.encodeCalls, 2, 'another codec id never reads the 8-codebook entries');
  assert.equal(r4.clips[0]!.codes[0]!.length, 4);
  // RVQ: the first 4 codebooks of an 8-codebook encode are the 4-codebook encode.
  assert.deepEqual(r4.clips[0]!.codes, r8.clips[0]!.codes.map((f) => f.slice(0, 4)));
});

test('damaged entries (truncated, flipped byte, foreign file) are detected, warned about by file, and re-encoded', async () => {
  const cacheDir = join(tmp, 'damaged');
  const c = codec();
  const first = await tokenizeDataset(rows(), c, { cacheDir, progress: 'none', onNotice: () => undefined });
  const files = first.clips.map((x) => cacheEntryPath(cacheDir, c.id, x.audioSha256));
  const whole = files.map((f) => readFileSync(f));
  writeFileSync(files[0]!, whole[0]!.subarray(0, whole[0]!.length - 9)); // a crash mid-write without temp + rename
  const flipped = Buffer.from(whole[1]!);
  flipped[flipped.length - 20]! ^= 0x01; // one bit of one code
  writeFileSync(files[1]!, flipped);
  writeFileSync(files[2]!, 'not an entry');
  const warnings: string[] = [];
  const again = await tokenizeDataset(rows(), c, { cacheDir, progress: 'none', onNotice: (m) => warnings.push(m) });
  assert.equal(c.encodeCalls, 4 + 3, 'exactly the three damaged clips are encoded again');
  assert.equal(again.summary.damagedEntries, 3);
  assert.equal(again.summary.cacheHits, 1);
  const damage = warnings.filter((w) => w.startsWith('warning:'));
  assert.equal(damage.length, 3);
  assert.ok(damage[0]!.includes(files[0]!) && /truncated/.test(damage[0]!), damage[0]);
  assert.ok(damage[1]!.includes(files[1]!) && /checksum/.test(damage[1]!), damage[1]);
  assert.ok(damage[2]!.includes(files[2]!) && /shorter than|header/.test(damage[2]!), damage[2]);
  assert.deepEqual(again.clips.map((x) => x.codes), first.clips.map((x) => x.codes));
  // The rewritten entries are whole again.
  files.forEach((f, i) => assert.deepEqual(readFileSync(f), whole[i]));
});

test('a failure mid-dataset leaves whole entries for the clips done and no temporary files; the rerun encodes only the rest', async () => {
  const cacheDir = join(tmp, 'crash');
  const c = codec();
  const failing: AudioCodec = {
    ...c,
    encode: async (s: Float32Array) => {
      if (c.encodeCalls === 2) throw new Error('out of memory (simulated)');
      return c.encode(s);
    },
  };
  await assert.rejects(tokenizeDataset(rows(), failing, { cacheDir, progress: 'none' }), /out of memory/);
  const files = allFiles(cacheDir);
  assert.equal(files.length, 2, files.join('\n'));
  assert.ok(files.every((f) => f.endsWith('.codes')), 'no temporary file is left behind');
  const r = await tokenizeDataset(rows(), c, { cacheDir, progress: 'none', onNotice: () => undefined });
  assert.equal(c.encodeCalls, 4, '2 before the failure + the 2 clips not yet cached');
  assert.equal(r.summary.cacheHits, 2);
});

test('entry format: header fields round trip; a wrong codec id, clip hash or codebook count is rejected', () => {
  const codes: Codes = [[1, 2, 3], [4, 5, 2047]];
  const sha = 'ab'.repeat(32);
  const meta = { codecId: 'mimi:x@1:3', audioSha256: sha, sourceSampleRate: 16_000, sourceSamples: 3000, codecSampleRate: SR };
  const buf = encodeCacheEntry(codes, 3, meta);
  const expect = { codecId: meta.codecId, audioSha256: sha, numCodebooks: 3, codecSampleRate: SR };
  assert.deepEqual(decodeCacheEntry(buf, expect), { codes, sourceSampleRate: 16_000, sourceSamples: 3000 });
  assert.throws(() => decodeCacheEntry(buf, { ...expect, codecId: 'mimi:x@2:3' }), /made by codec "mimi:x@1:3"/);
  assert.throws(() => decodeCacheEntry(buf, { ...expect, audioSha256: 'cd'.repeat(32) }), /made from audio abababababab/);
  assert.throws(() => decodeCacheEntry(buf, { ...expect, numCodebooks: 8 }), /3 codebooks, the codec makes 8/);
  assert.throws(() => decodeCacheEntry(Buffer.concat([buf, Buffer.alloc(4)]), expect), /truncated or extended/);
});

test('bad inputs are named: codec without id, codes of the wrong frame count, a row without WAV bytes', async () => {
  const cacheDir = join(tmp, 'bad');
  const c = codec();
  await assert.rejects(tokenizeDataset(rows(), { ...c, id: '' }, { cacheDir, progress: 'none' }), /codec\.id must be a non-empty string.*got ""/);
  const short: AudioCodec = { ...c, encode: async (s) => (await c.encode(s)).slice(1) };
  await assert.rejects(tokenizeDataset(rows(), short, { cacheDir, progress: 'none' }), /row 0 \(a\.wav\): codec mimi-tiny-fixture:8 returned 9 frames for 19200 samples, expected ceil\(19200 \/ 1920\) = 10/);
  const noBytes = [{ audio: { path: 'x.wav' }, text: 'x' } as unknown as TokenizeRow];
  await assert.rejects(tokenizeDataset(noBytes, c, { cacheDir, progress: 'none' }), /row 0 \(x\.wav\): audio\.bytes must be/);
  await assert.rejects(tokenizeDataset([{ ...rows()[0]!, source: -1 }], c, { cacheDir, progress: 'none' }), /row 0 \(a\.wav\): source must be a speaker id.*got -1/);
});

test('a stereo clip is mixed down with a notice', async () => {
  const cacheDir = join(tmp, 'stereo');
  const notices: string[] = [];
  const r = await tokenizeDataset([wavRow(speech.slice(0, 9600), SR, 'stereo', 's.wav', 2)], codec(), { cacheDir, progress: 'none', onNotice: (m) => notices.push(m) });
  assert.equal(r.summary.mixedDown, 1);
  assert.match(notices.join('\n'), /1 of 1 clips had several channels and were mixed down to mono/);
  // Both channels equal, so the mix is the clip itself.
  assert.deepEqual(r.clips[0]!.codes, await mimi.asAudioCodec(8).encode(speech.slice(0, 9600)));
});

test('codeHistogram counts per codebook over clips; figures and listenDecoded display through the notebook sink', async () => {
  const a: Codes = [[0, 5], [0, 6], [1, 6]];
  const b: Codes = [[2, 6]];
  const h = codeHistogram([a, b]);
  assert.equal(h.length, 2);
  assert.deepEqual(h[0]!.counts, [2, 1, 1]);
  assert.deepEqual(h[1]!.counts, [0, 0, 0, 0, 0, 1, 3]);
  assert.equal(h[0]!.total, 4);
  assert.equal(h[1]!.used, 2);
  // perplexity = exp(H): codebook 1 has p = (1/4, 3/4).
  assert.ok(Math.abs(h[1]!.perplexity - Math.exp(-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)))) < 1e-12);
  assert.deepEqual(codeHistogram(a).map((x) => x.total), [3, 3], 'one clip works too');
  assert.deepEqual(codeHistogram([a, b], { codebookSize: 8 })[0]!.counts, [2, 1, 1, 0, 0, 0, 0, 0]);
  assert.throws(() => codeHistogram([a, b], { codebookSize: 6 }), /clip 0 frame 1 codebook 1 is 6, not a code in \[0, 6\)/);
  assert.equal(codeHistogramFigures(h, { maxCodebooks: 1 }).length, 1);

  const shown: MimeBundle[] = [];
  setDisplaySink((bundle) => shown.push(bundle));
  try {
    const c = codec();
    const r = await tokenizeDataset(rows().slice(0, 2), c, { cacheDir: join(tmp, 'hist'), progress: 'none' });
    const hist = showCodeHistograms(r.clips, { maxCodebooks: 3 });
    assert.equal(hist.length, 8);
    const plots = shown.filter((s) => s['text/plain']?.startsWith('<plot'));
    assert.equal(plots.length, 3, 'one plot per codebook, the first 3');
    assert.match(plots[0]!['text/plain']!, /Codebook 0: \d+ of \d+ codes used/);
    const samples = await listenDecoded(c, r.clips[0]!.codes);
    assert.equal(samples.length, 10 * 1920);
    const player = shown.at(-1)!;
    assert.match(player['text/html']!, /<audio controls/);
    assert.match(player['text/plain']!, /0\.80 s at 24000 Hz/);
  } finally {
    setDisplaySink(null);
  }
});

// The child process of the SIGKILL test: it tokenizes the WAV files named in argv with the
// Mimi fixture and kills itself (SIGKILL, no cleanup) half-way through writing the bytes of
// its KILL_AT-th cache entry, the worst moment for the cache.
const KILL_CHILD = `
const fsp = require('node:fs/promises');
const { readFileSync } = require('node:fs');
const writeFile = fsp.writeFile;
let writes = 0;
fsp.writeFile = async (file, data, ...rest) => {
  if (String(file).endsWith('.tmp') && ++writes === Number(process.env.KILL_AT)) {
    await writeFile(file, data.subarray(0, data.length >> 1));
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => undefined);
  }
  return writeFile(file, data, ...rest);
};
(async () => {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const { MimiModel } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'models', 'mimi'))});
  const { tokenizeDataset } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'data', 'tokenize.ts'))});
  const mimi = await MimiModel.fromPretrained(process.env.FIXTURE_DIR);
  const codec = { ...mimi.asAudioCodec(8), id: 'mimi-tiny-fixture:8' };
  const [cacheDir, ...files] = process.argv.slice(1);
  const rows = files.map((f) => ({ audio: { bytes: readFileSync(f), path: f }, text: f }));
  await tokenizeDataset(rows, codec, { cacheDir, progress: 'none', onNotice: () => undefined });
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('SIGKILL half-way through writing a cache entry leaves no entry for that clip; the rerun encodes only the missing clips', async () => {
  const dir = join(tmp, 'kill');
  const cacheDir = join(dir, 'cache');
  mkdirSync(dir, { recursive: true });
  const files = rows().map((r, i) => {
    const f = join(dir, `clip${i}.wav`);
    writeFileSync(f, r.audio.bytes);
    return f;
  });
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', KILL_CHILD, cacheDir, ...files], {
    cwd: join(__dirname, '..', '..'), env: { ...process.env, KILL_AT: '3', FIXTURE_DIR }, encoding: 'utf8',
  });
  assert.equal(child.signal, 'SIGKILL', `child should have killed itself: status ${child.status}, stderr ${child.stderr}`);
  const left = allFiles(cacheDir);
  const entries = left.filter((f) => f.endsWith('.codes'));
  const temps = left.filter((f) => f.endsWith('.tmp'));
  assert.equal(entries.length, 2, 'the two entries written before the kill are in place');
  assert.equal(temps.length, 1, 'the half-written bytes are in a temporary file, never under an entry name');
  assert.ok(statSync(temps[0]!).size > 0);
  const c = codec();
  const warnings: string[] = [];
  const r = await tokenizeDataset(files.map((f) => ({ audio: { bytes: readFileSync(f), path: f }, text: f })), c, { cacheDir, progress: 'none', onNotice: (m) => warnings.push(m) });
  assert.equal(r.summary.cacheHits, 2);
  assert.equal(c.encodeCalls, 2, 'only the clip killed mid-write and the one after it');
  assert.equal(r.summary.damagedEntries, 0, 'no entry is damaged: the kill hit the temporary file');
  assert.ok(!warnings.some((w) => w.startsWith('warning:')), warnings.join('\n'));
  // The killed process's temporary file is cleaned up (its pid no longer runs).
  assert.ok(warnings.some((w) => /removed 1 temporary file\(s\) left in .* by an interrupted run/.test(w)), warnings.join('\n'));
  assert.deepEqual(allFiles(cacheDir).filter((f) => f.endsWith('.tmp')), []);
  // The codes match a run that was never killed.
  const clean = await tokenizeDataset(rows(), codec(), { cacheDir: join(dir, 'clean'), progress: 'none', onNotice: () => undefined });
  assert.deepEqual(r.clips.map((x) => x.codes), clean.clips.map((x) => x.codes));
});

test('the model interface: a Mimi codec plus an id is an AudioCodec and still CSM\'s; frame rate and frame count; model choice', () => {
  const c: AudioCodec = { ...mimi.asAudioCodec(8), id: 'mimi-tiny-fixture:8' };
  // Compile-time: ttslab's AudioCodec is CSM's codec contract plus `id`, so CSM's processor takes it as is.
  const forCsm: CsmAudioCodec = c;
  assert.equal(forCsm.frameSamples, 1920);
  assert.equal(codecFrameRateHz(c), 12.5);
  assert.deepEqual([0, 1, 1920, 1921].map((n) => codecFrames(c, n)), [0, 1, 1, 2]);
  assert.deepEqual(parseModelChoice('csm'), { kind: 'family', family: 'csm' });
  assert.deepEqual(parseModelChoice('sesame/csm-1b'), { kind: 'repo', repoId: 'sesame/csm-1b' });
  assert.throws(() => parseModelChoice('CSM-1B'), /model must be one of csm, orpheus, llasa, mini or a Hub repo id "owner\/name", got "CSM-1B"/);
});
