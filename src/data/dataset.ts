/**
 * Datasets as the Hugging Face Hub stores them: Parquet with `audio` (the `datasets`
 * Audio feature's storage, struct<bytes: binary, path: string>), `text`, `source`
 * (speaker id from 0; a missing column means 0) and `duration` (seconds). Files follow
 * the Hub's layout, `data/<split>-00000-of-00001.parquet`, so `load_dataset(folder)` in
 * Python finds the splits, and the `huggingface` metadata key tells `datasets` that
 * `audio` is Audio.
 */
import { randomBytes } from 'node:crypto';
import { cp, link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { asWriteError, writeAtomically } from '../audio/files';
import { sliceSeconds } from '../audio/slice';
import { decodeWav, encodeWav, type AudioData } from '../audio/wav';
import { snapshot, type SnapshotOptions } from '../hub';
import type { Figure } from '../notebook/figure';
import type { Clip } from './chunk';

// The parts of hyparquet / hyparquet-writer used here (their types are ES-module-only).
interface SchemaElement {
  name: string;
  type?: string;
  repetition_type?: string;
  converted_type?: string;
  logical_type?: { type: string };
  num_children?: number;
}
interface Hyparquet {
  parquetMetadata(file: ArrayBuffer): { schema: SchemaElement[]; key_value_metadata?: { key: string; value?: string }[] };
  parquetReadObjects(options: { file: ArrayBuffer; utf8?: boolean }): Promise<Record<string, unknown>[]>;
}
interface HyparquetWriter {
  parquetWriteBuffer(options: {
    columnData: { name: string; data: unknown[] }[];
    schema: SchemaElement[];
    kvMetadata?: { key: string; value: string }[];
    rowGroupSize?: number;
    statistics?: boolean;
  }): ArrayBuffer;
}
const hyparquet = () => require('hyparquet') as Hyparquet;
const hyparquetWriter = () => require('hyparquet-writer') as HyparquetWriter;

export interface AudioCell {
  /** The clip as a WAV file. */
  bytes: Uint8Array;
  /** A file name for the clip (informational: `datasets` decodes `bytes`). */
  path: string;
}

export interface DatasetRow {
  audio: AudioCell;
  text: string;
  /** Speaker id, from 0. */
  source: number;
  /** Clip length in seconds. */
  duration: number;
}

export class DatasetError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'DatasetError';
  }
}

export interface BuildOptions {
  /** Speaker id for every row (default 0). */
  source?: number;
  /** Clip file names are `${prefix}_0000.wav`... (default 'clip'). */
  pathPrefix?: string;
  /** WAV sample format (default pcm16: half the size, ample for speech). */
  format?: 'pcm16' | 'float32';
  /** Names the recording in errors. */
  sourceFile?: string;
}

/**
 * Cuts the clips out of the recording at its own sample rate (no resampling: the codec
 * notebook resamples once to its codec's rate) and encodes each as WAV.
 */
export function buildRows(audio: AudioData, clips: Clip[], options: BuildOptions = {}): DatasetRow[] {
  const prefix = options.pathPrefix ?? 'clip';
  return clips.map((c) => {
    const piece = sliceSeconds(audio, c.start, c.end, options.sourceFile);
    const { bytes } = encodeWav(piece, { format: options.format ?? 'pcm16' });
    return {
      audio: { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path: `${prefix}_${String(c.index).padStart(4, '0')}.wav` },
      text: c.text,
      source: options.source ?? 0,
      duration: piece.channels[0]!.length / piece.sampleRate,
    };
  });
}

/** The `huggingface` schema metadata `datasets` writes: it makes `audio` an Audio feature. */
export const HF_FEATURES = {
  audio: { _type: 'Audio' },
  text: { dtype: 'string', _type: 'Value' },
  source: { dtype: 'int64', _type: 'Value' },
  duration: { dtype: 'float64', _type: 'Value' },
};

/** A value for an error message (JSON, except what JSON cannot show: bigint, undefined, long strings cut). */
function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x));
  } catch {
    s = undefined;
  }
  s ??= String(v);
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
}

