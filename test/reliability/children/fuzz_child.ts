/**
 * Fuzz child: `fuzz_child.ts <parser> <cases> <seed> <tmpdir>` runs seeded malformed inputs
 * through one parser of the library and prints `C <i>` before case i (the parent's per-case
 * watchdog reads these), then `RESULT <json>`: outcomes by error class and every case that
 * threw anything but the parser's own error types (with its input kind).
 *
 * Parsers: safetensors (readHeader + every tensor read), transcript (readTranscript of
 * .json/.srt/.vtt), wav (decodeWav), parquet (readParquet), trainconfig (validateTrainConfig).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rng } from '../helpers/common';
import { SafetensorsError, SafetensorsFile, readHeader } from '../../../src/weights/safetensors';
import { TranscriptError } from '../../../src/transcript/types';
import { readTranscript } from '../../../src/transcript/read';
import { AudioFileError } from '../../../src/audio/ffmpeg';
import { decodeWav, encodeWav } from '../../../src/audio/wav';
import { DatasetError, readParquet } from '../../../src/data/dataset';
import { TrainConfigError, validateTrainConfig } from '../../../src/train/config';
import { FileWriteError } from '../../../src/audio/files';
import { corpusParquet, validParquetBytes } from '../helpers/corpus';

type Gen = (i: number) => Promise<void>;

const [parser, casesArg, seedArg, dir] = process.argv.slice(2) as [string, string, string, string];
const r = rng(Number(seedArg));
const int = (n: number) => Math.floor(r() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
const kinds = new Map<string, number>();
const kind = (k: string) => kinds.set(k, (kinds.get(k) ?? 0) + 1);
let currentKind = '';

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}
function mutateBytes(base: Uint8Array, lo = 0, hi = base.length): Uint8Array {
  const b = new Uint8Array(base);
  for (let k = 1 + int(6); k > 0; k--) b[lo + int(Math.max(1, hi - lo))] = int(256);
  return b;
}
/** A hostile JSON value: wrong types, huge and special numbers, control characters, deep nesting. */
function hostileValue(depth = 0): unknown {
  switch (int(depth > 2 ? 12 : 14)) {
    case 0: return null;
    case 1: return pick([0, -1, 1.5, 2 ** 53 + 1, 1e308, -1e308, 5e-324, 2 ** 32, 2 ** 31 - 1]);
    case 2: return pick(['', 'x', '\u0000', '\u0007bell', 'a\u001bb', '\ud800', '﻿', 'NaN', 'Infinity', '1e999', '\u0085']);
    case 3: return pick([true, false]);
    case 4: return [];
    case 5: return {};
    case 6: return 'x'.repeat(int(3) === 0 ? 100_000 : 10);
    case 7: return int(1000) - 500;
    case 8: return r();
    case 9: return pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    case 10: return [hostileValue(depth + 1), hostileValue(depth + 1)];
    case 11: return String.fromCharCode(int(0x20));
    default: return { [pick(['a', 'text', 'start', '__proto__', 'constructor'])]: hostileValue(depth + 1) };
  }
}
/** Replaces, deletes or adds one value somewhere in a JSON tree (paths chosen by the seed). */
function mutateJson(v: unknown, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > 6 || int(5) === 0) return int(4) === 0 ? v : hostileValue();
  if (Array.isArray(v)) {
    const a = [...v];
    if (a.length === 0 || int(6) === 0) a.push(hostileValue());
    else if (int(6) === 0) a.splice(int(a.length), 1);
    else { const i = int(a.length); a[i] = mutateJson(a[i], depth + 1); }
    return a;
  }
  const o: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  const keys = Object.keys(o);
  if (keys.length === 0 || int(8) === 0) Object.defineProperty(o, pick(['extra', '__proto__', 'constructor', 'text', 'chunks']), { value: hostileValue(), enumerable: true, configurable: true, writable: true });
  else if (int(8) === 0) delete o[pick(keys)];
  else { const k = pick(keys); o[k] = mutateJson(o[k], depth + 1); }
  return o;
}

// ---- safetensors ------------------------------------------------------------------------

