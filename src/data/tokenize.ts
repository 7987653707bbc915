/**
 * Tokenization (notebook 04): every clip of a dataset encoded to codec codes, with a
 * progress bar, cached on disk so a rerun encodes nothing.
 *
 * Cache key: sha256 of the clip's audio bytes (the WAV in the dataset) + the codec's `id`
 * (which names the codec and its weights). An entry is one binary file, written to a
 * temporary file and renamed into place, so a crash leaves either a whole entry or none;
 * an entry that is nevertheless damaged (truncated, edited, another codec's) fails its
 * header, length or checksum test and is re-encoded with a warning.
 *
 * Entry layout (little-endian), `ENTRY_VERSION` 1:
 *   0   8 bytes  magic "TTSLCODE"
 *   8   u32      version
 *   12  u32      numFrames
 *   16  u32      numCodebooks
 *   20  u32      source sample rate (Hz, the clip's own)
 *   24  u32      source samples (per channel)
 *   28  u32      codec sample rate (Hz, what was encoded)
 *   32  32 bytes sha256 of the clip's audio bytes
 *   64  u32      byte length L of the codec id, then L bytes of UTF-8
 *   68+L         int32 codes, frame-major `[frames][codebooks]`
 *   end-4 u32    crc32 of every byte before it
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '../audio/files';
import { resample } from '../audio/resample';
import { toMono } from '../audio/slice';
import { decodeWav } from '../audio/wav';
import { showAudio } from '../notebook/audio';
import type { Figure } from '../notebook/figure';
import { showPlot } from '../notebook/plot';
import { ProgressBar, type ProgressOptions } from '../notebook/progress';
import { codecFrameRateHz, codecFrames, type AudioCodec, type CodedClip, type Codes } from '../models/types';
import { workspace } from './workspace';

const MAGIC = Buffer.from('TTSLCODE', 'ascii');
export const ENTRY_VERSION = 1;
const FIXED_HEADER_BYTES = 68; // magic 8 + 6 x u32 + sha256 32 + id length u32
const CRC_BYTES = 4;

/** A dataset row as tokenization needs it: the clip as WAV bytes (`DatasetRow` fits). */
export interface TokenizeRow {
  audio: { bytes: Uint8Array; path?: string };
  text: string;
  /** Speaker id from 0; missing means 0, as the workshop's data. */
  source?: number;
}

export interface TokenizeOptions {
  /** Cache folder (default: the work folder's `codes/`). Entries go under a sub-folder per codec id. */
  cacheDir?: string;
  /** Called after each clip with clips done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Where notices (resampling, mix-down) and warnings (damaged entries) go; default console.warn. */
  onNotice?: (message: string) => void;
  /** Progress bar sink (default: detected, notebook or terminal). */
  progress?: ProgressOptions['mode'];
}

export interface TokenizedClip extends CodedClip {
  /** Position of the row in the input. */
  index: number;
  /** sha256 (hex) of the clip's audio bytes: the cache key with the codec id. */
  audioSha256: string;
  /** The clip's own rate (Hz), before any resampling to the codec's. */
  sourceSampleRate: number;
  /** Clip length in seconds (at its own rate). */
  seconds: number;
  /** True when the codes came from the cache. */
  cached: boolean;
}

/** One resampling that happened (or happened when the cached codes were made). */
export interface ResampleNote {
  fromHz: number;
  toHz: number;
  clips: number;
}

export interface TokenizeSummary {
  codecId: string;
  cacheDir: string;
  clips: number;
  /** Code frames over all clips. */
  frames: number;
  /** Audio seconds over all clips (at their own rates). */
  seconds: number;
  /** Clips whose codes came from the cache. */
  cacheHits: number;
  /** Clips encoded in this run (damaged entries included). */
  cacheMisses: number;
  /** Cache entries found damaged and re-encoded. */
  damagedEntries: number;
  /** Clips not at the codec's rate, by source rate (they were resampled before encoding). */
  resampled: ResampleNote[];
  /** Clips with several channels, mixed down to mono before encoding. */
  mixedDown: number;
  /** Wall-clock seconds spent in `codec.encode`. */
  encodeSeconds: number;
}

export interface TokenizeResult {
  clips: TokenizedClip[];
  summary: TokenizeSummary;
}

/** A parsed cache entry. */
interface Entry {
  codes: Codes;
  sourceSampleRate: number;
  sourceSamples: number;
}

/** sha256 hex of bytes. */
function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The cache folder of one codec: a readable slug of its id plus a hash, so distinct ids never share a folder. */
export function codecCacheDir(cacheDir: string, codecId: string): string {
  const slug = codecId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  return join(cacheDir, `${slug}-${sha256Hex(codecId).slice(0, 12)}`);
}

