/**
 * Checks on segment timing and text that chunking relies on. Problems come back as
 * warnings listing the segment ids, for the notebook to show; `assertValid` turns them
 * into one error.
 */
import type { Segment, Transcript } from './types';

export type WarningKind = 'bad-time' | 'end-before-start' | 'non-monotonic' | 'overlap' | 'empty-text';

export interface TranscriptWarning {
  kind: WarningKind;
  /** Ids of the segments concerned (for overlap and non-monotonic: the later segment of each pair). */
  ids: number[];
  message: string;
}

const DESCRIBE: Record<WarningKind, string> = {
  'bad-time': 'have a negative or non-finite time',
  'end-before-start': 'end before they start',
  'non-monotonic': 'start before the previous segment starts (out of order)',
  overlap: 'start before the previous segment ends (overlap)',
  'empty-text': 'have empty text',
};

export interface ValidateOptions {
  /** Overlaps up to this many seconds are accepted (Whisper's timestamps are rounded to 20 ms; default 0.02). */
  overlapToleranceSeconds?: number;
}

export function validateSegments(segments: Segment[], source = '<transcript>', options: ValidateOptions = {}): TranscriptWarning[] {
  const tolerance = options.overlapToleranceSeconds ?? 0.02;
  const found: Record<WarningKind, number[]> = { 'bad-time': [], 'end-before-start': [], 'non-monotonic': [], overlap: [], 'empty-text': [] };
  segments.forEach((s, i) => {
    if (![s.start, s.end].every((t) => Number.isFinite(t) && t >= 0)) found['bad-time'].push(s.id);
    else if (s.end < s.start) found['end-before-start'].push(s.id);
    if (s.text.trim() === '') found['empty-text'].push(s.id);
    const prev = segments[i - 1];
    if (prev) {
      if (s.start < prev.start) found['non-monotonic'].push(s.id);
      else if (s.start < prev.end - tolerance) found.overlap.push(s.id);
    }
  });
  return (Object.keys(found) as WarningKind[])
    .filter((k) => found[k].length > 0)
    .map((kind) => {
      const ids = found[kind];
      const shown = ids.length > 20 ? `${ids.slice(0, 20).join(', ')}, ... (${ids.length} in all)` : ids.join(', ');
      return { kind, ids, message: `${source}: ${ids.length} segment${ids.length > 1 ? 's' : ''} ${DESCRIBE[kind]}: id${ids.length > 1 ? 's' : ''} ${shown}` };
    });
}

export function validateTranscript(t: Transcript, options: ValidateOptions = {}): TranscriptWarning[] {
  return validateSegments(t.segments, t.source, options);
}

/** Throws one error with every warning's message when there is any. */
export function assertValid(t: Transcript, options: ValidateOptions = {}): void {
  const w = validateTranscript(t, options);
  if (w.length > 0) throw new Error(w.map((x) => x.message).join('\n'));
}