/** Checks one row; errors name the file, the row and the field. */
function checkRow(r: DatasetRow, i: number, file: string): void {
  if (!(r.audio?.bytes instanceof Uint8Array) || r.audio.bytes.length === 0) throw new DatasetError(file, `row ${i}: audio.bytes is empty or missing`);
  if (typeof r.audio.path !== 'string') throw new DatasetError(file, `row ${i}: audio.path is ${show(r.audio.path)}, not a string`);
  if (typeof r.text !== 'string' || r.text.trim() === '') throw new DatasetError(file, `row ${i}: text is ${show(r.text)}, not a non-empty string`);
  if (!Number.isInteger(r.source) || r.source < 0) throw new DatasetError(file, `row ${i}: source is ${r.source}, not a speaker id >= 0`);
  if (!(r.duration > 0) || !Number.isFinite(r.duration)) throw new DatasetError(file, `row ${i}: duration is ${r.duration}, not > 0 seconds`);
}

/** Writes rows to one Parquet file, atomically (a failure leaves no file). */
export async function writeParquet(file: string, rows: DatasetRow[]): Promise<void> {
  if (rows.length === 0) throw new DatasetError(file, 'no rows to write');
  rows.forEach((r, i) => checkRow(r, i, file));
  const { parquetWriteBuffer } = hyparquetWriter();
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'audio', data: rows.map((r) => ({ bytes: r.audio.bytes, path: r.audio.path })) },
      { name: 'text', data: rows.map((r) => r.text) },
      { name: 'source', data: rows.map((r) => BigInt(r.source)) },
      { name: 'duration', data: rows.map((r) => r.duration) },
    ],
    // The schema pyarrow writes for datasets' Audio storage: an optional group of an
    // optional binary and an optional UTF-8 string.
    schema: [
      { name: 'schema', num_children: 4 },
      { name: 'audio', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
      { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'OPTIONAL' },
      { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'OPTIONAL' },
      { name: 'source', type: 'INT64', repetition_type: 'OPTIONAL' },
      { name: 'duration', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    ],
    kvMetadata: [{ key: 'huggingface', value: JSON.stringify({ info: { features: HF_FEATURES } }) }],
    // Audio bytes barely compress; small row groups keep a reader's peak memory low.
    rowGroupSize: 256,
    statistics: false,
  });
  await writeAtomically(file, async (tmp) => {
    await writeFile(tmp, new Uint8Array(buffer));
    await fsyncPath(tmp);
  });
}

/** fsync a file or folder (folders: best effort, some filesystems refuse). */
async function fsyncPath(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (!(await stat(path)).isDirectory()) throw e;
  } finally {
    await fh.close();
  }
}

/** Seconds of a WAV file, from its header. */
function wavDurationSeconds(bytes: Uint8Array, where: string): number {
  const a = decodeWav(bytes, where);
  return a.channels[0]!.length / a.sampleRate;
}

export interface ReadParquetOptions {
  /**
   * Longest time (seconds) the decoding may take before the file counts as damaged
   * (default 10 s + 1 s per MiB of file). Some damaged files send hyparquet into a loop of
   * billions of steps that cannot be interrupted (an RLE run whose length field was
   * corrupted to ~2^31, found by test/reliability/fuzz.test.ts): decoding runs in a child
   * process, which is killed at this limit.
   */
  decodeTimeoutSeconds?: number;
}

/** The child process that decodes Parquet (one, reused; killed after a time-out, started again when needed). */
let decoder: ChildProcess | undefined;
let decoderQueue: Promise<unknown> = Promise.resolve();
/** The request the decoder is working on (one at a time). */
let pending: { decoder: ChildProcess; resolve: (rows: Record<string, unknown>[]) => void; reject: (e: Error) => void } | undefined;

const DECODER_SOURCE = `
const { parquetReadObjects } = require(process.argv[1]);
process.on('message', async (m) => {
  try {
    const rows = await parquetReadObjects({ file: new Uint8Array(m.bytes).buffer, utf8: false });
    process.send({ rows });
  } catch (e) {
    process.send({ error: String((e && e.message) || e) });
  }
});
// Errors hyparquet throws outside the awaited promise end this request, not the process.
process.on('uncaughtException', (e) => process.send({ error: String((e && e.message) || e) }));
process.on('disconnect', () => process.exit(0));`;

