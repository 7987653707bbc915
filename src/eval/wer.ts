/**
 * Word error rate with its alignment: a Levenshtein alignment of the reference and
 * hypothesis words (unit costs) gives hits, substitutions, deletions and insertions;
 * `WER = (S + D + I) / N`, N = reference words. A corpus WER sums the counts over
 * utterances before dividing (not a mean of per-utterance rates), as jiwer and
 * torchmetrics do. Text is normalised first with `normalizeEnglish` (src/eval/normalize.ts)
 * unless told otherwise. Character error rate is the same over characters (spaces count).
 *
 * Among alignments of equal cost the backtrace (from the end) prefers a hit or
 * substitution, then a deletion, then an insertion; the counts S + D + I are the edit
 * distance whichever is chosen, the split between S, D and I can differ from other tools'.
 */
import { normalizeEnglish } from './normalize';

/** One step of the alignment, in reading order. */
export type AlignmentOp =
  | { op: 'hit'; ref: string; hyp: string }
  | { op: 'substitution'; ref: string; hyp: string }
  | { op: 'deletion'; ref: string; hyp: null }
  | { op: 'insertion'; ref: null; hyp: string };

export interface ErrorCounts {
  hits: number;
  substitutions: number;
  deletions: number;
  insertions: number;
  /** Reference tokens (N = hits + substitutions + deletions). */
  referenceLength: number;
}

/** The alignment of one utterance. */
export interface UtteranceWer extends ErrorCounts {
  /** The texts as compared (normalised unless `normalize: false`). */
  reference: string;
  hypothesis: string;
  /** S + D + I. */
  errors: number;
  /** errors / N; 0 when both are empty, Infinity when only the reference is empty. */
  wer: number;
  alignment: AlignmentOp[];
}

export interface CorpusWer extends ErrorCounts {
  errors: number;
  /** Summed errors / summed N. */
  wer: number;
  utterances: UtteranceWer[];
}

export interface WerOptions {
  /** true (default): `normalizeEnglish`; false: compare as given (split on whitespace); or a function of your own. */
  normalize?: boolean | ((text: string) => string);
}

function normalizer(options: WerOptions): (text: string) => string {
  const n = options.normalize ?? true;
  if (typeof n === 'function') return n;
  return n ? normalizeEnglish : (t: string) => t;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

/**
 * Levenshtein alignment of two token sequences (unit costs), with the operations in
 * reading order. O(N x M) time and memory.
 */
export function alignTokens(ref: readonly string[], hyp: readonly string[]): { counts: ErrorCounts; alignment: AlignmentOp[] } {
  const n = ref.length;
  const m = hyp.length;
  const w = m + 1;
  // d[i * w + j] = edit distance between ref[:i] and hyp[:j].
  const d = new Uint32Array((n + 1) * w);
  for (let i = 0; i <= n; i++) d[i * w] = i;
  for (let j = 0; j <= m; j++) d[j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const diag = d[(i - 1) * w + j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1);
      const del = d[(i - 1) * w + j]! + 1;
      const ins = d[i * w + j - 1]! + 1;
      d[i * w + j] = Math.min(diag, del, ins);
    }
  }
  const alignment: AlignmentOp[] = [];
  const counts: ErrorCounts = { hits: 0, substitutions: 0, deletions: 0, insertions: 0, referenceLength: n };
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const here = d[i * w + j]!;
    if (i > 0 && j > 0 && here === d[(i - 1) * w + j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1)) {
      if (ref[i - 1] === hyp[j - 1]) {
        alignment.push({ op: 'hit', ref: ref[i - 1]!, hyp: hyp[j - 1]! });
        counts.hits++;
      } else {
        alignment.push({ op: 'substitution', ref: ref[i - 1]!, hyp: hyp[j - 1]! });
        counts.substitutions++;
      }
      i--;
      j--;
    } else if (i > 0 && here === d[(i - 1) * w + j]! + 1) {
      alignment.push({ op: 'deletion', ref: ref[i - 1]!, hyp: null });
      counts.deletions++;
      i--;
    } else {
      alignment.push({ op: 'insertion', ref: null, hyp: hyp[j - 1]! });
      counts.insertions++;
      j--;
    }
  }
  alignment.reverse();
  return { counts, alignment };
}

