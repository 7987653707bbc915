/**
 * Checkpoints as `WeightSource`s: a single `.safetensors` file, a sharded checkpoint
 * (`model.safetensors.index.json` + shards, as transformers saves them), or a model
 * directory holding either. Only headers are read when opening; tensor data is read
 * one tensor at a time by `getF32`.
 */
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Dtype, TensorInfo, WeightSource } from './types';
import { DTYPE_BYTES, convertToF32, typedArrayMatches } from './dtype';
import type { AnyTypedArray } from './dtype';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from './safetensors';
import { escapeFnmatch, isLocalDir, snapshot } from '../hub';
import type { SnapshotOptions } from '../hub';
import type { TensorToWrite } from './safetensors';

/** The file names transformers uses (transformers/utils/__init__.py SAFE_WEIGHTS_NAME / _INDEX_NAME). */
export const SAFE_WEIGHTS_NAME = 'model.safetensors';
export const SAFE_WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';

/** Shard headers are opened this many at a time (enough to hide latency, few file handles). */
const OPEN_CONCURRENCY = 8;

export class Checkpoint implements WeightSource {
  private constructor(
    /** What was opened: the file, index file, or directory path. */
    readonly path: string,
    /** Which shard file serves each tensor. */
    private readonly byName: Map<string, SafetensorsFile>,
    /** The opened files (one, or every shard). */
    readonly files: SafetensorsFile[],
    /** `__metadata__` of the (first) file, e.g. `{format: 'pt'}`. */
    readonly metadata: Record<string, string>,
  ) {}

  /**
   * Opens a `.safetensors` file, a `*.safetensors.index.json`, or a directory with
   * `model.safetensors.index.json` or `model.safetensors` (or exactly one of either kind).
   */
  static async open(path: string): Promise<Checkpoint> {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (e) {
      throw new SafetensorsError(`cannot open checkpoint: ${(e as Error).message}`, path);
    }
    if (!isDir) {
      return path.endsWith('.index.json') ? Checkpoint.openSharded(path) : Checkpoint.openFile(path);
    }
    const names = (await readdir(path)).sort();
    if (names.includes(SAFE_WEIGHTS_INDEX_NAME)) return Checkpoint.openSharded(join(path, SAFE_WEIGHTS_INDEX_NAME));
    if (names.includes(SAFE_WEIGHTS_NAME)) return Checkpoint.openFile(join(path, SAFE_WEIGHTS_NAME));
    const indexes = names.filter((n) => n.endsWith('.safetensors.index.json'));
    if (indexes.length === 1) return Checkpoint.openSharded(join(path, indexes[0]));
    const files = names.filter((n) => n.endsWith('.safetensors'));
    if (indexes.length === 0 && files.length === 1) return Checkpoint.openFile(join(path, files[0]));
    throw new SafetensorsError(
      `expected ${SAFE_WEIGHTS_INDEX_NAME} or ${SAFE_WEIGHTS_NAME} (or exactly one .safetensors file or index); found ` +
        `${[...indexes, ...files].map((n) => JSON.stringify(n)).join(', ') || 'none'}`,
      path);
  }

  /**
   * Opens the checkpoint of a local directory or a Hub repo (downloaded into the
   * shared cache). Like transformers, it fetches the index first and then only the
   * shards it names, never other `.safetensors` files that happen to be in the repo.
   */
  static async fromPretrained(repoOrDir: string, options: SnapshotOptions = {}): Promise<Checkpoint> {
    if (await isLocalDir(repoOrDir)) return Checkpoint.open(repoOrDir);
    const first = await snapshot(repoOrDir, { ...options, allowPatterns: [SAFE_WEIGHTS_INDEX_NAME, 'config.json'] });
    const index = join(first, SAFE_WEIGHTS_INDEX_NAME);
    let shards: string[];
    try {
      const weightMap = (JSON.parse(await readFile(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      shards = [...new Set(Object.values(weightMap))].filter((s) => typeof s === 'string');
    } catch {
      shards = [SAFE_WEIGHTS_NAME]; // no index: a single-file checkpoint
    }
    const dir = await snapshot(repoOrDir, { ...options, allowPatterns: shards.map(escapeFnmatch) });
    return Checkpoint.open(dir);
  }

  static async openFile(file: string): Promise<Checkpoint> {
    const f = await SafetensorsFile.open(file);
    const byName = new Map<string, SafetensorsFile>();
    for (const k of f.keys()) byName.set(k, f);
    return new Checkpoint(file, byName, [f], f.metadata);
  }

  /** Opens a sharded checkpoint from its index; every weight_map entry must exist in its shard. */
  static async openSharded(indexFile: string): Promise<Checkpoint> {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(indexFile, 'utf8'));
    } catch (e) {
      throw new SafetensorsError(`cannot read sharded index: ${(e as Error).message}`, indexFile);
    }
    const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
      throw new SafetensorsError(`index has no weight_map object (got ${JSON.stringify(weightMap)?.slice(0, 80)})`, indexFile);
    }
    const dir = dirname(indexFile);
    const shardNames = new Set<string>();
    for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      // Shard names come from a downloaded file: keep them inside the checkpoint directory.
      if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || normalize(shard).split(sep).includes('..')) {
        throw new SafetensorsError(`weight_map entry must be a shard file name in this directory, got ${JSON.stringify(shard)}`,
          indexFile, tensor);
      }
      shardNames.add(shard);
    }
    const shards = new Map<string, SafetensorsFile>();
    const queue = [...shardNames].sort();
    const worker = async () => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) shards.set(s, await SafetensorsFile.open(join(dir, s)));
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, queue.length) }, worker));

    const byName = new Map<string, SafetensorsFile>();
    for (const [tensor, shard] of Object.entries(weightMap as Record<string, string>)) {
      const f = shards.get(shard)!;
      if (!f.has(tensor)) {
        throw new SafetensorsError(`weight_map puts tensor ${JSON.stringify(tensor)} in ${shard}, which does not hold it`,
          indexFile, tensor);
      }
      byName.set(tensor, f);
    }
    const files = [...shards.keys()].sort().map((s) => shards.get(s)!);
    return new Checkpoint(indexFile, byName, files, files[0]?.metadata ?? {});
  }

  keys(): string[] {
    return [...this.byName.keys()].sort();
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private fileOf(name: string): SafetensorsFile {
    const f = this.byName.get(name);
    if (!f) throw new SafetensorsError('no such tensor in checkpoint', this.path, name);
    return f;
  }

  info(name: string): TensorInfo {
    return this.fileOf(name).info(name);
  }

  async getF32(name: string): Promise<{ shape: number[]; data: Float32Array }> {
    return this.fileOf(name).getF32(name);
  }

  /** The tensor in its own dtype (F16/BF16 as Uint16Array bit patterns, I64 as BigInt64Array). */
  async read(name: string): Promise<{ dtype: Dtype; shape: number[]; data: AnyTypedArray }> {
    return this.fileOf(name).read(name);
  }

  /** Total bytes of tensor data (what a full load would read). */
  totalBytes(): number {
    let n = 0;
    for (const k of this.byName.keys()) n += this.info(k).byteLength;
    return n;
  }
}