function startDecoder(): ChildProcess {
  const c = spawn(process.execPath, ['-e', DECODER_SOURCE, require.resolve('hyparquet')], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced' });
  // Neither the process nor its channel keeps the parent alive.
  c.unref();
  (c.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
  /** The request of this process, taken off the queue (a killed process's late events find none). */
  const take = () => {
    if (pending?.decoder !== c) return undefined;
    const p = pending;
    pending = undefined;
    return p;
  };
  c.on('message', (m: { rows?: Record<string, unknown>[]; error?: string }) => {
    const p = take();
    (c.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.rows!);
  });
  const dead = (e: Error) => {
    if (decoder === c) decoder = undefined;
    take()?.reject(e);
  };
  c.on('error', dead);
  c.on('exit', (code, signal) => dead(new Error(`the decoder process exited (${signal ?? code})`)));
  return c;
}

/** Decodes every row of a Parquet file's bytes in the decoder process, within `timeoutMs`. */
function decodeRows(bytes: Uint8Array, timeoutMs: number): Promise<Record<string, unknown>[]> {
  const run = () => new Promise<Record<string, unknown>[]>((resolve, reject) => {
    decoder ??= startDecoder();
    const c = decoder;
    const timer = setTimeout(() => {
      pending = undefined;
      if (decoder === c) decoder = undefined;
      c.kill('SIGKILL');
      reject(new Error(`decoding did not finish in ${(timeoutMs / 1000).toFixed(1)} s (a damaged page makes the decoder loop)`));
    }, timeoutMs);
    pending = {
      decoder: c,
      resolve: (rows) => { clearTimeout(timer); resolve(rows); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    };
    // While a request is out, the channel holds the parent alive (the answer must arrive).
    (c.channel as unknown as { ref?: () => void } | undefined)?.ref?.();
    c.send({ bytes });
  });
  const p = decoderQueue.then(run, run);
  decoderQueue = p.catch(() => undefined);
  return p;
}

/**
 * Reads a Parquet file with an `audio` column (struct of bytes and path, as the Hub
 * stores it) and `text`; `source` defaults to 0 and `duration` to the WAV's length.
 * Every problem is a DatasetError naming the file (and the row and field).
 */
export async function readParquet(file: string, options: ReadParquetOptions = {}): Promise<DatasetRow[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new DatasetError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const { parquetMetadata } = hyparquet();
  let names: string[];
  try {
    const md = parquetMetadata(ab);
    names = md.schema.filter((s, i) => i > 0 && s.repetition_type !== undefined).map((s) => s.name);
  } catch (e) {
    throw new DatasetError(file, `not a Parquet file (${(e as Error).message})`);
  }
  for (const col of ['audio', 'text']) if (!names.includes(col)) throw new DatasetError(file, `no "${col}" column (columns: ${names.join(', ')})`);
  // utf8: false keeps unannotated BYTE_ARRAY (audio.bytes) as bytes; annotated strings still decode.
  let objects: Record<string, unknown>[];
  try {
    const timeoutMs = 1000 * (options.decodeTimeoutSeconds ?? 10 + ab.byteLength / 2 ** 20);
    objects = await decodeRows(new Uint8Array(ab), timeoutMs);
  } catch (e) {
    throw new DatasetError(file, `damaged Parquet data (${(e as Error).message})`);
  }
  return objects.map((o, i): DatasetRow => {
    const audio = o.audio as { bytes?: unknown; path?: unknown } | null;
    if (!audio || !(audio.bytes instanceof Uint8Array)) {
      throw new DatasetError(file, `row ${i}: audio.bytes is missing (only embedded audio is supported; audio.path is ${show(audio?.path)})`);
    }
    if (typeof o.text !== 'string') throw new DatasetError(file, `row ${i}: text is ${show(o.text)}, not a string`);
    const source = o.source === undefined || o.source === null ? 0 : Number(o.source);
    if (!Number.isSafeInteger(source) || source < 0) throw new DatasetError(file, `row ${i}: source is ${String(o.source)}, not a speaker id >= 0`);
    const duration = typeof o.duration === 'number' ? o.duration : wavDurationSeconds(audio.bytes, `${file} row ${i}`);
    if (!(duration > 0 && Number.isFinite(duration))) throw new DatasetError(file, `row ${i}: duration is ${duration}, not > 0 seconds`);
    return { audio: { bytes: audio.bytes, path: typeof audio.path === 'string' ? audio.path : '' }, text: o.text, source, duration };
  });
}

export interface SplitOptions {
  /** Share of rows for evaluation (default 0.1, at least one row when there are two or more). */
  evalFraction?: number;
  /** Seed of the shuffle (default 0): the same seed gives the same split. */
  seed?: number;
}

/** mulberry32: a small seeded PRNG, enough for a reproducible shuffle. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded random train/eval split; each part keeps the rows' original order. */
export function trainEvalSplit<T>(rows: T[], options: SplitOptions = {}): { train: T[]; eval: T[] } {
  const fraction = options.evalFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`trainEvalSplit: evalFraction must be in [0, 1), got ${fraction}`);
  const n = rows.length;
  const nEval = n < 2 || fraction === 0 ? 0 : Math.max(1, Math.round(fraction * n));
  const rand = mulberry32(options.seed ?? 0);
  const order = rows.map((_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const evalSet = new Set(order.slice(0, nEval));
  return { train: rows.filter((_, i) => !evalSet.has(i)), eval: rows.filter((_, i) => evalSet.has(i)) };
}

/** Hub split names: `eval` is written as `validation`, the name `datasets` recognises. */
export const splitFile = (dir: string, split: string) => join(dir, 'data', `${split}-00000-of-00001.parquet`);

/** The dataset's Parquet folder, and the hidden names used while replacing it. */
const DATA_DIR = 'data';
const STAGE_PREFIX = '.data-new-';
const OLD_PREFIX = '.data-old-';
const TAG_RE = /^\.data-(?:new|old)-(\d+)-[0-9a-f]+$/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Finishes or undoes a `saveDataset` that was killed (its process no longer runs): when
 * `data/` is missing but the previous one was set aside, the previous one is put back;
 * staged and set-aside folders are removed. Returns what it did (empty: nothing to do).
 * `saveDataset` and `loadDataset` call it first.
 */
export async function recoverDataset(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const done: string[] = [];
  const dead = names.filter((n) => {
    const m = TAG_RE.exec(n);
    return m !== null && !pidAlive(Number(m[1]));
  });
  if (!names.includes(DATA_DIR)) {
    const old = dead.filter((n) => n.startsWith(OLD_PREFIX)).sort().pop();
    if (old) {
      await rename(join(dir, old), join(dir, DATA_DIR));
      done.push(`restored the previous ${DATA_DIR}/ from ${old} (a save was interrupted before it finished)`);
      dead.splice(dead.indexOf(old), 1);
    }
  }
  for (const n of dead) {
    await rm(join(dir, n), { recursive: true, force: true });
    done.push(`removed ${n} left by an interrupted save`);
  }
  return done;
}

/**
 * Writes `{train, validation}` (or any named splits) in the Hub's layout under `dir`.
 * The whole `data/` folder is replaced in one step: the new split files (and links to the
 * files of splits not being written, which stay) are written and fsynced in a hidden
 * folder, then the old `data/` is set aside and the new one renamed into place. A kill at
 * any moment leaves the previous dataset or the new one, never a mix of the two (a kill
 * between the two renames is undone by `recoverDataset`). Errors name the file.
 */
export async function saveDataset(dir: string, splits: Record<string, DatasetRow[]>): Promise<string[]> {
  const dataDir = join(dir, DATA_DIR);
  const names = Object.entries(splits).filter(([, rows]) => rows.length > 0)
    .map(([split, rows]) => ({ split: split === 'eval' ? 'validation' : split, rows }));
  if (names.length === 0) return [];
  // Check every row before touching the disk: a bad row fails the save with nothing written.
  for (const { split, rows } of names) rows.forEach((r, i) => checkRow(r, i, splitFile(dir, split)));
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw asWriteError(e, dir, 'the dataset folder could not be made');
  }
  await recoverDataset(dir);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const stage = join(dir, `${STAGE_PREFIX}${tag}`);
  const files: string[] = [];
  try {
    await mkdir(stage);
    const fresh = new Set(names.map(({ split }) => `${split}-00000-of-00001.parquet`));
    // Files of other splits stay: hard links (a copy where links are refused).
    for (const e of await readdir(dataDir, { withFileTypes: true }).catch(() => [])) {
      if (fresh.has(e.name)) continue;
      const from = join(dataDir, e.name);
      const to = join(stage, e.name);
      if (e.isDirectory()) await cp(from, to, { recursive: true });
      else await link(from, to).catch(() => cp(from, to));
    }
    for (const { split, rows } of names) {
      const file = join(stage, `${split}-00000-of-00001.parquet`);
      try {
        await writeParquet(file, rows);
      } catch (e) {
        if (e instanceof Error && e.message.startsWith(file)) throw new DatasetError(splitFile(dir, split), e.message.slice(file.length + 2));
        throw e;
      }
      files.push(splitFile(dir, split));
    }
    await fsyncPath(stage);
  } catch (e) {
    await rm(stage, { recursive: true, force: true });
    throw asWriteError(e, dataDir, 'the dataset was left as it was before');
  }
  const old = join(dir, `${OLD_PREFIX}${tag}`);
  let moved = false;
  try {
    await rename(dataDir, old);
    moved = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      await rm(stage, { recursive: true, force: true });
      throw asWriteError(e, dataDir, 'the dataset was left as it was before');
    }
  }
  try {
    await rename(stage, dataDir);
  } catch (e) {
    if (moved) await rename(old, dataDir).catch(() => undefined);
    await rm(stage, { recursive: true, force: true });
    throw asWriteError(e, dataDir, 'the dataset was left as it was before');
  }
  await fsyncPath(dir);
  if (moved) await rm(old, { recursive: true, force: true });
  return files;
}

async function walkParquet(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkParquet(p)));
    else if (e.name.endsWith('.parquet')) out.push(p);
  }
  return out.sort();
}

