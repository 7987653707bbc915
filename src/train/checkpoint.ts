/**
 * Trainer checkpoints: `<outputDir>/checkpoint-<step>/` with
 *   adapter/                   the model's adapter (PEFT layout for LoRA)
 *   optimizer.safetensors      the optimizer moments (float32, or 8-bit codes + absmax)
 *   trainer_state.json         step, data position, RNG seed, elapsed time, config
 * A checkpoint is written into a hidden temp folder `.tmp-<tag>`, every file fsynced, then
 * renamed into place in one step, so a kill at any moment leaves either no `checkpoint-<step>`
 * or a whole one. Folders that make way for it (an older folder of the same name, and the
 * oldest checkpoints beyond saveTotalLimit) are first renamed aside as `.tmp-old-<tag>-<name>`,
 * then, once the new folder is in place, renamed to `.tmp-trash-<tag>-<name>` and deleted:
 * a folder is never deleted under its own name, so a kill inside a deletion leaves a hidden
 * folder, never a `checkpoint-<step>` with files missing. The count of checkpoints therefore
 * never exceeds saveTotalLimit (for a limit of 1 there is a moment with none, undone on the
 * next start). On the next start `removeStaleTemp` puts a folder set aside back when its
 * replacement never arrived (`.tmp-<tag>` still there), removes every other hidden temp
 * folder and any `checkpoint-<step>` without trainer_state.json (left by earlier versions);
 * listing and resume only see checkpoints with trainer_state.json.
 * A failed write (a full disk) throws a FileWriteError naming the folder; nothing changes.
 */
import { access, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { asWriteError } from '../audio/files';
import { Checkpoint } from '../weights/checkpoint';
import { writeSafetensors } from '../weights/safetensors';
import type { TrainConfig } from './config';
import type { DataPosition } from './data';
import type { Optimizer } from './optim';
import type { TrainableModel } from './types';

/** The part of a model a checkpoint needs. */
export type AdapterStore = Pick<TrainableModel<unknown>, 'save' | 'load'>;

export const TRAINER_STATE_NAME = 'trainer_state.json';
export const OPTIMIZER_STATE_NAME = 'optimizer.safetensors';
export const ADAPTER_DIR_NAME = 'adapter';
const CHECKPOINT_RE = /^checkpoint-(\d+)$/;
const TEMP_PREFIX = '.tmp-';

export interface TrainerState {
  format: 'ttslab-trainer-state';
  version: 1;
  /** Optimizer updates done. */
  step: number;
  /** The next micro-batch to read. */
  data: DataPosition;
  /** The data order is a function of (seed, epoch); LoRA init of the seed: nothing else is random with dropout 0. */
  rng: { seed: number; epoch: number };
  optimizer: { kind: string; stepCount: number; stateBytes: number };
  /** Training seconds before this checkpoint, summed over resumed sessions. */
  elapsedS: number;
  /** Real input tokens trained on so far. */
  tokensSeen: number;
  config: TrainConfig;
}

/** fsync a file or folder (best effort for folders: some filesystems refuse). */
async function fsyncPath(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((await stat(path)).isFile()) throw e;
  }
}

async function fsyncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await fsyncTree(p);
    else await fsyncPath(p);
  }
  await fsyncPath(dir);
}

const newTag = () => `${process.pid}-${randomBytes(4).toString('hex')}`;

/** Deletes `parent/name` by renaming it to a hidden trash name first (one atomic step), then removing that. */
async function discard(parent: string, name: string): Promise<void> {
  const trash = join(parent, `${TEMP_PREFIX}trash-${newTag()}-${name}`);
  await rename(join(parent, name), trash);
  await fsyncPath(parent);
  await rm(trash, { recursive: true, force: true });
}

export interface WriteDirOptions {
  /**
   * Names of sibling folders in `parent` to remove when `dir` is in place (old checkpoints
   * beyond the limit): set aside before the rename, deleted after it, put back on failure.
   */
  displace?: string[];
}

/**
 * Writes `dir` atomically: `fill` writes into a temp folder next to it, which is synced
 * and renamed over `dir` (an older `dir`, and the `displace` folders, are moved aside
 * first and removed after).
 */