/** A tensor held in memory, in its own dtype or already as float32. */
export interface MemoryTensor {
  shape: number[];
  /** Float32Array for F32; otherwise the dtype's natural typed array. */
  data: AnyTypedArray;
  /** Defaults to F32. */
  dtype?: Dtype;
}

/**
 * An in-memory `WeightSource` (tests, and weights computed in the notebook). `getF32`
 * returns a copy, so callers may modify it as they may a tensor read from disk.
 */
export class MemoryWeights implements WeightSource {
  private readonly tensors = new Map<string, Required<MemoryTensor>>();

  constructor(tensors: Record<string, MemoryTensor> | Map<string, MemoryTensor>, readonly label = '<memory>') {
    const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
    for (const [name, t] of entries) {
      const dtype = t.dtype ?? 'F32';
      if (!typedArrayMatches(dtype, t.data)) {
        throw new SafetensorsError(`${t.data.constructor.name} does not hold ${dtype} elements`, label, name);
      }
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== count) {
        throw new SafetensorsError(`data has ${t.data.length} elements, shape [${t.shape.join(', ')}] needs ${count}`, label, name);
      }
      this.tensors.set(name, { shape: [...t.shape], data: t.data, dtype });
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()].sort();
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private get(name: string): Required<MemoryTensor> {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError('no such tensor', this.label, name);
    return t;
  }

  info(name: string): TensorInfo {
    const t = this.get(name);
    return { name, dtype: t.dtype, shape: [...t.shape], file: this.label, byteOffset: 0, byteLength: t.data.length * DTYPE_BYTES[t.dtype] };
  }

  async getF32(name: string): Promise<{ shape: number[]; data: Float32Array }> {
    const t = this.get(name);
    const out = new Float32Array(t.data.length);
    convertToF32(t.dtype, t.data, out);
    return { shape: [...t.shape], data: out };
  }
}

/** Options for `writeCheckpoint`. */
export interface WriteCheckpointOptions {
  /**
   * Largest shard in bytes. transformers' `save_pretrained` default is "5GB"; past
   * it, tensors go to `model-0000k-of-0000n.safetensors` plus an index.
   */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
}

/**
 * Writes tensors as transformers would: `model.safetensors` when they fit one shard,
 * otherwise numbered shards and `model.safetensors.index.json` (written last, so a
 * crash midway never leaves an index pointing at missing shards). Returns the files written.
 */
export async function writeCheckpoint(
  dir: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  options: WriteCheckpointOptions = {},
): Promise<string[]> {
  const maxShardBytes = options.maxShardBytes ?? 5e9;
  const metadata = { format: 'pt', ...options.metadata };
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  // Greedy packing in the given order, as transformers' shard_checkpoint does.
  const shards: [string, TensorToWrite][][] = [[]];
  let size = 0;
  let total = 0;
  for (const [name, t] of list) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 0);
    if (size + n > maxShardBytes && shards[shards.length - 1].length > 0) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push([name, t]);
    size += n;
    total += n;
  }
  await mkdir(dir, { recursive: true });
  if (shards.length === 1) {
    const file = join(dir, SAFE_WEIGHTS_NAME);
    await writeSafetensors(file, new Map(shards[0]), { metadata });
    return [file];
  }
  const width = 5;
  const pad = (i: number) => String(i).padStart(width, '0');
  const written: string[] = [];
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards.length; i++) {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    await writeSafetensors(join(dir, name), new Map(shards[i]), { metadata });
    for (const [t] of shards[i]) weightMap[t] = name;
    written.push(join(dir, name));
  }
  const indexFile = join(dir, SAFE_WEIGHTS_INDEX_NAME);
  const tmp = `${indexFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  await rename(tmp, indexFile);
  written.push(indexFile);
  return written;
}
