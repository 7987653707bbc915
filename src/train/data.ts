/**
 * Example order: seeded shuffles per epoch, HF's length grouping, micro-batch positions and
 * the eval split. The order of epoch e is a pure function of (seed, e), so a resumed run
 * needs only its position (epoch, micro-batch) to continue with the same batches.
 */
import { Rng } from '../generate/rng';

/** Fisher-Yates with a seeded Rng: a permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** HF LengthGroupedSampler's megabatch multiplier: batches are formed within 50 x batchSize examples. */
export const MEGABATCH_MULT = 50;

export interface OrderOptions {
  seed: number;
  shuffle: boolean;
  groupByLength: boolean;
  batchSize: number;
}

/**
 * The micro-batches of one epoch (example indices). Without grouping: a seeded shuffle cut
 * into batches (the last may be smaller, as HF's dataloader with drop_last false). With
 * grouping, as transformers' get_length_grouped_indices: shuffle, cut into megabatches of
 * 50 x batchSize, sort each by length (longest first), move the longest example of all to
 * the front (so an out-of-memory shows at once), then cut into batches.
 */
export function epochBatches(lengths: number[], epoch: number, o: OrderOptions): number[][] {
  const n = lengths.length;
  // A distinct stream per epoch, derived from the seed alone.
  const rng = new Rng(o.seed * 1000003 + epoch * 7919 + 1);
  let order = o.shuffle ? permutation(n, rng) : Array.from({ length: n }, (_, i) => i);
  if (o.groupByLength) {
    const mega = MEGABATCH_MULT * o.batchSize;
    const groups: number[][] = [];
    for (let i = 0; i < n; i += mega) groups.push(order.slice(i, i + mega).sort((a, b) => lengths[b] - lengths[a]));
    let best = 0;
    for (let g = 1; g < groups.length; g++) if (lengths[groups[g][0]] > lengths[groups[best][0]]) best = g;
    if (best > 0) [groups[0][0], groups[best][0]] = [groups[best][0], groups[0][0]];
    order = groups.flat();
  }
  const batches: number[][] = [];
  for (let i = 0; i < n; i += o.batchSize) batches.push(order.slice(i, i + o.batchSize));
  return batches;
}

/** Where the data stream stands: the next micro-batch is `epochBatches(.., epoch)[batchIndex]`. */
export interface DataPosition {
  epoch: number;
  batchIndex: number;
}

/** An endless stream of micro-batches over epochs, resumable from a DataPosition. */
export class BatchStream {
  private batches: number[][];

  constructor(
    readonly lengths: number[],
    readonly options: OrderOptions,
    private pos: DataPosition = { epoch: 0, batchIndex: 0 },
  ) {
    if (lengths.length === 0) throw new Error('no training examples');
    this.batches = epochBatches(lengths, pos.epoch, options);
    if (pos.batchIndex > this.batches.length) throw new Error(`data position ${JSON.stringify(pos)} is past the epoch's ${this.batches.length} batches`);
  }

  get position(): DataPosition {
    return { ...this.pos };
  }

  next(): number[] {
    if (this.pos.batchIndex >= this.batches.length) {
      this.pos = { epoch: this.pos.epoch + 1, batchIndex: 0 };
      this.batches = epochBatches(this.lengths, this.pos.epoch, this.options);
    }
    return this.batches[this.pos.batchIndex++];
  }
}

/**
 * Seeded train/eval split: round(n * fraction) examples (at least 1 when fraction > 0,
 * and at least one left to train on) held out.
 */
export function splitTrainEval(n: number, fraction: number, seed: number): { train: number[]; eval: number[] } {
  if (fraction <= 0) return { train: Array.from({ length: n }, (_, i) => i), eval: [] };
  const k = Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
  if (k < 1) throw new Error(`evalSplit ${fraction} leaves no example to train on (${n} examples)`);
  const p = permutation(n, new Rng(seed + 17));
  return { train: p.slice(k).sort((a, b) => a - b), eval: p.slice(0, k).sort((a, b) => a - b) };
}
