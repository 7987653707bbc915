// Transcript readers, writer, validation and correction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyRules, editDistance, matchCase, parseHfChunks, parseRules, parseSrt, parseVtt, parseWhisperJson, proposalsToRules, proposeCorrections,
  readTranscript, soundex, validateSegments, writeTranscript, type Segment, type Transcript,
} from '../../src/transcript';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ttslab-transcript-'));
}

const whisperResult = {
  text: ' Hello there. General Kenobi.',
  segments: [
    { id: 0, seek: 0, start: 0.0, end: 1.5, text: ' Hello there.', tokens: [1, 2], temperature: 0, avg_logprob: -0.21, compression_ratio: 0.9, no_speech_prob: 0.01,
      words: [{ word: ' Hello', start: 0, end: 0.6, probability: 0.9 }, { word: ' there.', start: 0.7, end: 1.5, probability: 0.8 }] },
    { id: 1, seek: 0, start: 1.8, end: 3.0, text: ' General Kenobi.', tokens: [3], temperature: 0, avg_logprob: -0.5, compression_ratio: 0.9, no_speech_prob: 0.02 },
  ],
  language: 'en',
};

test('openai-whisper JSON: segments, scores and words; round trip through writeTranscript', async () => {
  const t = parseWhisperJson(whisperResult, 'talk.json');
  assert.equal(t.segments.length, 2);
  assert.deepEqual(t.segments[0]!.words![1], { word: ' there.', start: 0.7, end: 1.5, probability: 0.8 });
  assert.equal(t.segments[1]!.avgLogprob, -0.5);
  assert.equal(t.language, 'en');
  const dir = tempDir();
  try {
    const file = join(dir, 'copy.json');
    await writeTranscript(file, t);
    const back = await readTranscript(file);
    assert.deepEqual(back.segments, t.segments);
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(raw.text, 'Hello there. General Kenobi.');
    assert.equal(raw.segments[0].avg_logprob, -0.21);
    await assert.rejects(writeTranscript(file, back), /copy\.json: refusing to overwrite the transcript this one was read from/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('whisper JSON field errors name the file, the path and the value', () => {
  assert.throws(() => parseWhisperJson({ segments: [{ start: 0, end: '1', text: 'x' }] }, 'a.json'), /a\.json: segments\[0\]\.end is "1", not a number of seconds/);
  assert.throws(() => parseWhisperJson({ text: 'x' }, 'b.json'), /b\.json: not an openai-whisper result: no "segments" array/);
});

test('Hugging Face pipeline chunks, with a null final end', () => {
  const out = { text: ' a b', chunks: [{ timestamp: [0, 2.5], text: ' One.' }, { timestamp: [2.5, null], text: ' Two.' }] };
  assert.throws(() => parseHfChunks(out, 'hf.json'), /hf\.json: chunks\[1\]\.timestamp has no end \(null\); pass lastEndSeconds/);
  const t = parseHfChunks(out, 'hf.json', { lastEndSeconds: 4.25 });
  assert.deepEqual(t.segments.map((s) => [s.id, s.start, s.end, s.text]), [[0, 0, 2.5, ' One.'], [1, 2.5, 4.25, ' Two.']]);
});

test('SRT and VTT cues, markup removed, CRLF accepted', () => {
  const srt = '1\r\n00:00:01,000 --> 00:00:04,250\r\n<i>Hello</i>\r\nworld\r\n\r\n2\r\n00:00:05,000 --> 00:00:06,000\r\nAgain\r\n';
  const s = parseSrt(srt, 'x.srt');
  assert.deepEqual(s.segments, [{ id: 1, start: 1, end: 4.25, text: 'Hello world' }, { id: 2, start: 5, end: 6, text: 'Again' }]);
  const vtt = 'WEBVTT\n\nNOTE made by hand\n\nintro\n00:01.500 --> 00:03.000 align:start\n<v Roger>Hi <00:02.000><c>there</c>\n\n01:00:00.000 --> 01:00:01.000\nLate\n';
  const v = parseVtt(vtt, 'x.vtt');
  assert.deepEqual(v.segments.map((x) => [x.start, x.end, x.text]), [[1.5, 3, 'Hi there'], [3600, 3601, 'Late']]);
  assert.throws(() => parseVtt('00:01.000 --> 00:02.000\nx', 'y.vtt'), /y\.vtt: line 1 is .*starts with "WEBVTT"/);
  assert.throws(() => parseSrt('1\n00:00:01 --> 00:00:02\nx\n', 'z.srt'), /z\.srt: line 2: cannot read timestamps/);
});

test('a non-UTF-8 transcript is an error naming the file and the byte offset', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'latin1.srt');
    // "café" in Latin-1: 0xe9 is not valid UTF-8 here.
    writeFileSync(file, Buffer.concat([Buffer.from('1\n00:00:01,000 --> 00:00:02,000\ncaf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    await assert.rejects(readTranscript(file), /latin1\.srt: not UTF-8 text: invalid byte 0xe9 at offset 35/);
    await assert.rejects(readTranscript(join(dir, 'none.json')), /none\.json: cannot read \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validation lists the ids of bad segments by kind', () => {
  const seg = (id: number, start: number, end: number, text = 'x'): Segment => ({ id, start, end, text });
  const w = validateSegments([seg(0, 0, 2), seg(1, 1.5, 3), seg(2, 3, 2.5), seg(3, 2.9, 4, '  '), seg(4, 1, 2), seg(5, 5, 6), seg(6, 5.99, 7)], 'talk.json');
  const byKind = Object.fromEntries(w.map((x) => [x.kind, x.ids]));
  assert.deepEqual(byKind, { 'end-before-start': [2], 'non-monotonic': [3, 4], overlap: [1], 'empty-text': [3] });
  assert.match(w.find((x) => x.kind === 'non-monotonic')!.message, /^talk\.json: 2 segments start before the previous segment starts \(out of order\): ids 3, 4$/);
  assert.deepEqual(validateSegments([seg(0, 0, 1), seg(1, 1, 2)]), []);
});

test('rules: whole words, case kept, regex opt-in; the original transcript is untouched', () => {
  const t: Transcript = { segments: [
    { id: 0, start: 0, end: 1, text: 'Dudly built the vocoder. DUDLY! dudly\'s work, not dudlyish.' },
    { id: 1, start: 1, end: 2, text: 'Nothing here.' },
    { id: 2, start: 2, end: 3, text: 'In 1939 and 1940.' },
  ], source: 'orig.json' };
  const rules = parseRules({ rules: [{ find: 'dudly', replace: 'Dudley' }, { find: '(\\d{4}) and (\\d{4})', replace: '$1 to $2', regex: true }] }, 'rules.json');
  const { transcript, changes } = applyRules(t, rules);
  assert.equal(transcript.segments[0]!.text, "Dudley built the vocoder. DUDLEY! Dudley's work, not dudlyish.");
  assert.equal(transcript.segments[2]!.text, 'In 1939 to 1940.');
  assert.equal(t.segments[0]!.text, 'Dudly built the vocoder. DUDLY! dudly\'s work, not dudlyish.', 'input not modified');
  assert.equal(transcript.source, undefined, 'the corrected copy is not tied to the original file');
  assert.deepEqual(changes.map((c) => [c.segmentId, c.rules]), [[0, ['dudly -> Dudley']], [2, ['(\\d{4}) and (\\d{4}) -> $1 to $2']]]);
  assert.equal(matchCase('word', 'term'), 'term');
  assert.equal(matchCase('Word', 'term'), 'Term');
  assert.equal(matchCase('WORD', 'term'), 'TERM');
  assert.throws(() => parseRules({ rules: [{ find: 'a' }] }, 'r.json'), /r\.json: rules\[0\]\.replace is undefined, not a string/);
  assert.throws(() => parseRules([{ find: '(', replace: '', regex: true }], 'r.json'), /r\.json: rules\[0\]\.find "\(" is not a valid regular expression/);
});

test('Soundex matches the published examples; edit distance counts transpositions once', () => {
  // Examples from the US National Archives' Soundex description.
  for (const [w, k] of [['Robert', 'R163'], ['Rupert', 'R163'], ['Rubin', 'R150'], ['Ashcraft', 'A261'], ['Tymczak', 'T522'], ['Pfister', 'P236'], ['Honeyman', 'H555'], ['Lee', 'L000']]) {
    assert.equal(soundex(w!), k, w);
  }
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('klatt', 'klat'), 1);
  assert.equal(editDistance('ab', 'ba'), 1);
});

test('the glossary proposes near misses of names, not exact spellings or unrelated words', () => {
  const t: Transcript = { segments: [
    { id: 0, start: 0, end: 1, text: 'Homer Dudly demonstrated the Voder.' },
    { id: 1, start: 1, end: 2, text: 'Dennis Klat wrote a flat paper; Homer Dudley agreed.' },
    { id: 2, start: 2, end: 3, text: 'Then came Wolfgang von Kempelen and Kempelin again.' },
  ] };
  const p = proposeCorrections(t, ['Homer Dudley', 'Klatt', 'Kempelen', 'Voder']);
  assert.deepEqual(p.map((x) => [x.segmentId, x.found, x.term]), [[0, 'Homer Dudly', 'Homer Dudley'], [1, 'Klat', 'Klatt'], [2, 'Kempelin', 'Kempelen']]);
  const { transcript } = applyRules(t, proposalsToRules(p));
  assert.equal(transcript.segments[1]!.text, 'Dennis Klatt wrote a flat paper; Homer Dudley agreed.');
});

test('writeTranscript leaves no temporary file behind', async () => {
  const dir = tempDir();
  try {
    await writeTranscript(join(dir, 'out.json'), { segments: [] });
    assert.deepEqual(readdirSync(dir), ['out.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
