// Chunking: property tests on seeded random transcripts, and worked examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkSegments, endsSentence, splitSentences } from '../../src/data';
import type { Segment } from '../../src/transcript';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random transcript: segments of 0.2-45 s, some with word timestamps, words numbered w0, w1, ... */
function randomTranscript(seed: number): { segments: Segment[]; words: string[] } {
  const r = rng(seed);
  const segments: Segment[] = [];
  const words: string[] = [];
  let t = r() * 2;
  const n = 5 + Math.floor(r() * 60);
  for (let id = 0; id < n; id++) {
    const long = r() < 0.1;
    const duration = long ? 30 + r() * 15 : 0.2 + r() * 12;
    const count = Math.max(1, Math.round(duration * (1 + r() * 2)));
    const segWords: { word: string; start: number; end: number }[] = [];
    for (let k = 0; k < count; k++) {
      // Some words end sentences, some carry abbreviations that do not.
      const end = r() < 0.15 ? '.' : r() < 0.05 ? ' Dr.' : '';
      const w = `w${words.length}${end}`;
      words.push(...w.split(' '));
      segWords.push({ word: ` ${w}`, start: t + (k / count) * duration, end: t + ((k + 1) / count) * duration });
    }
    const seg: Segment = { id, start: t, end: t + duration, text: segWords.map((w) => w.word).join('') };
    if (r() < 0.6) seg.words = segWords;
    // One in twenty segments has a single 31 s "word" (music, a long name...).
    if (long && seg.words && r() < 0.2) seg.words[0]!.end = seg.words[0]!.start + 31;
    segments.push(seg);
    t += duration + (r() < 0.1 ? 2 + r() * 3 : r() * 1.2);
  }
  return { segments, words };
}

test('property: no clip exceeds maxSeconds, clips are in order and disjoint, every word is in a clip or dropped, in order', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const { segments, words } = randomTranscript(seed);
    const maxSeconds = [30, 15, 10][seed % 3]!;
    const { clips, dropped } = chunkSegments(segments, { maxSeconds, minSeconds: 1, maxGapSeconds: 2 });
    clips.forEach((c, i) => {
      assert.ok(c.end - c.start <= maxSeconds + 1e-9, `seed ${seed}: clip ${i} is ${c.end - c.start} s`);
      assert.ok(c.end - c.start >= 1, `seed ${seed}: clip ${i} shorter than minSeconds`);
      assert.equal(c.index, i);
      if (i > 0) assert.ok(c.start >= clips[i - 1]!.end - 1e-9, `seed ${seed}: clip ${i} overlaps the previous one`);
    });
    const pieces = [...clips.map((c) => ({ start: c.start, text: c.text })), ...dropped.map((d) => ({ start: d.start, text: d.text }))].sort((a, b) => a.start - b.start);
    const out = pieces.flatMap((p) => p.text.split(/\s+/).filter(Boolean));
    assert.deepEqual(out, words, `seed ${seed}: words lost, duplicated or reordered`);
  }
});

test('property: without word timestamps, exactly the segments longer than maxSeconds are dropped for length', () => {
  for (let seed = 301; seed <= 400; seed++) {
    const segments = randomTranscript(seed).segments.map(({ words: _w, ...s }) => s);
    const { dropped } = chunkSegments(segments, { maxSeconds: 30, minSeconds: 0 });
    const tooLong = segments.filter((s) => s.end - s.start > 30).map((s) => s.id);
    assert.deepEqual(dropped.filter((d) => d.reason === 'longer than maxSeconds, no word timestamps').flatMap((d) => d.segmentIds), tooLong);
  }
});

const seg = (id: number, start: number, end: number, text: string): Segment => ({ id, start, end, text });

test('a clip that would cross the limit ends at the last sentence end inside it', () => {
  const segments = [seg(0, 0, 8, 'One two three.'), seg(1, 8.5, 16, 'Four five'), seg(2, 16.2, 24, 'six seven.'), seg(3, 24.5, 29, 'Eight nine'), seg(4, 29.2, 36, 'ten.')];
  const { clips } = chunkSegments(segments, { maxSeconds: 30 });
  // Greedy would take 0-3 (29 s, ending mid-sentence); the sentence rule ends after segment 2.
  assert.deepEqual(clips.map((c) => c.segmentIds), [[0, 1, 2], [3, 4]]);
  assert.equal(clips[0]!.text, 'One two three. Four five six seven.');
  assert.ok(clips.every((c) => c.endsOnSentence));
  const greedy = chunkSegments(segments, { maxSeconds: 30, sentenceBoundaries: false });
  assert.deepEqual(greedy.clips.map((c) => c.segmentIds), [[0, 1, 2, 3], [4]]);
});

test('gaps, long segments and short leftovers', () => {
  const words = Array.from({ length: 40 }, (_, k) => ({ word: ` x${k}${k === 19 ? '.' : ''}`, start: 10 + k, end: 10.9 + k }));
  const segments = [
    seg(0, 0, 4, 'Before the gap.'),
    { id: 1, start: 10, end: 49.9, text: words.map((w) => w.word).join(''), words },
    seg(2, 60, 95, 'A 35 second segment without words.'),
    seg(3, 100, 100.5, 'Hi.'),
  ];
  const { clips, dropped } = chunkSegments(segments, { maxSeconds: 30, minSeconds: 1, maxGapSeconds: 2 });
  // Segment 1 (39.9 s) splits at word times, at the sentence end after x19 (10 ... 29.9 s).
  assert.deepEqual(clips.map((c) => [c.start, +c.end.toFixed(1)]), [[0, 4], [10, 29.9], [30, 49.9]]);
  assert.deepEqual(dropped.map((d) => [d.segmentIds, d.reason]), [[[2], 'longer than maxSeconds, no word timestamps'], [[3], 'shorter than minSeconds']]);
});

test('sentence ends know abbreviations, initials and decimals', () => {
  assert.equal(endsSentence('He went to M.I.T.'), false);
  assert.equal(endsSentence('e.g.'), false);
  assert.equal(endsSentence('Ask Dr.'), false);
  assert.equal(endsSentence('It cost 3.5'), false);
  assert.equal(endsSentence('"Really?"'), true);
  assert.equal(endsSentence('the end.)'), true);
  assert.deepEqual(splitSentences('Dr. Klatt worked at M.I.T. in Cambridge. His DECtalk, e.g. in 1984, cost $4.5 thousand! Then J. R. Pierce spoke. "Yes," he said.'), [
    'Dr. Klatt worked at M.I.T. in Cambridge.',
    'His DECtalk, e.g. in 1984, cost $4.5 thousand!',
    'Then J. R. Pierce spoke.',
    '"Yes," he said.',
  ]);
});

test('bad options throw with the value', () => {
  assert.throws(() => chunkSegments([], { maxSeconds: 0 }), /maxSeconds must be > 0, got 0/);
  assert.throws(() => chunkSegments([], { minSeconds: 40 }), /minSeconds must be in \[0, maxSeconds\], got 40/);
});
