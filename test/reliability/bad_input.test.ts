/**
 * The bad-input corpus: every kind of broken file a user can hand ttslab, made here by the
 * test (flite + ffmpeg for audio; nothing binary is committed), each rejected with the
 * library's own error naming the file and the field or the defect.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioFileError, decodeAudioFile } from '../../src/audio/ffmpeg';
import { decodeWav, encodeWav } from '../../src/audio/wav';
import { readTranscript } from '../../src/transcript/read';
import { TranscriptError } from '../../src/transcript/types';
import { SafetensorsError, SafetensorsFile } from '../../src/weights/safetensors';
import { DatasetError, readParquet } from '../../src/data/dataset';
import { TrainConfigError, validateTrainConfig } from '../../src/train/config';
import { loadLlamaConfig } from '../../src/models/llama/config';
import { corpusParquet, type ParquetVariant } from './helpers/corpus';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ttslab-rel-bad-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `f`, expecting an error of class `cls` whose message names `file` and matches `re`. */
async function rejects(f: () => unknown, cls: new (...a: never[]) => Error, file: string, re: RegExp): Promise<string> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof cls, `expected ${cls.name} for ${file}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  const msg = (err as Error).message;
  assert.ok(msg.includes(file), `message does not name ${file}: ${msg}`);
  assert.match(msg, re);
  return msg;
}

describe('audio: truncated and corrupted files in every container ffmpeg is used for', () => {
  const containers = [
    { ext: 'wav', args: [] as string[] },
    { ext: 'mp3', args: ['-c:a', 'libmp3lame'] },
    { ext: 'flac', args: ['-c:a', 'flac'] },
    { ext: 'ogg', args: ['-c:a', 'libvorbis'] },
    { ext: 'opus', args: ['-c:a', 'libopus'] },
    { ext: 'm4a', args: ['-c:a', 'aac'] },
  ];
  let speech: string;
  before(() => {
    speech = join(dir, 'speech.wav');
    execFileSync('flite', ['-t', 'The quick brown fox jumps over the lazy dog. Then it runs far away into the forest.', '-o', speech]);
  });
  const broken = /truncated|damaged|not a readable audio file|cannot decode|unsupported codec/;
  for (const { ext, args } of containers) {
    test(`${ext}: whole file decodes; cut at 40 % and corrupted copies are refused naming the file`, async () => {
      const good = join(dir, `good.${ext}`);
      if (ext === 'wav') writeFileSync(good, readFileSync(speech));
      else execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', speech, ...args, good]);
      // A whole file decodes (a 16 kHz MP3 once failed here: its encoder padding counted as truncation).
      const a = await decodeAudioFile(good);
      assert.ok(a.channels[0]!.length / a.sampleRate > 4.5);
      const bytes = readFileSync(good);
      const cut = join(dir, `cut.${ext}`);
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.4)));
      const m = await rejects(() => decodeAudioFile(cut), AudioFileError, cut, broken);
      if (ext === 'ogg' || ext === 'opus') assert.match(m, /last Ogg page/);
      // Corruption: WAV (PCM has no checksum) and mp3 (the first bytes are an ID3 tag) in the
      // middle of the stream, the others in their headers.
      const bad = Buffer.from(bytes);
      const at = ext === 'wav' ? 20 : ext === 'mp3' ? Math.floor(bytes.length / 2) : 0;
      for (let i = 0; i < (ext === 'mp3' ? 64 : 16); i++) bad[at + i] = (i * 37 + 11) & 0xff;
      const corrupt = join(dir, `corrupt.${ext}`);
      writeFileSync(corrupt, bad);
      await rejects(() => decodeAudioFile(corrupt), AudioFileError, corrupt, broken);
    });
  }
  test('ogg cut exactly at a page boundary: the missing end-of-stream flag gives it away', async () => {
    const ogg = join(dir, 'good.ogg');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', speech, '-c:a', 'libvorbis', ogg]);
    const b = readFileSync(ogg);
    const last = b.lastIndexOf('OggS', b.length - 1, 'latin1');
    const cut = join(dir, 'page-cut.ogg');
    writeFileSync(cut, b.subarray(0, last));
    await rejects(() => decodeAudioFile(cut), AudioFileError, cut, /does not end the stream/);
  });
  test('empty file and a text file named .wav', async () => {
    const empty = join(dir, 'empty.mp3');
    writeFileSync(empty, '');
    await rejects(() => decodeAudioFile(empty), AudioFileError, empty, /zero-length file/);
    const text = join(dir, 'notes.wav');
    writeFileSync(text, 'these are my notes, not audio\n');
    await rejects(() => decodeAudioFile(text), AudioFileError, text, /not a readable audio file/);
  });
  test('in-memory WAV (dataset cells): each header field that is wrong is named', () => {
    const x = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i));
    const wav = () => Buffer.from(encodeWav({ sampleRate: 16000, channels: [x] }).bytes);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['format', (b) => b.writeUInt16LE(0xfffe, 20), /fmt\.format is 65534/],
      ['channels', (b) => b.writeUInt16LE(0, 22), /fmt\.channels is 0/],
      ['rate', (b) => b.writeUInt32LE(0, 24), /fmt\.sampleRate is 0/],
      ['blockAlign', (b) => b.writeUInt16LE(7, 32), /fmt\.blockAlign is 7/],
      ['bits', (b) => b.writeUInt16LE(12, 34), /fmt\.bitsPerSample is 12/],
      ['data size', (b) => b.writeUInt32LE(0x7fffffff, 40), /truncated: the WAV data chunk declares 2147483647 bytes/],
      ['RIFF tag', (b) => b.write('RIFX', 0, 'latin1'), /not a WAV file/],
    ];
    for (const [name, edit, re] of cases) {
      const b = wav();
      edit(b);
      assert.throws(() => decodeWav(b, `cell-${name}.wav`), (e: Error) => e instanceof AudioFileError && e.message.startsWith(`cell-${name}.wav: `) && re.test(e.message), name);
    }
  });
});

describe('transcripts: invalid JSON, wrong types, control characters', () => {
  const seg = (o: Record<string, unknown> = {}) => ({ id: 0, start: 0, end: 1.5, text: ' Hello.', ...o });
  const cases: [string, string, RegExp][] = [
    ['invalid.json', '{"segments": [', /not valid JSON/],
    ['no-segments.json', '{"text": "hi"}', /no "segments" array/],
    ['start-string.json', JSON.stringify({ segments: [seg({ start: '0.5' })] }), /segments\[0\]\.start is "0\.5", not a number of seconds/],
    ['text-number.json', JSON.stringify({ segments: [seg(), seg({ text: 42 })] }), /segments\[1\]\.text is 42, not a string/],
    ['bell.json', JSON.stringify({ segments: [seg(), seg({ text: ' Ring\u0007 ring' })] }), /segments\[1\]\.text holds the control character U\+0007 at index 5/],
    ['nul-word.json', JSON.stringify({ segments: [seg({ words: [{ word: ' He\u0000llo', start: 0, end: 1 }] })] }), /segments\[0\]\.words\[0\]\.word holds the control character U\+0000/],
    ['word-null.json', JSON.stringify({ segments: [seg({ words: [null] })] }), /segments\[0\]\.words\[0\] is null, not an object/],
    ['chunk-ts.json', JSON.stringify({ chunks: [{ timestamp: [0], text: 'x' }] }), /chunks\[0\]\.timestamp is \[0\], not \[start, end\]/],
    ['escape.srt', '1\n00:00:00,000 --> 00:00:01,000\nHello \u001b[31mred\n', /line 3: cue text holds the control character U\+001B/],
  ];
  for (const [name, text, re] of cases) {
    test(name, async () => {
      const f = join(dir, name);
      writeFileSync(f, text);
      await rejects(() => readTranscript(f), TranscriptError, f, re);
    });
  }
  test('not UTF-8', async () => {
    const f = join(dir, 'latin1.json');
    writeFileSync(f, Buffer.concat([Buffer.from('{"segments": [{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}]}')]));
    await rejects(() => readTranscript(f), TranscriptError, f, /not UTF-8 text: invalid byte 0xe9 at offset 27/);
  });
});

describe('safetensors: hostile headers', () => {
  const file = (name: string, header: unknown, data = new Uint8Array(16), length?: bigint, raw?: string) => {
    const json = Buffer.from(raw ?? JSON.stringify(header));
    const b = Buffer.alloc(8 + json.length + data.length);
    b.writeBigUInt64LE(length ?? BigInt(json.length), 0);
    json.copy(b, 8);
    b.set(data, 8 + json.length);
    const f = join(dir, `${name}.safetensors`);
    writeFileSync(f, b);
    return f;
  };
  const t = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };
  const cases: [string, () => string, RegExp][] = [
    ['huge-length', () => file('huge-length', { a: t }, undefined, 2n ** 63n), /header length 9223372036854775808 exceeds the 100000000-byte limit/],
    ['length-past-end', () => file('length-past-end', { a: t }, undefined, 5000n), /header length 5000 is larger than the file allows/],
    ['offsets-out-of-range', () => file('offsets-out-of-range', { a: { ...t, data_offsets: [0, 1600] } }), /"a".*data_offsets|data_offsets.*1600/],
    ['overlap', () => file('overlap', { a: { ...t, shape: [2], data_offsets: [0, 8] }, b: { ...t, shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), /overlap|data_offsets/],
    ['dtype', () => file('dtype', { a: { ...t, dtype: 'F33' } }), /"a".*dtype|dtype.*F33/],
    ['non-object', () => file('non-object', null, undefined, undefined, '[1, 2, 3]'), /header (is not a JSON object|does not start with)/],
    ['shape-mismatch', () => file('shape-mismatch', { a: { ...t, shape: [3, 3] } }), /"a".*(shape|bytes)|shape.*\[3,3\]/],
  ];
  for (const [name, make, re] of cases) {
    test(name, async () => {
      const f = make();
      await rejects(() => SafetensorsFile.open(f), SafetensorsError, f, re);
    });
  }
});

describe('Parquet datasets: missing columns and wrong types', () => {
  const cases: [ParquetVariant, RegExp][] = [
    ['no-audio', /no "audio" column \(columns: text, duration\)/],
    ['no-text', /no "text" column/],
    ['audio-as-string', /row 0: audio\.bytes is missing/],
    ['text-as-int', /row 0: text is "0n", not a string/],
    ['audio-path-only', /row 0: audio\.bytes is missing \(only embedded audio is supported; audio\.path is "c0\.wav"\)/],
  ];
  for (const [variant, re] of cases) {
    test(variant, async () => {
      const f = join(dir, `${variant}.parquet`);
      writeFileSync(f, await corpusParquet(dir, variant));
      await rejects(() => readParquet(f), DatasetError, f, re);
    });
  }
  test('not Parquet at all', async () => {
    const f = join(dir, 'text.parquet');
    writeFileSync(f, 'id,text\n1,hello\n');
    await rejects(() => readParquet(f), DatasetError, f, /not a Parquet file/);
  });
});

describe('configs with wrong types name the file and the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ learningRate: '2e-4' }, /learningRate must be a number > 0, got "2e-4"/],
    [{ loraR: 8.5 }, /loraR must be an integer >= 1, got 8\.5/],
    [{ schedule: 'cosine_restarts' }, /schedule must be one of/],
    [{ targetModules: 'q_proj' }, /targetModules must be a non-empty list of module names, got "q_proj"/],
    [{ learning_rate: 1e-4 }, /learning_rate is not a TrainConfig field \(did you mean learningRate\?\)/],
    [{ resume: 1 }, /resume must be true, false or a checkpoint folder, got 1/],
  ];
  for (const [cfg, re] of cases) {
    test(`train config ${JSON.stringify(cfg)}`, async () => {
      const f = join(dir, 'train.json');
      writeFileSync(f, JSON.stringify(cfg));
      await rejects(() => validateTrainConfig(JSON.parse(readFileSync(f, 'utf8')), f), TrainConfigError, f, re);
    });
  }
  test('model config (Llama config.json) with a string where a number belongs', async () => {
    const d = join(dir, 'llama');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'config.json'), JSON.stringify({
      model_type: 'llama', vocab_size: 24, hidden_size: '32', intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 2, max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000,
    }));
    let err: Error | undefined;
    try {
      await loadLlamaConfig(d);
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err, 'a string hidden_size was accepted');
    assert.match(err.message, /config\.json/);
    assert.match(err.message, /hidden_size/);
  });
});