function st(header: unknown, data: Uint8Array, lengthOverride?: bigint, raw?: string): Uint8Array {
  const json = Buffer.from(raw ?? JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL', 'F64', 'I8', 'F8_E4M3', 'U64', 'X', '', 'f32', 7, null, ['F32']];
function safetensorsCase(): Uint8Array {
  const valid = { a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: 'BF16', shape: [3], data_offsets: [16, 22] }, __metadata__: { format: 'pt' } };
  const data = randomBytes(22);
  const k = pick(['huge-length', 'length', 'offsets-out-of-range', 'overlap', 'dtype', 'non-object', 'shape', 'json-mutate', 'bytes-mutate', 'truncate', 'random', 'metadata', 'not-utf8']);
  currentKind = k;
  switch (k) {
    case 'huge-length': return st(valid, data, pick([2n ** 63n, 2n ** 64n - 1n, 100_000_001n, 2n ** 32n, BigInt(Number.MAX_SAFE_INTEGER) + 2n]));
    case 'length': return st(valid, data, BigInt(int(200)));
    case 'offsets-out-of-range': {
      const h = structuredClone(valid) as unknown as Record<string, { data_offsets: unknown[] }>;
      h.b!.data_offsets = [pick([16, 0, -1, 22]), pick([23, 2 ** 40, 2 ** 64, 1e308, -5, 15, 16.5])];
      return st(h, data);
    }
    case 'overlap': {
      const h = structuredClone(valid) as unknown as Record<string, { data_offsets: unknown[]; shape: number[] }>;
      h.b!.data_offsets = [pick([0, 8, 14]), pick([6, 14, 20])];
      return st(h, data);
    }
    case 'dtype': {
      const h = structuredClone(valid) as unknown as Record<string, { dtype: unknown }>;
      h[pick(['a', 'b'])]!.dtype = pick(DTYPES);
      return st(h, data);
    }
    case 'non-object': return st(null, data, undefined, pick(['[]', '"x"', '1', 'null', 'true', '[{"a":1}]', '{"a": 1}', '{"a": []}', '{', '', ' {}']));
    case 'shape': {
      const h = structuredClone(valid) as unknown as Record<string, { shape: unknown }>;
      h[pick(['a', 'b'])]!.shape = pick([[-1, 4], [2 ** 31, 2 ** 31], [1e308], 'x', [1.5], [null], [], [2, 2, 2], [[2]], [2 ** 53, 2]]);
      return st(h, data);
    }
    case 'json-mutate': return st(mutateJson(valid), data);
    case 'bytes-mutate': { const b = st(valid, data); return mutateBytes(b, 0, pick([8, b.length - 22, b.length])); }
    case 'truncate': { const b = st(valid, data); return b.subarray(0, int(b.length)); }
    case 'metadata': return st({ ...valid, __metadata__: hostileValue() }, data);
    case 'not-utf8': { const b = st(valid, data); b[8 + 1 + int(20)] = 0xff; return b; }
    default: return randomBytes(int(300));
  }
}

// ---- transcripts ------------------------------------------------------------------------

const WHISPER = { text: ' Hello there. How are you?', language: 'en', segments: [
  { id: 0, seek: 0, start: 0, end: 1.5, text: ' Hello there.', tokens: [1, 2], temperature: 0, avg_logprob: -0.2, compression_ratio: 1.1, no_speech_prob: 0.01, words: [{ word: ' Hello', start: 0, end: 0.6, probability: 0.9 }, { word: ' there.', start: 0.6, end: 1.5 }] },
  { id: 1, seek: 150, start: 1.5, end: 3, text: ' How are you?', tokens: [3], temperature: 0, avg_logprob: -0.3, compression_ratio: 1.2, no_speech_prob: 0.02 },
] };
const HF = { text: 'Hello there. How are you?', chunks: [{ timestamp: [0, 1.5], text: ' Hello there.' }, { timestamp: [1.5, null], text: ' How are you?' }] };
const SRT = '1\n00:00:00,000 --> 00:00:01,500\nHello <i>there</i>.\n\n2\n00:00:01,500 --> 00:00:03,000\nHow are you?\n';
const VTT = 'WEBVTT\n\nNOTE made by hand\n\n00:00.000 --> 00:01.500\nHello there.\n\n00:01.500 --> 00:03.000 align:start\n<v Speaker>How are you?\n';
function transcriptCase(): { ext: string; bytes: Uint8Array } {
  const k = pick(['whisper-json', 'hf-json', 'json-bytes', 'json-text', 'control-chars', 'srt', 'vtt', 'not-utf8', 'random']);
  currentKind = k;
  const enc = (s: string) => Buffer.from(s, 'utf8');
  switch (k) {
    case 'whisper-json': return { ext: '.json', bytes: enc(JSON.stringify(mutateJson(WHISPER))) };
    case 'hf-json': return { ext: '.json', bytes: enc(JSON.stringify(mutateJson(HF))) };
    case 'json-bytes': return { ext: '.json', bytes: mutateBytes(enc(JSON.stringify(pick([WHISPER, HF])))) };
    case 'json-text': { const s = JSON.stringify(pick([WHISPER, HF])); const at = int(s.length); return { ext: '.json', bytes: enc(s.slice(0, at) + pick(['', ',', '}', ']', '"', 'null', '\\', '\\u12', 'NaN', '{"a":']) + s.slice(at + int(5))) }; }
    case 'control-chars': { const w = structuredClone(WHISPER); w.segments[int(2)]!.text = ` Hello${String.fromCharCode(pick([0, 7, 8, 11, 12, 27, 127, 0x85]))} there`; return { ext: '.json', bytes: enc(JSON.stringify(w)) }; }
    case 'srt': return { ext: '.srt', bytes: mutateBytes(enc(SRT)) };
    case 'vtt': return { ext: '.vtt', bytes: mutateBytes(enc(VTT)) };
    case 'not-utf8': { const b = enc(JSON.stringify(WHISPER)); b[int(b.length)] = pick([0xff, 0xc0, 0xed, 0xf8, 0x80]); return { ext: '.json', bytes: b }; }
    default: return { ext: pick(['.json', '.srt', '.vtt']), bytes: randomBytes(int(200)) };
  }
}

// ---- WAV --------------------------------------------------------------------------------

const tone = (n: number) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin(i / 5));
const WAVS = [
  new Uint8Array(encodeWav({ sampleRate: 16000, channels: [tone(64)] }).bytes),
  new Uint8Array(encodeWav({ sampleRate: 44100, channels: [tone(32), tone(32)] }, { format: 'float32' }).bytes),
];
function wavCase(): Uint8Array {
  const k = pick(['header-field', 'chunk-size', 'truncate', 'bytes', 'extra-chunk', 'random', 'no-fmt']);
  currentKind = k;
  const base = pick(WAVS);
  const b = new Uint8Array(base);
  const dv = new DataView(b.buffer);
  switch (k) {
    case 'header-field': {
      // fmt fields: format, channels, rate, byte rate, block align, bits.
      const [at, size] = pick([[20, 2], [22, 2], [24, 4], [28, 4], [32, 2], [34, 2]] as const);
      const v = pick([0, 1, 2, 3, 0xfffe, 0xffff, 0xffffffff, 7, 12, 64, 65535, int(2 ** 16)]);
      if (size === 2) dv.setUint16(at, v & 0xffff, true); else dv.setUint32(at, v >>> 0, true);
      return b;
    }
    case 'chunk-size': dv.setUint32(pick([4, 16, 40]), pick([0, 1, 2, 15, 17, 0x7fffffff, 0xffffffff, 0xfffffffe, base.length, int(2 ** 32)]) >>> 0, true); return b;
    case 'truncate': return b.subarray(0, int(b.length));
    case 'bytes': return mutateBytes(b, 0, 44);
    case 'extra-chunk': {
      const extra = new Uint8Array(8 + 3);
      extra.set(Buffer.from(pick(['LIST', 'junk', 'fmt ', 'data', '\0\0\0\0'])), 0);
      new DataView(extra.buffer).setUint32(4, pick([3, 0, 0xffffffff, 100]), true);
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, 12)); out.set(extra, 12); out.set(b.subarray(12), 12 + extra.length);
      return out;
    }
    case 'no-fmt': { b.set(Buffer.from('abcd'), 12); return b; }
    default: { const x = randomBytes(int(80)); if (r() < 0.5 && x.length >= 12) { x.set(Buffer.from('RIFF'), 0); x.set(Buffer.from('WAVE'), 8); } return x; }
  }
}