function rate(errors: number, n: number): number {
  if (n > 0) return errors / n;
  return errors === 0 ? 0 : Infinity;
}

function utterance(reference: string, hypothesis: string, tokens: (s: string) => string[]): UtteranceWer {
  const { counts, alignment } = alignTokens(tokens(reference), tokens(hypothesis));
  const errors = counts.substitutions + counts.deletions + counts.insertions;
  return { reference, hypothesis, ...counts, errors, wer: rate(errors, counts.referenceLength), alignment };
}

function checkText(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string, got ${typeof value}`);
  return value;
}

/** WER of one utterance, with its alignment. */
export function wordErrorRate(reference: string, hypothesis: string, options: WerOptions = {}): UtteranceWer {
  const norm = normalizer(options);
  return utterance(norm(checkText(reference, 'reference')), norm(checkText(hypothesis, 'hypothesis')), words);
}

/** Corpus WER: counts summed over the pairs, then divided; each pair's alignment kept. */
export function corpusWordErrorRate(pairs: readonly { reference: string; hypothesis: string }[], options: WerOptions = {}): CorpusWer {
  return corpus(pairs.map((p, i) => wordErrorRate(checkText(p.reference, `pair ${i}: reference`), checkText(p.hypothesis, `pair ${i}: hypothesis`), options)));
}

/** Character error rate of one utterance (after normalisation; spaces are characters, as in torchmetrics and jiwer). */
export function charErrorRate(reference: string, hypothesis: string, options: WerOptions = {}): UtteranceWer {
  const norm = normalizer(options);
  return utterance(norm(checkText(reference, 'reference')), norm(checkText(hypothesis, 'hypothesis')), (s) => [...s]);
}

/** Corpus CER: character errors summed over the pairs / summed reference characters. */
export function corpusCharErrorRate(pairs: readonly { reference: string; hypothesis: string }[], options: WerOptions = {}): CorpusWer {
  return corpus(pairs.map((p) => charErrorRate(p.reference, p.hypothesis, options)));
}

function corpus(utterances: UtteranceWer[]): CorpusWer {
  const sum = (k: keyof ErrorCounts | 'errors') => utterances.reduce((a, u) => a + u[k], 0);
  const errors = sum('errors');
  const referenceLength = sum('referenceLength');
  return {
    hits: sum('hits'), substitutions: sum('substitutions'), deletions: sum('deletions'), insertions: sum('insertions'),
    referenceLength, errors, wer: rate(errors, referenceLength), utterances,
  };
}

/**
 * The alignment as three aligned lines (jiwer's `visualize_alignment` layout):
 *   REF: the cat  sat ***
 *   HYP: the bat  *** down
 *            S    D   I
 */
export function formatAlignment(u: Pick<UtteranceWer, 'alignment'>): string {
  const ref: string[] = [];
  const hyp: string[] = [];
  const ops: string[] = [];
  const mark = { hit: ' ', substitution: 'S', deletion: 'D', insertion: 'I' } as const;
  for (const a of u.alignment) {
    const r = a.ref ?? '*'.repeat(a.hyp!.length);
    const h = a.hyp ?? '*'.repeat(a.ref!.length);
    const width = Math.max(r.length, h.length);
    ref.push(r.padEnd(width));
    hyp.push(h.padEnd(width));
    ops.push(mark[a.op].padEnd(width));
  }
  return [`REF: ${ref.join(' ')}`, `HYP: ${hyp.join(' ')}`, `     ${ops.join(' ')}`].map((l) => l.trimEnd()).join('\n');
}