export interface LoadOptions extends SnapshotOptions {
  /** Split to load (default 'train'; 'eval' finds 'validation'). */
  split?: string;
}

/**
 * Loads one split from a Parquet file, a local folder in the Hub's layout, or a Hub
 * dataset repo id (downloaded into the shared Hugging Face cache). A split's files are
 * those whose path relative to the folder has the split's name as a path component or
 * as the start of the file name (`data/train-00000-of-00002.parquet`, `train/0.parquet`).
 */
export async function loadDataset(pathOrRepoId: string, options: LoadOptions = {}): Promise<DatasetRow[]> {
  const split = options.split === 'eval' ? 'validation' : (options.split ?? 'train');
  let dir = pathOrRepoId;
  const s = await stat(pathOrRepoId).catch(() => undefined);
  if (s?.isFile()) return readParquet(pathOrRepoId);
  if (s?.isDirectory()) await recoverDataset(dir);
  if (!s) dir = await snapshot(pathOrRepoId, { ...options, repoType: 'dataset', allowPatterns: options.allowPatterns ?? ['*.parquet', '*/*.parquet', '*/*/*.parquet'] });
  const all = await walkParquet(dir);
  const re = new RegExp(`(^|/)${split}([-_./]|$)`);
  const files = all.filter((f) => re.test(relative(dir, f)));
  if (files.length === 0) {
    throw new DatasetError(pathOrRepoId, `no Parquet files for split "${split}" (found: ${all.map((f) => relative(dir, f)).join(', ') || 'none'})`);
  }
  const rows: DatasetRow[] = [];
  for (const f of files) rows.push(...(await readParquet(f)));
  return rows;
}

