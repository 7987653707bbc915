/**
 * safetensors read and write (https://github.com/huggingface/safetensors, format in
 * the README there):
 *
 *   [u64 LE header length N][N bytes of JSON header][data section]
 *   header = { name: { dtype, shape, data_offsets: [begin, end) }, "__metadata__": {str: str} }
 *
 * Offsets are relative to the start of the data section (byte 8 + N). Reads are
 * positioned reads on a file handle, one tensor at a time, so a multi-GB checkpoint
 * never sits whole in memory. Every malformed input ends in a `SafetensorsError`
 * that names the file, the tensor or field, and the bad value.
 */
import { open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { FileWriteError, asWriteError } from '../audio/files';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Dtype, TensorInfo } from './types';
import {
  DTYPE_BYTES, DTYPES, assertLittleEndian, convertFromF32, convertToF32, isDtype, typedArrayMatches, viewAs,
} from './dtype';
import type { AnyTypedArray } from './dtype';

/**
 * Header size cap. The Rust reference caps it at 100 MB (safetensors `MAX_HEADER_SIZE`);
 * a larger length field means a corrupt or hostile file, and reading it would
 * allocate that much before any other check could fail.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** The reserved header key for free-form string metadata. */
const METADATA_KEY = '__metadata__';

/**
 * Positioned reads are issued in chunks no larger than this: `FileHandle.read` takes a
 * 32-bit length, and converting chunk by chunk keeps the scratch buffer small.
 */
const READ_CHUNK_BYTES = 16 * 1024 * 1024;