// ---- Parquet ----------------------------------------------------------------------------

function parquetCase(base: Uint8Array, variants: Uint8Array[]): Uint8Array {
  const k = pick(['footer-bytes', 'body-bytes', 'truncate', 'footer-length', 'missing-columns', 'random', 'magic']);
  currentKind = k;
  const n = base.length;
  const footerLen = new DataView(base.buffer, base.byteOffset).getUint32(n - 8, true);
  switch (k) {
    case 'footer-bytes': return mutateBytes(base, n - 8 - footerLen, n - 8);
    case 'body-bytes': return mutateBytes(base, 4, n - 8 - footerLen);
    case 'truncate': return base.subarray(0, int(n));
    case 'footer-length': { const b = new Uint8Array(base); new DataView(b.buffer).setUint32(n - 8, pick([0, 1, footerLen - 1, footerLen + 1, n, 0xffffffff, int(n)]) >>> 0, true); return b; }
    case 'missing-columns': return mutateBytes(pick(variants), 0, 0);
    case 'magic': { const b = new Uint8Array(base); b.set(Buffer.from(pick(['PAR0', 'XXXX', '\0\0\0\0'])), pick([0, n - 4])); return b; }
    default: return randomBytes(int(400));
  }
}

// ---- train config -----------------------------------------------------------------------