export async function writeDirAtomic(dir: string, parent: string, fill: (tmp: string) => Promise<void>, options: WriteDirOptions = {}): Promise<void> {
  const tag = newTag();
  const tmp = join(parent, `${TEMP_PREFIX}${tag}`);
  const failed = (e: unknown) => {
    const w = asWriteError(e, dir, `${basename(dir)} was left as it was before`);
    if (w !== e || !(e instanceof Error) || !e.message.includes(tmp)) return w;
    // A writer's own error naming a file in the temp folder: name the folder being saved.
    const named = new Error(`${dir}: not saved: ${e.message.split(tmp).join(dir)}; ${basename(dir)} was left as it was before`, { cause: e });
    named.name = e.name;
    return named;
  };
  try {
    await mkdir(tmp, { recursive: true });
    await fill(tmp);
    await fsyncTree(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw failed(e);
  }
  // The name says which folder it belongs to and which temp folder replaces it, so
  // removeStaleTemp can put it back when the replacement never arrived.
  const aside = (name: string) => join(parent, `${TEMP_PREFIX}old-${tag}-${name}`);
  const names = [basename(dir), ...(options.displace ?? []).filter((n) => n !== basename(dir))];
  const moved: string[] = [];
  try {
    for (const name of names) {
      try {
        await rename(join(parent, name), aside(name));
        moved.push(name);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    await rename(tmp, dir);
  } catch (e) {
    for (const name of moved.reverse()) await rename(aside(name), join(parent, name)).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw failed(e);
  }
  await fsyncPath(parent);
  // The new folder is in place: the ones set aside go to trash names (so removeStaleTemp
  // could never put a half-deleted one back), then are deleted.
  for (const name of moved) {
    const trash = join(parent, `${TEMP_PREFIX}trash-${tag}-${name}`);
    await rename(aside(name), trash);
    await rm(trash, { recursive: true, force: true });
  }
}

export async function saveTrainerCheckpoint(
  outputDir: string, model: AdapterStore, optimizer: Optimizer, state: TrainerState,
): Promise<string> {
  const dir = join(outputDir, `checkpoint-${state.step}`);
  // The oldest checkpoints beyond saveTotalLimit make way for this one (the new one counts).
  const limit = state.config.saveTotalLimit;
  const others = (await listCheckpoints(outputDir)).filter((c) => c.step !== state.step);
  const displace = limit > 0 ? others.slice(0, Math.max(0, others.length - (limit - 1))).map((c) => basename(c.dir)) : [];
  await writeDirAtomic(dir, outputDir, async (tmp) => {
    const adapterDir = join(tmp, ADAPTER_DIR_NAME);
    await mkdir(adapterDir);
    await model.save(adapterDir);
    await writeSafetensors(join(tmp, OPTIMIZER_STATE_NAME), optimizer.stateTensors(), {
      metadata: { format: 'ttslab', optimizer: optimizer.kind, step: String(optimizer.stepCount) },
    });
    // Written last: a folder with trainer_state.json holds everything before it.
    await writeFile(join(tmp, TRAINER_STATE_NAME), JSON.stringify(state, null, 2) + '\n');
  }, { displace });
  return dir;
}

export async function readTrainerState(dir: string): Promise<TrainerState> {
  const file = join(dir, TRAINER_STATE_NAME);
  const s = JSON.parse(await readFile(file, 'utf8')) as TrainerState;
  if (s.format !== 'ttslab-trainer-state' || s.version !== 1) throw new Error(`${file}: not a ttslab trainer state (format ${JSON.stringify(s.format)}, version ${JSON.stringify(s.version)})`);
  return s;
}

/** Complete checkpoints in `outputDir` (`checkpoint-<step>` folders holding trainer_state.json), oldest first. */
export async function listCheckpoints(outputDir: string): Promise<{ step: number; dir: string }[]> {
  let names: string[];
  try {
    names = await readdir(outputDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: { step: number; dir: string }[] = [];
  for (const n of names) {
    const m = CHECKPOINT_RE.exec(n);
    if (m && (await isComplete(join(outputDir, n)))) out.push({ step: Number(m[1]), dir: join(outputDir, n) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** trainer_state.json is written last inside the temp folder: a folder with it holds everything. */
async function isComplete(dir: string): Promise<boolean> {
  try {
    await access(join(dir, TRAINER_STATE_NAME));
    return true;
  } catch {
    return false;
  }
}

/** `.tmp-old-<pid>-<hex>-<name>`: <pid>-<hex> is the tag of the temp folder that replaces it. */
const OLD_RE = /^\.tmp-old-(\d+-[0-9a-f]+)-(.+)$/;

/**
 * Cleans up after a killed run: a folder set aside by `writeDirAtomic` whose replacement
 * never arrived (its `.tmp-<tag>` is still there, the name is free) is renamed back
 * (`.tmp-old-<tag>-adapter` -> `adapter`, `.tmp-old-<tag>-checkpoint-3` -> `checkpoint-3`);
 * every other temp folder is removed, and so is a `checkpoint-<step>` without
 * trainer_state.json (moved to a trash name first). Returns the names removed or restored.
 */
export async function removeStaleTemp(outputDir: string): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(outputDir).catch(() => [] as string[]);
  for (const n of names) {
    const m = OLD_RE.exec(n);
    if (m && names.includes(`${TEMP_PREFIX}${m[1]}`) && !names.includes(m[2]!)) {
      await rename(join(outputDir, n), join(outputDir, m[2]!));
      names.push(m[2]!);
      removed.push(n);
    }
  }
  for (const n of names) {
    if (n.startsWith(TEMP_PREFIX) && !removed.includes(n)) {
      await rm(join(outputDir, n), { recursive: true, force: true });
      removed.push(n);
    }
  }
  for (const n of names) {
    if (CHECKPOINT_RE.test(n) && !(await isComplete(join(outputDir, n)))) {
      await discard(outputDir, n);
      removed.push(n);
    }
  }
  return removed;
}

/** Keeps the newest `limit` checkpoints (0 keeps all); each one dropped is renamed to a trash name before it is deleted. */
export async function pruneCheckpoints(outputDir: string, limit: number): Promise<void> {
  if (limit <= 0) return;
  const all = await listCheckpoints(outputDir);
  for (const c of all.slice(0, Math.max(0, all.length - limit))) await discard(outputDir, basename(c.dir));
}

/** Loads adapter and optimizer state of a checkpoint into `model` and `optimizer`; returns its state. */
export async function loadTrainerCheckpoint(dir: string, model: AdapterStore, optimizer: Optimizer): Promise<TrainerState> {
  const state = await readTrainerState(dir);
  if (state.optimizer.kind !== optimizer.kind) {
    throw new Error(`${dir}: optimizer state is ${state.optimizer.kind}, this run uses ${optimizer.kind}`);
  }
  await model.load(join(dir, ADAPTER_DIR_NAME));
  await optimizer.loadState(await Checkpoint.open(join(dir, OPTIMIZER_STATE_NAME)), state.optimizer.stepCount);
  return state;
}