/** A summary table: clips, total and per-clip durations, characters per second, speakers. */
export function datasetStats(rows: DatasetRow[], name = 'dataset'): Record<string, string | number>[] {
  const d = rows.map((r) => r.duration);
  const total = d.reduce((a, b) => a + b, 0);
  const chars = rows.reduce((a, r) => a + r.text.length, 0);
  const sorted = [...d].sort((a, b) => a - b);
  const median = sorted.length ? (sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2) : 0;
  return [
    { statistic: 'clips', [name]: rows.length },
    { statistic: 'total minutes', [name]: +(total / 60).toFixed(2) },
    { statistic: 'shortest clip (s)', [name]: +(sorted[0] ?? 0).toFixed(2) },
    { statistic: 'median clip (s)', [name]: +median.toFixed(2) },
    { statistic: 'longest clip (s)', [name]: +(sorted[sorted.length - 1] ?? 0).toFixed(2) },
    { statistic: 'characters per second', [name]: total > 0 ? +(chars / total).toFixed(1) : 0 },
    { statistic: 'speakers', [name]: new Set(rows.map((r) => r.source)).size },
  ];
}

/** A plotly histogram of clip durations, with the length limit drawn when given. */
export function durationHistogram(rows: DatasetRow[], maxSeconds?: number): Figure {
  const figure: Figure = {
    data: [{ type: 'histogram', x: rows.map((r) => r.duration), xbins: { start: 0, end: maxSeconds ?? undefined, size: 2 }, name: 'clips' }],
    layout: { title: { text: `Clip durations (${rows.length} clips)` }, xaxis: { title: { text: 'seconds' } }, yaxis: { title: { text: 'clips' } } },
  };
  return figure;
}

/** A row's audio decoded (for listening in the notebook). */
export function rowAudio(row: DatasetRow, where = row.audio.path): AudioData {
  return decodeWav(row.audio.bytes, where);
}