const CONFIG = { loraR: 16, loraAlpha: 32, learningRate: 2e-4, warmupSteps: 5, schedule: 'cosine', maxSteps: 60, batchSize: 2, gradientAccumulationSteps: 4, optimizer: 'adamw_8bit', seed: 0, outputDir: 'runs/x', resume: false, targetModules: ['q_proj', 'v_proj'] };
function configCase(): unknown {
  const k = pick(['field', 'fields', 'unknown-key', 'non-object', 'json-mutate']);
  currentKind = k;
  switch (k) {
    case 'field': return { ...CONFIG, [pick(Object.keys(CONFIG))]: hostileValue() };
    case 'fields': { const o: Record<string, unknown> = { ...CONFIG }; for (let j = int(4); j >= 0; j--) o[pick(['loraR', 'loraDropout', 'adamBeta2', 'evalSplit', 'saveSteps', 'livePlot', 'schedule', 'lossAveraging', 'maxGradNorm'])] = hostileValue(); return o; }
    case 'unknown-key': return { ...CONFIG, [pick(['learning_rate', 'lr', 'LoraR', '', ' ', 'toString', '__proto__', 'constructor', 'valueOf'])]: hostileValue() };
    case 'non-object': return hostileValue();
    default: return mutateJson(CONFIG);
  }
}

// ---- the loop ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const cases = Number(casesArg);
  const outcomes = new Map<string, number>();
  const unexpected: { case: number; kind: string; error: string }[] = [];
  let run: Gen;
  let allowed: (new (...a: never[]) => Error)[];
  const file = (ext: string) => join(dir, `case${ext}`);
  switch (parser) {
    case 'safetensors':
      allowed = [SafetensorsError];
      run = async () => {
        writeFileSync(file('.safetensors'), safetensorsCase());
        await readHeader(file('.safetensors'));
        const f = await SafetensorsFile.open(file('.safetensors'));
        for (const name of f.keys()) await f.read(name);
      };
      break;
    case 'transcript':
      allowed = [TranscriptError];
      run = async () => {
        const { ext, bytes } = transcriptCase();
        writeFileSync(file(ext), bytes);
        await readTranscript(file(ext));
      };
      break;
    case 'wav':
      allowed = [AudioFileError];
      run = async () => { decodeWav(wavCase(), 'case.wav'); };
      break;
    case 'parquet': {
      allowed = [DatasetError, AudioFileError];
      const base = await validParquetBytes(dir);
      const variants = await Promise.all(['no-audio', 'no-text', 'audio-as-string', 'text-as-int', 'no-rows'].map((v) => corpusParquet(dir, v as never)));
      run = async () => {
        writeFileSync(file('.parquet'), parquetCase(base, variants));
        await readParquet(file('.parquet'), { decodeTimeoutSeconds: 2 });
      };
      break;
    }
    case 'trainconfig':
      allowed = [TrainConfigError];
      run = async () => { validateTrainConfig(configCase(), 'fuzz.json'); };
      break;
    default:
      throw new Error(`unknown parser ${parser}`);
  }
  const slow: { case: number; kind: string; ms: number }[] = [];
  for (let i = 0; i < cases; i++) {
    process.stdout.write(`C ${i}\n`);
    currentKind = '';
    const t0 = performance.now();
    try {
      await run(i);
      outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
    } catch (e) {
      const name = e instanceof Error ? e.name : typeof e;
      outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
      if (!allowed.some((c) => e instanceof c) || e instanceof FileWriteError) {
        unexpected.push({ case: i, kind: currentKind, error: e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}\n${e.stack?.split('\n').slice(1, 4).join('\n')}` : String(e) });
      }
    }
    kind(currentKind);
    const ms = performance.now() - t0;
    if (ms > 1000) slow.push({ case: i, kind: currentKind, ms: Math.round(ms) });
  }
  process.stdout.write(`RESULT ${JSON.stringify({ parser, cases, outcomes: Object.fromEntries(outcomes), kinds: Object.fromEntries(kinds), unexpected: unexpected.slice(0, 20), unexpectedCount: unexpected.length, slow })}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