/** An error in a safetensors file; `file` and (when known) `tensor` say where. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(message: string, readonly file: string, readonly tensor?: string) {
    super(`${file}${tensor !== undefined ? `: tensor ${JSON.stringify(tensor)}` : ''}: ${message}`);
  }
}

/** A parsed, validated header. */
export interface SafetensorsHeader {
  file: string;
  /** Length N of the JSON header (the u64 at byte 0). */
  headerBytes: number;
  /** Absolute offset of the data section, 8 + N. */
  dataOffset: number;
  /** Size of the whole file when the header was read. */
  fileBytes: number;
  /** Tensors by name, in header order; `byteOffset` is absolute in the file. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Shortens a value for an error message so a hostile header cannot flood the log. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Validates the JSON text of a header against the data section size. Exposed apart
 * from file I/O so the fuzz test and in-memory callers can use it.
 */
export function parseHeader(
  json: string,
  file: string,
  dataBytes: number,
  dataOffset: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  // The spec requires the header to start with '{' (and allows trailing spaces as padding).
  if (!json.startsWith('{')) {
    throw new SafetensorsError(`header does not start with '{' (starts with ${show(json.slice(0, 16))})`, file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`, file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SafetensorsError(`header is not a JSON object (got ${show(parsed)})`, file);
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw new SafetensorsError(`${METADATA_KEY} must be an object of strings, got ${show(entry)}`, file);
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') {
          throw new SafetensorsError(`${METADATA_KEY}.${k} must be a string, got ${show(v)}`, file);
        }
        metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new SafetensorsError(`entry must be an object with dtype, shape, data_offsets; got ${show(entry)}`, file, name);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) {
      throw new SafetensorsError(`unknown dtype ${show(dtype)} (known: ${DTYPES.join(', ')})`, file, name);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) {
      throw new SafetensorsError(`shape must be an array of non-negative integers, got ${show(shape)}`, file, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
      throw new SafetensorsError(`data_offsets must be [begin, end] non-negative integers, got ${show(offsets)}`, file, name);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) {
      throw new SafetensorsError(`data_offsets end ${end} is before begin ${begin}`, file, name);
    }
    if (end > dataBytes) {
      throw new SafetensorsError(
        `data_offsets [${begin}, ${end}] run past the data section (${dataBytes} bytes); the file may be truncated`, file, name);
    }
    let elements = 1;
    for (const d of shape as number[]) elements *= d;
    const expected = elements * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(expected) || expected !== end - begin) {
      throw new SafetensorsError(
        `byte size ${end - begin} (data_offsets [${begin}, ${end}]) does not match ${dtype} x shape [${shape.join(', ')}] = ${expected} bytes`,
        file, name);
    }
    tensors.set(name, {
      name, dtype, shape: [...(shape as number[])], file, byteOffset: dataOffset + begin, byteLength: end - begin,
    });
  }
  // Overlapping tensors would alias each other's bytes: a corrupt or hand-made file.
  const sorted = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.byteOffset < prev.byteOffset + prev.byteLength) {
      const rel = (t: TensorInfo) => `[${t.byteOffset - dataOffset}, ${t.byteOffset - dataOffset + t.byteLength}]`;
      throw new SafetensorsError(
        `data_offsets ${rel(cur)} overlap tensor ${JSON.stringify(prev.name)} at ${rel(prev)}`, file, cur.name);
    }
  }
  return { tensors, metadata };
}

/** I/O errors (EISDIR, EIO, ...) become SafetensorsErrors so callers catch one type. */
function asSafetensorsError(e: unknown, file: string, tensor?: string): SafetensorsError {
  if (e instanceof SafetensorsError) return e;
  return new SafetensorsError(`read failed: ${(e as Error)?.message ?? String(e)}`, file, tensor);
}

/** Reads exactly `length` bytes at `position` into `into`, or throws naming the file. */
async function readExactly(fh: FileHandle, into: Uint8Array, position: number, file: string, tensor?: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const want = Math.min(into.length - done, READ_CHUNK_BYTES);
    const { bytesRead } = await fh.read(into, done, want, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(
        `unexpected end of file at byte ${position + done} (wanted ${into.length} bytes from ${position}); the file is truncated`,
        file, tensor);
    }
    done += bytesRead;
  }
}

/** Reads and validates the header of a safetensors file (reads only the header bytes). */
export async function readHeader(file: string): Promise<SafetensorsHeader> {
  assertLittleEndian();
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new SafetensorsError(`cannot open: ${(e as Error).message}`, file);
  }
  try {
    const fileBytes = (await fh.stat()).size;
    if (fileBytes < 8) {
      throw new SafetensorsError(`file is ${fileBytes} bytes, too short for the 8-byte header length`, file);
    }
    const lenBuf = new Uint8Array(8);
    await readExactly(fh, lenBuf, 0, file);
    const n = new DataView(lenBuf.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, file);
    }
    const headerBytes = Number(n);
    if (headerBytes > fileBytes - 8) {
      throw new SafetensorsError(`header length ${headerBytes} is larger than the file allows (${fileBytes - 8} bytes after the length)`, file);
    }
    const headerBuf = new Uint8Array(headerBytes);
    await readExactly(fh, headerBuf, 8, file);
    let json: string;
    try {
      json = new TextDecoder('utf-8', { fatal: true }).decode(headerBuf);
    } catch {
      throw new SafetensorsError('header is not valid UTF-8', file);
    }
    const dataOffset = 8 + headerBytes;
    const { tensors, metadata } = parseHeader(json, file, fileBytes - dataOffset, dataOffset);
    return { file, headerBytes, dataOffset, fileBytes, tensors, metadata };
  } catch (e) {
    throw asSafetensorsError(e, file);
  } finally {
    await fh.close();
  }
}

/**
 * One safetensors file: header parsed at `open`, tensors read on demand. Each read
 * opens the file, reads that tensor's bytes and closes it, so there is no handle to
 * leak when a notebook never calls close.
 */
export class SafetensorsFile {
  private constructor(readonly header: SafetensorsHeader) {}

  static async open(file: string): Promise<SafetensorsFile> {
    return new SafetensorsFile(await readHeader(file));
  }

  get file(): string {
    return this.header.file;
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names, sorted. */
  keys(): string[] {
    return [...this.header.tensors.keys()].sort();
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) throw new SafetensorsError('no such tensor', this.file, name);
    return t;
  }

  /** The tensor's bytes, in a fresh (8-byte aligned) buffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const out = new Uint8Array(t.byteLength);
    await withHandle(this.file, name, (fh) => readExactly(fh, out, t.byteOffset, this.file, name));
    return out;
  }

  /** The tensor in its dtype's natural typed array (F16/BF16 as Uint16Array bit patterns). */
  async read(name: string): Promise<{ dtype: Dtype; shape: number[]; data: AnyTypedArray }> {
    const t = this.info(name);
    const bytes = await this.readBytes(name);
    return { dtype: t.dtype, shape: [...t.shape], data: viewAs(t.dtype, bytes.buffer as ArrayBuffer, 0, bytes.byteLength) };
  }

  /**
   * The tensor converted to float32. F32 is read straight into the result; other
   * dtypes are read in chunks and converted, so the peak is the f32 result plus one
   * chunk, never the source tensor and the result together.
   */
  async getF32(name: string): Promise<{ shape: number[]; data: Float32Array }> {
    const t = this.info(name);
    const count = t.byteLength / DTYPE_BYTES[t.dtype];
    const out = new Float32Array(count);
    await withHandle(this.file, name, async (fh) => {
      if (t.dtype === 'F32') {
        await readExactly(fh, new Uint8Array(out.buffer), t.byteOffset, this.file, name);
        return;
      }
      const size = DTYPE_BYTES[t.dtype];
      const chunkElems = Math.max(1, Math.floor(READ_CHUNK_BYTES / size));
      const scratch = new ArrayBuffer(Math.min(count, chunkElems) * size);
      for (let start = 0; start < count; start += chunkElems) {
        const n = Math.min(chunkElems, count - start);
        const bytes = new Uint8Array(scratch, 0, n * size);
        await readExactly(fh, bytes, t.byteOffset + start * size, this.file, name);
        convertToF32(t.dtype, viewAs(t.dtype, scratch, 0, n * size), out, start);
      }
    });
    return { shape: [...t.shape], data: out };
  }
}

async function withHandle<T>(file: string, tensor: string, f: (fh: FileHandle) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new SafetensorsError(`cannot open: ${(e as Error).message}`, file, tensor);
  }
  try {
    return await f(fh);
  } catch (e) {
    throw asSafetensorsError(e, file, tensor);
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------
// Writing

/** Data for one tensor: the dtype's natural typed array, or float32 for F16/BF16/F64. */
export type TensorData = AnyTypedArray;

/** A tensor to write. `data` may be a function so tensors are produced one at a time while writing. */
export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  /**
   * The dtype's natural typed array (Uint16Array bit patterns for F16/BF16), or a
   * Float32Array for F16/BF16/F64 (converted with round-to-nearest-even). A raw
   * Uint8Array of exactly the right byte length is accepted for any dtype.
   */
  data: TensorData | (() => TensorData | Promise<TensorData>);
}

export interface WriteOptions {
  /** Free-form string metadata, stored under `__metadata__` (e.g. `{format: 'pt'}`). */
  metadata?: Record<string, string>;
}

function byteLengthOf(file: string, name: string, t: TensorToWrite): number {
  if (!isDtype(t.dtype)) throw new SafetensorsError(`unknown dtype ${show(t.dtype)}`, file, name);
  if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInt)) {
    throw new SafetensorsError(`shape must be non-negative integers, got ${show(t.shape)}`, file, name);
  }
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
}

/** Turns user data into the exact bytes to write for `t.dtype`. */
function encode(file: string, name: string, t: TensorToWrite, data: TensorData, byteLength: number): Uint8Array {
  let out: ArrayBufferView;
  if (typedArrayMatches(t.dtype, data)) {
    out = data;
  } else if (data instanceof Float32Array && (t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64')) {
    out = convertFromF32(t.dtype, data);
  } else if (data instanceof Uint8Array) {
    out = data; // raw bytes for any dtype
  } else {
    throw new SafetensorsError(`${data.constructor.name} cannot be written as ${t.dtype}`, file, name);
  }
  if (out.byteLength !== byteLength) {
    throw new SafetensorsError(
      `data has ${out.byteLength} bytes but ${t.dtype} x shape [${t.shape.join(', ')}] needs ${byteLength}`, file, name);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The header JSON, padded with spaces so the data section starts 8-byte aligned. */
export function buildHeader(
  entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[],
  metadata?: Record<string, string>,
): Uint8Array {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) obj[METADATA_KEY] = metadata;
  for (const e of entries) obj[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/**
 * Writes a safetensors file atomically: into a temp file next to `file`, fsync, then
 * rename over `file`, so a crash leaves either the old file or the whole new one.
 * Tensors are written one after another (a function in `data` is called only when its
 * turn comes), so the file is never assembled in memory.
 */
export async function writeSafetensors(
  file: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  options: WriteOptions = {},
): Promise<void> {
  assertLittleEndian();
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  if (options.metadata) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`${METADATA_KEY}.${k} must be a string, got ${show(v)}`, file);
    }
  }
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === METADATA_KEY) throw new SafetensorsError(`${METADATA_KEY} is reserved and cannot name a tensor`, file, name);
    const n = byteLengthOf(file, name, t);
    entries.push({ name, dtype: t.dtype, shape: [...t.shape], begin: offset, end: offset + n });
    offset += n;
  }
  const header = buildHeader(entries, options.metadata);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeTemp(file, tmp, header, list, entries);
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    // A full disk, a read-only folder...: the error names the file, not the temp file.
    const w = asWriteError(e, file, 'the previous file (if any) is unchanged');
    if (w instanceof FileWriteError) throw new SafetensorsError(w.message.slice(file.length + 2), file);
    throw e;
  }
  await syncDir(dirname(file));
}

/** Writes header and tensors to `tmp` and fsyncs it; removes `tmp` when anything fails. */
async function writeTemp(
  file: string, tmp: string, header: Uint8Array, list: [string, TensorToWrite][],
  entries: { begin: number; end: number }[],
): Promise<void> {
  const fh = await open(tmp, 'wx');
  let ok = false;
  try {
    let pos = 0;
    const writeAll = async (bytes: Uint8Array) => {
      let done = 0;
      while (done < bytes.length) {
        const n = Math.min(bytes.length - done, READ_CHUNK_BYTES);
        const { bytesWritten } = await fh.write(bytes, done, n, pos);
        done += bytesWritten;
        pos += bytesWritten;
      }
    };
    await writeAll(header);
    for (let i = 0; i < list.length; i++) {
      const [name, t] = list[i];
      const data = typeof t.data === 'function' ? await t.data() : t.data;
      await writeAll(encode(file, name, t, data, entries[i].end - entries[i].begin));
    }
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await unlink(tmp).catch(() => undefined);
  }
}

/** fsync a directory so the rename itself survives a crash (best effort: not all filesystems allow it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Directory fsync is unsupported on some platforms; the data itself is already synced.
  }
}
