/**
 * Chunking: transcript segments -> training clips of at most `maxSeconds`, ending on
 * sentence boundaries when possible. The algorithm is documented in docs/chunking.md.
 */
import type { Segment, Word } from '../transcript/types';
import { endsSentence } from './sentences';

export interface ChunkOptions {
  /** Longest clip (seconds, default 30: the workshop's limit; CSM trains on up to ~30 s). */
  maxSeconds?: number;
  /** Shortest clip kept (seconds, default 1); shorter ones are reported as dropped. */
  minSeconds?: number;
  /** Longest silence inside a clip (seconds, default 2): a wider gap between segments always ends the clip. */
  maxGapSeconds?: number;
  /** Prefer ending clips on sentence boundaries (default true); false gives the workshop's plain greedy rule. */
  sentenceBoundaries?: boolean;
}

/** A stretch of speech with text: a whole segment, or a piece of one split at word times. */
interface Unit {
  segmentId: number;
  start: number;
  end: number;
  text: string;
  /** Something was dropped just before this unit: no clip may span both (its audio would hold speech that is not in the text). */
  breakBefore?: boolean;
}

export interface Clip {
  /** Position in the clip list, from 0. */
  index: number;
  start: number;
  end: number;
  durationSeconds: number;
  text: string;
  /** Segments the clip holds (a segment split at word times appears in several clips). */
  segmentIds: number[];
  /** True when the clip's text ends a sentence. */
  endsOnSentence: boolean;
}

export type DropReason = 'longer than maxSeconds, no word timestamps' | 'word longer than maxSeconds' | 'shorter than minSeconds' | 'empty text' | 'bad times';

export interface Dropped {
  segmentIds: number[];
  start: number;
  end: number;
  text: string;
  reason: DropReason;
}

export interface ChunkResult {
  clips: Clip[];
  dropped: Dropped[];
}

/** Splits a too-long segment at word timestamps into pieces of at most `maxSeconds`, preferring sentence ends. */
function splitAtWords(seg: Segment, words: Word[], maxSeconds: number, dropped: Dropped[], state: { breakNext: boolean }): Unit[] {
  const units: Unit[] = [];
  const piece = (ws: Word[]): Unit => ({ segmentId: seg.id, start: ws[0]!.start, end: ws[ws.length - 1]!.end, text: ws.map((w) => w.word.trim()).join(' ') });
  let i = 0;
  while (i < words.length) {
    if (words[i]!.end - words[i]!.start > maxSeconds) {
      dropped.push({ segmentIds: [seg.id], start: words[i]!.start, end: words[i]!.end, text: words[i]!.word.trim(), reason: 'word longer than maxSeconds' });
      state.breakNext = true;
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < words.length && words[j + 1]!.end - words[i]!.start <= maxSeconds) j++;
    let cut = j;
    if (j + 1 < words.length) {
      for (let k = j; k > i; k--) {
        if (endsSentence(words[k]!.word)) {
          cut = k;
          break;
        }
      }
    }
    units.push({ ...piece(words.slice(i, cut + 1)), breakBefore: state.breakNext });
    state.breakNext = false;
    i = cut + 1;
  }
  return units;
}

/**
 * Groups consecutive segments into clips. Every word of the input ends up in exactly one
 * clip or in `dropped`, in order; no clip is longer than `maxSeconds`.
 */
export function chunkSegments(segments: Segment[], options: ChunkOptions = {}): ChunkResult {
  const maxSeconds = options.maxSeconds ?? 30;
  const minSeconds = options.minSeconds ?? 1;
  const maxGapSeconds = options.maxGapSeconds ?? 2;
  const preferSentences = options.sentenceBoundaries ?? true;
  if (!(maxSeconds > 0)) throw new RangeError(`chunkSegments: maxSeconds must be > 0, got ${maxSeconds}`);
  if (!(minSeconds >= 0 && minSeconds <= maxSeconds)) throw new RangeError(`chunkSegments: minSeconds must be in [0, maxSeconds], got ${minSeconds}`);
  if (!(maxGapSeconds >= 0)) throw new RangeError(`chunkSegments: maxGapSeconds must be >= 0, got ${maxGapSeconds}`);

  // 1. Units: segments, with too-long ones split at word times or dropped.
  const dropped: Dropped[] = [];
  const units: Unit[] = [];
  const sorted = [...segments].sort((a, b) => a.start - b.start || a.end - b.end);
  const state = { breakNext: false };
  for (const seg of sorted) {
    const text = seg.text.trim();
    const drop = (reason: DropReason) => {
      dropped.push({ segmentIds: [seg.id], start: seg.start, end: seg.end, text, reason });
      state.breakNext = true;
    };
    if (!(Number.isFinite(seg.start) && Number.isFinite(seg.end) && seg.start >= 0 && seg.end > seg.start)) {
      if (text) drop('bad times');
      else drop('empty text');
      continue;
    }
    if (!text) {
      drop('empty text');
      continue;
    }
    if (seg.end - seg.start <= maxSeconds) {
      units.push({ segmentId: seg.id, start: seg.start, end: seg.end, text, breakBefore: state.breakNext });
      state.breakNext = false;
      continue;
    }
    const words = seg.words?.filter((w) => w.word.trim() !== '');
    if (words && words.length > 0) units.push(...splitAtWords(seg, words, maxSeconds, dropped, state));
    else drop('longer than maxSeconds, no word timestamps');
  }

  // 2. Greedy grouping with a look-back to the last sentence end.
  const clips: Clip[] = [];
  let i = 0;
  while (i < units.length) {
    const first = units[i]!;
    let j = i;
    // Units that may share a clip with the previous one: close enough, nothing dropped between.
    const joins = (k: number) => units[k]!.start - units[k - 1]!.end <= maxGapSeconds && !units[k]!.breakBefore;
    while (j + 1 < units.length && units[j + 1]!.end - first.start <= maxSeconds && joins(j + 1)) j++;
    let cut = j;
    // The clip is cut by the length limit, not by a gap, a drop or the end: end it on the
    // last sentence end inside it, when that leaves a clip of at least minSeconds.
    const limited = j + 1 < units.length && joins(j + 1);
    if (preferSentences && limited && !endsSentence(units[j]!.text)) {
      for (let k = j - 1; k >= i; k--) {
        if (endsSentence(units[k]!.text) && units[k]!.end - first.start >= minSeconds) {
          cut = k;
          break;
        }
      }
    }
    const group = units.slice(i, cut + 1);
    // Overlapping segments (sorted by start) may end before an earlier one: take the latest end.
    const end = Math.max(...group.map((u) => u.end));
    const text = group.map((u) => u.text).join(' ');
    const segmentIds = [...new Set(group.map((u) => u.segmentId))];
    if (end - first.start < minSeconds) {
      dropped.push({ segmentIds, start: first.start, end, text, reason: 'shorter than minSeconds' });
    } else {
      clips.push({ index: clips.length, start: first.start, end, durationSeconds: end - first.start, text, segmentIds, endsOnSentence: endsSentence(text) });
    }
    i = cut + 1;
  }
  dropped.sort((a, b) => a.start - b.start);
  return { clips, dropped };
}