/** Path of the entry for a clip hash under a codec's folder (two-character fan-out, as git's objects). */
export function cacheEntryPath(cacheDir: string, codecId: string, audioSha256: string): string {
  return join(codecCacheDir(cacheDir, codecId), audioSha256.slice(0, 2), `${audioSha256}.codes`);
}

/**
 * Removes temporary files left in a codec's cache folder by a tokenizer that was killed
 * mid-write (`.<entry>.<pid>.<hex>.tmp`, see src/audio/files.ts), when that pid no longer
 * runs; a live writer's files are left alone. Returns how many were removed.
 */
export async function removeStaleTempFiles(codecDir: string): Promise<number> {
  let removed = 0;
  let subdirs: string[];
  try {
    subdirs = await readdir(codecDir);
  } catch {
    return 0;
  }
  for (const sub of subdirs) {
    let names: string[];
    try {
      names = await readdir(join(codecDir, sub));
    } catch {
      continue; // not a folder
    }
    for (const name of names) {
      const m = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
      }
      if (!alive) {
        await unlink(join(codecDir, sub, name)).catch(() => undefined);
        removed++;
      }
    }
  }
  return removed;
}

/** Serialises codes and their provenance as a cache entry (layout in the file comment). */
export function encodeCacheEntry(codes: Codes, numCodebooks: number, meta: { codecId: string; audioSha256: string; sourceSampleRate: number; sourceSamples: number; codecSampleRate: number }): Buffer {
  const id = Buffer.from(meta.codecId, 'utf8');
  const frames = codes.length;
  const total = FIXED_HEADER_BYTES + id.length + 4 * frames * numCodebooks + CRC_BYTES;
  const buf = Buffer.alloc(total);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(ENTRY_VERSION, 8);
  buf.writeUInt32LE(frames, 12);
  buf.writeUInt32LE(numCodebooks, 16);
  buf.writeUInt32LE(meta.sourceSampleRate, 20);
  buf.writeUInt32LE(meta.sourceSamples, 24);
  buf.writeUInt32LE(meta.codecSampleRate, 28);
  Buffer.from(meta.audioSha256, 'hex').copy(buf, 32);
  buf.writeUInt32LE(id.length, 64);
  id.copy(buf, FIXED_HEADER_BYTES);
  let off = FIXED_HEADER_BYTES + id.length;
  for (const frame of codes) {
    for (let k = 0; k < numCodebooks; k++, off += 4) buf.writeInt32LE(frame[k]!, off);
  }
  buf.writeUInt32LE(crc32(buf.subarray(0, off)) >>> 0, off);
  return buf;
}

/**
 * Parses a cache entry; throws with the reason when the bytes are not a whole entry for
 * this codec and clip (the caller re-encodes). Every check is cheap: header, exact length, crc32.
 */
export function decodeCacheEntry(buf: Buffer, expect: { codecId: string; audioSha256: string; numCodebooks: number; codecSampleRate: number }): Entry {
  if (buf.length < FIXED_HEADER_BYTES + CRC_BYTES) throw new Error(`${buf.length} bytes, shorter than the ${FIXED_HEADER_BYTES + CRC_BYTES}-byte header`);
  if (!buf.subarray(0, 8).equals(MAGIC)) throw new Error('no TTSLCODE header');
  const version = buf.readUInt32LE(8);
  if (version !== ENTRY_VERSION) throw new Error(`entry version ${version}, expected ${ENTRY_VERSION}`);
  const frames = buf.readUInt32LE(12);
  const numCodebooks = buf.readUInt32LE(16);
  const idLength = buf.readUInt32LE(64);
  const expected = FIXED_HEADER_BYTES + idLength + 4 * frames * numCodebooks + CRC_BYTES;
  if (buf.length !== expected) throw new Error(`${buf.length} bytes, header says ${expected} (${frames} frames x ${numCodebooks} codebooks): truncated or extended`);
  const crcAt = buf.length - CRC_BYTES;
  const crc = crc32(buf.subarray(0, crcAt)) >>> 0;
  if (crc !== buf.readUInt32LE(crcAt)) throw new Error(`checksum ${crc.toString(16)} != stored ${buf.readUInt32LE(crcAt).toString(16)}`);
  const codecId = buf.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + idLength).toString('utf8');
  if (codecId !== expect.codecId) throw new Error(`made by codec ${JSON.stringify(codecId)}, not ${JSON.stringify(expect.codecId)}`);
  const sha = buf.subarray(32, 64).toString('hex');
  if (sha !== expect.audioSha256) throw new Error(`made from audio ${sha.slice(0, 12)}..., not ${expect.audioSha256.slice(0, 12)}...`);
  if (numCodebooks !== expect.numCodebooks) throw new Error(`${numCodebooks} codebooks, the codec makes ${expect.numCodebooks}`);
  const codecRate = buf.readUInt32LE(28);
  if (codecRate !== expect.codecSampleRate) throw new Error(`encoded at ${codecRate} Hz, the codec reads ${expect.codecSampleRate} Hz`);
  const codes: Codes = new Array(frames);
  let off = FIXED_HEADER_BYTES + idLength;
  for (let t = 0; t < frames; t++) {
    const frame = new Array<number>(numCodebooks);
    for (let k = 0; k < numCodebooks; k++, off += 4) frame[k] = buf.readInt32LE(off);
    codes[t] = frame;
  }
  return { codes, sourceSampleRate: buf.readUInt32LE(20), sourceSamples: buf.readUInt32LE(24) };
}

