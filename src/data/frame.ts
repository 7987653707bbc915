/**
 * Dataframes for looking at a dataset: one row per clip, as an Arquero table that a cell
 * can filter, sort, group and show with `showTable`.
 *
 * Arquero replaces danfojs-node from the original design (README, Dependencies). It is an
 * ES module; Node >= 20.19 loads it through require(esm), and the types come from its
 * own declarations.
 */
import type * as Arquero from 'arquero' with { 'resolution-mode': 'import' };
import type { DatasetRow } from './dataset';

/** The Arquero module (`aq.table`, `aq.op`, `aq.desc`, ...), for notebook cells. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const aq: typeof Arquero = require('arquero');

export type ColumnTable = Arquero.ColumnTable;

/** Speaking rate above which a clip is worth a listen: the text may hold words the audio lacks. */
export const FAST_CHARS_PER_SECOND = 20;

/**
 * One row per clip: `split`, `path`, `source` (speaker id), `duration` (s), `chars`,
 * `words`, `charsPerSecond`, `text`.
 */
export function clipFrame(splits: Record<string, readonly DatasetRow[]>): ColumnTable {
  const rows = Object.entries(splits).flatMap(([split, list]) =>
    list.map((r) => {
      const words = r.text.trim() ? r.text.trim().split(/\s+/).length : 0;
      return {
        split,
        path: r.audio.path,
        source: r.source,
        duration: r.duration,
        chars: r.text.length,
        words,
        charsPerSecond: r.duration > 0 ? r.text.length / r.duration : 0,
        text: r.text,
      };
    }),
  );
  return aq.from(rows);
}

/**
 * Per split and speaker: clips, minutes, shortest / median / longest clip (s) and the
 * speaking rate (characters per second over the whole split).
 */
export function clipSummary(frame: ColumnTable): ColumnTable {
  const { op } = aq;
  return frame
    .groupby('split', 'source')
    .rollup({
      clips: op.count(),
      minutes: (d: { duration: number }) => op.sum(d.duration) / 60,
      shortest: (d: { duration: number }) => op.min(d.duration),
      median: (d: { duration: number }) => op.median(d.duration),
      longest: (d: { duration: number }) => op.max(d.duration),
      charsPerSecond: (d: { chars: number; duration: number }) => op.sum(d.chars) / op.sum(d.duration),
    })
    .orderby('split', 'source');
}
