// Parquet datasets: the Hub's Audio struct written elsewhere loads; ttslab's files round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRows, chunkSegments, datasetStats, loadDataset, readParquet, saveDataset, trainEvalSplit, writeParquet, type DatasetRow } from '../../src/data';
import { decodeWav } from '../../src/audio';

const fixtures = join(__dirname, '..', 'fixtures', 'data');
const TEXTS = ['First clip, spoken slowly.', "Second clip: Dr. Klatt's DECtalk.", 'Third clip — with UTF-8 (é, ü, 日本).'];

// hf_audio_arrowrs.parquet is made here (arrow-rs); hf_audio_pyarrow.parquet by pyarrow on a
// machine that has it (see make_hf_audio_fixture.py). Each present file must load.
for (const name of ['hf_audio_arrowrs.parquet', 'hf_audio_pyarrow.parquet']) {
  test(`a Hub-layout Parquet with the Audio struct loads: ${name}`, { skip: !existsSync(join(fixtures, name)) && `${name} not generated yet (run make_hf_audio_fixture.py where pyarrow is installed)` }, async () => {
    const rows = await readParquet(join(fixtures, name));
    assert.deepEqual(rows.map((r) => r.text), TEXTS);
    assert.deepEqual(rows.map((r) => r.audio.path), ['clip_0000.wav', 'clip_0001.wav', 'clip_0002.wav']);
    assert.deepEqual(rows.map((r) => r.source), [0, 0, 0], 'no source column means speaker 0');
    [220, 330, 440].forEach((f, i) => {
      const a = decodeWav(rows[i]!.audio.bytes);
      assert.equal(a.sampleRate, 16_000);
      assert.equal(rows[i]!.duration, 0.1, 'duration from the WAV header');
      for (let k = 0; k < 1600; k += 50) {
        const expected = Math.round(32767 * 0.5 * Math.sin((2 * Math.PI * f * k) / 16_000));
        assert.ok(Math.abs(a.channels[0]![k]! * 32768 - expected) < 1.01, `clip ${i} sample ${k}`);
      }
    });
  });
}

function tone(seconds: number, sampleRate: number): Float32Array {
  return Float32Array.from({ length: Math.round(seconds * sampleRate) }, (_, i) => 0.3 * Math.sin(i / 7));
}

test('buildRows cuts clips at the source rate; writeParquet + readParquet round trip every byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-ds-'));
  try {
    const sampleRate = 22_050;
    const audio = { sampleRate, channels: [tone(12, sampleRate)] };
    const { clips } = chunkSegments([
      { id: 0, start: 0.5, end: 3.25, text: 'One.' },
      { id: 1, start: 4, end: 7.5, text: 'Two.' },
      { id: 2, start: 8, end: 11.9, text: 'Three.' },
    ], { maxSeconds: 4 });
    const rows = buildRows(audio, clips, { source: 2 });
    assert.deepEqual(rows.map((r) => r.duration), [2.75, 3.5, 3.9].map((s) => Math.round(s * sampleRate) / sampleRate));
    const a = decodeWav(rows[0]!.audio.bytes);
    assert.equal(a.sampleRate, sampleRate, 'no resampling');
    const file = join(dir, 'x.parquet');
    await writeParquet(file, rows);
    const back = await readParquet(file);
    assert.deepEqual(back.map((r) => [r.text, r.source, r.duration, r.audio.path]), rows.map((r) => [r.text, 2, r.duration, r.audio.path]));
    back.forEach((r, i) => assert.ok(Buffer.from(r.audio.bytes).equals(Buffer.from(rows[i]!.audio.bytes)), `row ${i} bytes`));
    const stats = Object.fromEntries(datasetStats(back).map((s) => [s.statistic, s.dataset]));
    assert.equal(stats.clips, 3);
    assert.equal(stats.speakers, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('saveDataset writes the Hub layout; loadDataset finds train and eval; bad rows leave no file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-ds-'));
  try {
    const wav = (n: number) => buildRows({ sampleRate: 8_000, channels: [tone(1 + n / 10, 8_000)] }, [{ index: n, start: 0, end: 1 + n / 10, durationSeconds: 0, text: '', segmentIds: [], endsOnSentence: true }])[0]!.audio;
    const rows: DatasetRow[] = Array.from({ length: 20 }, (_, n) => ({ audio: wav(n), text: `Clip number ${n}.`, source: 0, duration: 1 + n / 10 }));
    const split = trainEvalSplit(rows, { evalFraction: 0.2, seed: 3 });
    assert.equal(split.eval.length, 4);
    assert.deepEqual(trainEvalSplit(rows, { evalFraction: 0.2, seed: 3 }).eval.map((r) => r.text), split.eval.map((r) => r.text), 'same seed, same split');
    assert.deepEqual([...split.train, ...split.eval].map((r) => r.text).sort(), rows.map((r) => r.text).sort());
    await saveDataset(dir, { train: split.train, eval: split.eval });
    assert.deepEqual(readdirSync(join(dir, 'data')).sort(), ['train-00000-of-00001.parquet', 'validation-00000-of-00001.parquet']);
    assert.deepEqual((await loadDataset(dir)).map((r) => r.text), split.train.map((r) => r.text));
    assert.deepEqual((await loadDataset(dir, { split: 'eval' })).map((r) => r.text), split.eval.map((r) => r.text));
    await assert.rejects(loadDataset(dir, { split: 'test' }), /no Parquet files for split "test" \(found: data\/train-00000-of-00001\.parquet, data\/validation-00000-of-00001\.parquet\)/);

    const bad = join(dir, 'bad', 'b.parquet');
    await assert.rejects(writeParquet(bad, [{ ...rows[0]!, text: '  ' }]), /b\.parquet: row 0: text is "  ", not a non-empty string/);
    assert.equal(existsSync(bad), false);
    assert.deepEqual(existsSync(join(dir, 'bad')) ? readdirSync(join(dir, 'bad')) : [], [], 'no temporary file left');
    await assert.rejects(readParquet(join(dir, 'data')), /data: cannot read \(EISDIR\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