/** Throws, naming the clip, unless `codes` is `[ceil(samples / frameSamples)][numCodebooks]` of non-negative integers. */
function checkCodes(codes: Codes, codec: AudioCodec, samples: number, where: string): void {
  const want = codecFrames(codec, samples);
  if (!Array.isArray(codes) || codes.length !== want) {
    throw new Error(`${where}: codec ${codec.id} returned ${Array.isArray(codes) ? codes.length : typeof codes} frames for ${samples} samples, expected ceil(${samples} / ${codec.frameSamples}) = ${want}`);
  }
  codes.forEach((frame, t) => {
    if (frame.length !== codec.numCodebooks) throw new Error(`${where}: frame ${t} has ${frame.length} codebooks, codec ${codec.id} says numCodebooks = ${codec.numCodebooks}`);
    for (let k = 0; k < frame.length; k++) {
      const v = frame[k]!;
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new Error(`${where}: frame ${t} codebook ${k} is ${v}, not a code (integer >= 0)`);
    }
  });
}

function checkCodec(codec: AudioCodec): void {
  const bad = (field: string, v: unknown, why: string) => {
    throw new Error(`codec.${field} ${why}, got ${JSON.stringify(v)}`);
  };
  if (typeof codec.id !== 'string' || codec.id.length === 0) bad('id', codec.id, 'must be a non-empty string naming the codec and its weights (the cache key)');
  if (!Number.isInteger(codec.sampleRate) || codec.sampleRate <= 0) bad('sampleRate', codec.sampleRate, 'must be a positive integer (Hz)');
  if (!Number.isInteger(codec.frameSamples) || codec.frameSamples <= 0) bad('frameSamples', codec.frameSamples, 'must be a positive integer (samples per frame)');
  if (!Number.isInteger(codec.numCodebooks) || codec.numCodebooks <= 0) bad('numCodebooks', codec.numCodebooks, 'must be a positive integer');
}

/**
 * Encodes every row's clip to codes with `codec`, through the on-disk cache. Clips not at
 * the codec's rate are resampled (Kaiser-windowed sinc, src/audio) and a notice says how
 * many from which rate; clips with several channels are mixed down, also with a notice.
 */
