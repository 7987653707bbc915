import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipFrame, clipSummary, aq } from '../../src/data/frame';
import type { DatasetRow } from '../../src/data/dataset';
import { tableBundle } from '../../src/notebook';

function row(path: string, text: string, duration: number, source = 0): DatasetRow {
  return { audio: { bytes: new Uint8Array(0), path }, text, source, duration };
}

test('clipFrame: one row per clip with speaking rate; clipSummary per split and speaker', () => {
  const train = [row('a.wav', 'one two three', 2), row('b.wav', 'four', 4), row('c.wav', 'five six', 3, 1)];
  const validation = [row('d.wav', 'seven eight nine ten', 5)];
  const frame = clipFrame({ train, validation });
  assert.equal(frame.numRows(), 4);
  assert.deepEqual(frame.columnNames(), ['split', 'path', 'source', 'duration', 'chars', 'words', 'charsPerSecond', 'text']);
  const a = frame.objects()[0] as Record<string, unknown>;
  assert.equal(a.words, 3);
  assert.equal(a.charsPerSecond, 13 / 2);

  const summary = clipSummary(frame).objects() as Record<string, number | string>[];
  // train/0: clips a (2 s, 13 chars) and b (4 s, 4 chars); train/1: c; validation/0: d.
  assert.deepEqual(summary.map((s) => [s.split, s.source, s.clips]), [['train', 0, 2], ['train', 1, 1], ['validation', 0, 1]]);
  const t0 = summary[0]!;
  assert.equal(t0.minutes, 6 / 60);
  assert.equal(t0.shortest, 2);
  assert.equal(t0.median, 3);
  assert.equal(t0.longest, 4);
  assert.equal(t0.charsPerSecond, 17 / 6);

  // A cell's own query, shown as a table.
  const fastest = frame.orderby(aq.desc('charsPerSecond')).slice(0, 1);
  assert.match(tableBundle(fastest)['text/html']!, /<td>a\.wav<\/td>/);
});