export async function tokenizeDataset(rows: readonly TokenizeRow[], codec: AudioCodec, options: TokenizeOptions = {}): Promise<TokenizeResult> {
  checkCodec(codec);
  const cacheDir = options.cacheDir ?? workspace('codes');
  const notice = options.onNotice ?? ((m: string) => console.warn(m));
  const bar = new ProgressBar({ label: `tokenizing ${rows.length} clips (${codec.id})`, total: rows.length, mode: options.progress });
  const summary: TokenizeSummary = {
    codecId: codec.id, cacheDir: codecCacheDir(cacheDir, codec.id), clips: rows.length, frames: 0, seconds: 0,
    cacheHits: 0, cacheMisses: 0, damagedEntries: 0, resampled: [], mixedDown: 0, encodeSeconds: 0,
  };
  const stale = await removeStaleTempFiles(summary.cacheDir);
  if (stale > 0) notice(`removed ${stale} temporary file(s) left in ${summary.cacheDir} by an interrupted run`);
  const resampledFrom = new Map<number, number>();
  const clips: TokenizedClip[] = [];
  try {
    for (const [index, row] of rows.entries()) {
      const where = `row ${index}${row.audio?.path ? ` (${row.audio.path})` : ''}`;
      if (!row.audio || !(row.audio.bytes instanceof Uint8Array)) throw new Error(`${where}: audio.bytes must be the clip's WAV bytes, got ${typeof row.audio?.bytes}`);
      const source = row.source ?? 0;
      if (!Number.isInteger(source) || source < 0) throw new Error(`${where}: source must be a speaker id (integer >= 0), got ${JSON.stringify(row.source)}`);
      const audioSha256 = sha256Hex(row.audio.bytes);
      const file = cacheEntryPath(cacheDir, codec.id, audioSha256);
      const expect = { codecId: codec.id, audioSha256, numCodebooks: codec.numCodebooks, codecSampleRate: codec.sampleRate };

      let entry: Entry | null = null;
      let bytes: Buffer | null = null;
      try {
        bytes = await readFile(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: cannot read cache entry (${(e as Error).message})`);
      }
      if (bytes) {
        try {
          entry = decodeCacheEntry(bytes, expect);
        } catch (e) {
          summary.damagedEntries++;
          notice(`warning: cache entry ${file} for ${where} is damaged (${(e as Error).message}); re-encoding the clip`);
        }
      }

      const cached = entry !== null;
      if (entry) summary.cacheHits++;
      else {
        let audio = decodeWav(row.audio.bytes, where);
        if (audio.channels.length > 1) {
          summary.mixedDown++;
          audio = toMono(audio);
        }
        let samples = audio.channels[0]!;
        if (audio.sampleRate !== codec.sampleRate) samples = resample(samples, audio.sampleRate, codec.sampleRate);
        const t0 = performance.now();
        const codes = await codec.encode(samples);
        summary.encodeSeconds += (performance.now() - t0) / 1000;
        checkCodes(codes, codec, samples.length, where);
        const meta = { codecId: codec.id, audioSha256, sourceSampleRate: audio.sampleRate, sourceSamples: audio.channels[0]!.length, codecSampleRate: codec.sampleRate };
        await writeFileAtomic(file, encodeCacheEntry(codes, codec.numCodebooks, meta));
        entry = { codes, sourceSampleRate: meta.sourceSampleRate, sourceSamples: meta.sourceSamples };
        summary.cacheMisses++;
      }
      if (entry.sourceSampleRate !== codec.sampleRate) resampledFrom.set(entry.sourceSampleRate, (resampledFrom.get(entry.sourceSampleRate) ?? 0) + 1);
      const seconds = entry.sourceSamples / entry.sourceSampleRate;
      summary.frames += entry.codes.length;
      summary.seconds += seconds;
      clips.push({ index, codes: entry.codes, text: row.text, source, audioSha256, sourceSampleRate: entry.sourceSampleRate, seconds, cached });
      bar.tick(1, `${summary.cacheHits} cached, ${summary.cacheMisses} encoded`);
      options.onProgress?.(index + 1, rows.length);
    }
    bar.finish();
  } catch (e) {
    bar.finish(`failed: ${(e as Error).message}`);
    throw e;
  }

  summary.resampled = [...resampledFrom].sort((a, b) => a[0] - b[0]).map(([fromHz, n]) => ({ fromHz, toHz: codec.sampleRate, clips: n }));
  for (const r of summary.resampled) {
    const up = r.fromHz < r.toHz ? ' (upsampled: the codes hold nothing above the source\'s ' + r.fromHz / 2 + ' Hz)' : '';
    notice(`${r.clips} of ${rows.length} clips at ${r.fromHz} Hz were resampled to ${r.toHz} Hz for codec ${codec.id}${up}`);
  }
  if (summary.mixedDown > 0) notice(`${summary.mixedDown} of ${rows.length} clips had several channels and were mixed down to mono for codec ${codec.id}`);
  return { clips, summary };
}

/** A summary as table rows for `showTable` (seconds rounded, frame rate shown). */
export function tokenizeSummaryRows(summary: TokenizeSummary, codec: Pick<AudioCodec, 'sampleRate' | 'frameSamples'>): Record<string, string | number>[] {
  return [
    { what: 'clips', value: summary.clips },
    { what: 'audio (s)', value: Number(summary.seconds.toFixed(1)) },
    { what: 'code frames', value: summary.frames },
    { what: 'frame rate (Hz)', value: codecFrameRateHz(codec) },
    { what: 'from cache', value: summary.cacheHits },
    { what: 'encoded now', value: summary.cacheMisses },
    { what: 'damaged entries re-encoded', value: summary.damagedEntries },
    { what: 'resampled', value: summary.resampled.map((r) => `${r.clips} from ${r.fromHz} Hz`).join(', ') || 'none' },
    { what: 'encode time (s)', value: Number(summary.encodeSeconds.toFixed(2)) },
  ];
}

// -- code histograms -------------------------------------------------------------------

/** How often each code of one codebook occurs. */
export interface CodeHistogram {
  codebook: number;
  /** counts[c] = occurrences of code c; length = codebookSize, or the largest code seen + 1. */
  counts: number[];
  /** Frames counted. */
  total: number;
  /** Distinct codes used. */
  used: number;
  /**
   * exp(entropy) of the code distribution: the number of equally likely codes it is worth.
   * Much lower than the codebook size means most codes go unused.
   */
  perplexity: number;
}

/**
 * Per-codebook histograms over one clip's codes or many clips'. `codebookSize` fixes the
 * length of `counts` (and rejects larger codes, naming them); by default it is the largest code + 1.
 */
export function codeHistogram(codes: Codes | Codes[], options: { codebookSize?: number } = {}): CodeHistogram[] {
  // Codes[] (many clips) holds clips whose elements are frames (arrays); Codes (one clip) holds
  // frames whose elements are numbers. The first non-empty element tells which.
  const first = (codes as unknown[][]).find((x) => x.length > 0);
  const clips: Codes[] = first !== undefined && Array.isArray(first[0]) ? (codes as Codes[]) : [codes as Codes];
  const n = clips.find((c) => c.length > 0)?.[0]?.length ?? 0;
  const counts: number[][] = Array.from({ length: n }, () => (options.codebookSize ? new Array<number>(options.codebookSize).fill(0) : []));
  let total = 0;
  clips.forEach((clip, ci) => {
    clip.forEach((frame, t) => {
      if (frame.length !== n) throw new Error(`codeHistogram: clip ${ci} frame ${t} has ${frame.length} codebooks, expected ${n}`);
      for (let k = 0; k < n; k++) {
        const c = frame[k]!;
        if (!Number.isInteger(c) || c < 0 || (options.codebookSize !== undefined && c >= options.codebookSize)) {
          throw new Error(`codeHistogram: clip ${ci} frame ${t} codebook ${k} is ${c}, not a code in [0, ${options.codebookSize ?? 'inf'})`);
        }
        const row = counts[k]!;
        while (row.length <= c) row.push(0);
        row[c]!++;
      }
      total++;
    });
  });
  return counts.map((row, codebook) => {
    let entropy = 0;
    let used = 0;
    for (const x of row) {
      if (x === 0) continue;
      used++;
      const p = x / total;
      entropy -= p * Math.log(p);
    }
    return { codebook, counts: row, total, used, perplexity: Math.exp(entropy) };
  });
}

/** One bar chart per codebook (the first `maxCodebooks`, default 4). */
export function codeHistogramFigures(histograms: CodeHistogram[], options: { maxCodebooks?: number } = {}): Figure[] {
  return histograms.slice(0, options.maxCodebooks ?? 4).map((h) => ({
    data: [{ type: 'bar', x: h.counts.map((_, c) => c), y: h.counts, name: `codebook ${h.codebook}`, marker: { color: '#1f77b4' } }],
    layout: {
      title: { text: `Codebook ${h.codebook}: ${h.used} of ${h.counts.length} codes used, perplexity ${h.perplexity.toFixed(1)} (${h.total} frames)` },
      xaxis: { title: { text: 'code' } },
      yaxis: { title: { text: 'frames' } },
      height: 260,
    },
  }));
}

/**
 * Shows one histogram per codebook for tokenized clips (or codes), the first
 * `maxCodebooks` (default 4); returns the histograms of every codebook.
 */
export function showCodeHistograms(clips: readonly CodedClip[] | Codes[], options: { maxCodebooks?: number; codebookSize?: number } = {}): CodeHistogram[] {
  const codes = clips.map((c) => (Array.isArray(c) ? c : c.codes));
  const hist = codeHistogram(codes, { codebookSize: options.codebookSize });
  for (const fig of codeHistogramFigures(hist, options)) showPlot(fig, { height: 260 });
  return hist;
}

/** Decodes codes back to audio with the codec and shows a player; returns the samples (at codec.sampleRate). */
export async function listenDecoded(codec: AudioCodec, codes: Codes, options: { title?: string } = {}): Promise<Float32Array> {
  const samples = await codec.decode(codes);
  const seconds = codes.length / codecFrameRateHz(codec);
  showAudio(samples, codec.sampleRate, { title: options.title ?? `decoded by ${codec.id}: ${codes.length} frames (${seconds.toFixed(2)} s)` });
  return samples;
}
